package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/sniffer/sniffer/sniff/capfile"
)

// EtherTypes used by the compiler.
const (
	etherTypeIPv4   = 0x0800
	etherTypeARP    = 0x0806
	etherTypeRARP   = 0x8035
	etherTypeIPv6   = 0x86dd
	etherType8021Q  = 0x8100
	etherType8021AD = 0x88a8
	etherTypeQinQ   = 0x9100
)

// BSD address family values for IPv4 and IPv6 in NULL and LOOP headers.
// IPv6 has different values on different BSDs; like tcpdump reading a
// capture file, all of them are accepted.
var (
	afIPv4 = []uint32{2}
	afIPv6 = []uint32{30, 24, 28} // Darwin, BSD, FreeBSD
)

// linkKind is how a link type's header identifies the network protocol.
type linkKind int

const (
	lkEtherType linkKind = iota // EtherType field at a fixed offset
	lkRaw                       // no header; IP version in the first nibble
	lkNull                      // 4-byte address family, host byte order
	lkLoop                      // 4-byte address family, network byte order
	lkIPv4                      // always IPv4
	lkIPv6                      // always IPv6
)

// linkInfo describes the link-layer header of a link type.
type linkInfo struct {
	kind    linkKind
	name    string
	offType uint32 // offset of the EtherType (lkEtherType)
	offNL   uint32 // offset of the network-layer header
	vlanOK  bool   // "vlan" is meaningful
}

// UnsupportedLinkError is the error of Compile for a link type the
// compiler has no header layout for: no expression can be compiled for it.
type UnsupportedLinkError struct {
	Link layers.LinkType // the link type Compile was asked for
}

// Error returns the message, naming the link type by number and LINKTYPE_
// name: `filter: compile: link type 147 (LINKTYPE_USER0) is not supported`.
func (e *UnsupportedLinkError) Error() string {
	return fmt.Sprintf("filter: compile: link type %s is not supported", capfile.DescribeLinkType(e.Link))
}

// linkInfoFor returns the header layout of link, or an
// *UnsupportedLinkError.
func linkInfoFor(link layers.LinkType) (linkInfo, error) {
	li, ok := linkInfoOf(link)
	if !ok {
		return linkInfo{}, &UnsupportedLinkError{Link: link}
	}
	return li, nil
}

// linkInfoOf returns the header layout of link, and whether there is one
// (without allocating).
func linkInfoOf(link layers.LinkType) (linkInfo, bool) {
	switch link {
	case layers.LinkTypeEthernet:
		return linkInfo{kind: lkEtherType, name: "Ethernet", offType: 12, offNL: 14, vlanOK: true}, true
	case layers.LinkTypeLinuxSLL:
		return linkInfo{kind: lkEtherType, name: "Linux cooked (SLL)", offType: 14, offNL: 16}, true
	case layers.LinkTypeLinuxSLL2:
		return linkInfo{kind: lkEtherType, name: "Linux cooked v2 (SLL2)", offType: 0, offNL: 20}, true
	case layers.LinkTypeRaw, 12, 14:
		return linkInfo{kind: lkRaw, name: "raw IP"}, true
	case layers.LinkTypeNull:
		return linkInfo{kind: lkNull, name: "BSD loopback (NULL)", offNL: 4}, true
	case layers.LinkTypeLoop:
		return linkInfo{kind: lkLoop, name: "OpenBSD loopback (LOOP)", offNL: 4}, true
	case layers.LinkTypeIPv4:
		return linkInfo{kind: lkIPv4, name: "IPv4"}, true
	case layers.LinkTypeIPv6:
		return linkInfo{kind: lkIPv6, name: "IPv6"}, true
	}
	return linkInfo{}, false
}

// linktype returns the test that the packet's network protocol is
// etherType, like libpcap's gen_linktype.
func (l *lowerer) linktype(etherType uint32) *cond {
	switch l.link.kind {
	case lkEtherType:
		return cmp(2, l.link.offType+l.vlanShift, etherType)
	case lkRaw:
		switch etherType {
		case etherTypeIPv4:
			return mcmp(1, 0, 0x40, 0xf0)
		case etherTypeIPv6:
			return mcmp(1, 0, 0x60, 0xf0)
		}
	case lkNull, lkLoop:
		var afs []uint32
		switch etherType {
		case etherTypeIPv4:
			afs = afIPv4
		case etherTypeIPv6:
			afs = afIPv6
		}
		if len(afs) == 0 {
			return cConst(false)
		}
		c := cFalse()
		for i := len(afs) - 1; i >= 0; i-- {
			v := afs[i]
			if l.link.kind == lkNull {
				// Host byte order, read by BPF as big-endian.
				var b [4]byte
				binary.NativeEndian.PutUint32(b[:], v)
				v = binary.BigEndian.Uint32(b[:])
			}
			c = cOr(cmp(4, 0, v), c)
		}
		return c
	case lkIPv4:
		return cConst(etherType == etherTypeIPv4)
	case lkIPv6:
		return cConst(etherType == etherTypeIPv6)
	}
	return cConst(false)
}

// cmp tests that the size-byte big-endian value at off equals v.
func cmp(size int, off, v uint32) *cond {
	return cTest([]bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: size}}, bpf.JumpEqual, v)
}

// mcmp tests that the size-byte value at off, masked with mask, equals v.
func mcmp(size int, off, v, mask uint32) *cond {
	switch {
	case mask == 0:
		return cTrue() // v&^mask is checked to be 0 by the callers
	case size == 4 && mask == 0xffffffff, size == 2 && mask == 0xffff, size == 1 && mask == 0xff:
		return cmp(size, off, v)
	}
	return cTest([]bpf.Instruction{
		bpf.LoadAbsolute{Off: off, Size: size},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask},
	}, bpf.JumpEqual, v)
}
