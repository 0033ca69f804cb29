package h2conn

import (
	"slices"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/ascii"
)

// EndReason says why a stream was completed.
type EndReason uint8

const (
	// EndStream: END_STREAM was seen both ways.
	EndStream EndReason = iota + 1
	// EndReset: a RST_STREAM ended it (Stream.ResetCode, Stream.ResetDir).
	EndReset
	// EndGoAway: a GOAWAY said the stream was not processed (its id was
	// above the GOAWAY's last stream id).
	EndGoAway
	// EndEvicted: MaxStreams streams were open and a new one began; the
	// oldest was completed to make room.
	EndEvicted
	// EndClose: the connection ended (Conn.Close) with the stream open.
	EndClose
)

func (r EndReason) String() string {
	switch r {
	case EndStream:
		return "end-stream"
	case EndReset:
		return "reset"
	case EndGoAway:
		return "goaway"
	case EndEvicted:
		return "evicted"
	case EndClose:
		return "close"
	}
	return "open"
}

type span struct {
	nameOff, nameLen, valOff, valLen int32
	unknown                          bool
	// plain: the line is "name: value" as entry.LineField splits it
	// (splitsAsLine).
	plain bool
}

// Fields is a decoded header list (or trailer list) in the order received,
// pseudo-header fields included. Names and values live in one buffer owned
// by the stream: they are valid until the Handler's End returns.
type Fields struct {
	// buf holds every field as its rendered line, "name: value\r\n", so
	// that AppendSide copies runs of lines at once; a field left out of
	// the rendering (unknown, its name empty) holds its value only.
	buf   []byte
	spans []span
	size  int // RFC 9113 header list size: name+value+32 per field
	// hidden counts the bytes of buf left out of the rendering, in
	// skipped fields.
	hidden, skipped int
	// first holds 1 + the index of the first known field of each pseudo
	// name (0: none), what Get of that name finds.
	first [nPseudo]int32
}

func (f *Fields) reset() {
	f.buf = f.buf[:0]
	f.spans = f.spans[:0]
	f.size = 0
	f.hidden = 0
	f.skipped = 0
	f.first = [nPseudo]int32{}
}

// pseudo returns Get of the name of p.
func (f *Fields) pseudo(p pseudo) ([]byte, bool) {
	i := f.first[p-1] - 1
	if i < 0 {
		return nil, false
	}
	s := &f.spans[i]
	return f.buf[s.valOff : s.valOff+s.valLen], true
}

// note records that the field just added, of pseudo name p, is the first
// of that name if no other was.
func (f *Fields) note(p pseudo) {
	if p != notPseudo && f.first[p-1] == 0 {
		f.first[p-1] = int32(len(f.spans))
	}
}

// Len returns the number of fields.
func (f *Fields) Len() int { return len(f.spans) }

// At returns field i. unknown is set when the field referenced an entry of
// the HPACK dynamic table that was never seen (a pickup, a gap): its name
// (and value) are then empty when unknown, or only its value is known.
func (f *Fields) At(i int) (name, value []byte, unknown bool) {
	s := f.spans[i]
	return f.buf[s.nameOff : s.nameOff+s.nameLen], f.buf[s.valOff : s.valOff+s.valLen], s.unknown
}

// Get returns the value of the first field named name (ASCII
// case-insensitively: HTTP/2 names are lower case on the wire, a lookup
// need not be), and whether there is one.
func (f *Fields) Get(name string) ([]byte, bool) {
	for _, s := range f.spans {
		if int(s.nameLen) == len(name) && !s.unknown && ascii.EqualFold(f.buf[s.nameOff:s.nameOff+s.nameLen], name) {
			return f.buf[s.valOff : s.valOff+s.valLen], true
		}
	}
	return nil, false
}

// skipped reports whether a field is left out of the rendering: its name
// is not known.
func (s *span) skipped() bool { return s.unknown && s.nameLen == 0 }

func (f *Fields) add(fd *field) {
	if fd.line != nil {
		f.addLine(fd.line, len(fd.name), fd.plain)
		f.note(fd.pseudo)
		return
	}
	// A field of unknown name (the decoder renders a line for every other):
	// its value is kept, and left out of the rendering.
	no := len(f.buf)
	f.buf = append(f.buf, fd.value...)
	f.hidden += len(fd.value)
	f.skipped++
	// The span is filled in place: a span built aside and copied in is
	// read back wider than it was written (a store-forwarding stall).
	f.spans = append(f.spans, span{})
	sp := &f.spans[len(f.spans)-1]
	sp.nameOff, sp.valOff, sp.valLen, sp.unknown = int32(no), int32(no), int32(len(fd.value)), true
}

// addLine adds a known field of the line "name: value\r\n", name its
// first nlen bytes; plain is splitsAsLine of its name and value. The
// caller notes the field's pseudo name (note): addLine is small enough to
// be inlined.
func (f *Fields) addLine(line []byte, nlen int, plain bool) {
	no := len(f.buf)
	f.buf = append(f.buf, line...)
	f.spans = append(f.spans, span{})
	sp := &f.spans[len(f.spans)-1]
	sp.nameOff, sp.nameLen, sp.valOff, sp.valLen, sp.plain = int32(no), int32(nlen), int32(no+nlen+2), int32(len(line)-nlen-4), plain
}

// Side is one direction of a stream: the request (client to server) or
// the response.
type Side struct {
	// Headers are the header fields, pseudo-headers first as sent;
	// Trailers the trailing header block, if any.
	Headers, Trailers Fields
	// Body holds the first Limits.MaxBody bytes of the DATA payloads
	// (padding excluded); BodySize counts them all.
	Body     []byte
	BodySize int64
	// Size counts the bytes of every frame of this stream in this
	// direction, their 9-byte headers and padding included.
	Size int64
	// First and Last are the capture times of the first and last frame.
	First, Last time.Time
	// Ended is set when END_STREAM was seen.
	Ended bool
	// HeadersIncomplete is set when a header block could not be fully
	// decoded: it referenced HPACK dynamic table entries never seen (a
	// pickup or a gap), it was larger than Limits.MaxHeaderBlock, it was
	// malformed, or part of it was lost in a gap.
	HeadersIncomplete bool
	// Truncated is set when the header list exceeded Limits.MaxHeaderList:
	// the fields past it were decoded (the HPACK state needs it) but not
	// kept.
	Truncated bool
	// Gap is set when bytes of this direction were lost while the stream
	// was open.
	Gap bool
	// Informational counts the 1xx responses before the final one (not
	// kept).
	Informational int
	hasHeaders    bool
}

func (s *Side) reset() {
	s.Headers.reset()
	s.Trailers.reset()
	s.Body = s.Body[:0]
	s.BodySize, s.Size = 0, 0
	s.First, s.Last = time.Time{}, time.Time{}
	s.Ended, s.HeadersIncomplete, s.Truncated, s.Gap = false, false, false, false
	s.Informational = 0
	s.hasHeaders = false
}

// HasHeaders reports whether a header block was seen for this side.
func (s *Side) HasHeaders() bool { return s.hasHeaders }

// Pseudo returns the value of the pseudo-header name (":method", ":path",
// ":status", ...) of the headers.
func (s *Side) Pseudo(name string) ([]byte, bool) { return s.Headers.Get(name) }

func (s *Side) touch(ts time.Time, n int64) {
	if s.First.IsZero() {
		s.First = ts
	}
	s.Last = ts
	s.Size += n
}

// Stream is one HTTP/2 stream: a request and its response. A Stream is
// handed to the Handler and reused after the Handler's End returns: what
// must outlive the call must be copied (AppendHead does).
type Stream struct {
	// ID is the stream id (1 to 2^31-1).
	ID uint32
	// Request and Response are the two sides.
	Request, Response Side
	// End says why the stream was completed (set before Handler.End).
	End EndReason
	// ResetCode is the RST_STREAM error code, ResetDir the direction of
	// the RST_STREAM (0 client to server, 1 server to client), when End
	// is EndReset.
	ResetCode uint32
	ResetDir  int
	// Late is set when the stream began after the decoder started in the
	// middle of the connection or after a gap: the HPACK state was not
	// (entirely) known, so headers may be incomplete (see
	// Side.HeadersIncomplete) and the stream's start may have been missed
	// (a stream whose request came before the pickup has no request side).
	Late bool
	// Upgraded is set on stream 1 of a connection upgraded from HTTP/1.1
	// (StartUpgrade): its request is the HTTP/1.1 request, not on this
	// stream.
	Upgraded bool
	// Pushed is set on a server-pushed stream: its request headers came in
	// a PUSH_PROMISE.
	Pushed bool
	// GRPCStatus is the grpc-status of the response trailers (or of a
	// Trailers-Only response), -1 when there is none; GRPCMessage is its
	// grpc-message, percent-decoded.
	GRPCStatus  int
	GRPCMessage []byte
	seq         uint64
}

func (s *Stream) reset(id uint32) {
	s.ID = id
	s.Request.reset()
	s.Response.reset()
	s.End = 0
	s.ResetCode, s.ResetDir = 0, 0
	s.Late, s.Upgraded, s.Pushed = false, false, false
	s.GRPCStatus = -1
	s.GRPCMessage = s.GRPCMessage[:0]
}

// Side returns the side of direction dir (0 request, 1 response).
func (s *Stream) Side(dir int) *Side {
	if dir == 0 {
		return &s.Request
	}
	return &s.Response
}

// Proto is the protocol name in the rendered lines.
const Proto = "HTTP/2.0"

// AppendHead renders side dir (0 request, 1 response) of s as an
// HTTP/1-style message appended to dst, and the fields of its head's lines
// appended to fields, located in the returned buffer (offsets from its
// start, dst's bytes included), as entry.Message.Fields holds them:
//
//	GET /path HTTP/2.0\r\n          (request: :method :path, or :authority for CONNECT)
//	HTTP/2.0 200\r\n                (response: :status; HTTP/2 has no reason phrase)
//	:authority: example.com\r\n     (every field as received, pseudo-headers
//	user-agent: x\r\n                included, so that they can be looked up by name)
//	\r\n
//	body (the bytes kept)
//	grpc-status: 0\r\n              (trailers, if any, as lines after the body)
//
// A field whose line entry.LineField splits as it was received is handed
// on as its line (Name.Len < 0, see entry.Message.Fields), any other (a
// blank around its value, a colon in its name) split. The trailers' lines
// have no fields. Unknown fields (dynamic table entries never seen) are
// left out: their names are not known. A side without headers renders
// nothing. Looking up "host" should fall back to ":authority": HTTP/2
// clients send the latter. headerLen is the length of the head appended,
// from its first line through the blank line (entry.Message.HeaderLen), 0
// when nothing was appended.
func AppendHead(dst []byte, fields []entry.Field, s *Stream, dir int) (out []byte, outFields []entry.Field, headerLen int) {
	return AppendSide(dst, fields, s.Side(dir), dir == 0)
}

// AppendSide is AppendHead for one side, rendered as a request (request
// line) or a response (status line) as request says: a connection picked
// up in the middle may have its ends the other way round from the
// directions the decoder was fed.
func AppendSide(dst []byte, fields []entry.Field, sd *Side, request bool) (out []byte, outFields []entry.Field, headerLen int) {
	if !sd.hasHeaders {
		return dst, fields, 0
	}
	start := len(dst)
	dst, fields = AppendSideHead(dst, fields, sd, request)
	headerLen = len(dst) - start
	return AppendSideRest(dst, sd), fields, headerLen
}

// AppendSideHead is the head AppendSide renders, through its blank line
// (nothing when the side has no headers): what a caller that keeps the
// head and the rest of the message within separate bounds renders first.
func AppendSideHead(dst []byte, fields []entry.Field, sd *Side, request bool) ([]byte, []entry.Field) {
	if !sd.hasHeaders {
		return dst, fields
	}
	a, b := sd.firstLine(request)
	return appendSideHead(dst, fields, sd, request, a, b)
}

// AppendSideHeadWithin is AppendSideHead when the head is at most limit
// bytes long and dst has the capacity for it (it is appended without
// growing dst); it reports false, having appended nothing, when not.
func AppendSideHeadWithin(dst []byte, fields []entry.Field, sd *Side, request bool, limit int) ([]byte, []entry.Field, bool) {
	if !sd.hasHeaders {
		return dst, fields, true
	}
	a, b := sd.firstLine(request)
	n := len(a) + len(b) + len(sd.Headers.buf) - sd.Headers.hidden + len(Proto) + 6 // + 1 + 1 + 2 + 2 (blanks, line ends)
	if !request {
		n-- // one blank in the status line
	}
	if n > limit || len(dst)+n > cap(dst) {
		return dst, fields, false
	}
	dst, fields = appendSideHead(dst, fields, sd, request, a, b)
	return dst, fields, true
}

// firstLine returns the values of the head's first line: :method and
// :path (:authority for a CONNECT without :path) of a request, :status of
// a response (b nil).
func (sd *Side) firstLine(request bool) (a, b []byte) {
	f := &sd.Headers
	if !request {
		st, _ := f.pseudo(pseudoStatus)
		return st, nil
	}
	m, _ := f.pseudo(pseudoMethod)
	p, ok := f.pseudo(pseudoPath)
	if !ok && string(m) == "CONNECT" {
		p, _ = f.pseudo(pseudoAuthority)
	}
	return m, p
}

func appendSideHead(dst []byte, fields []entry.Field, sd *Side, request bool, a, b []byte) ([]byte, []entry.Field) {
	if request {
		dst = append(dst, a...)
		dst = append(dst, ' ')
		dst = append(dst, b...)
		dst = append(dst, ' ')
		dst = append(dst, Proto...)
	} else {
		dst = append(dst, Proto...)
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	dst = append(dst, "\r\n"...)
	dst, fields = appendLines(dst, fields, &sd.Headers, true)
	return append(dst, "\r\n"...), fields
}

// AppendSideRest is what AppendSide renders after the head: the body kept
// and the trailers' lines.
func AppendSideRest(dst []byte, sd *Side) []byte {
	if !sd.hasHeaders || len(sd.Body) == 0 && len(sd.Trailers.buf) == 0 {
		return dst
	}
	dst = append(dst, sd.Body...)
	dst, _ = appendLines(dst, nil, &sd.Trailers, false)
	return dst
}

// appendLines appends f's lines to dst and, when want is set, their fields
// to fields.
func appendLines(dst []byte, fields []entry.Field, f *Fields, want bool) ([]byte, []entry.Field) {
	if f.skipped == 0 {
		// The usual list: every field rendered, f.buf copied whole.
		shift := int32(len(dst))
		dst = append(dst, f.buf...)
		if !want {
			return dst, fields
		}
		n := len(fields)
		fields = slices.Grow(fields, len(f.spans))[:n+len(f.spans)]
		out := fields[n:]
		for i := range out {
			lineField(&out[i], &f.spans[i], shift)
		}
		return dst, fields
	}
	// The lines are in f.buf as rendered: runs of them are copied at once,
	// the fields located by the run's offset.
	run := 0 // start in f.buf of the run not yet copied
	for i := range f.spans {
		s := &f.spans[i]
		if s.skipped() {
			dst = append(dst, f.buf[run:s.nameOff]...)
			run = int(s.valOff + s.valLen)
			continue
		}
		if !want {
			continue
		}
		// f.buf[x] lands at dst[x+shift] once the run is copied.
		fields = append(fields, entry.Field{})
		lineField(&fields[len(fields)-1], s, int32(len(dst)-run))
	}
	dst = append(dst, f.buf[run:]...)
	return dst, fields
}

// lineField sets fd to the field of s, its line unsplit when plain, at
// shift bytes past where s locates it.
func lineField(fd *entry.Field, s *span, shift int32) {
	if s.plain {
		fd.Name = entry.Span{Off: shift + s.nameOff, Len: -1}
		fd.Value = entry.Span{Off: shift + s.nameOff, Len: s.valOff + s.valLen - s.nameOff}
	} else {
		fd.Name = entry.Span{Off: shift + s.nameOff, Len: s.nameLen}
		fd.Value = entry.Span{Off: shift + s.valOff, Len: s.valLen}
	}
}
