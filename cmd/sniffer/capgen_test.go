package main

// A capture generator for the command's tests: HTTP exchanges framed for
// each link type sniffer reads, written as pcap (either byte order,
// micro- or nanosecond) or pcapng (either byte order, several interfaces of
// several link types), with the offset where each record ends so that tests
// can cut and damage the files at known places. (sniff/internal/pcaptest is
// not importable from cmd/, and these tests need control over every byte of
// the file.)

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// genRec is one frame of a generated capture.
type genRec struct {
	ts    time.Time
	iface int    // index in genCapture.links
	data  []byte // captured bytes
}

// genCapture is a capture to be rendered as pcap (one interface) or pcapng.
type genCapture struct {
	ng    bool
	bo    byteOrder
	nanos bool
	links []layers.LinkType // the interfaces; pcap uses links[0]
	recs  []genRec
	// extra, for pcapng: an unknown block after each record, to be
	// skipped by the reader.
	extra bool
}

// Segment flags.
const (
	fSYN = 1 << iota
	fACK
	fPSH
	fFIN
)

// linkFrame frames an IPv4 TCP segment for link. Link types the generator
// does not know are framed as Ethernet: the bytes do not matter to a reader
// that does not decode them.
func linkFrame(link layers.LinkType, src, dst netip.AddrPort, seq, ack uint32, flags int, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack,
		SYN: flags&fSYN != 0, ACK: flags&fACK != 0, PSH: flags&fPSH != 0, FIN: flags&fFIN != 0, Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	pkt := buf.Bytes()
	var hdr []byte
	switch link {
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12, 14:
	case layers.LinkTypeNull:
		hdr = binary.LittleEndian.AppendUint32(nil, 2) // AF_INET, little-endian host
	case layers.LinkTypeLoop:
		hdr = binary.BigEndian.AppendUint32(nil, 2)
	case layers.LinkTypeLinuxSLL:
		hdr = make([]byte, 16)
		binary.BigEndian.PutUint16(hdr[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(hdr[4:], 6)
		copy(hdr[6:], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(hdr[14:], 0x0800)
	case layers.LinkTypeLinuxSLL2:
		hdr = make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], 0x0800)
		binary.BigEndian.PutUint32(hdr[4:], 1) // interface index
		binary.BigEndian.PutUint16(hdr[8:], 1) // ARPHRD_ETHER
		hdr[11] = 6
		copy(hdr[12:], []byte{2, 0, 0, 0, 0, 1})
	default:
		hdr = []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	}
	return append(hdr, pkt...)
}

// exchange adds one HTTP exchange for path from client to server on
// interface iface, starting at start, one frame every 10 µs: handshake,
// request, response, ACK, and a close started by the client. It returns
// the number of frames added (10).
func (c *genCapture) exchange(iface int, client, server, path string, start time.Time) int {
	cl, sv := netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)
	link := c.links[iface]
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	cs, ss := uint32(1000), uint32(5000)
	segs := []struct {
		fromClient bool
		seq, ack   uint32
		flags      int
		payload    []byte
	}{
		{true, cs, 0, fSYN, nil},
		{false, ss, cs + 1, fSYN | fACK, nil},
		{true, cs + 1, ss + 1, fACK, nil},
		{true, cs + 1, ss + 1, fPSH | fACK, req},
		{false, ss + 1, cs + 1 + uint32(len(req)), fPSH | fACK, resp},
		{true, cs + 1 + uint32(len(req)), ss + 1 + uint32(len(resp)), fACK, nil},
		{true, cs + 1 + uint32(len(req)), ss + 1 + uint32(len(resp)), fFIN | fACK, nil},
		{false, ss + 1 + uint32(len(resp)), cs + 2 + uint32(len(req)), fACK, nil},
		{false, ss + 1 + uint32(len(resp)), cs + 2 + uint32(len(req)), fFIN | fACK, nil},
		{true, cs + 2 + uint32(len(req)), ss + 2 + uint32(len(resp)), fACK, nil},
	}
	for i, s := range segs {
		src, dst := cl, sv
		if !s.fromClient {
			src, dst = sv, cl
		}
		c.recs = append(c.recs, genRec{ts: start.Add(time.Duration(i) * 10 * time.Microsecond), iface: iface,
			data: linkFrame(link, src, dst, s.seq, s.ack, s.flags, s.payload)})
	}
	return len(segs)
}

// sortRecs puts the records in timestamp order (stable).
func (c *genCapture) sortRecs() {
	slices.SortStableFunc(c.recs, func(a, b genRec) int { return a.ts.Compare(b.ts) })
}

// layout says where the pieces of a rendered capture are.
type layout struct {
	// ends[i] is the offset just after the i-th piece of the file: the
	// file header (pcap) or a block (pcapng).
	ends []int
	// recStart[j] and recEnd[j] are the offsets of the start and end of
	// record j (a pcap record or a pcapng enhanced packet block).
	recStart, recEnd []int
}

// render writes the capture and says where its pieces are.
func (c *genCapture) render() ([]byte, layout) {
	bo := c.bo
	var l layout
	if !c.ng {
		magic := uint32(0xA1B2C3D4)
		if c.nanos {
			magic = 0xA1B23C4D
		}
		b := bo.AppendUint32(nil, magic)
		b = bo.AppendUint16(b, 2)
		b = bo.AppendUint16(b, 4)
		b = bo.AppendUint64(b, 0) // thiszone, sigfigs
		b = bo.AppendUint32(b, 262144)
		b = bo.AppendUint32(b, uint32(c.links[0]))
		l.ends = append(l.ends, len(b))
		for _, r := range c.recs {
			l.recStart = append(l.recStart, len(b))
			b = pcapRec(b, bo, c.nanos, r.ts, uint32(len(r.data)), uint32(len(r.data)), r.data)
			l.ends = append(l.ends, len(b))
			l.recEnd = append(l.recEnd, len(b))
		}
		return b, l
	}
	b := ngBlock(nil, bo, 0x0A0D0D0A, bo.AppendUint64(bo.AppendUint16(bo.AppendUint16(bo.AppendUint32(nil, 0x1A2B3C4D), 1), 0), ^uint64(0)))
	l.ends = append(l.ends, len(b))
	for _, link := range c.links {
		b = ngIDB(b, bo, link, c.nanos)
		l.ends = append(l.ends, len(b))
	}
	for _, r := range c.recs {
		l.recStart = append(l.recStart, len(b))
		b = ngEPB(b, bo, uint32(r.iface), ngTime(r.ts, c.nanos), uint32(len(r.data)), r.data)
		l.ends = append(l.ends, len(b))
		l.recEnd = append(l.recEnd, len(b))
		if c.extra {
			b = ngBlock(b, bo, 0x40000BAD, []byte("custom block"))
			l.ends = append(l.ends, len(b))
		}
	}
	return b, l
}

// pcapRec appends a classic pcap record.
func pcapRec(b []byte, bo byteOrder, nanos bool, ts time.Time, caplen, length uint32, data []byte) []byte {
	frac := uint32(ts.Nanosecond() / 1000)
	if nanos {
		frac = uint32(ts.Nanosecond())
	}
	b = bo.AppendUint32(b, uint32(ts.Unix()))
	b = bo.AppendUint32(b, frac)
	b = bo.AppendUint32(b, caplen)
	b = bo.AppendUint32(b, length)
	return append(b, data...)
}

// ngBlock appends a pcapng block of the given type around body (padded).
func ngBlock(b []byte, bo byteOrder, typ uint32, body []byte) []byte {
	total := uint32(12 + (len(body)+3)&^3)
	b = bo.AppendUint32(b, typ)
	b = bo.AppendUint32(b, total)
	b = append(b, body...)
	b = append(b, make([]byte, (4-len(body)%4)%4)...)
	return bo.AppendUint32(b, total)
}

// ngIDB appends an interface description block, with if_tsresol 9 for
// nanoseconds.
func ngIDB(b []byte, bo byteOrder, link layers.LinkType, nanos bool) []byte {
	body := bo.AppendUint16(nil, uint16(link))
	body = bo.AppendUint16(body, 0)
	body = bo.AppendUint32(body, 262144)
	if nanos {
		body = bo.AppendUint16(body, 9)
		body = bo.AppendUint16(body, 1)
		body = append(body, 9, 0, 0, 0)
		body = bo.AppendUint32(body, 0) // opt_endofopt
	}
	return ngBlock(b, bo, 1, body)
}

// ngEPB appends an enhanced packet block.
func ngEPB(b []byte, bo byteOrder, ifid uint32, ts uint64, length uint32, data []byte) []byte {
	body := bo.AppendUint32(nil, ifid)
	body = bo.AppendUint32(body, uint32(ts>>32))
	body = bo.AppendUint32(body, uint32(ts))
	body = bo.AppendUint32(body, uint32(len(data)))
	body = bo.AppendUint32(body, length)
	return ngBlock(b, bo, 6, append(body, data...))
}

// ngTime is a timestamp in the units of an interface.
func ngTime(ts time.Time, nanos bool) uint64 {
	if nanos {
		return uint64(ts.UnixNano())
	}
	return uint64(ts.UnixMicro())
}

// describe names the capture's format for failure messages.
func (c *genCapture) describe() string {
	order := "le"
	if c.bo == binary.BigEndian {
		order = "be"
	}
	res := "us"
	if c.nanos {
		res = "ns"
	}
	if c.ng {
		return fmt.Sprintf("pcapng-%s-%s %v", order, res, c.links)
	}
	return fmt.Sprintf("pcap-%s-%s %v", order, res, c.links[0])
}
