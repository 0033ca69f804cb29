package capfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html).
const (
	blockSectionHeader   = 0x0A0D0D0A
	blockInterface       = 1
	blockPacketObsolete  = 2
	blockSimplePacket    = 3
	blockEnhancedPacket  = 6
	byteOrderMagic       = 0x1A2B3C4D
	optEndOfOpt          = 0
	optIfTsresol         = 9
	optIfTsoffset        = 14
	maxSkippedBlockBytes = 1 << 30 // sanity bound for blocks streamed past unread
)

// ngIface is what the reader keeps of an interface description block.
type ngIface struct {
	link     layers.LinkType
	snaplen  uint32
	units    uint64 // timestamp units per second
	tsOffset int64  // seconds added to every timestamp
}

// ngReader reads pcapng files. Packet data is handed out as a slice of the
// bufio.Reader's buffer: each block is Peeked whole, then Discarded; the
// bytes stay in place until the next Peek.
type ngReader struct {
	br        *bufio.Reader
	bigEndian bool      // byte order of the current section
	ifaces    []ngIface // interfaces of the current section
	linkType  layers.LinkType
	haveLink  bool
	off       int64 // file offset of the next block, for error messages
	n         int   // packets returned so far
}

// Byte-order helpers for the current section; small enough to inline.
func (r *ngReader) u16(b []byte) uint16 {
	if r.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// newNgReader reads the first section header and whatever blocks come
// before the first packet, so that the first interface's link type is
// known.
func newNgReader(br *bufio.Reader) (*ngReader, error) {
	r := &ngReader{br: br}
	typ, total, err := r.blockHeader()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the magic was there
	}
	if err != nil {
		return nil, err
	}
	if typ != blockSectionHeader {
		return nil, fmt.Errorf("capfile: pcapng file does not start with a section header block (type %#x)", typ)
	}
	if err := r.block(typ, total, nil); err != nil {
		return nil, err
	}
	// Read on to the first interface description, stopping before any
	// packet block so that next returns it.
	for !r.haveLink {
		typ, total, err := r.blockHeader()
		if err == io.EOF {
			break // no interface at all: an empty capture
		}
		if err != nil {
			return nil, err
		}
		if isPacketBlock(typ) {
			break // next reports the missing interface
		}
		if err := r.block(typ, total, nil); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// isPacketBlock reports whether typ is a block type that holds a packet.
func isPacketBlock(typ uint32) bool {
	return typ == blockEnhancedPacket || typ == blockSimplePacket || typ == blockPacketObsolete
}

// next returns the next packet, reading past the other blocks.
func (r *ngReader) next() (Packet, error) {
	for {
		typ, total, err := r.blockHeader()
		if err != nil {
			return Packet{}, err
		}
		var p Packet
		if err := r.block(typ, total, &p); err != nil {
			return Packet{}, err
		}
		if isPacketBlock(typ) {
			r.n++
			return p, nil
		}
	}
}

// blockHeader peeks at the type and total length of the block at the read
// position. At a clean end of file it returns io.EOF. For a section header
// it sets the byte order from the byte-order magic.
func (r *ngReader) blockHeader() (typ, total uint32, err error) {
	h, err := r.br.Peek(12)
	if len(h) < 8 {
		if len(h) == 0 && err == io.EOF {
			return 0, 0, io.EOF
		}
		return 0, 0, r.readErr("block header", err)
	}
	if binary.LittleEndian.Uint32(h) == blockSectionHeader {
		if len(h) < 12 {
			return 0, 0, r.readErr("section header block", err)
		}
		switch {
		case binary.LittleEndian.Uint32(h[8:12]) == byteOrderMagic:
			r.bigEndian = false
		case binary.BigEndian.Uint32(h[8:12]) == byteOrderMagic:
			r.bigEndian = true
		default:
			return 0, 0, fmt.Errorf("capfile: pcapng section header at offset %d: bad byte-order magic %#x", r.off, binary.BigEndian.Uint32(h[8:12]))
		}
		typ = blockSectionHeader
	} else {
		typ = r.u32(h)
	}
	total = r.u32(h[4:8])
	if total < 12 || total%4 != 0 {
		return 0, 0, fmt.Errorf("capfile: pcapng block at offset %d (type %#x): bad block length %d", r.off, typ, total)
	}
	return typ, total, nil
}

// readErr describes a failed read at the current offset. A short read is
// reported as wrapping io.ErrUnexpectedEOF.
func (r *ngReader) readErr(what string, err error) error {
	if err == nil || err == io.EOF {
		return fmt.Errorf("capfile: reading pcapng %s at offset %d (after %d packets): file cut short: %w", what, r.off, r.n, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("capfile: reading pcapng %s at offset %d: %w", what, r.off, err)
}

// block reads the block of the given type and total length at the read
// position and moves past it. Packet blocks fill *p (p must not be nil for
// them); section headers and interface descriptions update the reader's
// state; other blocks are skipped.
func (r *ngReader) block(typ, total uint32, p *Packet) error {
	switch typ {
	case blockSectionHeader, blockInterface, blockEnhancedPacket, blockSimplePacket, blockPacketObsolete:
	default:
		return r.skip(typ, total)
	}
	if int(total) > r.br.Size() {
		return fmt.Errorf("capfile: pcapng block at offset %d (type %#x): length %d exceeds the %d-byte limit", r.off, typ, total, r.br.Size())
	}
	b, err := r.br.Peek(int(total))
	if len(b) < int(total) {
		return r.readErr(fmt.Sprintf("block (type %#x, %d bytes)", typ, total), err)
	}
	if t := r.u32(b[total-4:]); t != total {
		return fmt.Errorf("capfile: pcapng block at offset %d (type %#x): trailing length %d differs from leading length %d", r.off, typ, t, total)
	}
	body := b[8 : total-4]
	switch typ {
	case blockSectionHeader:
		err = r.sectionHeader(body)
	case blockInterface:
		err = r.interfaceDescription(body)
	default:
		err = r.packet(typ, body, p)
	}
	if err != nil {
		return err
	}
	r.br.Discard(int(total)) // cannot fail: the bytes are buffered
	r.off += int64(total)
	return nil
}

// skip moves past a block the reader has no use for, without buffering it
// whole, and checks its trailing length.
func (r *ngReader) skip(typ, total uint32) error {
	if total > maxSkippedBlockBytes {
		return fmt.Errorf("capfile: pcapng block at offset %d (type %#x): length %d is not believable", r.off, typ, total)
	}
	n, err := r.br.Discard(int(total) - 4)
	if n < int(total)-4 {
		return r.readErr(fmt.Sprintf("block (type %#x, %d bytes)", typ, total), err)
	}
	t, err := r.br.Peek(4)
	if len(t) < 4 {
		return r.readErr(fmt.Sprintf("block (type %#x, %d bytes)", typ, total), err)
	}
	if got := r.u32(t); got != total {
		return fmt.Errorf("capfile: pcapng block at offset %d (type %#x): trailing length %d differs from leading length %d", r.off, typ, got, total)
	}
	r.br.Discard(4)
	r.off += int64(total)
	return nil
}

// sectionHeader starts a new section: its interfaces replace the previous
// section's.
func (r *ngReader) sectionHeader(body []byte) error {
	// byte-order magic (4), major (2), minor (2), section length (8)
	if len(body) < 16 {
		return fmt.Errorf("capfile: pcapng section header at offset %d: too short (%d bytes)", r.off, len(body))
	}
	if major := r.u16(body[4:6]); major != 1 {
		return fmt.Errorf("capfile: pcapng section header at offset %d: unsupported version %d.%d", r.off, major, r.u16(body[6:8]))
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// interfaceDescription adds an interface to the current section.
func (r *ngReader) interfaceDescription(body []byte) error {
	// link type (2), reserved (2), snaplen (4), options
	if len(body) < 8 {
		return fmt.Errorf("capfile: pcapng interface description at offset %d: too short (%d bytes)", r.off, len(body))
	}
	ifc := ngIface{link: layers.LinkType(r.u16(body[0:2])), snaplen: r.u32(body[4:8]), units: 1e6}
	opts := body[8:]
	for len(opts) >= 4 {
		code, n := r.u16(opts[0:2]), int(r.u16(opts[2:4]))
		if code == optEndOfOpt || 4+n > len(opts) {
			break // end of options, or a malformed one: keep what was read
		}
		v := opts[4 : 4+n]
		switch {
		case code == optIfTsresol && n >= 1:
			units, ok := tsUnits(v[0])
			if !ok {
				return fmt.Errorf("capfile: pcapng interface %d at offset %d: unsupported timestamp resolution %#x", len(r.ifaces), r.off, v[0])
			}
			ifc.units = units
		case code == optIfTsoffset && n >= 8:
			lo, hi := r.u32(v[0:4]), r.u32(v[4:8])
			if r.bigEndian {
				lo, hi = hi, lo
			}
			ifc.tsOffset = int64(uint64(hi)<<32 | uint64(lo))
		}
		n = (n + 3) &^ 3
		if 4+n > len(opts) {
			break
		}
		opts = opts[4+n:]
	}
	if !r.haveLink {
		r.linkType, r.haveLink = ifc.link, true
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// tsUnits converts an if_tsresol value to timestamp units per second.
func tsUnits(v byte) (uint64, bool) {
	if v&0x80 != 0 {
		e := v & 0x7F
		if e > 63 {
			return 0, false
		}
		return 1 << e, true
	}
	if v > 19 { // 10^20 does not fit in 64 bits
		return 0, false
	}
	u := uint64(1)
	for range v {
		u *= 10
	}
	return u, true
}

// packet fills p from the body of a packet block.
func (r *ngReader) packet(typ uint32, body []byte, p *Packet) error {
	var ifid int
	var ts uint64
	var capLen, origLen uint32
	var data []byte
	switch typ {
	case blockEnhancedPacket, blockPacketObsolete:
		// EPB: interface id (4), timestamp (8), captured length (4),
		// original length (4), data, options.
		// Obsolete PB: interface id (2), drops count (2), then the same.
		if len(body) < 20 {
			return r.malformed("packet block too short")
		}
		if typ == blockEnhancedPacket {
			ifid = int(r.u32(body[0:4]))
		} else {
			ifid = int(r.u16(body[0:2]))
		}
		ts = uint64(r.u32(body[4:8]))<<32 | uint64(r.u32(body[8:12]))
		capLen, origLen = r.u32(body[12:16]), r.u32(body[16:20])
		if uint64(capLen) > uint64(len(body)-20) {
			return r.malformed(fmt.Sprintf("captured length %d exceeds the block", capLen))
		}
		data = body[20 : 20+capLen]
	case blockSimplePacket:
		// Original length (4), data. The captured length is implied by
		// the block length and the interface's snap length.
		if len(body) < 4 {
			return r.malformed("simple packet block too short")
		}
		origLen = r.u32(body[0:4])
		data = body[4:]
		capLen = min(origLen, uint32(len(data)))
		if len(r.ifaces) > 0 && r.ifaces[0].snaplen != 0 {
			capLen = min(capLen, r.ifaces[0].snaplen)
		}
		data = data[:capLen]
	}
	if ifid < 0 || ifid >= len(r.ifaces) {
		return r.malformed(fmt.Sprintf("interface %d not described in this section (%d interfaces)", ifid, len(r.ifaces)))
	}
	if capLen > MaxCaptureLength {
		return r.malformed(fmt.Sprintf("captured length %d exceeds the maximum %d", capLen, MaxCaptureLength))
	}
	ifc := &r.ifaces[ifid]
	*p = Packet{
		Data:          data[:capLen:capLen],
		CaptureLength: int(capLen),
		Length:        int(origLen),
		LinkType:      ifc.link,
	}
	if typ != blockSimplePacket { // simple packets have no timestamp
		p.Timestamp = ifc.time(ts)
	}
	return nil
}

// malformed reports a bad packet block.
func (r *ngReader) malformed(what string) error {
	return fmt.Errorf("capfile: pcapng packet block at offset %d (packet %d): %s", r.off, r.n+1, what)
}

// time converts a timestamp in the interface's units to a time.Time.
func (ifc *ngIface) time(ts uint64) time.Time {
	var sec, nsec uint64
	switch ifc.units {
	case 1e6:
		sec, nsec = ts/1e6, ts%1e6*1e3
	case 1e9:
		sec, nsec = ts/1e9, ts%1e9
	default:
		sec = ts / ifc.units
		hi, lo := bits.Mul64(ts%ifc.units, 1e9)
		nsec, _ = bits.Div64(hi, lo, ifc.units) // hi < units: cannot panic
	}
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec)).UTC()
}
