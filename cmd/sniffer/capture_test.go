package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdMkpcap is the script command "mkpcap SPEC OUT": it builds the capture
// SPEC describes and writes it to OUT as a classic pcap of raw IPv4
// packets. SPEC has one statement a line ('#' comments):
//
//	conn CLIENT SERVER   a new connection (ip:port each) and its handshake
//	c "BYTES"            the client sends BYTES (a Go string literal)
//	s "BYTES"            the server sends BYTES
//	close c|s            the side closes (four-way close)
//
// Statements apply to the last connection. Each packet is 1 ms after the
// previous one.
func cmdMkpcap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkpcap SPEC OUT")
	}
	b, err := buildCapture(ts.ReadFile(args[0]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

// capConn is a connection of buildCapture.
type capConn struct {
	client, server netip.AddrPort
	seq            [2]uint32 // next sequence number: client, server
}

// buildCapture renders a mkpcap spec.
func buildCapture(spec string) ([]byte, error) {
	var out []byte
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(layers.LinkTypeRaw))
	out = append(out, hdr...)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var c *capConn
	send := func(fromClient bool, flags string, payload []byte) error {
		from, to, me, them := c.client, c.server, 0, 1
		if !fromClient {
			from, to, me, them = c.server, c.client, 1, 0
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(from.Port()), DstPort: layers.TCPPort(to.Port()),
			Seq: c.seq[me], Window: 65535}
		for _, f := range flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'P':
				tcp.PSH = true
			case 'F':
				tcp.FIN = true
			}
		}
		if tcp.ACK {
			tcp.Ack = c.seq[them]
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(payload)); err != nil {
			return err
		}
		c.seq[me] += uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			c.seq[me]++
		}
		frame := buf.Bytes()
		var rec [16]byte
		now = now.Add(time.Millisecond)
		binary.LittleEndian.PutUint32(rec[0:], uint32(now.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(now.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		out = append(append(out, rec[:]...), frame...)
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(spec))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		verb, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		if verb != "conn" && c == nil {
			return nil, fmt.Errorf("line %d: %s before conn", n, verb)
		}
		var err error
		switch verb {
		case "conn":
			a, b, _ := strings.Cut(arg, " ")
			c = &capConn{seq: [2]uint32{1000, 5000}}
			if c.client, err = netip.ParseAddrPort(a); err == nil {
				c.server, err = netip.ParseAddrPort(strings.TrimSpace(b))
			}
			if err == nil {
				err = send(true, "S", nil)
			}
			if err == nil {
				err = send(false, "SA", nil)
			}
			if err == nil {
				err = send(true, "A", nil)
			}
		case "c", "s":
			var payload string
			if payload, err = strconv.Unquote(arg); err == nil {
				err = send(verb == "c", "PA", []byte(payload))
			}
		case "close":
			first := arg == "c"
			if !first && arg != "s" {
				return nil, fmt.Errorf("line %d: close c or close s", n)
			}
			for _, step := range []struct {
				client bool
				flags  string
			}{{first, "FA"}, {!first, "A"}, {!first, "FA"}, {first, "A"}} {
				if err == nil {
					err = send(step.client, step.flags, nil)
				}
			}
		default:
			return nil, fmt.Errorf("line %d: unknown statement %q", n, verb)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
	}
	return out, nil
}
