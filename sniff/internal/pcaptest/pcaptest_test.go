package pcaptest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/internal/require"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var (
	start = time.Unix(1700000000, 0).UTC()
	cli4  = netip.MustParseAddrPort("10.0.0.1:40000")
	srv4  = netip.MustParseAddrPort("10.0.0.2:80")
	cli6  = netip.MustParseAddrPort("[fd00::1]:40000")
	srv6  = netip.MustParseAddrPort("[fd00::2]:80")
)

// seg is one decoded segment, in a form easy to compare.
type seg struct {
	ts       time.Duration // since start
	client   bool          // sent by the client
	seq, ack uint32
	flags    decode.Flags
	payload  string
}

func (s seg) String() string {
	return fmt.Sprintf("+%v client=%v seq=%d ack=%d %v %q", s.ts, s.client, s.seq, s.ack, s.flags, s.payload)
}

// segments reads a capture file and decodes every packet.
func segments(t *testing.T, file []byte, client netip.AddrPort) []seg {
	t.Helper()
	r, err := capfile.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var out []seg
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var d decode.Packet
		if err := decode.Decode(p.LinkType, p.Data, &d); err != nil {
			t.Fatalf("packet %d: %v", len(out)+1, err)
		}
		fromClient := d.Src == client.Addr() && d.SrcPort == client.Port()
		out = append(out, seg{p.Timestamp.Sub(start), fromClient, d.Seq, d.Ack, d.Flags, string(d.Payload)})
	}
}

func sameSegs(t *testing.T, got, want []seg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d segments, want %d:\n%v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("segment %d:\n got  %v\n want %v", i+1, got[i], want[i])
		}
	}
}

const us = time.Microsecond

// conversation plays a request and response with a close into c.
func conversation(c *pcaptest.Capture, client, server netip.AddrPort) {
	f := c.Flow(client, server, start)
	f.Handshake()
	f.ClientSend([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Ack(false)
	f.Sleep(time.Millisecond)
	f.ServerSend([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Ack(true)
	f.Close(true)
}

var conversationSegs = []seg{
	{0, true, 1000, 0, decode.SYN, ""},
	{10 * us, false, 5000, 1001, decode.SYN | decode.ACK, ""},
	{20 * us, true, 1001, 5001, decode.ACK, ""},
	{30 * us, true, 1001, 5001, decode.PSH | decode.ACK, "GET / HTTP/1.1\r\n\r\n"},
	{40 * us, false, 5001, 1019, decode.ACK, ""},
	{1050 * us, false, 5001, 1019, decode.PSH | decode.ACK, "HTTP/1.1 200 OK\r\n\r\n"},
	{1060 * us, true, 1019, 5020, decode.ACK, ""},
	{1070 * us, true, 1019, 5020, decode.FIN | decode.ACK, ""},
	{1080 * us, false, 5020, 1020, decode.ACK, ""},
	{1090 * us, false, 5020, 1020, decode.FIN | decode.ACK, ""},
	{1100 * us, true, 1020, 5021, decode.ACK, ""},
}

// links are the link types the builder supports, with the address
// families each takes.
var links = []struct {
	link   layers.LinkType
	vlan   bool
	v4, v6 bool
}{
	{layers.LinkTypeEthernet, false, true, true},
	{layers.LinkTypeEthernet, true, true, true},
	{layers.LinkTypeLinuxSLL, false, true, true},
	{layers.LinkTypeLinuxSLL2, false, true, true},
	{layers.LinkTypeRaw, false, true, true},
	{layers.LinkTypeIPv4, false, true, false},
	{layers.LinkTypeIPv6, false, false, true},
	{layers.LinkTypeNull, false, true, true},
	{layers.LinkTypeLoop, false, true, true},
}

func TestConversationEveryLinkType(t *testing.T) {
	for _, l := range links {
		for _, v6 := range []bool{false, true} {
			if (v6 && !l.v6) || (!v6 && !l.v4) {
				continue
			}
			client, server := cli4, srv4
			if v6 {
				client, server = cli6, srv6
			}
			c := pcaptest.New(l.link)
			if l.vlan {
				c.VLAN(77)
			}
			conversation(c, client, server)
			for name, file := range map[string][]byte{"pcap": c.Pcap(), "pcap-nanos": c.PcapNanos(), "pcapng": c.Pcapng()} {
				t.Run(fmt.Sprintf("%v/vlan=%v/v6=%v/%s", l.link, l.vlan, v6, name), func(t *testing.T) {
					sameSegs(t, segments(t, file, client), conversationSegs)
				})
			}
		}
	}
}

// TestTcpdump checks the capture with tcpdump's own reading of it.
func TestTcpdump(t *testing.T) {
	tcpdump := require.Tool(t, "tcpdump")
	c := pcaptest.New(layers.LinkTypeEthernet)
	conversation(c, cli4, srv4)
	path := filepath.Join(t.TempDir(), "conv.pcap")
	c.WriteFile(t, path)
	out := require.Output(t, tcpdump, "-r", path, "-nn", "-tt", "-S")
	want := `1700000000.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 65535, length 0
1700000000.000010 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 5000, ack 1001, win 65535, length 0
1700000000.000020 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 5001, win 65535, length 0
1700000000.000030 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1001:1019, ack 5001, win 65535, length 18: HTTP: GET / HTTP/1.1
1700000000.000040 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1019, win 65535, length 0
1700000000.001050 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], seq 5001:5020, ack 1019, win 65535, length 19: HTTP: HTTP/1.1 200 OK
1700000000.001060 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 5020, win 65535, length 0
1700000000.001070 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 1019, ack 5020, win 65535, length 0
1700000000.001080 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1020, win 65535, length 0
1700000000.001090 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [F.], seq 5020, ack 1020, win 65535, length 0
1700000000.001100 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 5021, win 65535, length 0
`
	if string(out) != want {
		t.Errorf("tcpdump reads:\n%s\nwant:\n%s", out, want)
	}
	// Checksums are right: tcpdump -vv says so for every packet.
	out = require.Output(t, tcpdump, "-r", path, "-nn", "-vv")
	if n := strings.Count(string(out), "cksum 0x"); n != 11 || strings.Contains(string(out), "incorrect") {
		t.Errorf("tcpdump -vv: %d checksums, output:\n%s", n, out)
	}
}

// TestTshark checks every link type and file format with tshark, which
// knows SLL2 and pcapng too.
func TestTshark(t *testing.T) {
	tshark := require.Tool(t, "tshark")
	dir := t.TempDir()
	for _, l := range links {
		client, server := cli4, srv4
		if !l.v4 {
			client, server = cli6, srv6
		}
		c := pcaptest.New(l.link)
		if l.vlan {
			c.VLAN(77)
		}
		conversation(c, client, server)
		for ext, file := range map[string][]byte{"pcap": c.Pcap(), "pcapng": c.Pcapng()} {
			path := filepath.Join(dir, fmt.Sprintf("%d-%v.%s", l.link, l.vlan, ext))
			if err := writeFile(path, file); err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(path), func(t *testing.T) {
				t.Parallel() // tshark takes a while to start
				out := require.Output(t, tshark, "-r", path, "-T", "fields", "-E", "separator=,",
					"-e", "vlan.id", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.flags", "-e", "tcp.len", "-e", "tcp.checksum.status", "-o", "tcp.check_checksum:TRUE")
				var got []string
				for _, s := range conversationSegs {
					vlan := ""
					if l.vlan {
						vlan = "77"
					}
					got = append(got, fmt.Sprintf("%s,%d,%d,0x%04x,%d,1", vlan, s.seq, s.ack, uint8(s.flags), len(s.payload)))
				}
				if want := strings.Join(got, "\n") + "\n"; string(out) != want {
					t.Errorf("%s: tshark reads:\n%s\nwant:\n%s", path, out, want)
				}
			})
		}
	}
}

func TestSequenceTricks(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, start)
	f.ClientISN, f.ServerISN = 0xFFFFFFF0, 0x7FFFFFFF
	f.Step = time.Millisecond
	f.Handshake()
	f.ClientSend([]byte("0123456789abcdef")) // wraps: 0xFFFFFFF1 + 16
	if got := f.Next(true); got != 1 {
		t.Errorf("client next after wrap: %#x", got)
	}
	f.Segment(true, 4, []byte("4567"), decode.PSH|decode.ACK) // retransmission of part
	f.Segment(false, 10, []byte("later"), decode.PSH|decode.ACK)
	f.Advance(false, 10) // lost: the server's first 10 bytes
	f.ServerSend([]byte("after"))
	f.Segment(true, 0, nil, decode.SYN) // no ACK flag: ack field 0
	f.Reset(false)
	want := []seg{
		{0, true, 0xFFFFFFF0, 0, decode.SYN, ""},
		{1 * time.Millisecond, false, 0x7FFFFFFF, 0xFFFFFFF1, decode.SYN | decode.ACK, ""},
		{2 * time.Millisecond, true, 0xFFFFFFF1, 0x80000000, decode.ACK, ""},
		{3 * time.Millisecond, true, 0xFFFFFFF1, 0x80000000, decode.PSH | decode.ACK, "0123456789abcdef"},
		{4 * time.Millisecond, true, 0xFFFFFFF5, 0x80000000, decode.PSH | decode.ACK, "4567"},
		{5 * time.Millisecond, false, 0x8000000A, 1, decode.PSH | decode.ACK, "later"},
		{6 * time.Millisecond, false, 0x8000000A, 1, decode.PSH | decode.ACK, "after"},
		{7 * time.Millisecond, true, 0xFFFFFFF1, 0, decode.SYN, ""},
		{8 * time.Millisecond, false, 0x8000000F, 1, decode.RST | decode.ACK, ""},
	}
	sameSegs(t, segments(t, c.Pcap(), cli4), want)
	if f.Now() != start.Add(9*time.Millisecond) {
		t.Errorf("clock at %v", f.Now())
	}

	// Picking a connection up mid-stream: no handshake, data from ISN+1.
	c = pcaptest.New(layers.LinkTypeRaw)
	f = c.Flow(cli6, srv6, start)
	f.ServerISN = 42
	f.ServerSend([]byte("tail of a response"))
	f.Ack(true)
	sameSegs(t, segments(t, c.Pcapng(), cli6), []seg{
		{0, false, 43, 1001, decode.PSH | decode.ACK, "tail of a response"},
		{10 * us, true, 1001, 61, decode.ACK, ""},
	})
}

func TestSnapAndFrame(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).Snap(60)
	c.TCP(start, cli4, srv4, 1, 2, decode.PSH|decode.ACK, bytes.Repeat([]byte("z"), 100))
	c.Snap(0)
	c.Frame(start.Add(time.Second), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0x08, 0x06, 0, 1})
	if c.Len() != 2 || c.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("Len %d, LinkType %v", c.Len(), c.LinkType())
	}
	for _, file := range [][]byte{c.Pcap(), c.Pcapng()} {
		r, err := capfile.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Next()
		if err != nil || p.CaptureLength != 60 || p.Length != 154 {
			t.Fatalf("snapped packet: %v %d/%d", err, p.CaptureLength, p.Length)
		}
		var d decode.Packet
		if err := decode.Decode(p.LinkType, p.Data, &d); err != nil || !d.Truncated || string(d.Payload) != "zzzzzz" {
			t.Errorf("decoded snapped packet: %v %+v", err, d)
		}
		p, err = r.Next()
		if err != nil || p.CaptureLength != 16 || !p.Timestamp.Equal(start.Add(time.Second)) {
			t.Fatalf("raw frame: %v %+v", err, p)
		}
		if err := decode.Decode(p.LinkType, p.Data, &d); err != decode.ErrNotIP {
			t.Errorf("ARP frame: %v", err)
		}
	}
}

func TestMisuse(t *testing.T) {
	for name, f := range map[string]func(){
		"mixed families": func() { pcaptest.New(layers.LinkTypeRaw).TCP(start, cli4, srv6, 0, 0, 0, nil) },
		"unknown link":   func() { pcaptest.New(layers.LinkTypePPP).TCP(start, cli4, srv4, 0, 0, 0, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
