package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// This file gives the syntax tree its meaning: it turns each primitive
// into tests on packet bytes for the link type at hand, mirroring
// libpcap's gencode.c (gen_proto, gen_host, gen_port, gen_load, ...),
// including the order in which tests are made. The order matters for
// truncated packets: a load past the end of the packet makes a BPF
// program reject the packet on the spot.
//
// The tree is walked in source order because of a libpcap quirk that is
// part of tcpdump's semantics: "vlan" shifts the offsets of everything
// that comes after it in the expression, whatever the and/or structure.

// lowerer holds the state of one lowering.
type lowerer struct {
	link      linkInfo
	vlanShift uint32 // bytes of VLAN tags assumed so far (4 per "vlan")
}

// nl is the offset of the network-layer header.
func (l *lowerer) nl() uint32 { return l.link.offNL + l.vlanShift }

// lower converts n to a condition.
func (l *lowerer) lower(n node) (*cond, error) {
	switch n := n.(type) {
	case *binaryNode:
		x, err := l.lower(n.x)
		if err != nil {
			return nil, err
		}
		y, err := l.lower(n.y)
		if err != nil {
			return nil, err
		}
		if n.op == tAnd {
			return cAnd(x, y), nil
		}
		return cOr(x, y), nil
	case *notNode:
		x, err := l.lower(n.x)
		if err != nil {
			return nil, err
		}
		return cNot(x), nil
	case *protoNode:
		return l.protoAbbrev(n.tok)
	case *idNode:
		return l.lowerID(n)
	case *relNode:
		return l.lowerRel(n)
	case *lenNode:
		t := cTest([]bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}, bpf.JumpGreaterOrEqual, n.n)
		if n.kw == tLess {
			t = cNot(cTest([]bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}, bpf.JumpGreaterThan, n.n))
		}
		return t, nil
	case *vlanNode:
		return l.lowerVlan(n)
	}
	panic(fmt.Sprintf("filter: unexpected node %T", n))
}

// protoAbbrev lowers a bare protocol name ("tcp", "ip6", ...).
func (l *lowerer) protoAbbrev(t token) (*cond, error) {
	switch t.kind {
	case tIP:
		return l.linktype(etherTypeIPv4), nil
	case tIP6:
		return l.linktype(etherTypeIPv6), nil
	case tARP:
		return l.linktype(etherTypeARP), nil
	case tRARP:
		return l.linktype(etherTypeRARP), nil
	case tTCP:
		return l.proto(protoTCP), nil
	case tUDP:
		return l.proto(protoUDP), nil
	case tSCTP:
		return l.proto(protoSCTP), nil
	case tPIM:
		return l.proto(protoPIM), nil
	case tAH:
		return l.proto(protoAH), nil
	case tESP:
		return l.proto(protoESP), nil
	case tICMP:
		return l.ipProto(protoICMP), nil
	case tIGMP:
		return l.ipProto(protoIGMP), nil
	case tIGRP:
		return l.ipProto(protoIGRP), nil
	case tVRRP, tCARP:
		return l.ipProto(protoVRRP), nil
	case tICMP6:
		return l.ip6Proto(protoICMPv6), nil
	}
	return nil, unsupported(t)
}

// proto tests for IP protocol v over IPv4 or IPv6.
func (l *lowerer) proto(v uint32) *cond {
	return cOr(l.ipProto(v), l.ip6Proto(v))
}

// ipProto tests for IPv4 with protocol field v.
func (l *lowerer) ipProto(v uint32) *cond {
	return cAnd(l.linktype(etherTypeIPv4), cmp(1, l.nl()+9, v))
}

// ip6Proto tests for IPv6 with next header v, directly or after a
// fragment header (tcpdump looks no further into extension headers).
func (l *lowerer) ip6Proto(v uint32) *cond {
	nl := l.nl()
	return cAnd(l.linktype(etherTypeIPv6),
		cOr(cmp(1, nl+6, v), cAnd(cmp(1, nl+6, protoFrag), cmp(1, nl+40, v))))
}

// lowerVlan lowers "vlan [ID]" and shifts later offsets by the tag.
func (l *lowerer) lowerVlan(n *vlanNode) (*cond, error) {
	if !l.link.vlanOK {
		return nil, errorf(n.at, "\"vlan\" is not supported on %s links", l.link.name)
	}
	lt := l.link.offType + l.vlanShift
	c := cOr(cOr(cmp(2, lt, etherType8021Q), cmp(2, lt, etherType8021AD)), cmp(2, lt, etherTypeQinQ))
	if n.id != nil {
		if *n.id > 4095 {
			return nil, errorf(n.idPos, "VLAN ID %d greater than maximum 4095", *n.id)
		}
		c = cAnd(c, mcmp(2, l.nl(), *n.id, 0x0fff))
	}
	l.vlanShift += 4
	return c, nil
}

// qualName names the protocol qualifier of q for messages.
func qualName(q qual) string { return q.protoTok.text }

// lowerID lowers a value with its qualifiers: host, net, port, portrange
// or proto.
func (l *lowerer) lowerID(n *idNode) (*cond, error) {
	q, v := n.q, n.val
	switch v.kind {
	case tEID:
		return nil, errorf(v.pos, "Ethernet addresses are not supported")
	case tAID:
		return nil, errorf(v.pos, "ARCnet addresses are not supported")
	}
	switch q.addr {
	case addrPort, addrPortrange, addrProto:
		if v.kind == tHID || v.kind == tHID6 {
			return nil, errorf(v.pos, "%q modifier applied to IP address", q.addrTok.text)
		}
	}
	switch q.addr {
	case addrPort, addrPortrange:
		return l.lowerPortID(n)
	case addrProto:
		return l.lowerProtoID(n)
	}

	// host, net, or no address qualifier (which means host).
	switch v.kind {
	case tHID:
		return l.lowerIPv4(n)
	case tHID6:
		return l.lowerIPv6(n)
	case tNum:
		if q.addr == addrNet {
			// "net 10": promote the short network number, as libpcap.
			a, mask := v.num, uint32(0xffffffff)
			for a != 0 && a&0xff000000 == 0 {
				a <<= 8
				mask <<= 8
			}
			return l.host4(q, a, mask, v.pos)
		}
		return nil, errorf(v.pos, "%s is not a host address (did you mean \"port %s\"?)", v.text, v.text)
	case tID:
		if q.addr == addrNet {
			return nil, errorf(v.pos, "network names are not supported: %q (use an address and prefix length)", v.text)
		}
		return nil, errorf(v.pos, "host names are not supported: %q (use an IP address)", v.text)
	}
	panic("filter: unexpected id token")
}

// parseIPv4 parses 1 to 4 dotted decimal parts like libpcap's
// __pcap_atoin, returning the value and the number of bits given.
func parseIPv4(s string) (uint32, uint, bool) {
	parts := strings.Split(s, ".")
	var v uint32
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, uint(8 * len(parts)), true
}

// lowerIPv4 lowers a dotted IPv4 value: host, network with the given
// number of parts, "A/len" or "A mask M".
func (l *lowerer) lowerIPv4(n *idNode) (*cond, error) {
	q, v := n.q, n.val
	a, bits, ok := parseIPv4(v.text)
	if !ok {
		return nil, errorf(v.pos, "%q is not a valid IPv4 address", v.text)
	}
	a <<= 32 - bits
	mask := uint32(0xffffffff) << (32 - bits)
	if n.mask != nil {
		if q.addr != addrNet {
			return nil, errorf(n.mask.pos, "mask syntax for networks only (use \"net\")")
		}
		if n.cidr {
			if n.mask.num > 32 {
				return nil, errorf(n.mask.pos, "mask length must be <= 32")
			}
			mask = 0
			if n.mask.num > 0 {
				mask = 0xffffffff << (32 - n.mask.num)
			}
		} else {
			m, mbits, ok := parseIPv4(n.mask.text)
			if !ok {
				return nil, errorf(n.mask.pos, "%q is not a valid netmask", n.mask.text)
			}
			mask = m << (32 - mbits)
		}
		if a&^mask != 0 {
			return nil, errorf(v.pos, "non-network bits set in %q", v.text)
		}
	} else if bits != 32 && q.addr != addrNet {
		return nil, errorf(v.pos, "%q is not a complete IPv4 address (for a network, use \"net %s\")", v.text, v.text)
	}
	return l.host4(q, a, mask, v.pos)
}

// host4 tests IPv4 addresses (and ARP/RARP sender and target addresses)
// against a/mask, like libpcap's gen_host.
func (l *lowerer) host4(q qual, a, mask uint32, pos int) (*cond, error) {
	switch q.proto {
	case tEOF:
		c := cOr(l.hostop(etherTypeIPv4, 12, 16, q.dir, a, mask), l.hostop(etherTypeARP, 14, 24, q.dir, a, mask))
		return cOr(c, l.hostop(etherTypeRARP, 14, 24, q.dir, a, mask)), nil
	case tIP:
		return l.hostop(etherTypeIPv4, 12, 16, q.dir, a, mask), nil
	case tARP:
		return l.hostop(etherTypeARP, 14, 24, q.dir, a, mask), nil
	case tRARP:
		return l.hostop(etherTypeRARP, 14, 24, q.dir, a, mask), nil
	}
	return nil, errorf(q.protoTok.pos, "%q modifier applied to IPv4 %s", qualName(q), hostOrNet(q))
}

func hostOrNet(q qual) string {
	if q.addr == addrNet {
		return "net"
	}
	return "host"
}

// hostop tests the source and/or destination address at the given
// network-layer offsets.
func (l *lowerer) hostop(etherType, srcOff, dstOff uint32, dir qDir, a, mask uint32) *cond {
	one := func(off uint32) *cond {
		return cAnd(l.linktype(etherType), mcmp(4, l.nl()+off, a, mask))
	}
	switch dir {
	case dirSrc:
		return one(srcOff)
	case dirDst:
		return one(dstOff)
	case dirAnd:
		return cAnd(one(srcOff), one(dstOff))
	}
	return cOr(one(srcOff), one(dstOff))
}

// lowerIPv6 lowers an IPv6 host or network.
func (l *lowerer) lowerIPv6(n *idNode) (*cond, error) {
	q, v := n.q, n.val
	a, err := netip.ParseAddr(v.text)
	if err != nil || !a.Is6() {
		return nil, errorf(v.pos, "%q is not a valid IPv6 address", v.text)
	}
	bits := 128
	if n.mask != nil {
		if n.mask.num > 128 {
			return nil, errorf(n.mask.pos, "mask length must be <= 128")
		}
		bits = int(n.mask.num)
		if q.addr != addrNet && bits != 128 {
			return nil, errorf(n.mask.pos, "mask syntax for networks only (use \"net\")")
		}
		if p := netip.PrefixFrom(a, bits).Masked(); p.Addr() != a {
			return nil, errorf(v.pos, "non-network bits set in \"%s/%d\"", v.text, bits)
		}
	}
	switch q.proto {
	case tEOF, tIP6:
	default:
		return nil, errorf(q.protoTok.pos, "%q modifier applied to IPv6 %s", qualName(q), hostOrNet(q))
	}
	addr := a.As16()
	var mask [16]byte
	for i := 0; i < bits; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	one := func(off uint32) *cond {
		c := cTrue()
		for w := 3; w >= 0; w-- {
			av := uint32(addr[4*w])<<24 | uint32(addr[4*w+1])<<16 | uint32(addr[4*w+2])<<8 | uint32(addr[4*w+3])
			mv := uint32(mask[4*w])<<24 | uint32(mask[4*w+1])<<16 | uint32(mask[4*w+2])<<8 | uint32(mask[4*w+3])
			c = cAnd(mcmp(4, l.nl()+off+uint32(4*w), av, mv), c)
		}
		return cAnd(l.linktype(etherTypeIPv6), c)
	}
	switch q.dir {
	case dirSrc:
		return one(8), nil
	case dirDst:
		return one(24), nil
	case dirAnd:
		return cAnd(one(8), one(24)), nil
	}
	return cOr(one(8), one(24)), nil
}

// lowerPortID lowers "port N", "port NAME", "portrange A-B" and friends.
func (l *lowerer) lowerPortID(n *idNode) (*cond, error) {
	q, v := n.q, n.val
	var qproto int
	switch q.proto {
	case tEOF:
		qproto = protoUndef
	case tTCP:
		qproto = protoTCP
	case tUDP:
		qproto = protoUDP
	case tSCTP:
		qproto = protoSCTP
	default:
		return nil, errorf(q.protoTok.pos, "illegal qualifier of %q: %q", q.addrTok.text, qualName(q))
	}
	lo, hi, real := uint32(0), uint32(0), protoUndef
	switch v.kind {
	case tNum:
		lo, hi = v.num, v.num
	case tID:
		var err error
		if q.addr == addrPort {
			lo, real, err = lookupPort(v.text)
			hi = lo
		} else {
			lo, hi, real, err = lookupPortRange(v.text)
		}
		if err != nil {
			return nil, errorf(v.pos, "%v", err)
		}
		if qproto != protoUndef && real != protoUndef && real != qproto {
			return nil, errorf(v.pos, "port %q is %s", v.text, protoName(real))
		}
	}
	if qproto != protoUndef {
		real = qproto
	}
	for _, p := range []uint32{lo, hi} {
		if p > 65535 {
			return nil, errorf(v.pos, "illegal port number %d > 65535", p)
		}
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return cOr(l.port6(lo, hi, q.addr == addrPortrange, real, q.dir), l.port4(lo, hi, q.addr == addrPortrange, real, q.dir)), nil
}

func protoName(p int) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	}
	return "sctp"
}

// lookupPort resolves a service name.
func lookupPort(name string) (port uint32, proto int, err error) {
	s, ok := services[name]
	if !ok {
		return 0, 0, fmt.Errorf("unknown port name %q (use a number)", name)
	}
	switch {
	case s.tcp && s.udp:
		return s.port, protoUndef, nil
	case s.tcp:
		return s.port, protoTCP, nil
	}
	return s.port, protoUDP, nil
}

// lookupPortRange resolves "A-B" with numbers or service names, like
// libpcap's pcap_nametoportrange.
func lookupPortRange(text string) (lo, hi uint32, proto int, err error) {
	a, b, ok := strings.Cut(text, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("port range %q is not of the form A-B", text)
	}
	na, errA := strconv.ParseUint(a, 10, 32)
	nb, errB := strconv.ParseUint(b, 10, 32)
	if errA == nil && errB == nil {
		return uint32(na), uint32(nb), protoUndef, nil
	}
	pa, protoA, err := lookupPort(a)
	if err != nil {
		return 0, 0, 0, err
	}
	pb, protoB, err := lookupPort(b)
	if err != nil {
		return 0, 0, 0, err
	}
	if protoA != protoB {
		protoB = protoUndef
	}
	return pa, pb, protoB, nil
}

// transport protocols matched by "port" without a protocol qualifier, in
// libpcap's order.
var portProtos = []uint32{protoSCTP, protoTCP, protoUDP}

// port4 tests IPv4 TCP/UDP/SCTP ports, like libpcap's gen_port and
// gen_portrange: only first fragments (fragment offset 0) match.
func (l *lowerer) port4(lo, hi uint32, isRange bool, proto int, dir qDir) *cond {
	nl := l.nl()
	atom := func(off uint32) *cond {
		ld := func() []bpf.Instruction {
			return []bpf.Instruction{bpf.LoadMemShift{Off: nl}, bpf.LoadIndirect{Off: nl + off, Size: 2}}
		}
		if !isRange {
			return cTest(ld(), bpf.JumpEqual, lo)
		}
		return cAnd(cTest(ld(), bpf.JumpGreaterOrEqual, lo), cNot(cTest(ld(), bpf.JumpGreaterThan, hi)))
	}
	portop := func(p uint32) *cond {
		c := cAnd(cmp(1, nl+9, p), l.notFragment())
		return cAnd(c, dirCond(dir, atom))
	}
	return cAnd(l.linktype(etherTypeIPv4), protoAlt(proto, portop))
}

// port6 tests IPv6 TCP/UDP/SCTP ports. Like libpcap, only a transport
// header directly after the fixed IPv6 header is considered.
func (l *lowerer) port6(lo, hi uint32, isRange bool, proto int, dir qDir) *cond {
	nl := l.nl()
	atom := func(off uint32) *cond {
		if !isRange {
			return cmp(2, nl+40+off, lo)
		}
		return cAnd(cTest([]bpf.Instruction{bpf.LoadAbsolute{Off: nl + 40 + off, Size: 2}}, bpf.JumpGreaterOrEqual, lo),
			cNot(cTest([]bpf.Instruction{bpf.LoadAbsolute{Off: nl + 40 + off, Size: 2}}, bpf.JumpGreaterThan, hi)))
	}
	portop := func(p uint32) *cond {
		return cAnd(cmp(1, nl+6, p), dirCond(dir, atom))
	}
	return cAnd(l.linktype(etherTypeIPv6), protoAlt(proto, portop))
}

// protoAlt applies portop to proto, or to each of SCTP, TCP and UDP.
func protoAlt(proto int, portop func(uint32) *cond) *cond {
	if proto != protoUndef {
		return portop(uint32(proto))
	}
	c := cFalse()
	for i := len(portProtos) - 1; i >= 0; i-- {
		c = cOr(portop(portProtos[i]), c)
	}
	return c
}

// dirCond combines the source (offset 0) and destination (offset 2) port
// tests for a direction qualifier.
func dirCond(dir qDir, atom func(uint32) *cond) *cond {
	switch dir {
	case dirSrc:
		return atom(0)
	case dirDst:
		return atom(2)
	case dirAnd:
		return cAnd(atom(0), atom(2))
	}
	return cOr(atom(0), atom(2))
}

// notFragment tests that an IPv4 packet is not a non-first fragment.
func (l *lowerer) notFragment() *cond {
	return cNot(cTest([]bpf.Instruction{bpf.LoadAbsolute{Off: l.nl() + 6, Size: 2}}, bpf.JumpBitsSet, 0x1fff))
}

// lowerProtoID lowers "[ip|ip6] proto N".
func (l *lowerer) lowerProtoID(n *idNode) (*cond, error) {
	q, v := n.q, n.val
	p := v.num
	if v.kind == tID {
		var ok bool
		if p, ok = protocols[v.text]; !ok {
			return nil, errorf(v.pos, "unknown IP protocol %q (use a number)", v.text)
		}
	}
	switch q.proto {
	case tEOF:
		return l.proto(p), nil
	case tIP:
		return l.ipProto(p), nil
	case tIP6:
		return l.ip6Proto(p), nil
	}
	return nil, errorf(q.protoTok.pos, "\"%s proto\" is not meaningful", qualName(q))
}
