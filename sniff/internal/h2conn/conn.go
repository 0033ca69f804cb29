// Package h2conn decodes one HTTP/2 connection (cleartext: prior
// knowledge, or after an HTTP/1.1 Upgrade: h2c) seen from the side: the
// bytes of each direction in, one Stream per request/response exchange
// out, through a Handler called when a stream begins and when it is
// complete.
//
// It is made for a passive observer: input may start in the middle of a
// connection or lose bytes in a gap (the HPACK state is then unknown, and
// what can still be decoded is), every length is bounded by Limits, and
// no input makes it panic or keep more than the limits allow. Stream
// records and their buffers are reused, so that the steady path does not
// allocate per frame.
package h2conn

import (
	"encoding/binary"
	"time"
)

// Start says where the decoder starts in the connection.
type Start uint8

const (
	// StartPreface: at the connection's start; the client sends the
	// preface first.
	StartPreface Start = iota
	// StartUpgrade: after an HTTP/1.1 request with Upgrade: h2c and its
	// 101 response. Stream 1 carries that request's response, and exists
	// (Upgraded, request side ended) before any byte; the client still
	// sends the preface.
	StartUpgrade
	// StartMidstream: picked up at an unknown point, with no preface and
	// no HPACK state: frame boundaries are searched for (see Probe), and
	// every stream is Late.
	StartMidstream
)

// Handler receives the streams of a connection. Both calls hand a Stream
// that stays valid only until End returns for it.
type Handler interface {
	// Begin is called when a stream begins: its request HEADERS were
	// decoded (or, for a stream whose request was not seen, its first
	// response HEADERS; for the upgraded stream 1, at the start). Streams
	// begin in the order of their first header block on the wire.
	Begin(s *Stream)
	// End is called once per begun stream when it is complete (s.End says
	// why); after it returns the Stream is reused.
	End(s *Stream)
}

// Limits bound what a connection may cost. Zero fields take the defaults.
type Limits struct {
	// MaxStreams bounds the streams tracked at once: when a stream begins
	// with that many open, the oldest is completed (EndEvicted). Default 128.
	MaxStreams int
	// MaxHeaderBlock bounds a header block (HEADERS or PUSH_PROMISE and
	// its CONTINUATION frames): a larger one is skipped, and the HPACK
	// state of its direction is lost. Default 64 KiB.
	MaxHeaderBlock int
	// MaxHeaderList bounds the decoded header list kept per block (RFC
	// 9113 size: name+value+32 per field). Default 64 KiB.
	MaxHeaderList int
	// MaxTableSize bounds the HPACK dynamic table kept per direction,
	// whatever SETTINGS_HEADER_TABLE_SIZE the peers agree: entries past it
	// are dropped and references to them are unknown. Default 64 KiB.
	MaxTableSize int
	// MaxBody bounds the DATA bytes kept per side (Side.Body). Default
	// 16 KiB; negative keeps none.
	MaxBody int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxStreams, 128)
	def(&l.MaxHeaderBlock, 64<<10)
	def(&l.MaxHeaderList, 64<<10)
	def(&l.MaxTableSize, 64<<10)
	def(&l.MaxBody, 16<<10)
	if l.MaxBody < 0 {
		l.MaxBody = 0
	}
	return l
}

// Stats counts what a connection's decoder saw and skipped.
type Stats struct {
	// Frames counts the frames per direction and type (FrameUnknown for
	// unknown types).
	Frames [2][FrameUnknown + 1]uint64
	// Streams counts the streams begun; Evicted those completed early by
	// MaxStreams; Orphans the frames of streams not tracked (begun before
	// a pickup, or after their end).
	Streams, Evicted, Orphans uint64
	// HPACKErrors counts the malformed header blocks; OversizedBlocks the
	// blocks over MaxHeaderBlock; Truncated the header lists over
	// MaxHeaderList.
	HPACKErrors, OversizedBlocks, Truncated uint64
	// Desyncs counts the frames that could not follow in a well-formed
	// connection (a length over SETTINGS_MAX_FRAME_SIZE, a bad fixed
	// length, a broken CONTINUATION chain, a bad preface): the decoder
	// then searches for frame boundaries, as after a gap. Realigned counts
	// the boundaries found; SkippedBytes the bytes passed over while
	// searching.
	Desyncs, Realigned, SkippedBytes uint64
	// GapBytes counts the bytes declared lost by Gap.
	GapBytes uint64
	// GoAway is set when a GOAWAY was seen: GoAwayDir its direction,
	// GoAwayLastID its last stream id, GoAwayCode its error code.
	GoAway       bool
	GoAwayDir    int
	GoAwayLastID uint32
	GoAwayCode   uint32
}

// scanCap bounds the bytes held while searching for a frame boundary.
const scanCap = 64 << 10

// half is the reading state of one direction.
type half struct {
	preface int // bytes of the preface still expected

	hdr  [FrameHeaderLen]byte
	nhdr int
	fh   FrameHeader
	// remain is what is left of the current frame's payload.
	remain uint32
	// DATA: padLen read yet, data bytes left (before the padding).
	needPad  bool
	dataLeft uint32
	stream   *Stream
	// payload keeps the payload of a non-DATA frame (keep bytes of it).
	payload []byte
	keep    uint32

	// The header block being gathered.
	inBlock    bool
	blockSID   uint32
	blockEnd   bool // END_STREAM of its HEADERS
	blockPush  uint32
	blockPP    bool // the block is a PUSH_PROMISE's
	blockBig   bool
	blockBytes int64
	blockTS    time.Time
	block      []byte

	maxFrame uint32
	dec      blockDecoder

	scanning bool
	scan     []byte
	// scanned is the first offset of scan not yet rejected.
	scanned int
}

// Conn decodes one connection. It is not safe for concurrent use.
type Conn struct {
	h     Handler
	lim   Limits
	half  [2]half
	open  []*Stream // in the order they began
	free  []*Stream
	seq   uint64
	late  bool
	stats Stats
	// lastID is the highest stream id begun, per parity.
	lastID [2]uint32
	ts     time.Time

	// sink is where the block being decoded goes.
	sink sink
}

// New returns a decoder handing streams to h, bounded by lim, started at
// start.
func New(h Handler, lim Limits, start Start) *Conn {
	c := &Conn{h: h, lim: lim.withDefaults()}
	c.sink = sink{limit: c.lim.MaxHeaderList, truncated: &c.stats.Truncated}
	c.Reset(start)
	return c
}

// Reset makes c ready for a new connection started at start, keeping its
// buffers. Streams still open are dropped without End: call Close first.
func (c *Conn) Reset(start Start) {
	c.free = append(c.free, c.open...)
	clear(c.open)
	c.open = c.open[:0]
	c.stats = Stats{}
	c.lastID = [2]uint32{}
	c.late = start == StartMidstream
	for d := range c.half {
		h := &c.half[d]
		*h = half{payload: h.payload[:0], block: h.block[:0], scan: h.scan[:0], dec: h.dec, maxFrame: 16384}
		h.dec.table.reset(uint32(c.lim.MaxTableSize))
		if start == StartMidstream {
			h.dec.table.lose()
			h.scanning = true
			h.maxFrame = probeMaxLen
		}
	}
	if start != StartMidstream {
		c.half[0].preface = len(Preface)
	}
	if start == StartUpgrade {
		s := c.newStream(1)
		s.Upgraded = true
		s.Request.Ended = true
		c.begin(s)
	}
}

// ApplySettings applies the payload of a SETTINGS frame sent by direction
// dir's sender (pairs of a 16-bit id and a 32-bit value) as if the frame
// had been read. It is for the settings of an upgrade's HTTP2-Settings
// header (base64url-decoded), which the client sends in its HTTP/1.1
// request instead of a frame: call it with dir 0 after New(...,
// StartUpgrade). The settings of dir's sender bound what it receives, the
// frames of the other direction: SETTINGS_HEADER_TABLE_SIZE, the largest
// dynamic table its peer's encoder may use, and SETTINGS_MAX_FRAME_SIZE.
// Others are not needed to follow the connection.
func (c *Conn) ApplySettings(dir int, p []byte) {
	o := &c.half[(dir&1)^1]
	for ; len(p) >= 6; p = p[6:] {
		id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
		switch id {
		case 1: // SETTINGS_HEADER_TABLE_SIZE
			o.dec.table.allowed = v
		case 5: // SETTINGS_MAX_FRAME_SIZE
			if v >= 16384 && v <= MaxFrameLen {
				o.maxFrame = v
			}
		}
	}
}

// Stats returns the counts so far.
func (c *Conn) Stats() Stats { return c.stats }

// Open returns the number of streams begun and not yet complete.
func (c *Conn) Open() int { return len(c.open) }

// Data hands bytes of direction dir (0 client to server, 1 server to
// client), in order, captured at ts. Frames may span calls.
func (c *Conn) Data(dir int, b []byte, ts time.Time) {
	c.ts = ts
	h := &c.half[dir&1]
	for {
		if !h.scanning {
			b = c.parse(dir&1, b)
			if !h.scanning {
				return
			}
		}
		k := min(len(b), scanCap-len(h.scan))
		h.scan = append(h.scan, b[:k]...)
		b = b[k:]
		for h.scanning {
			off, ok := c.align(h)
			if !ok {
				break
			}
			h.scanning = false
			c.stats.Realigned++
			left := c.parse(dir&1, h.scan[off:])
			if h.scanning {
				h.scan = append(h.scan[:0], left...)
				h.scanned = 0
			} else {
				h.scan = h.scan[:0]
			}
		}
		if len(b) == 0 {
			return
		}
	}
}

// align looks for a frame boundary in h.scan: the first offset where a
// plausible frame header (see Plausible) is followed by another plausible
// one right after its frame, or whose frame ends exactly where the bytes
// end (a sender writes whole frames, and a segment often ends with one).
// A candidate whose frame runs past the bytes held waits for more. When
// none is found and the buffer is full, its first half is dropped (a
// frame too large for the buffer is taken on its header alone at the
// buffer's start). Offsets rejected are not looked at again, so the
// search costs O(1) per byte.
func (c *Conn) align(h *half) (int, bool) {
	maxLen := max(h.maxFrame, 16384)
	off := h.scanned
	for ; off+FrameHeaderLen <= len(h.scan); off++ {
		if !Plausible(h.scan[off:], maxLen) {
			continue
		}
		end := off + FrameHeaderLen + int(ParseFrameHeader(h.scan[off:]).Length)
		if end == len(h.scan) || (end+FrameHeaderLen <= len(h.scan) && Plausible(h.scan[end:], maxLen)) {
			c.stats.SkippedBytes += uint64(off)
			h.scanned = 0
			return off, true
		}
		if end+FrameHeaderLen <= len(h.scan) {
			continue // followed by bytes that are no frame header
		}
		if end > scanCap && off == 0 && len(h.scan) == scanCap {
			h.scanned = 0
			return 0, true
		}
		break // wait for the bytes after this frame
	}
	h.scanned = off
	if len(h.scan) >= scanCap {
		drop := max(scanCap/2, off)
		if drop > len(h.scan) {
			drop = len(h.scan)
		}
		c.stats.SkippedBytes += uint64(drop)
		h.scan = append(h.scan[:0], h.scan[drop:]...)
		h.scanned = max(h.scanned-drop, 0)
	}
	return 0, false
}

// desync abandons the frame being read and searches for a boundary in
// what follows, with the HPACK state of the direction lost.
func (c *Conn) desync(dir int) {
	h := &c.half[dir]
	c.stats.Desyncs++
	c.lose(dir)
	h.scanning = true
	h.scan = h.scan[:0]
	h.scanned = 0
}

// lose forgets the reading state of direction dir: the frame being read,
// the header block being gathered (its stream's headers are incomplete),
// and the HPACK table.
func (c *Conn) lose(dir int) {
	h := &c.half[dir]
	if h.inBlock {
		if s := c.find(h.blockSID); s != nil {
			s.Side(dir).HeadersIncomplete = true
		}
	}
	h.inBlock = false
	h.block = h.block[:0]
	h.nhdr, h.remain, h.needPad, h.dataLeft, h.stream = 0, 0, false, 0, nil
	h.payload = h.payload[:0]
	h.preface = 0
	h.dec.table.lose()
	c.late = true
}

// Gap declares n bytes of direction dir lost at ts: the HPACK state of the
// direction is lost for good (entries inserted in the gap are unknown),
// the streams open get Side.Gap, and the decoder searches for the next
// frame boundary in the bytes that follow.
func (c *Conn) Gap(dir int, n int64, ts time.Time) {
	dir &= 1
	c.ts = ts
	c.stats.GapBytes += uint64(max(n, 0))
	for _, s := range c.open {
		s.Side(dir).Gap = true
	}
	c.lose(dir)
	h := &c.half[dir]
	h.scanning = true
	h.scan = h.scan[:0]
	h.scanned = 0
}

// Close ends the connection at ts: every open stream is completed
// (EndClose) in the order they began.
func (c *Conn) Close(ts time.Time) {
	c.ts = ts
	for len(c.open) > 0 {
		c.end(c.open[0], EndClose)
	}
}

// parse reads frames from b. When it meets bytes that cannot be frames it
// switches h to scanning and returns the rest of b (after the bad frame
// header); else it returns nil.
func (c *Conn) parse(dir int, b []byte) []byte {
	h := &c.half[dir]
	for len(b) > 0 {
		if h.preface > 0 {
			done := len(Preface) - h.preface
			n := min(len(b), h.preface)
			if string(b[:n]) != Preface[done:done+n] {
				c.desync(dir)
				return b
			}
			h.preface -= n
			b = b[n:]
			continue
		}
		if h.nhdr < FrameHeaderLen {
			n := copy(h.hdr[h.nhdr:], b)
			h.nhdr += n
			b = b[n:]
			if h.nhdr < FrameHeaderLen {
				return nil
			}
			if !c.frameStart(dir) {
				c.desync(dir)
				return b
			}
			if h.remain == 0 {
				c.frameEnd(dir)
				continue
			}
		}
		// Payload.
		n := min(uint32(len(b)), h.remain)
		p := b[:n]
		b = b[n:]
		h.remain -= n
		if h.fh.Type == FrameData {
			c.dataPayload(h, p)
		} else if k := uint32(len(h.payload)); k < h.keep {
			h.payload = append(h.payload, p[:min(uint32(len(p)), h.keep-k)]...)
		}
		if h.remain == 0 {
			c.frameEnd(dir)
		}
	}
	return nil
}

// keepLimit is how much of each frame type's payload is kept.
func (c *Conn) keepLimit(h *half) uint32 {
	switch h.fh.Type {
	case FrameHeaders, FrameContinuation, FramePushPromise:
		room := c.lim.MaxHeaderBlock - len(h.block)
		if h.blockBig || int(h.fh.Length) > room+256 {
			// 256: room for padding and priority fields.
			return 0
		}
		return h.fh.Length
	case FrameSettings:
		return min(h.fh.Length, 6*64)
	case FrameGoAway:
		return 8
	case FrameRSTStream, FrameWindowUpdate, FramePing, FramePriority:
		return h.fh.Length
	}
	return 0
}

// frameStart checks the frame header just read; false means the bytes are
// not a frame of a well-formed connection.
func (c *Conn) frameStart(dir int) bool {
	h := &c.half[dir]
	h.fh = ParseFrameHeader(h.hdr[:])
	h.remain = h.fh.Length
	h.payload = h.payload[:0]
	h.stream = nil
	fh := h.fh
	if fh.Length > h.maxFrame {
		return false
	}
	if h.inBlock != (fh.Type == FrameContinuation) || (h.inBlock && fh.StreamID != h.blockSID) {
		return false
	}
	switch fh.Type {
	case FrameData, FrameHeaders, FramePriority, FrameRSTStream, FramePushPromise, FrameContinuation:
		if fh.StreamID == 0 {
			return false
		}
	case FrameSettings, FramePing, FrameGoAway:
		if fh.StreamID != 0 {
			return false
		}
	}
	switch fh.Type {
	case FramePriority:
		if fh.Length != 5 {
			return false
		}
	case FrameRSTStream, FrameWindowUpdate:
		if fh.Length != 4 {
			return false
		}
	case FramePing:
		if fh.Length != 8 {
			return false
		}
	case FrameSettings:
		if fh.Length%6 != 0 {
			return false
		}
	case FrameGoAway:
		if fh.Length < 8 {
			return false
		}
	}
	t := fh.Type
	if t > FrameContinuation {
		t = FrameUnknown
	}
	c.stats.Frames[dir][t]++
	h.keep = c.keepLimit(h)
	n := int64(FrameHeaderLen) + int64(fh.Length)
	switch fh.Type {
	case FrameData:
		s := c.find(fh.StreamID)
		if s == nil {
			c.stats.Orphans++
		} else {
			s.Side(dir).touch(c.ts, n)
		}
		h.stream = s
		h.needPad = fh.Flags&flagPadded != 0
		h.dataLeft = fh.Length
	case FrameHeaders, FramePushPromise:
		h.inBlock = true
		h.blockSID = fh.StreamID
		h.blockEnd = fh.Type == FrameHeaders && fh.Flags&flagEndStream != 0
		h.blockPush = 0
		h.blockPP = fh.Type == FramePushPromise
		h.blockBig = false
		h.blockBytes = n
		h.blockTS = c.ts
		h.block = h.block[:0]
		h.keep = c.keepLimit(h)
		if h.keep == 0 {
			h.blockBig = true
		}
	case FrameContinuation:
		h.blockBytes += n
		if h.keep == 0 {
			h.blockBig = true
		}
	default:
		if s := c.find(fh.StreamID); s != nil && fh.StreamID != 0 {
			s.Side(dir).touch(c.ts, n)
		}
	}
	return true
}

func (c *Conn) dataPayload(h *half, p []byte) {
	if h.needPad {
		if len(p) == 0 {
			return
		}
		pad := uint32(p[0])
		p = p[1:]
		h.needPad = false
		if pad >= h.fh.Length {
			// Padding longer than the frame: a protocol error; no data.
			h.dataLeft = 0
		} else {
			h.dataLeft = h.fh.Length - 1 - pad
		}
	}
	d := min(uint32(len(p)), h.dataLeft)
	h.dataLeft -= d
	if s := h.stream; s != nil && d > 0 {
		sd := &s.Request
		if h == &c.half[1] {
			sd = &s.Response
		}
		sd.BodySize += int64(d)
		if room := c.lim.MaxBody - len(sd.Body); room > 0 {
			sd.Body = append(sd.Body, p[:min(int(d), room)]...)
		}
	}
}

// frameEnd acts on a complete frame.
func (c *Conn) frameEnd(dir int) {
	h := &c.half[dir]
	fh := h.fh
	p := h.payload
	h.nhdr = 0
	switch fh.Type {
	case FrameData:
		if s := h.stream; s != nil && fh.Flags&flagEndStream != 0 {
			c.endSide(s, dir)
		}
		h.stream = nil
	case FrameHeaders, FramePushPromise:
		if !h.blockBig {
			if frag, ok := c.fragment(h, p); ok {
				h.block = append(h.block, frag...)
			} else {
				c.stats.HPACKErrors++
				h.blockBig = true
			}
		}
		if fh.Flags&flagEndHeaders != 0 {
			c.blockEnd(dir)
		}
	case FrameContinuation:
		if !h.blockBig {
			h.block = append(h.block, p...)
		}
		if fh.Flags&flagEndHeaders != 0 {
			c.blockEnd(dir)
		}
	case FrameRSTStream:
		if s := c.find(fh.StreamID); s != nil && len(p) == 4 {
			s.ResetCode = binary.BigEndian.Uint32(p)
			s.ResetDir = dir
			c.end(s, EndReset)
		}
	case FrameSettings:
		if fh.Flags&flagAck != 0 {
			break
		}
		c.ApplySettings(dir, p)
	case FrameGoAway:
		if len(p) == 8 {
			last := binary.BigEndian.Uint32(p) & 0x7fffffff
			c.stats.GoAway, c.stats.GoAwayDir = true, dir
			c.stats.GoAwayLastID, c.stats.GoAwayCode = last, binary.BigEndian.Uint32(p[4:])
			// Streams the GOAWAY's receiver began above last were not
			// processed: client streams (odd) for a server's GOAWAY.
			parity := uint32(1)
			if dir == 0 {
				parity = 0
			}
			for i := 0; i < len(c.open); {
				s := c.open[i]
				if s.ID > last && s.ID&1 == parity {
					c.end(s, EndGoAway)
					continue
				}
				i++
			}
		}
	}
	h.payload = h.payload[:0]
}

// fragment returns the header block fragment of a HEADERS or PUSH_PROMISE
// payload: padding, priority fields and the promised stream id taken off
// (the promised id kept in h.blockPush); false when they do not fit.
func (c *Conn) fragment(h *half, p []byte) ([]byte, bool) {
	fh := h.fh
	if fh.Flags&flagPadded != 0 {
		if len(p) < 1 || int(p[0]) > len(p)-1 {
			return nil, false
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if fh.Type == FrameHeaders && fh.Flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if fh.Type == FramePushPromise {
		if len(p) < 4 {
			return nil, false
		}
		h.blockPush = binary.BigEndian.Uint32(p) & 0x7fffffff
		p = p[4:]
	}
	return p, true
}

// blockEnd decodes the header block gathered.
func (c *Conn) blockEnd(dir int) {
	h := &c.half[dir]
	h.inBlock = false
	sid := h.blockSID
	isPush := h.blockPush != 0
	if isPush {
		sid = h.blockPush
	}
	s := c.find(sid)
	if h.blockPP && !isPush {
		// A PUSH_PROMISE whose promised id was not read: its block is
		// decoded for the HPACK state only.
		s = nil
	}
	begin := false
	if s == nil && (!h.blockPP || isPush) {
		// Stream ids only grow (RFC 9113 5.1.1): a block for an id at or
		// below the highest begun of its parity, not open, is of a stream
		// already complete.
		if (isPush || dir == 0 || sid&1 == 1) && sid > c.lastID[sid&1] {
			s = c.newStream(sid)
			s.Pushed = isPush
			begin = true
		}
	}
	if s != nil && !begin && !isPush && dir == 0 && s.Request.hasHeaders && s.Request.Ended {
		// A request header block on a stream whose request has ended is
		// not a request of it.
		s = nil
	}
	var sd *Side
	var fields *Fields
	if s != nil {
		sd = s.Side(dir)
		if isPush {
			sd = &s.Request
		}
		fields = &sd.Headers
		if sd.hasHeaders {
			fields = &sd.Trailers
		}
		fields.reset()
		if !isPush {
			if sd.First.IsZero() {
				sd.First = h.blockTS
			}
			sd.Last = c.ts
			sd.Size += h.blockBytes
		}
	} else {
		c.stats.Orphans++
	}
	c.sink.fields, c.sink.side = fields, sd
	incomplete := false
	if h.blockBig {
		c.stats.OversizedBlocks++
		h.dec.table.lose()
		c.late = true
		incomplete = true
	} else {
		unknown, err := h.dec.decode(h.block, &c.sink)
		if err != nil {
			c.stats.HPACKErrors++
			h.dec.table.lose()
			c.late = true
			incomplete = true
		}
		if unknown > 0 {
			incomplete = true
		}
	}
	h.block = h.block[:0]
	c.sink.fields, c.sink.side = nil, nil
	if s == nil {
		return
	}
	if incomplete {
		sd.HeadersIncomplete = true
	}
	if dir == 1 && !isPush && fields == &sd.Headers {
		if st, ok := sd.Headers.pseudo(pseudoStatus); ok && len(st) == 3 && st[0] == '1' {
			// Informational: not the response's head.
			sd.Informational++
			sd.Headers.reset()
			return
		}
	}
	sd.hasHeaders = true
	if isPush {
		sd.Ended = true
	}
	if begin {
		if dir == 1 {
			s.Late = true
		}
		c.begin(s)
	}
	if dir == 1 && h.blockEnd {
		c.grpc(s, fields)
	}
	if !isPush && h.blockEnd {
		c.endSide(s, dir)
	}
}

// grpc reads grpc-status and grpc-message from the response's last block.
func (c *Conn) grpc(s *Stream, f *Fields) {
	v, ok := f.Get("grpc-status")
	if !ok {
		return
	}
	n := 0
	for _, d := range v {
		if d < '0' || d > '9' || n > 1<<20 {
			return
		}
		n = n*10 + int(d-'0')
	}
	if len(v) == 0 {
		return
	}
	s.GRPCStatus = n
	m, _ := f.Get("grpc-message")
	s.GRPCMessage = percentDecode(s.GRPCMessage[:0], m)
}

// percentDecode decodes the grpc-message encoding (percent-encoded UTF-8);
// a malformed escape is kept as it is.
func percentDecode(dst, m []byte) []byte {
	unhex := func(b byte) (byte, bool) {
		switch {
		case b >= '0' && b <= '9':
			return b - '0', true
		case b >= 'a' && b <= 'f':
			return b - 'a' + 10, true
		case b >= 'A' && b <= 'F':
			return b - 'A' + 10, true
		}
		return 0, false
	}
	for i := 0; i < len(m); i++ {
		if m[i] == '%' && i+2 < len(m) {
			hi, ok1 := unhex(m[i+1])
			lo, ok2 := unhex(m[i+2])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 2
				continue
			}
		}
		dst = append(dst, m[i])
	}
	return dst
}

func (c *Conn) find(id uint32) *Stream {
	for i := len(c.open) - 1; i >= 0; i-- {
		if c.open[i].ID == id {
			return c.open[i]
		}
	}
	return nil
}

func (c *Conn) newStream(id uint32) *Stream {
	if len(c.open) >= c.lim.MaxStreams {
		c.stats.Evicted++
		c.end(c.open[0], EndEvicted)
	}
	var s *Stream
	if n := len(c.free); n > 0 {
		s = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
	} else {
		s = new(Stream)
	}
	s.reset(id)
	s.Late = c.late
	c.lastID[id&1] = max(c.lastID[id&1], id)
	c.seq++
	s.seq = c.seq
	c.open = append(c.open, s)
	return s
}

func (c *Conn) begin(s *Stream) {
	c.stats.Streams++
	c.h.Begin(s)
}

// endSide records END_STREAM of side dir; both ended completes s.
func (c *Conn) endSide(s *Stream, dir int) {
	s.Side(dir).Ended = true
	if s.Request.Ended && s.Response.Ended {
		c.end(s, EndStream)
	}
}

func (c *Conn) end(s *Stream, why EndReason) {
	i := 0
	for i < len(c.open) && c.open[i] != s {
		i++
	}
	if i == len(c.open) {
		return
	}
	copy(c.open[i:], c.open[i+1:])
	c.open[len(c.open)-1] = nil
	c.open = c.open[:len(c.open)-1]
	for d := range c.half {
		if c.half[d].stream == s {
			c.half[d].stream = nil
		}
	}
	s.End = why
	c.h.End(s)
	c.free = append(c.free, s)
}
