package filter

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		expr string
		link layers.LinkType
		pos  int
		msg  string // substring of the message
	}{
		{"port", layers.LinkTypeEthernet, 4, `expected port number after "port"`},
		{"host 1.2.3", layers.LinkTypeEthernet, 5, `"1.2.3" is not a complete IPv4 address`},
		{"tcp and", layers.LinkTypeEthernet, 7, `expected expression after "and"`},
		{"tcp or ", layers.LinkTypeEthernet, 7, `expected expression after "or"`},
		{"(tcp", layers.LinkTypeEthernet, 4, `expected ")" to match "(" at position 0`},
		{"tcp)", layers.LinkTypeEthernet, 3, `found ")"`},
		{"ether host 00:11:22:33:44:55", layers.LinkTypeEthernet, 0, `"ether" is not supported`},
		{"ether proto 0x800", layers.LinkTypeEthernet, 0, `"ether" is not supported`},
		{"ether", layers.LinkTypeEthernet, 0, `"ether" is not supported`},
		{"host example.com", layers.LinkTypeEthernet, 5, `host names are not supported: "example.com"`},
		{"net example", layers.LinkTypeEthernet, 4, `network names are not supported`},
		{"host 00:11:22:33:44:55", layers.LinkTypeEthernet, 5, `Ethernet addresses are not supported`},
		{"1.2.3.4", layers.LinkTypeEthernet, 0, `expected a qualifier such as "host"`},
		{"tcp or 1.2.3.4", layers.LinkTypeEthernet, 7, `"1.2.3.4" has no qualifier`},
		{"(port 80) or 443", layers.LinkTypeEthernet, 13, `"443" has no qualifier`},
		{"src port 80 or dst 443", layers.LinkTypeEthernet, 19, `443 is not a host address (did you mean "port 443"?)`},
		{"host 10", layers.LinkTypeEthernet, 5, `10 is not a host address`},
		{"port 70000", layers.LinkTypeEthernet, 5, `illegal port number 70000 > 65535`},
		{"portrange 1-70000", layers.LinkTypeEthernet, 10, `illegal port number 70000 > 65535`},
		{"port nosuchservice", layers.LinkTypeEthernet, 5, `unknown port name "nosuchservice"`},
		{"udp port http", layers.LinkTypeEthernet, 9, `port "http" is tcp`},
		{"tcp port ntp", layers.LinkTypeEthernet, 9, `port "ntp" is udp`},
		{"ip port 80", layers.LinkTypeEthernet, 0, `illegal qualifier of "port": "ip"`},
		{"port 1.2.3.4", layers.LinkTypeEthernet, 5, `"port" modifier applied to IP address`},
		{"tcp host 1.2.3.4", layers.LinkTypeEthernet, 0, `"tcp" modifier applied to IPv4 host`},
		{"ip6 host 1.2.3.4", layers.LinkTypeEthernet, 0, `"ip6" modifier applied to IPv4 host`},
		{"ip host ::1", layers.LinkTypeEthernet, 0, `"ip" modifier applied to IPv6 host`},
		{"tcp proto 6", layers.LinkTypeEthernet, 0, `"tcp proto" is not meaningful`},
		{"ip proto nosuch", layers.LinkTypeEthernet, 9, `unknown IP protocol "nosuch"`},
		{"net 10.0.0.1/8", layers.LinkTypeEthernet, 4, `non-network bits set in "10.0.0.1"`},
		{"net 10.0.0.0/33", layers.LinkTypeEthernet, 13, `mask length must be <= 32`},
		{"net 10.0.0.1 mask 255.0.0.0", layers.LinkTypeEthernet, 4, `non-network bits set`},
		{"host 10.0.0.0/8", layers.LinkTypeEthernet, 14, `mask syntax for networks only`},
		{"net 2001:db8::1/32", layers.LinkTypeEthernet, 4, `non-network bits set`},
		{"host ::1/64", layers.LinkTypeEthernet, 9, `mask syntax for networks only`},
		{"host 1.2.3.256", layers.LinkTypeEthernet, 5, `not a valid IPv4 address`},
		{"tcp[0:3] = 1", layers.LinkTypeEthernet, 6, `data size must be 1, 2, or 4`},
		{"ip[0] / 0 = 1", layers.LinkTypeEthernet, 6, `division by zero`},
		{"ip[0] % (2 - 2) = 1", layers.LinkTypeEthernet, 6, `division by zero`},
		{"ip[0] << 32 = 1", layers.LinkTypeEthernet, 6, `shift by more than 31 bits`},
		{"tcp[13] & 2", layers.LinkTypeEthernet, 11, `expected comparison operator`},
		{"tcp[13 = 2", layers.LinkTypeEthernet, 7, `expected "]"`},
		{"ip[0] = ", layers.LinkTypeEthernet, 8, `expected number`},
		{"len-20 > 0", layers.LinkTypeEthernet, 0, `before "len-20"`},
		{"vlan 5000", layers.LinkTypeEthernet, 5, `VLAN ID 5000 greater than maximum 4095`},
		{"vlan", layers.LinkTypeLinuxSLL, 0, `"vlan" is not supported on Linux cooked (SLL) links`},
		{"tcp and vlan 10", layers.LinkTypeRaw, 8, `"vlan" is not supported on raw IP links`},
		{"ip protochain 6", layers.LinkTypeEthernet, 3, `"protochain" is not supported`},
		{"gateway foo", layers.LinkTypeEthernet, 0, `"gateway" is not supported`},
		{"broadcast", layers.LinkTypeEthernet, 0, `"broadcast" is not supported`},
		{"ip multicast", layers.LinkTypeEthernet, 3, `"multicast" is not supported`},
		{"inbound", layers.LinkTypeEthernet, 0, `"inbound" is not supported`},
		{"mpls 5", layers.LinkTypeEthernet, 0, `"mpls" is not supported`},
		{"atalk", layers.LinkTypeEthernet, 0, `"atalk" is not supported`},
		{"byte 12 = 8", layers.LinkTypeEthernet, 0, `"byte" is not supported`},
		{"less", layers.LinkTypeEthernet, 4, `expected number after "less"`},
		{"greater x", layers.LinkTypeEthernet, 8, `expected number after "greater"`},
		{"host 1.2.3.4 5.6.7.8", layers.LinkTypeEthernet, 13, `expected "and", "or" or end of expression`},
		{"tcp # comment", layers.LinkTypeEthernet, 4, `unexpected character '#'`},
		{"port 08", layers.LinkTypeEthernet, 5, `contains non-octal digit`},
		{"port 99999999999", layers.LinkTypeEthernet, 5, `overflows 32 bits`},
		{"not", layers.LinkTypeEthernet, 3, `expected expression`},
		{"host", layers.LinkTypeEthernet, 4, `expected address after "host"`},
		{"src", layers.LinkTypeEthernet, 3, `expected address after "src"`},
		{"net", layers.LinkTypeEthernet, 3, `expected network after "net"`},
		{"ip proto", layers.LinkTypeEthernet, 8, `expected protocol number after "proto"`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr, tt.link, 0)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q): err = %v, want a *SyntaxError", tt.expr, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) || se.Expr != tt.expr {
			t.Errorf("Compile(%q): got pos %d msg %q expr %q, want pos %d msg containing %q",
				tt.expr, se.Pos, se.Msg, se.Expr, tt.pos, tt.msg)
		}
		if want := "filter: position "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Compile(%q): Error() = %q, want prefix %q", tt.expr, err, want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Compile("tcp and port", layers.LinkTypeEthernet, 0)
	want := `filter: position 12: expected port number after "port", found end of expression`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	_, err := Compile("tcp", layers.LinkTypeIEEE802_11, 0)
	if err == nil || !strings.Contains(err.Error(), "link type 105") {
		t.Errorf("Compile for 802.11: err = %v, want a link type error", err)
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, 12, 14, layers.LinkTypeNull,
		layers.LinkTypeLoop, layers.LinkTypeIPv4, layers.LinkTypeIPv6} {
		if _, err := Compile("tcp port 80", lt, 0); err != nil {
			t.Errorf("Compile for link type %d: %v", lt, err)
		}
	}
}

func TestEmptyExpression(t *testing.T) {
	for _, expr := range []string{"", "  ", "\t\n "} {
		insns, err := Compile(expr, layers.LinkTypeEthernet, 0)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if len(insns) != 1 || insns[0] != (bpf.RetConstant{Val: DefaultSnaplen}) {
			t.Errorf("Compile(%q) = %v, want a single ret #%d", expr, insns, DefaultSnaplen)
		}
		p, err := NewProgram(insns)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkt := range [][]byte{nil, {1}, make([]byte, 1500)} {
			if !p.Match(pkt) {
				t.Errorf("empty filter rejects a %d-byte packet", len(pkt))
			}
		}
	}
}

func TestSnaplen(t *testing.T) {
	insns, err := Compile("tcp", layers.LinkTypeEthernet, 96)
	if err != nil {
		t.Fatal(err)
	}
	var rets []uint32
	for _, in := range insns {
		if r, ok := in.(bpf.RetConstant); ok {
			rets = append(rets, r.Val)
		}
	}
	if len(rets) != 2 || rets[0] != 96 || rets[1] != 0 {
		t.Errorf("returns = %v, want [96 0]", rets)
	}
}

// frame wraps an IP packet (or ARP) for link.
func frame(link layers.LinkType, etherType uint16, l3 []byte, tags ...uint32) []byte {
	return testPacket{l3: l3, etherType: etherType, tags: tags, trunc: -1}.frame(link)
}

func TestVerdicts(t *testing.T) {
	eth := layers.LinkTypeEthernet
	tcp4 := func(src, dst string, sport, dport uint16, flags byte, o ip4opts) []byte {
		return ipv4(src, dst, protoTCP, tcpHdr(sport, dport, flags, []byte("data")), o)
	}
	udp4 := func(src, dst string, sport, dport uint16) []byte {
		return ipv4(src, dst, protoUDP, udpHdr(sport, dport, []byte("data")), ip4opts{})
	}
	v4 := func(l3 []byte, tags ...uint32) []byte { return frame(eth, etherTypeIPv4, l3, tags...) }
	v6 := func(l3 []byte) []byte { return frame(eth, etherTypeIPv6, l3) }

	syn := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{}))
	synOpts := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{optWords: 3}))
	ack443 := v4(tcp4("10.0.0.2", "10.0.0.1", 443, 50000, 0x10, ip4opts{}))
	laterFrag := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{fragOff: 185}))
	firstFrag := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{mf: true}))
	udp80 := v4(udp4("192.168.1.10", "1.2.3.4", 80, 5353))
	dns := v4(udp4("192.168.1.10", "8.8.8.8", 40000, 53))
	tagged10 := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{}), 0x8100_000a)
	tagged20 := v4(tcp4("10.0.0.1", "10.0.0.2", 1024, 80, 0x02, ip4opts{}), 0x8100_0014)
	tcp6 := v6(ipv6("2001:db8::1", "2001:db8::2", protoTCP, tcpHdr(1024, 80, 0x02, nil)))
	tcp6frag := v6(ipv6("2001:db8::1", "2001:db8::2", protoFrag, ip6frag(protoTCP, 0, true, tcpHdr(1024, 80, 0x02, nil))))
	tcp6hop := v6(ipv6("2001:db8::1", "2001:db8::2", 0, ip6ext(protoTCP, tcpHdr(1024, 80, 0x02, nil))))
	echo6 := v6(ipv6("::1", "::1", protoICMPv6, icmpHdr(128, 0)))
	arp := frame(eth, etherTypeARP, arpPkt(1, "10.0.0.1", "10.0.0.9"))
	ping := v4(ipv4("10.0.0.1", "10.0.0.2", protoICMP, icmpHdr(8, 0), ip4opts{}))

	tests := []struct {
		expr   string
		accept [][]byte
		reject [][]byte
	}{
		{"tcp", [][]byte{syn, ack443, laterFrag, tcp6, tcp6frag}, [][]byte{udp80, tcp6hop, arp, tagged10}},
		{"tcp port 80", [][]byte{syn, synOpts, firstFrag, tcp6}, [][]byte{laterFrag, udp80, tcp6frag, tagged10, ack443}},
		{"port 80", [][]byte{syn, udp80, tcp6}, [][]byte{laterFrag, dns, ping}},
		{"udp port 80", [][]byte{udp80}, [][]byte{syn}},
		{"src port 80", [][]byte{udp80}, [][]byte{syn}},
		{"dst port 80", [][]byte{syn}, [][]byte{udp80}},
		{"portrange 440-450", [][]byte{ack443}, [][]byte{syn, dns}},
		{"port 80 or 443", [][]byte{syn, ack443}, [][]byte{dns}},
		{"not port 80 or 443", [][]byte{ack443, dns, arp}, [][]byte{syn, udp80}},
		{"port 80 or 443 and tcp", [][]byte{syn, ack443}, [][]byte{udp80}}, // (port 80 or 443) and tcp
		{"vlan", [][]byte{tagged10, tagged20}, [][]byte{syn}},
		{"vlan 10 and tcp port 80", [][]byte{tagged10}, [][]byte{tagged20, syn}},
		{"host 10.0.0.1", [][]byte{syn, ack443, arp, ping}, [][]byte{udp80, tcp6}},
		{"ip host 10.0.0.1", [][]byte{syn}, [][]byte{arp}},
		{"src host 10.0.0.1", [][]byte{syn, arp}, [][]byte{ack443}},
		{"host 10.0.0.1 or 1.2.3.4", [][]byte{syn, udp80}, [][]byte{dns}},
		{"net 10", [][]byte{syn, ack443}, [][]byte{udp80}},
		{"src net 192.168.0.0/16", [][]byte{udp80, dns}, [][]byte{syn}},
		{"net 10.0.0.0 mask 255.255.255.254", [][]byte{syn}, [][]byte{udp80}},
		{"host 2001:db8::1", [][]byte{tcp6, tcp6frag}, [][]byte{syn, echo6}},
		{"net 2001:db8::/32", [][]byte{tcp6}, [][]byte{echo6}},
		{"icmp6 and ip6[40] = 128", [][]byte{echo6}, [][]byte{tcp6}},
		{"icmp6[icmp6type] = icmp6-echo", [][]byte{echo6}, [][]byte{tcp6}},
		{"icmp[icmptype] = icmp-echo", [][]byte{ping}, [][]byte{syn}},
		{"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", [][]byte{syn, synOpts}, [][]byte{ack443, udp80}},
		{"tcp[13] = 2", [][]byte{syn, synOpts}, [][]byte{ack443}},
		{"ip[0] & 0xf != 5", [][]byte{synOpts}, [][]byte{syn, tcp6}},
		{"tcp[0:2] > 1000", [][]byte{syn}, [][]byte{ack443}},
		{"greater 70", [][]byte{synOpts}, [][]byte{arp}},
		{"less 50", [][]byte{arp}, [][]byte{syn}},
		{"ip proto 17", [][]byte{udp80}, [][]byte{syn}},
		{"proto 6", [][]byte{syn, tcp6, tcp6frag}, [][]byte{udp80}},
		{"arp", [][]byte{arp}, [][]byte{syn}},
		{"ether[0] & 1 = 0", [][]byte{syn}, nil},
		{"ip[2:2] + 14 = len", [][]byte{syn, udp80}, [][]byte{tcp6}},
		{"-ip[0] = 0xffffffbb", [][]byte{syn}, [][]byte{synOpts}},
		{"host 10.0.0.1 and not 10.0.0.2", [][]byte{arp}, [][]byte{syn, ping}},
		{"not host 10.0.0.1 and 10.0.0.2", nil, [][]byte{syn, ack443}},
	}
	for _, tt := range tests {
		insns, err := Compile(tt.expr, eth, 0)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		p, err := NewProgram(insns)
		if err != nil {
			t.Errorf("NewProgram(%q): %v", tt.expr, err)
			continue
		}
		for i, pkt := range tt.accept {
			if !p.Match(pkt) {
				t.Errorf("%q rejects accept[%d]", tt.expr, i)
			}
		}
		for i, pkt := range tt.reject {
			if p.Match(pkt) {
				t.Errorf("%q accepts reject[%d]", tt.expr, i)
			}
		}
	}
}

// TestLinkTypeVerdicts checks the link-layer framing of each link type.
func TestLinkTypeVerdicts(t *testing.T) {
	tcp4 := ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(1024, 80, 0x02, nil), ip4opts{})
	tcp6 := ipv6("2001:db8::1", "2001:db8::2", protoTCP, tcpHdr(1024, 80, 0x02, nil))
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLoop} {
		for _, expr := range []string{"tcp port 80", "host 10.0.0.1 or 2001:db8::1", "tcp[13] = 2 or ip6"} {
			insns, err := Compile(expr, link, 0)
			if err != nil {
				t.Fatalf("%d %q: %v", link, expr, err)
			}
			p, err := NewProgram(insns)
			if err != nil {
				t.Fatal(err)
			}
			for _, pkt := range [][]byte{frame(link, etherTypeIPv4, tcp4), frame(link, etherTypeIPv6, tcp6)} {
				if !p.Match(pkt) {
					t.Errorf("link %d %q: rejects % x", link, expr, pkt)
				}
			}
			// The same IP packets framed for another link type.
			bad := frame(layers.LinkTypeEthernet, etherTypeIPv4, tcp4)
			if link == layers.LinkTypeEthernet {
				bad = frame(layers.LinkTypeRaw, etherTypeIPv4, tcp4)
			}
			if p.Match(bad) {
				t.Errorf("link %d %q: accepts a packet of another link type", link, expr)
			}
		}
	}
	// NULL: the address family is in host byte order; Linux's AF_INET6
	// (10) is not one of the BSD values tcpdump accepts.
	p := mustProgram(t, "ip6", layers.LinkTypeNull)
	for af, want := range map[uint32]bool{24: true, 28: true, 30: true, 10: false, 2: false} {
		pkt := binary.NativeEndian.AppendUint32(nil, af)
		pkt = append(pkt, tcp6...)
		if p.Match(pkt) != want {
			t.Errorf("NULL ip6 with AF %d: match = %v, want %v", af, !want, want)
		}
	}
	// IPv4 and IPv6 link types: the protocol is implied.
	if p := mustProgram(t, "ip", layers.LinkTypeIPv4); !p.Match(tcp4) {
		t.Error("IPv4 link: ip rejects an IPv4 packet")
	}
	if p := mustProgram(t, "ip6", layers.LinkTypeIPv4); p.Match(tcp4) {
		t.Error("IPv4 link: ip6 accepts a packet")
	}
}

func mustProgram(t testing.TB, expr string, link layers.LinkType) *Program {
	t.Helper()
	insns, err := Compile(expr, link, 0)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	p, err := NewProgram(insns)
	if err != nil {
		t.Fatalf("NewProgram(%q): %v", expr, err)
	}
	return p
}

// TestEquivalentExpressions checks parsing rules (precedence,
// associativity, qualifier inheritance) by comparing verdicts of
// expressions that must mean the same, over the packet corpus.
func TestEquivalentExpressions(t *testing.T) {
	pairs := [][2]string{
		{"tcp or udp and port 53", "(tcp or udp) and port 53"},
		{"not tcp and udp", "(not tcp) and udp"},
		{"host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2"},
		{"tcp port 80 or 443", "tcp port 80 or tcp port 443"},
		{"not host 10.0.0.1 and 10.0.0.2", "not host 10.0.0.1 and host 10.0.0.2"},
		{"host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2"},
		{"host (10.0.0.1 or 10.0.0.2) and port (80 or 443)", "(host 10.0.0.1 or host 10.0.0.2) and (port 80 or port 443)"},
		{"host 10.0.0.1 or (tcp) or 1.2.3.4", "host 10.0.0.1 or tcp or host 1.2.3.4"},
		{"src or dst host 1.2.3.4", "host 1.2.3.4"},
		{"src and dst port 53", "src port 53 and dst port 53"},
		{"tcp && port 80 || ! udp", "tcp and port 80 or not udp"},
		{"ip[0] % 3 + 1 = 2", "ip[0] % 4 = 2"},
		{"ip[0] & 1 ^ 3 = 2", "ip[0] & 2 = 2"},
		{"ip[2:2] - 20 - 6 = 0", "ip[2:2] = 26"},
		{"ip[0] & 0xf * 4 = 20", "ip[0] & 60 = 20"},
		{"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"},
		{"less 100", "len <= 100"},
		{"greater 100", "len >= 100"},
		{"net 172.16", "net 172.16.0.0/16"},
		{"port http", "tcp port 80"},
		{"port domain", "port 53"},
		{"portrange ftp-ssh", "tcp portrange 21-22"},
		{`ip proto \tcp`, "ip proto 6"},
		{"ip[0] == 0x45", "ip[0] = 69"},
		{"port 010", "port 8"},
	}
	corpus := buildCorpus()
	for _, pr := range pairs {
		a, b := mustProgram(t, pr[0], layers.LinkTypeEthernet), mustProgram(t, pr[1], layers.LinkTypeEthernet)
		for _, p := range corpus {
			if p.trunc >= 0 {
				continue // optimizations may make different loads
			}
			f := p.frame(layers.LinkTypeEthernet)
			if a.Match(f) != b.Match(f) {
				t.Errorf("%q and %q differ on %s", pr[0], pr[1], p.desc)
				break
			}
		}
	}
}

// TestOptimizerPreservesVerdicts checks that the optimizer never changes
// the verdict on packets long enough for every load: optimized and
// unoptimized programs must agree.
func TestOptimizerPreservesVerdicts(t *testing.T) {
	exprs := append(randomExprs(99, 300, true), handExprs...)
	corpus := buildCorpus()
	pad := make([]byte, 600)
	for _, l := range diffLinks {
		var frames [][]byte
		for _, p := range corpus {
			if f := p.frame(l.link); f != nil && p.trunc < 0 {
				frames = append(frames, append(f, pad...))
			}
		}
		for _, expr := range exprs {
			opt, err1 := compile(expr, l.link, 0, true)
			raw, err2 := compile(expr, l.link, 0, false)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s %q: errors differ: %v / %v", l.name, expr, err1, err2)
			}
			if err1 != nil {
				continue
			}
			po, err := NewProgram(opt)
			if err != nil {
				t.Fatalf("%s %q: %v", l.name, expr, err)
			}
			pr, err := NewProgram(raw)
			if err != nil {
				t.Fatalf("%s %q (unoptimized): %v", l.name, expr, err)
			}
			for _, f := range frames {
				if po.Match(f) != pr.Match(f) {
					t.Errorf("%s %q: optimized %v, unoptimized %v on % x", l.name, expr, po.Match(f), pr.Match(f), f[:min(len(f), 80)])
					break
				}
			}
		}
	}
}

// TestLongJumps checks programs whose branches reach further than a
// conditional jump can (255 instructions).
func TestLongJumps(t *testing.T) {
	expr := longExpr("host", 1, 150)
	insns, err := Compile(expr, layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	long := false
	for _, in := range insns {
		if _, ok := in.(bpf.Jump); ok {
			long = true
		}
	}
	if !long || len(insns) < 300 {
		t.Fatalf("%d instructions, long jump used = %v; want a long program using ja", len(insns), long)
	}
	p, err := NewProgram(insns)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]bool{1: true, 75: true, 150: true, 151: false, 999: false} {
		addr := [4]byte{10, 0, byte(i / 256), byte(i % 256)}
		pkt := frame(layers.LinkTypeEthernet, etherTypeIPv4,
			ipv4("192.168.0.1", "10.0.0.0", protoUDP, udpHdr(1, 2, nil), ip4opts{}))
		copy(pkt[14+16:], addr[:])
		if got := p.Match(pkt); got != want {
			t.Errorf("host 10.0.%d.%d: match = %v, want %v", addr[2], addr[3], got, want)
		}
	}
	// Too long for the kernel.
	if _, err := Compile(longExpr("host", 1, 900), layers.LinkTypeEthernet, 0); err == nil ||
		!strings.Contains(err.Error(), "more than the limit of 4096") {
		t.Errorf("900 hosts: err = %v, want a length error", err)
	}
}

// TestPrefix checks that instructions can be put in front of a compiled
// program (as live capture does to drop outgoing packets): all jumps are
// relative, so the program keeps working.
func TestPrefix(t *testing.T) {
	insns, err := Compile("tcp port 80 or host 2001:db8::1", layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Drop packets whose first byte is 0xff, else fall through.
	prefix := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0xff, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	}
	plain, err := NewProgram(insns)
	if err != nil {
		t.Fatal(err)
	}
	prefixed, err := NewProgram(append(prefix, insns...))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range buildCorpus() {
		f := p.frame(layers.LinkTypeEthernet)
		if len(f) == 0 {
			continue
		}
		if plain.Match(f) != prefixed.Match(f) {
			t.Errorf("prefix changes the verdict on %s", p.desc)
		}
		if plain.Match(f) {
			n++
			f = append([]byte{0xff}, f[1:]...)
			if prefixed.Match(f) {
				t.Errorf("prefix does not drop %s", p.desc)
			}
		}
	}
	if n == 0 {
		t.Error("no packet matched")
	}
}

func TestRaw(t *testing.T) {
	insns, err := Compile("udp port 53", layers.LinkTypeLinuxSLL, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bpf.Assemble(insns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Raw(insns)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProgram(insns)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(p.Raw()) != len(want) || len(p.Instructions()) != len(insns) {
		t.Fatalf("Raw: %d instructions, Program.Raw: %d, want %d", len(got), len(p.Raw()), len(want))
	}
	for i := range want {
		if got[i] != want[i] || p.Raw()[i] != want[i] {
			t.Errorf("instruction %d: %v / %v, want %v", i, got[i], p.Raw()[i], want[i])
		}
	}
	if _, err := Raw([]bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 3}}); err == nil {
		t.Error("Raw of an invalid load: no error")
	}
}

func TestNewProgramErrors(t *testing.T) {
	for name, insns := range map[string][]bpf.Instruction{
		"empty":      nil,
		"no return":  {bpf.LoadAbsolute{Off: 0, Size: 1}},
		"bad jump":   {bpf.JumpIf{Cond: bpf.JumpEqual, SkipTrue: 5}, bpf.RetConstant{}},
		"negate":     {bpf.NegateA{}, bpf.RetA{}},
		"extension":  {bpf.LoadExtension{Num: bpf.ExtType}, bpf.RetA{}},
		"div by 0":   {bpf.ALUOpConstant{Op: bpf.ALUOpDiv, Val: 0}, bpf.RetA{}},
		"bad size":   {bpf.LoadAbsolute{Off: 0, Size: 3}, bpf.RetA{}},
		"bad memory": {bpf.LoadScratch{Dst: bpf.RegA, N: 16}, bpf.RetA{}},
	} {
		if _, err := NewProgram(insns); err == nil || !strings.HasPrefix(err.Error(), "filter: new program: ") {
			t.Errorf("%s: err = %v, want a new program error", name, err)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustProgram(t, "tcp port 80 and (host 10.0.0.1 or 2001:db8::1) and tcp[13] & 2 != 0", layers.LinkTypeEthernet)
	pkt := frame(layers.LinkTypeEthernet, etherTypeIPv4,
		ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(1024, 80, 0x02, nil), ip4opts{}))
	if !p.Match(pkt) {
		t.Fatal("packet does not match")
	}
	if n := testing.AllocsPerRun(1000, func() { p.Match(pkt) }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
	short := pkt[:20]
	if n := testing.AllocsPerRun(1000, func() { p.Match(short) }); n != 0 {
		t.Errorf("Match of a short packet allocates %v times per call", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, bm := range []struct{ name, expr string }{
		{"tcp", "tcp"},
		{"port", "tcp port 80"},
		{"complex", "tcp port 80 and (host 10.0.0.1 or 2001:db8::1) and tcp[13] & 2 != 0"},
	} {
		p := mustProgram(b, bm.expr, layers.LinkTypeEthernet)
		pkt := frame(layers.LinkTypeEthernet, etherTypeIPv4,
			ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(1024, 80, 0x02, make([]byte, 1000)), ip4opts{}))
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for i := 0; i < b.N; i++ {
				if !p.Match(pkt) {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Compile("tcp port 80 and (host 10.0.0.1 or 2001:db8::1) and tcp[13] & 2 != 0", layers.LinkTypeEthernet, 0); err != nil {
			b.Fatal(err)
		}
	}
}
