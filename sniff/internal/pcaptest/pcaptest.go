// Package pcaptest builds synthetic capture files for tests: TCP
// conversations with the reordering, retransmissions, overlaps, losses,
// sequence wraparound, IPv6, VLAN tags and link types that real test traffic
// rarely shows.
//
// A Capture collects frames of one link type and renders them as pcap or
// pcapng. Frames are built with gopacket's layers and SerializeLayers, with
// lengths and checksums computed, so tcpdump and tshark accept them. A Flow
// plays one TCP connection into a Capture, keeping track of both sides'
// sequence numbers and of a clock.
//
// The builder panics on misuse (an unsupported link type, a malformed
// frame): it is for tests, where a panic is a failed test with a stack.
package pcaptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
)

// Snaplen is the snap length written in the headers of the files a Capture
// renders (libpcap's maximum, which tcpdump uses by default).
const Snaplen = 262144

// Fixed MAC addresses of the Ethernet frames: client and server sides are
// told apart by the IP addresses, not the MACs.
var (
	macA = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macB = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

// record is one frame of a Capture.
type record struct {
	ts     time.Time
	data   []byte // captured bytes
	length int    // original length
}

// Capture is a list of frames of one link type, to be rendered as a pcap
// or pcapng file. The zero value is not usable: call New.
type Capture struct {
	link    layers.LinkType
	vlan    uint16
	tagged  bool
	snaplen int
	wscale  int // window scale shift on SYNs, or -1
	recs    []record
}

// New returns an empty capture of the given link type. TCP builds frames
// for Ethernet, LinuxSLL, LinuxSLL2, Raw, IPv4/IPv6 (228/229 — the address
// family must match), Null and Loop; Frame accepts anything.
func New(link layers.LinkType) *Capture {
	return &Capture{link: link, wscale: -1}
}

// WindowScale makes the SYN segments that TCP builds from now on carry a
// window scale option with the given shift (RFC 7323), as Linux's do; a
// negative shift turns it off (the default). It returns c.
func (c *Capture) WindowScale(shift int) *Capture {
	c.wscale = shift
	return c
}

// VLAN makes the Ethernet frames that TCP builds from now on carry an
// 802.1Q tag with the given VLAN id. It returns c.
func (c *Capture) VLAN(id uint16) *Capture {
	c.vlan, c.tagged = id&0x0FFF, true
	return c
}

// Snap makes frames added from now on be cut to n bytes, as a capture with
// snap length n would: the record keeps the original length. Zero turns
// cutting off. It returns c.
func (c *Capture) Snap(n int) *Capture {
	c.snaplen = n
	return c
}

// LinkType returns the capture's link type.
func (c *Capture) LinkType() layers.LinkType { return c.link }

// Len returns the number of frames in the capture.
func (c *Capture) Len() int { return len(c.recs) }

// Frames returns the frames added so far (captured bytes, not copies).
func (c *Capture) Frames() [][]byte {
	out := make([][]byte, len(c.recs))
	for i, r := range c.recs {
		out[i] = r.data
	}
	return out
}

// Frame adds a raw frame as-is (cut to the Snap length, if any). The
// capture keeps its own copy.
func (c *Capture) Frame(ts time.Time, frame []byte) {
	r := record{ts: ts, data: bytes.Clone(frame), length: len(frame)}
	if c.snaplen > 0 && len(r.data) > c.snaplen {
		r.data = r.data[:c.snaplen]
	}
	c.recs = append(c.recs, r)
}

// TCP adds one TCP segment from src to dst: IPv4 if both addresses are
// IPv4, IPv6 if both are IPv6 (mixing them panics). The window is 65535,
// the IP TTL/hop limit 64; the ACK number is written whatever the flags.
func (c *Capture) TCP(ts time.Time, src, dst netip.AddrPort, seq, ack uint32, flags decode.Flags, payload []byte) {
	c.Frame(ts, c.tcpFrame(src, dst, seq, ack, flags, payload))
}

// tcpFrame serializes a TCP segment with the capture's link layer.
func (c *Capture) tcpFrame(src, dst netip.AddrPort, seq, ack uint32, flags decode.Flags, payload []byte) []byte {
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()),
		DstPort: layers.TCPPort(dst.Port()),
		Seq:     seq,
		Ack:     ack,
		FIN:     flags.Has(decode.FIN),
		SYN:     flags.Has(decode.SYN),
		RST:     flags.Has(decode.RST),
		PSH:     flags.Has(decode.PSH),
		ACK:     flags.Has(decode.ACK),
		URG:     flags.Has(decode.URG),
		ECE:     flags.Has(decode.ECE),
		CWR:     flags.Has(decode.CWR),
		Window:  65535,
	}
	if tcp.SYN && c.wscale >= 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(c.wscale)}}}
	}
	var ip gopacket.NetworkLayer
	var etherType layers.EthernetType
	sa, da := src.Addr(), dst.Addr()
	switch {
	case sa.Is4() && da.Is4():
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: sa.AsSlice(), DstIP: da.AsSlice()}
		ip, etherType = ip4, layers.EthernetTypeIPv4
	case sa.Is6() && da.Is6() && !sa.Is4In6() && !da.Is4In6():
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: sa.AsSlice(), DstIP: da.AsSlice()}
		ip, etherType = ip6, layers.EthernetTypeIPv6
	default:
		panic(fmt.Sprintf("pcaptest: TCP from %v to %v: addresses must both be IPv4 or both IPv6", src, dst))
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic("pcaptest: " + err.Error())
	}
	netLayers := []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(payload)}
	return c.frame(etherType, netLayers...)
}

// IPFrame returns the capture's link-layer framing around the given network
// layers (serialized with lengths and checksums fixed), without adding it:
// for tests that need packets other than plain TCP segments (UDP, IPv6
// extension headers, IP fragments). Add it with Frame.
func (c *Capture) IPFrame(etherType layers.EthernetType, l ...gopacket.SerializableLayer) []byte {
	return c.frame(etherType, l...)
}

// frame serializes l behind the capture's link-layer header.
func (c *Capture) frame(etherType layers.EthernetType, l ...gopacket.SerializableLayer) []byte {
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	switch c.link {
	case layers.LinkTypeEthernet:
		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: etherType}
		all := []gopacket.SerializableLayer{eth}
		if c.tagged {
			eth.EthernetType = layers.EthernetTypeDot1Q
			all = append(all, &layers.Dot1Q{VLANIdentifier: c.vlan, Type: etherType})
		}
		return serialize(opts, append(all, l...)...)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		family := uint32(2)
		if etherType == layers.EthernetTypeIPv6 {
			family = 30 // Darwin's AF_INET6, as macOS captures have it
		}
		hdr := make([]byte, 4)
		if c.link == layers.LinkTypeNull {
			binary.LittleEndian.PutUint32(hdr, family) // host order of a little-endian writer
		} else {
			binary.BigEndian.PutUint32(hdr, family)
		}
		return append(hdr, serialize(opts, l...)...)
	case layers.LinkTypeLinuxSLL:
		hdr := make([]byte, 16)
		binary.BigEndian.PutUint16(hdr[0:2], 0) // packet type: to us
		binary.BigEndian.PutUint16(hdr[2:4], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(hdr[4:6], 6) // address length
		copy(hdr[6:14], macA)                   // address, padded to 8
		binary.BigEndian.PutUint16(hdr[14:16], uint16(etherType))
		return append(hdr, serialize(opts, l...)...)
	case layers.LinkTypeLinuxSLL2:
		hdr := make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:2], uint16(etherType))
		binary.BigEndian.PutUint32(hdr[4:8], 1)  // interface index
		binary.BigEndian.PutUint16(hdr[8:10], 1) // ARPHRD_ETHER
		hdr[10] = 0                              // packet type: to us
		hdr[11] = 6                              // address length
		copy(hdr[12:20], macA)
		return append(hdr, serialize(opts, l...)...)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return serialize(opts, l...)
	}
	panic(fmt.Sprintf("pcaptest: cannot build frames for link type %d (%v)", c.link, c.link))
}

// serialize runs gopacket.SerializeLayers and returns the bytes.
func serialize(opts gopacket.SerializeOptions, l ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, opts, l...); err != nil {
		panic("pcaptest: serializing: " + err.Error())
	}
	return bytes.Clone(buf.Bytes())
}

// Pcap renders the capture as a little-endian microsecond pcap file
// (timestamps are truncated to the microsecond; pcapgo's writers stamp a
// zero time.Time with the current time, so give real timestamps).
func (c *Capture) Pcap() []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	c.writeAll(w.WriteFileHeader, w.WritePacket)
	return b.Bytes()
}

// PcapNanos renders the capture as a little-endian nanosecond pcap file.
func (c *Capture) PcapNanos() []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	c.writeAll(w.WriteFileHeader, w.WritePacket)
	return b.Bytes()
}

// writeAll writes the header and every record through a pcapgo.Writer.
func (c *Capture) writeAll(header func(uint32, layers.LinkType) error, packet func(gopacket.CaptureInfo, []byte) error) {
	if err := header(Snaplen, c.link); err != nil {
		panic("pcaptest: writing pcap header: " + err.Error())
	}
	for i, r := range c.recs {
		if err := packet(r.ci(), r.data); err != nil {
			panic(fmt.Sprintf("pcaptest: writing packet %d: %v", i+1, err))
		}
	}
}

// ci returns the record's capture info.
func (r record) ci() gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: r.length}
}

// Pcapng renders the capture as a pcapng file with one interface and
// nanosecond timestamps.
func (c *Capture) Pcapng() []byte {
	var b bytes.Buffer
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = c.link
	intf.SnapLength = Snaplen
	w, err := pcapgo.NewNgWriterInterface(&b, intf, pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "pcaptest"},
	})
	if err != nil {
		panic("pcaptest: writing pcapng header: " + err.Error())
	}
	for i, r := range c.recs {
		if err := w.WritePacket(r.ci(), r.data); err != nil {
			panic(fmt.Sprintf("pcaptest: writing packet %d: %v", i+1, err))
		}
	}
	if err := w.Flush(); err != nil {
		panic("pcaptest: flushing pcapng: " + err.Error())
	}
	return b.Bytes()
}

// WriteFile writes the capture as a pcap file (see Pcap) to path, failing
// the test if that fails.
func (c *Capture) WriteFile(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, c.Pcap(), 0o644); err != nil {
		t.Fatalf("pcaptest: %v", err)
	}
}

// Replay reads the pcap or pcapng file data and hands each packet to
// packet (an Engine's Packet method, say). A file that cannot be read to
// its end fails the test.
func Replay(t testing.TB, data []byte, packet func(link layers.LinkType, ts time.Time, frame []byte)) {
	t.Helper()
	r, err := capfile.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		packet(p.LinkType, p.Timestamp, p.Data)
	}
}
