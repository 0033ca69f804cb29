package filter

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// This file builds the packet corpus used by the verdict tests: IP
// packets of many shapes, wrapped in the link-layer header of each link
// type under test.

// testPacket is a packet before link-layer framing.
type testPacket struct {
	desc string
	// l3 is the network-layer packet (IPv4, IPv6, ARP or other payload).
	l3 []byte
	// etherType is the protocol of l3 (0x0800, 0x86dd, 0x0806, ...).
	etherType uint16
	// tags are 802.1Q-style tags (TPID<<16 | TCI) to put before the
	// EtherType, outermost first. Ethernet only.
	tags []uint32
	// trunc, if >= 0, truncates the framed packet to that many bytes.
	trunc int
	// ethOnly restricts the packet to Ethernet-like (EtherType) links.
	ethOnly bool
}

// frame returns p with the link-layer header of link, or nil if p cannot
// be represented on link.
func (p testPacket) frame(link layers.LinkType) []byte {
	var b []byte
	isIP := p.etherType == etherTypeIPv4 || p.etherType == etherTypeIPv6
	switch link {
	case layers.LinkTypeEthernet:
		b = append(b, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb)
		for _, t := range p.tags {
			b = binary.BigEndian.AppendUint32(b, t)
		}
		b = binary.BigEndian.AppendUint16(b, p.etherType)
	case layers.LinkTypeLinuxSLL:
		if len(p.tags) > 0 {
			return nil
		}
		b = append(b, 0, 0, 0, 1, 0, 6, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0, 0)
		b = binary.BigEndian.AppendUint16(b, p.etherType)
	case layers.LinkTypeLinuxSLL2:
		if len(p.tags) > 0 {
			return nil
		}
		b = binary.BigEndian.AppendUint16(b, p.etherType)
		b = append(b, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0, 0)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(p.tags) > 0 || !isIP || p.ethOnly {
			return nil
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(p.tags) > 0 || !isIP || p.ethOnly {
			return nil
		}
		af := uint32(2)
		if p.etherType == etherTypeIPv6 {
			// Cycle through the BSD values by packet content.
			af = []uint32{24, 28, 30, 10}[len(p.l3)%4]
		}
		if link == layers.LinkTypeNull {
			b = binary.NativeEndian.AppendUint32(b, af)
		} else {
			b = binary.BigEndian.AppendUint32(b, af)
		}
	default:
		panic("corpus: unsupported link type")
	}
	b = append(b, p.l3...)
	if p.trunc >= 0 && p.trunc < len(b) {
		b = b[:p.trunc]
	}
	return b
}

// Header builders. Checksums are left zero: BPF filters never look at
// them.

type ip4opts struct {
	optWords int    // 32-bit words of options (IHL = 5 + optWords)
	fragOff  uint16 // fragment offset in 8-byte units
	mf, df   bool
	ttl      byte
	tos      byte
}

func ipv4(src, dst string, proto byte, payload []byte, o ip4opts) []byte {
	ihl := 5 + o.optWords
	b := make([]byte, 4*ihl, 4*ihl+len(payload))
	b[0] = 0x40 | byte(ihl)
	b[1] = o.tos
	binary.BigEndian.PutUint16(b[2:], uint16(4*ihl+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	ff := o.fragOff & 0x1fff
	if o.mf {
		ff |= 0x2000
	}
	if o.df {
		ff |= 0x4000
	}
	binary.BigEndian.PutUint16(b[6:], ff)
	b[8] = o.ttl
	if b[8] == 0 {
		b[8] = 64
	}
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	for i := 20; i < 4*ihl; i++ {
		b[i] = 1 // NOP options
	}
	return append(b, payload...)
}

func ipv6(src, dst string, nh byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = nh
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

// ip6frag returns an IPv6 fragment header followed by payload.
func ip6frag(nh byte, off uint16, more bool, payload []byte) []byte {
	b := []byte{nh, 0, 0, 0, 0, 0, 0, 7}
	v := off << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return append(b, payload...)
}

// ip6ext returns a generic 8-byte extension header (hop-by-hop, routing,
// destination options) followed by payload.
func ip6ext(nh byte, payload []byte) []byte {
	return append([]byte{nh, 0, 1, 4, 0, 0, 0, 0}, payload...)
}

func tcpHdr(sport, dport uint16, flags byte, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	b[12] = 5 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	return append(b, payload...)
}

func udpHdr(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func sctpHdr(sport, dport uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func icmpHdr(typ, code byte) []byte {
	return []byte{typ, code, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'}
}

func arpPkt(op uint16, spa, tpa string) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, 0, 0}
	binary.BigEndian.PutUint16(b[6:], op)
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	b = append(b, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb)
	b = append(b, s[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	return append(b, t[:]...)
}

// buildCorpus returns the packets of the verdict tests.
func buildCorpus() []testPacket {
	var ps []testPacket
	add := func(desc string, etherType uint16, l3 []byte) {
		ps = append(ps, testPacket{desc: desc, l3: l3, etherType: etherType, trunc: -1})
	}
	payload := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

	v4pairs := [][2]string{
		{"10.0.0.1", "10.0.0.2"}, {"10.0.0.2", "10.0.0.1"},
		{"192.168.1.10", "1.2.3.4"}, {"5.6.7.8", "10.1.2.3"},
		{"172.16.5.4", "8.8.8.8"}, {"10.0.0.1", "224.0.0.251"},
		{"1.2.3.4", "1.2.3.4"}, {"9.9.9.9", "255.255.255.255"},
		{"1.2.3.4", "5.6.7.8"}, {"8.8.4.4", "10.0.0.1"},
	}
	v6pairs := [][2]string{
		{"2001:db8::1", "2001:db8::2"}, {"2001:db8::2", "2001:db8::1"},
		{"::1", "::1"}, {"fe80::1", "ff02::fb"},
		{"2001:db8:1::5", "2001:db9::1"}, {"2001:db9::1", "fe80::1"},
	}
	ports := [][2]uint16{
		{80, 1024}, {1024, 80}, {443, 50000}, {50000, 443}, {22, 22},
		{53, 53}, {12345, 123}, {1500, 2000}, {2001, 999}, {8080, 80},
		{0, 65535}, {5353, 5353}, {20, 21}, {440, 450},
	}
	flags := []byte{0x02, 0x12, 0x10, 0x11, 0x04, 0x18, 0x30, 0x00, 0xff, 0x01, 0x03}

	n := 0
	for _, pr := range v4pairs {
		for _, pp := range ports {
			f := flags[n%len(flags)]
			n++
			o := ip4opts{}
			if n%5 == 0 {
				o.optWords = 1 + n%10 // IHL > 5
			}
			if n%7 == 0 {
				o.df = true
			}
			add(fmt.Sprintf("IPv4 TCP %s:%d > %s:%d flags %#x ihl %d", pr[0], pp[0], pr[1], pp[1], f, 5+o.optWords),
				etherTypeIPv4, ipv4(pr[0], pr[1], protoTCP, tcpHdr(pp[0], pp[1], f, payload), o))
			add(fmt.Sprintf("IPv4 UDP %s:%d > %s:%d ihl %d", pr[0], pp[0], pr[1], pp[1], 5+o.optWords),
				etherTypeIPv4, ipv4(pr[0], pr[1], protoUDP, udpHdr(pp[0], pp[1], payload[:n%len(payload)]), o))
		}
		for _, it := range [][2]byte{{8, 0}, {0, 0}, {3, 1}, {11, 0}, {5, 1}} {
			add(fmt.Sprintf("IPv4 ICMP %s > %s type %d code %d", pr[0], pr[1], it[0], it[1]),
				etherTypeIPv4, ipv4(pr[0], pr[1], protoICMP, icmpHdr(it[0], it[1]), ip4opts{}))
		}
		add(fmt.Sprintf("IPv4 SCTP %s:80 > %s:1024", pr[0], pr[1]), etherTypeIPv4, ipv4(pr[0], pr[1], protoSCTP, sctpHdr(80, 1024), ip4opts{}))
		add(fmt.Sprintf("IPv4 SCTP %s:443 > %s:53", pr[0], pr[1]), etherTypeIPv4, ipv4(pr[0], pr[1], protoSCTP, sctpHdr(443, 53), ip4opts{}))
	}
	for _, p := range []struct {
		name  string
		proto byte
		body  []byte
	}{
		{"IGMP", protoIGMP, []byte{0x11, 0x64, 0, 0, 224, 0, 0, 1}},
		{"GRE", 47, []byte{0, 0, 8, 0, 0x45, 0, 0, 20}},
		{"ESP", protoESP, []byte{0, 0, 1, 0, 0, 0, 0, 1}},
		{"AH", protoAH, []byte{6, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}},
		{"PIM", protoPIM, []byte{0x20, 0, 0, 0, 0, 1, 0, 0}},
		{"VRRP", protoVRRP, []byte{0x21, 1, 100, 1, 0, 1, 0, 0, 10, 0, 0, 254}},
		{"IGRP", protoIGRP, []byte{0x11, 0, 0, 0, 0, 0, 0, 0}},
		{"proto 255", 255, []byte{1, 2, 3, 4}},
		{"IPv6-in-IPv4", 41, ipv6("2001:db8::1", "2001:db8::2", protoTCP, tcpHdr(80, 80, 2, nil))},
	} {
		add("IPv4 "+p.name+" 10.0.0.1 > 10.0.0.2", etherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", p.proto, p.body, ip4opts{}))
		add("IPv4 "+p.name+" 1.2.3.4 > 5.6.7.8", etherTypeIPv4, ipv4("1.2.3.4", "5.6.7.8", p.proto, p.body, ip4opts{}))
	}
	// IPv4 fragments: first, middle, last, with options.
	for _, fr := range []struct {
		off uint16
		mf  bool
		opt int
	}{{0, true, 0}, {0, true, 2}, {185, true, 0}, {370, false, 0}, {1, false, 3}, {0x1fff, false, 0}, {0x1000, true, 0}} {
		for _, proto := range []byte{protoTCP, protoUDP, protoICMP, protoSCTP} {
			var l4 []byte
			switch proto {
			case protoTCP:
				l4 = tcpHdr(80, 443, 0x02, payload)
			case protoUDP:
				l4 = udpHdr(53, 80, payload)
			case protoICMP:
				l4 = icmpHdr(8, 0)
			default:
				l4 = sctpHdr(80, 443)
			}
			add(fmt.Sprintf("IPv4 fragment proto %d off %d mf %v ihl %d 10.0.0.1 > 10.0.0.2 (ports 80/443 or 53/80)", proto, fr.off, fr.mf, 5+fr.opt),
				etherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", proto, l4, ip4opts{fragOff: fr.off, mf: fr.mf, optWords: fr.opt}))
		}
	}
	// IPv4 oddities: TTL/TOS values, bad IHL, bad version.
	add("IPv4 TCP ttl 1 tos 0x10", etherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(80, 80, 0x12, nil), ip4opts{ttl: 1, tos: 0x10}))
	add("IPv4 TCP ihl 15", etherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(1024, 80, 0x02, nil), ip4opts{optWords: 10}))
	bad := ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(80, 80, 0x02, nil), ip4opts{})
	bad[0] = 0x43 // IHL 3
	add("IPv4 TCP ihl 3 (bogus)", etherTypeIPv4, bad)
	bad = ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcpHdr(80, 80, 0x02, nil), ip4opts{})
	bad[0] = 0x65 // version 6 in an IPv4 frame
	add("IPv4 TCP version 6 (bogus)", etherTypeIPv4, bad)

	n = 0
	for _, pr := range v6pairs {
		for _, pp := range ports {
			f := flags[n%len(flags)]
			n++
			add(fmt.Sprintf("IPv6 TCP [%s]:%d > [%s]:%d flags %#x", pr[0], pp[0], pr[1], pp[1], f),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoTCP, tcpHdr(pp[0], pp[1], f, payload)))
			add(fmt.Sprintf("IPv6 UDP [%s]:%d > [%s]:%d", pr[0], pp[0], pr[1], pp[1]),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoUDP, udpHdr(pp[0], pp[1], payload[:n%len(payload)])))
		}
		for _, it := range [][2]byte{{128, 0}, {129, 0}, {135, 0}, {136, 0}, {1, 4}} {
			add(fmt.Sprintf("IPv6 ICMPv6 [%s] > [%s] type %d", pr[0], pr[1], it[0]),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoICMPv6, icmpHdr(it[0], it[1])))
		}
		add(fmt.Sprintf("IPv6 SCTP [%s]:80 > [%s]:1024", pr[0], pr[1]), etherTypeIPv6, ipv6(pr[0], pr[1], protoSCTP, sctpHdr(80, 1024)))
		// Fragment header before TCP/UDP/ICMPv6, first and later fragments.
		for _, off := range []uint16{0, 100} {
			add(fmt.Sprintf("IPv6 frag off %d TCP [%s]:80 > [%s]:443", off, pr[0], pr[1]),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoFrag, ip6frag(protoTCP, off, off == 0, tcpHdr(80, 443, 0x02, payload))))
			add(fmt.Sprintf("IPv6 frag off %d UDP [%s]:53 > [%s]:53", off, pr[0], pr[1]),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoFrag, ip6frag(protoUDP, off, off == 0, udpHdr(53, 53, payload))))
			add(fmt.Sprintf("IPv6 frag off %d ICMPv6 [%s] > [%s]", off, pr[0], pr[1]),
				etherTypeIPv6, ipv6(pr[0], pr[1], protoFrag, ip6frag(protoICMPv6, off, off == 0, icmpHdr(128, 0))))
		}
		// Other extension headers: tcpdump does not look past them.
		add(fmt.Sprintf("IPv6 hop-by-hop TCP [%s]:80 > [%s]:80", pr[0], pr[1]),
			etherTypeIPv6, ipv6(pr[0], pr[1], 0, ip6ext(protoTCP, tcpHdr(80, 80, 0x02, nil))))
		add(fmt.Sprintf("IPv6 dstopts+frag UDP [%s]:53 > [%s]:53", pr[0], pr[1]),
			etherTypeIPv6, ipv6(pr[0], pr[1], 60, ip6ext(protoFrag, ip6frag(protoUDP, 0, false, udpHdr(53, 53, nil)))))
		add(fmt.Sprintf("IPv6 frag frag(44 in 44) [%s] > [%s]", pr[0], pr[1]),
			etherTypeIPv6, ipv6(pr[0], pr[1], protoFrag, ip6frag(protoFrag, 0, false, ip6frag(protoTCP, 0, false, tcpHdr(80, 80, 2, nil)))))
		add(fmt.Sprintf("IPv6 no next header [%s] > [%s]", pr[0], pr[1]), etherTypeIPv6, ipv6(pr[0], pr[1], 59, nil))
		add(fmt.Sprintf("IPv6 ESP [%s] > [%s]", pr[0], pr[1]), etherTypeIPv6, ipv6(pr[0], pr[1], protoESP, []byte{0, 0, 1, 0, 0, 0, 0, 1}))
		add(fmt.Sprintf("IPv6 PIM [%s] > [%s]", pr[0], pr[1]), etherTypeIPv6, ipv6(pr[0], pr[1], protoPIM, []byte{0x20, 0, 0, 0}))
	}

	// ARP and RARP (EtherType links only).
	for _, a := range []struct {
		et       uint16
		op       uint16
		spa, tpa string
	}{
		{etherTypeARP, 1, "10.0.0.1", "10.0.0.2"}, {etherTypeARP, 2, "10.0.0.2", "10.0.0.1"},
		{etherTypeARP, 1, "192.168.1.10", "1.2.3.4"}, {etherTypeARP, 1, "172.16.5.4", "172.16.5.4"},
		{etherTypeRARP, 3, "0.0.0.0", "0.0.0.0"}, {etherTypeRARP, 4, "10.0.0.1", "10.0.0.2"},
	} {
		ps = append(ps, testPacket{desc: fmt.Sprintf("ARP/RARP %#x op %d %s > %s", a.et, a.op, a.spa, a.tpa),
			l3: arpPkt(a.op, a.spa, a.tpa), etherType: a.et, trunc: -1, ethOnly: true})
	}
	// Other EtherTypes.
	ps = append(ps, testPacket{desc: "EtherType 0x88cc (LLDP)", l3: []byte{2, 7, 4, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}, etherType: 0x88cc, trunc: -1, ethOnly: true})
	ps = append(ps, testPacket{desc: "EtherType 0x0800 with empty payload", l3: nil, etherType: etherTypeIPv4, trunc: -1})
	ps = append(ps, testPacket{desc: "EtherType 0x86dd with empty payload", l3: nil, etherType: etherTypeIPv6, trunc: -1})

	// VLAN-tagged frames (Ethernet only).
	base := len(ps)
	var tagged []testPacket
	tagSets := [][]uint32{
		{0x8100_000a},                           // 802.1Q VLAN 10
		{0x8100_2064},                           // VLAN 100, priority 1
		{0x8100_0fff},                           // VLAN 4095
		{0x88a8_000a, 0x8100_0014},              // QinQ 10/20
		{0x9100_0014, 0x8100_000a},              // old QinQ 20/10
		{0x8100_000a, 0x8100_0014},              // 802.1Q 10/20
		{0x8100_0014, 0x8100_000a, 0x8100_0064}, // triple
	}
	for i := 0; i < base; i += 7 {
		p := ps[i]
		tags := tagSets[(i/7)%len(tagSets)]
		p.tags = tags
		p.desc = fmt.Sprintf("VLAN %x: %s", tags, p.desc)
		tagged = append(tagged, p)
	}
	ps = append(ps, tagged...)

	// Truncated copies of some packets, at every length.
	for _, i := range []int{0, 1, 3, 9, 40, 100, 150} {
		for _, j := range []int{i, base + i/7} {
			if j >= len(ps) {
				continue
			}
			p := ps[j]
			full := len(p.l3) + 24
			for l := 0; l < full; l++ {
				q := p
				q.trunc = l
				q.desc = fmt.Sprintf("truncated to %d: %s", l, p.desc)
				ps = append(ps, q)
			}
		}
	}
	for _, j := range findAll(ps, "IPv6 frag off 0 TCP", "ARP/RARP 0x806 op 1 10.0.0.1", "IPv4 fragment proto 6 off 0 mf true ihl 7", "IPv6 hop-by-hop") {
		p := ps[j]
		for l := 0; l < len(p.l3)+24; l++ {
			q := p
			q.trunc = l
			q.desc = fmt.Sprintf("truncated to %d: %s", l, p.desc)
			ps = append(ps, q)
		}
	}

	// Every other packet truncated at a random length within the headers.
	rng := rand.New(rand.NewSource(1))
	for _, p := range ps[:base+len(tagged)] {
		for k := 0; k < 1; k++ {
			q := p
			q.trunc = rng.Intn(min(len(p.l3)+26, 90))
			q.desc = fmt.Sprintf("truncated to %d: %s", q.trunc, p.desc)
			ps = append(ps, q)
		}
	}

	// Random corruptions of the first 64 bytes of some packets, so that
	// headers take unusual values (IHL < 5, odd EtherTypes, ...).
	orig := len(ps)
	for k := 0; k < 300; k++ {
		p := ps[rng.Intn(orig)]
		l3 := append([]byte(nil), p.l3...)
		for m := 0; m < 1+rng.Intn(3) && len(l3) > 0; m++ {
			l3[rng.Intn(min(len(l3), 64))] = byte(rng.Intn(256))
		}
		q := p
		q.l3 = l3
		q.desc = fmt.Sprintf("corrupted #%d: %s", k, p.desc)
		ps = append(ps, q)
	}
	return ps
}

// findAll returns the index of the first packet whose description starts
// with each prefix.
func findAll(ps []testPacket, prefixes ...string) []int {
	var out []int
	for _, pre := range prefixes {
		for i, p := range ps {
			if len(p.desc) >= len(pre) && p.desc[:len(pre)] == pre {
				out = append(out, i)
				break
			}
		}
	}
	return out
}
