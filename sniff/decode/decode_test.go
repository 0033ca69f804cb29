package decode_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var (
	ts   = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cli4 = netip.MustParseAddrPort("192.168.1.10:51234")
	srv4 = netip.MustParseAddrPort("10.0.0.80:8080")
	cli6 = netip.MustParseAddrPort("[2001:db8::10]:51234")
	srv6 = netip.MustParseAddrPort("[2001:db8:1::80]:443")
)

// segment is what a test expects Decode to find.
type segment struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    decode.Flags
	payload  []byte
}

// frame builds one TCP frame of the given link type with pcaptest.
func frame(link layers.LinkType, vlan int, s segment) []byte {
	c := pcaptest.New(link)
	if vlan >= 0 {
		c.VLAN(uint16(vlan))
	}
	c.TCP(ts, s.src, s.dst, s.seq, s.ack, s.flags, s.payload)
	return c.Frames()[0]
}

// check decodes data and compares the result with s.
func check(t *testing.T, link layers.LinkType, data []byte, s segment, vlan uint16) {
	t.Helper()
	var p decode.Packet
	if err := decode.Decode(link, data, &p); err != nil {
		t.Fatalf("link %v: Decode: %v", link, err)
	}
	if p.Src != s.src.Addr() || p.Dst != s.dst.Addr() || p.SrcPort != s.src.Port() || p.DstPort != s.dst.Port() ||
		p.Seq != s.seq || p.Ack != s.ack || p.Flags != s.flags || p.Window != 65535 ||
		!bytes.Equal(p.Payload, s.payload) || p.Truncated || p.VLAN != vlan {
		t.Fatalf("link %v: got %+v, want %+v vlan %d", link, p, s, vlan)
	}
	if len(p.Payload) != cap(p.Payload) {
		t.Fatalf("payload capacity %d exceeds its length %d", cap(p.Payload), len(p.Payload))
	}
}

func TestLinkTypes(t *testing.T) {
	s4 := segment{cli4, srv4, 0xFFFFFFF0, 42, decode.PSH | decode.ACK, []byte("GET / HTTP/1.1\r\n\r\n")}
	s6 := segment{cli6, srv6, 7, 0, decode.SYN, nil}
	for _, c := range []struct {
		link layers.LinkType
		v4   bool
		v6   bool
	}{
		{layers.LinkTypeEthernet, true, true},
		{layers.LinkTypeLinuxSLL, true, true},
		{layers.LinkTypeLinuxSLL2, true, true},
		{layers.LinkTypeRaw, true, true},
		{layers.LinkTypeIPv4, true, false},
		{layers.LinkTypeIPv6, false, true},
		{layers.LinkTypeNull, true, true},
		{layers.LinkTypeLoop, true, true},
	} {
		for _, s := range []segment{s4, s6} {
			if (s.src.Addr().Is4() && !c.v4) || (s.src.Addr().Is6() && !c.v6) {
				continue
			}
			f := frame(c.link, -1, s)
			check(t, c.link, f, s, 0)
			switch c.link {
			case layers.LinkTypeRaw:
				check(t, 12, f, s, 0) // DLT_RAW as Linux numbers it
				check(t, 14, f, s, 0)
			case layers.LinkTypeNull:
				// NULL is host-endian: a big-endian writer's family.
				be := bytes.Clone(f)
				binary.BigEndian.PutUint32(be, binary.LittleEndian.Uint32(f))
				check(t, c.link, be, s, 0)
				for _, fam := range []uint32{24, 28, 30} {
					if s.src.Addr().Is6() {
						binary.BigEndian.PutUint32(be, fam)
						check(t, c.link, be, s, 0)
					}
				}
			}
		}
	}
}

func TestVLAN(t *testing.T) {
	s := segment{cli4, srv4, 1, 2, decode.ACK, []byte("x")}
	check(t, layers.LinkTypeEthernet, frame(layers.LinkTypeEthernet, 100, s), s, 100)
	s6 := segment{cli6, srv6, 1, 2, decode.ACK, []byte("y")}
	check(t, layers.LinkTypeEthernet, frame(layers.LinkTypeEthernet, 4095, s6), s6, 4095)

	// QinQ: 802.1ad outer tag 300, 802.1Q inner tag 7: the outer id wins.
	ip, tcp := ipv4(s), tcpLayer(s)
	tcp.SetNetworkLayerForChecksum(ip)
	qinq := serialize(t,
		&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeQinQ},
		&layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload(s.payload))
	check(t, layers.LinkTypeEthernet, qinq, s, 300)

	// A priority tag (id 0) outside a real one: the outermost id is 0.
	prio := bytes.Clone(qinq)
	binary.BigEndian.PutUint16(prio[14:], 0x6000) // PCP 3, VID 0
	check(t, layers.LinkTypeEthernet, prio, s, 0)

	// Tags in a Linux cooked capture.
	sll := append([]byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x81, 0x00, 0x00, 0x0A, 0x08, 0x00}, frame(layers.LinkTypeRaw, -1, s)...)
	check(t, layers.LinkTypeLinuxSLL, sll, s, 10)

	// A tag cut short.
	var p decode.Packet
	if err := decode.Decode(layers.LinkTypeEthernet, qinq[:16], &p); err != decode.ErrMalformed {
		t.Errorf("cut tag: %v", err)
	}
}

var mac = []byte{2, 0, 0, 0, 0, 1}

func serialize(t testing.TB, l ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func ipv4(s segment) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.src.Addr().AsSlice(), DstIP: s.dst.Addr().AsSlice()}
}

func tcpLayer(s segment) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()), Seq: s.seq, Ack: s.ack,
		ACK: s.flags.Has(decode.ACK), SYN: s.flags.Has(decode.SYN), FIN: s.flags.Has(decode.FIN), RST: s.flags.Has(decode.RST),
		PSH: s.flags.Has(decode.PSH), Window: 65535}
}

// rawTCP returns a TCP header (with the given options) and payload,
// without a valid checksum.
func rawTCP(t testing.TB, s segment, opts ...layers.TCPOption) []byte {
	tcp := tcpLayer(s)
	tcp.Options = opts
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, tcp, gopacket.Payload(s.payload)); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func TestIPv4Options(t *testing.T) {
	s := segment{cli4, srv4, 100, 200, decode.PSH | decode.ACK, []byte("hello")}
	ip := ipv4(s)
	ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}}
	tcp := tcpLayer(s)
	tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}
	tcp.SetNetworkLayerForChecksum(ip)
	f := serialize(t, ip, tcp, gopacket.Payload(s.payload))
	if ihl := f[0] & 0x0F; ihl != 7 {
		t.Fatalf("IHL %d, want 7", ihl)
	}
	if doff := f[28+12] >> 4; doff != 7 {
		t.Fatalf("data offset %d, want 7", doff)
	}
	check(t, layers.LinkTypeRaw, f, s, 0)
}

// ipv6 builds an IPv6 packet by hand: base header, extension headers
// (each given with its next-header byte to fill in) and upper-layer bytes.
func ipv6(s segment, first byte, exts [][]byte, upper []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	b[6] = first
	b[7] = 64
	copy(b[8:24], s.src.Addr().AsSlice())
	copy(b[24:40], s.dst.Addr().AsSlice())
	for _, e := range exts {
		b = append(b, e...)
	}
	b = append(b, upper...)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)-40))
	return b
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	s := segment{cli6, srv6, 1, 2, decode.ACK | decode.PSH, []byte("payload")}
	tcp := rawTCP(t, s, layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
		layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindNop})
	hbh := []byte{43, 0, 1, 4, 0, 0, 0, 0}                                    // → routing, 8 bytes, PadN
	routing := []byte{60, 0, 4, 0, 0, 0, 0, 0}                                // → dest opts, type 4, segments left 0
	dest := []byte{51, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}          // → AH, 16 bytes
	ah := []byte{44, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD} // → fragment, (2+2)*4 bytes
	atomic := []byte{6, 0, 0, 0, 0, 0, 0, 9}                                  // → TCP, offset 0, M=0
	f := ipv6(s, 0, [][]byte{hbh, routing, dest, ah, atomic}, tcp)
	check(t, layers.LinkTypeRaw, f, s, 0)

	var p decode.Packet
	for _, c := range []struct {
		name  string
		first byte
		exts  [][]byte
		upper []byte
		want  error
	}{
		{"first fragment", 44, [][]byte{{6, 0, 0, 1, 0, 0, 0, 9}}, tcp, decode.ErrFragment},
		{"later fragment", 44, [][]byte{{6, 0, 0x05, 0x00, 0, 0, 0, 9}}, tcp, decode.ErrFragment},
		{"fragment of dest opts", 44, [][]byte{{60, 0, 0, 1, 0, 0, 0, 9}}, tcp, decode.ErrFragment},
		{"UDP fragment", 44, [][]byte{{17, 0, 0, 1, 0, 0, 0, 9}}, tcp, decode.ErrNotTCP},
		{"UDP", 17, nil, []byte{0, 53, 0, 53, 0, 8, 0, 0}, decode.ErrNotTCP},
		{"ICMPv6", 58, nil, []byte{128, 0, 0, 0}, decode.ErrNotTCP},
		{"ESP", 50, nil, tcp, decode.ErrNotTCP},
		{"no next header", 59, nil, nil, decode.ErrNotTCP},
		{"hop-by-hop then UDP", 0, [][]byte{{17, 0, 1, 4, 0, 0, 0, 0}}, []byte{0, 53, 0, 53, 0, 8, 0, 0}, decode.ErrNotTCP},
		{"extension header overruns", 60, [][]byte{{6, 200, 1, 4, 0, 0, 0, 0}}, tcp, decode.ErrMalformed},
		{"extension header cut", 60, [][]byte{{6}}, nil, decode.ErrMalformed},
		{"fragment header cut", 44, [][]byte{{6, 0, 0, 1}}, nil, decode.ErrMalformed},
		{"TCP header cut", 6, nil, tcp[:19], decode.ErrMalformed},
	} {
		if err := decode.Decode(layers.LinkTypeIPv6, ipv6(s, c.first, c.exts, c.upper), &p); err != c.want {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestIPv4Fragments(t *testing.T) {
	s := segment{cli4, srv4, 1, 2, decode.ACK, []byte("data")}
	var p decode.Packet
	for _, c := range []struct {
		name  string
		frag  uint16 // flags and fragment offset field
		proto layers.IPProtocol
		want  error
	}{
		{"DF", 0x4000, layers.IPProtocolTCP, nil},
		{"MF", 0x2000, layers.IPProtocolTCP, decode.ErrFragment},
		{"offset", 0x0010, layers.IPProtocolTCP, decode.ErrFragment},
		{"last fragment", 0x00FF, layers.IPProtocolTCP, decode.ErrFragment},
		{"UDP fragment", 0x2000, layers.IPProtocolUDP, decode.ErrNotTCP},
	} {
		f := frame(layers.LinkTypeEthernet, -1, s)
		binary.BigEndian.PutUint16(f[14+6:], c.frag)
		f[14+9] = byte(c.proto)
		if err := decode.Decode(layers.LinkTypeEthernet, f, &p); err != c.want {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestNotTCP(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	s := segment{cli4, srv4, 0, 0, 0, nil}
	udp := &layers.UDP{SrcPort: 53, DstPort: 53}
	ipu := ipv4(s)
	ipu.Protocol = layers.IPProtocolUDP
	udp.SetNetworkLayerForChecksum(ipu)
	ipi := ipv4(s)
	ipi.Protocol = layers.IPProtocolICMPv4
	arp := serialize(t, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: mac, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: mac, DstProtAddress: []byte{1, 2, 3, 5}})
	llc := append(bytes.Repeat([]byte{1}, 12), 0x00, 0x26, 0x42, 0x42, 0x03) // 802.3 length field, STP
	for _, tc := range []struct {
		name string
		link layers.LinkType
		data []byte
		want error
	}{
		{"UDP", layers.LinkTypeEthernet, c.IPFrame(layers.EthernetTypeIPv4, ipu, udp, gopacket.Payload("dns")), decode.ErrNotTCP},
		{"ICMP", layers.LinkTypeEthernet, c.IPFrame(layers.EthernetTypeIPv4, ipi, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}), decode.ErrNotTCP},
		{"ARP", layers.LinkTypeEthernet, arp, decode.ErrNotIP},
		{"802.3 LLC", layers.LinkTypeEthernet, llc, decode.ErrNotIP},
		{"SLL ARP", layers.LinkTypeLinuxSLL, append(make([]byte, 14), 0x08, 0x06, 1, 2, 3), decode.ErrNotIP},
		{"SLL2 unknown", layers.LinkTypeLinuxSLL2, append([]byte{0x88, 0xcc}, make([]byte, 30)...), decode.ErrNotIP},
		{"NULL AF 7", layers.LinkTypeNull, []byte{7, 0, 0, 0, 0x45}, decode.ErrNotIP},
		{"LOOP little-endian family", layers.LinkTypeLoop, []byte{2, 0, 0, 0, 0x45}, decode.ErrNotIP},
		{"PPP", layers.LinkTypePPP, frame(layers.LinkTypeRaw, -1, segment{cli4, srv4, 1, 1, decode.ACK, nil}), decode.ErrUnsupportedLink},
		{"802.11", layers.LinkTypeIEEE802_11, nil, decode.ErrUnsupportedLink},
	} {
		var p decode.Packet
		if err := decode.Decode(tc.link, tc.data, &p); err != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestEthernetPadding(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("ab")} {
		s := segment{cli4, srv4, 5, 6, decode.ACK, payload}
		f := frame(layers.LinkTypeEthernet, -1, s)
		padded := append(bytes.Clone(f), make([]byte, 60-len(f))...)
		check(t, layers.LinkTypeEthernet, padded, s, 0)
		padded = append(padded, 0xde, 0xad, 0xbe, 0xef) // and an FCS
		check(t, layers.LinkTypeEthernet, padded, s, 0)
	}
	s := segment{cli6, srv6, 5, 6, decode.ACK, nil}
	f := frame(layers.LinkTypeLinuxSLL2, -1, s)
	check(t, layers.LinkTypeLinuxSLL2, append(f, 0, 0, 0, 0), s, 0)
}

func TestTruncated(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 100)
	for _, s := range []segment{{cli4, srv4, 1, 2, decode.ACK, payload}, {cli6, srv6, 1, 2, decode.ACK, payload}} {
		c := pcaptest.New(layers.LinkTypeEthernet).Snap(200)
		c.TCP(ts, s.src, s.dst, s.seq, s.ack, s.flags, s.payload)
		f := c.Frames()[0]
		var p decode.Packet
		if err := decode.Decode(layers.LinkTypeEthernet, f, &p); err != nil {
			t.Fatal(err)
		}
		hdr := 14 + 20 + 20
		if s.src.Addr().Is6() {
			hdr = 14 + 40 + 20
		}
		if !p.Truncated || !bytes.Equal(p.Payload, payload[:200-hdr]) || p.Seq != 1 || p.SrcPort != s.src.Port() {
			t.Errorf("%v: got %+v", s.src, p)
		}
	}

	// The capture cut the TCP options: header fields, no payload.
	s := segment{cli4, srv4, 9, 10, decode.SYN | decode.ACK, nil}
	ip := ipv4(s)
	tcp := tcpLayer(s)
	tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
	tcp.SetNetworkLayerForChecksum(ip)
	f := serialize(t, ip, tcp)
	var p decode.Packet
	if err := decode.Decode(layers.LinkTypeRaw, f[:42], &p); err != nil || !p.Truncated || p.Payload != nil || p.Seq != 9 || p.Flags != decode.SYN|decode.ACK {
		t.Errorf("options cut: %v %+v", err, p)
	}
	// The capture cut the fixed TCP header: nothing to report.
	if err := decode.Decode(layers.LinkTypeRaw, f[:39], &p); err != decode.ErrMalformed {
		t.Errorf("header cut: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	s := segment{cli4, srv4, 1, 2, decode.ACK, []byte("data")}
	good := frame(layers.LinkTypeRaw, -1, s)
	s6 := segment{cli6, srv6, 1, 2, decode.ACK, []byte("data")}
	good6 := frame(layers.LinkTypeRaw, -1, s6)
	mod := func(b []byte, f func(b []byte)) []byte { b = bytes.Clone(b); f(b); return b }
	for _, c := range []struct {
		name string
		link layers.LinkType
		data []byte
	}{
		{"IHL 4", layers.LinkTypeRaw, mod(good, func(b []byte) { b[0] = 0x44 })},
		{"IHL beyond data", layers.LinkTypeRaw, mod(good, func(b []byte) { b[0] = 0x4F })},
		{"total length < IHL", layers.LinkTypeRaw, mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 19) })},
		{"total length leaves no TCP header", layers.LinkTypeRaw, mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 30) })},
		{"data offset 4", layers.LinkTypeRaw, mod(good, func(b []byte) { b[32] = 0x40 })},
		{"data offset beyond segment", layers.LinkTypeRaw, mod(good, func(b []byte) { b[32] = 0xF0 })},
		{"IPv6 on the IPv4 link type", layers.LinkTypeIPv4, good6},
		{"IPv4 on the IPv6 link type", layers.LinkTypeIPv6, good},
		{"IP version 5", layers.LinkTypeRaw, mod(good, func(b []byte) { b[0] = 0x55 })},
		{"empty raw", layers.LinkTypeRaw, nil},
		{"short Ethernet", layers.LinkTypeEthernet, make([]byte, 13)},
		{"short SLL", layers.LinkTypeLinuxSLL, make([]byte, 15)},
		{"short SLL2", layers.LinkTypeLinuxSLL2, make([]byte, 19)},
		{"short NULL", layers.LinkTypeNull, []byte{2, 0, 0}},
		{"short IPv6", layers.LinkTypeRaw, good6[:39]},
		{"IPv6 data offset beyond segment", layers.LinkTypeRaw, mod(good6, func(b []byte) { b[52] = 0xF0 })},
	} {
		var p decode.Packet
		if err := decode.Decode(c.link, c.data, &p); err != decode.ErrMalformed {
			t.Errorf("%s: got %v, want ErrMalformed", c.name, err)
		}
	}

	// IPv4 total length 0 (TSO): the datagram is what was captured.
	tso := mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 0) })
	check(t, layers.LinkTypeRaw, tso, s, 0)
	// IPv6 payload length 0 (jumbogram, BIG TCP): likewise.
	jumbo := mod(good6, func(b []byte) { binary.BigEndian.PutUint16(b[4:], 0) })
	check(t, layers.LinkTypeRaw, jumbo, s6, 0)
}

// samples returns one valid frame per supported link type and a few
// variants, for the robustness tests.
func samples(t testing.TB) []struct {
	link layers.LinkType
	data []byte
} {
	var out []struct {
		link layers.LinkType
		data []byte
	}
	add := func(link layers.LinkType, data []byte) {
		out = append(out, struct {
			link layers.LinkType
			data []byte
		}{link, data})
	}
	s4 := segment{cli4, srv4, 1, 2, decode.PSH | decode.ACK, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
	s6 := segment{cli6, srv6, 3, 4, decode.PSH | decode.ACK, []byte("HTTP/1.1 200 OK\r\n\r\n")}
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLoop} {
		add(link, frame(link, -1, s4))
		add(link, frame(link, -1, s6))
	}
	add(layers.LinkTypeEthernet, frame(layers.LinkTypeEthernet, 42, s4))
	add(layers.LinkTypeIPv4, frame(layers.LinkTypeIPv4, -1, s4))
	add(layers.LinkTypeIPv6, frame(layers.LinkTypeIPv6, -1, s6))
	tcp := rawTCP(t, s6)
	add(layers.LinkTypeIPv6, ipv6(s6, 0, [][]byte{{60, 0, 1, 4, 0, 0, 0, 0}, {44, 0, 1, 4, 0, 0, 0, 0}, {6, 0, 0, 0, 0, 0, 0, 1}}, tcp))
	return out
}

// TestEveryTruncation decodes every prefix of the sample frames, and
// randomly damaged copies of them: Decode must not panic, and a successful
// decode must stay within the data.
func TestEveryTruncation(t *testing.T) {
	var p decode.Packet
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range samples(t) {
		for n := 0; n <= len(s.data); n++ {
			data := s.data[:n:n]
			if err := decode.Decode(s.link, data, &p); err == nil {
				if len(p.Payload) > n {
					t.Fatalf("link %v, %d bytes: payload of %d bytes", s.link, n, len(p.Payload))
				}
			} else if n == len(s.data) {
				t.Fatalf("link %v: whole frame: %v", s.link, err)
			}
		}
		for range 3000 {
			data := bytes.Clone(s.data)
			for range 1 + rng.IntN(4) {
				data[rng.IntN(len(data))] = byte(rng.Uint32())
			}
			data = data[:rng.IntN(len(data)+1)]
			if err := decode.Decode(s.link, data, &p); err == nil && len(p.Payload) > len(data) {
				t.Fatalf("payload longer than the data")
			}
		}
	}
}

func TestNoAllocations(t *testing.T) {
	for _, s := range samples(t) {
		var p decode.Packet
		allocs := testing.AllocsPerRun(1000, func() {
			if err := decode.Decode(s.link, s.data, &p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("link %v: %v allocations per Decode", s.link, allocs)
		}
	}
	// Errors do not allocate either.
	var p decode.Packet
	short := []byte{1, 2, 3}
	if a := testing.AllocsPerRun(100, func() { decode.Decode(layers.LinkTypeEthernet, short, &p) }); a != 0 {
		t.Errorf("error path: %v allocations", a)
	}
}

func TestFlags(t *testing.T) {
	f := decode.SYN | decode.ACK
	if !f.Has(decode.SYN) || !f.Has(decode.SYN|decode.ACK) || f.Has(decode.FIN) || f.Has(decode.SYN|decode.FIN) {
		t.Error("Has")
	}
	for f, want := range map[decode.Flags]string{0: "none", decode.SYN | decode.ACK: "SYN|ACK", 0xFF: "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"} {
		if got := f.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint8(f), got, want)
		}
	}
	if decode.FIN != 1 || decode.SYN != 2 || decode.RST != 4 || decode.PSH != 8 || decode.ACK != 0x10 || decode.URG != 0x20 {
		t.Error("flag values")
	}
}

// TestSnapCutAndWindowScale: a segment the capture cut says how many payload
// bytes are missing, and a SYN's window scale option is read.
func TestSnapCutAndWindowScale(t *testing.T) {
	for _, ip6 := range []bool{false, true} {
		c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(9)
		src, dst := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
		hdr := 14 + 20 + 20
		if ip6 {
			src, dst = netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")
			hdr = 14 + 40 + 20
		}
		c.TCP(time.Unix(0, 0), src, dst, 7, 0, decode.SYN, nil)
		c.Snap(hdr + 10)
		c.TCP(time.Unix(0, 0), src, dst, 8, 1, decode.ACK, make([]byte, 100))
		c.Snap(hdr + 2) // inside the TCP options of a SYN
		c.TCP(time.Unix(0, 0), src, dst, 7, 0, decode.SYN, []byte("tfo"))
		frames := c.Frames()
		var p decode.Packet
		if err := decode.Decode(layers.LinkTypeEthernet, frames[0], &p); err != nil || p.WScale != 9 || p.Missing != 0 || p.Truncated {
			t.Fatalf("ipv6=%v SYN: err %v, wscale %d, missing %d, truncated %v", ip6, err, p.WScale, p.Missing, p.Truncated)
		}
		if err := decode.Decode(layers.LinkTypeEthernet, frames[1], &p); err != nil || !p.Truncated || len(p.Payload) != 10 || p.Missing != 90 || p.WScale != -1 {
			t.Fatalf("ipv6=%v cut: err %v, truncated %v, %d bytes, missing %d, wscale %d", ip6, err, p.Truncated, len(p.Payload), p.Missing, p.WScale)
		}
		if err := decode.Decode(layers.LinkTypeEthernet, frames[2], &p); err != nil || !p.Truncated || len(p.Payload) != 0 || p.Missing != 3 || p.WScale != decode.WScaleUnknown {
			t.Fatalf("ipv6=%v cut options: err %v, truncated %v, %d bytes, missing %d, wscale %d", ip6, err, p.Truncated, len(p.Payload), p.Missing, p.WScale)
		}
	}
}

// TestUsualAgrees checks Decode, which decodes the usual frame itself,
// against the path every frame may take: on frames of the usual kind and
// on damaged or unusual ones (a cut, a VLAN tag), both fail or both find
// the same, every field set (a SYN's window scale too).
func TestUsualAgrees(t *testing.T) {
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
		t.Run(link.String(), func(t *testing.T) { usualAgrees(t, link) })
	}
}

// usualAgrees is TestUsualAgrees for frames of one link type.
func usualAgrees(t *testing.T, link layers.LinkType) {
	s4 := segment{cli4, srv4, 1, 2, decode.PSH | decode.ACK, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
	syn := segment{cli4, srv4, 1, 0, decode.SYN, nil}
	base := [][]byte{
		frame(link, -1, s4),                     // the usual frame
		append(frame(link, -1, s4), 0, 0, 0, 0), // padding
		frame(link, -1, syn),
	}
	if link == layers.LinkTypeEthernet {
		base = append(base, frame(link, 42, s4))
	}
	c := pcaptest.New(link).WindowScale(7)
	c.TCP(ts, syn.src, syn.dst, syn.seq, syn.ack, syn.flags, nil)
	base = append(base, c.Frames()[0]) // a SYN with a window scale option
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		data := bytes.Clone(base[i%len(base)])
		if i >= len(base) {
			for range 1 + rng.IntN(3) {
				data[rng.IntN(min(len(data), 60))] = byte(rng.Uint32())
			}
			if rng.IntN(4) == 0 {
				data = data[:rng.IntN(len(data)+1)]
			}
		}
		// Stale fields of an earlier packet, which Decode must overwrite.
		stale := decode.Packet{Truncated: true, Missing: 7, WScale: 5, VLAN: 9, Payload: []byte("old"), Flags: decode.RST}
		a, b := stale, stale
		errA, errB := decode.Decode(link, data, &a), decode.DecodeAny(link, data, &b)
		if errA != errB {
			t.Fatalf("frame % x: Decode %v, the path of every frame %v", data, errA, errB)
		}
		if errA != nil {
			continue
		}
		if a.Src != b.Src || a.Dst != b.Dst || a.SrcPort != b.SrcPort || a.DstPort != b.DstPort ||
			a.Seq != b.Seq || a.Ack != b.Ack || a.Flags != b.Flags || a.Window != b.Window ||
			a.Truncated != b.Truncated || a.Missing != b.Missing || a.WScale != b.WScale || a.VLAN != b.VLAN ||
			len(a.Payload) != len(b.Payload) || cap(a.Payload) != cap(b.Payload) ||
			len(a.Payload) > 0 && &a.Payload[0] != &b.Payload[0] {
			t.Fatalf("frame % x: Decode %+v, the path of every frame %+v", data, a, b)
		}
	}
}
