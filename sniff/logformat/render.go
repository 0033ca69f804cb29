package logformat

import (
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/lestrrat-go/strftime"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/tlshello"
)

// opKind is what an op prints.
type opKind uint8

const (
	opLiteral       opKind = iota // text
	opNothing                     // %- (never stored)
	opIP                          // side: request = source, response = dest
	opPort                        // likewise
	opName                        // %source.name, %dest.name (side as opIP)
	opContainer                   // %container
	opConnection                  // the annotation
	opDuration                    // sel: a dur… constant
	opTimestamp                   // sel: a ts… constant; tf
	opTimestamp2                  // sel: a ts… constant
	opOriginator                  // %close.originator
	opIndex                       // %session.requests
	opStreams                     // %streams
	opConnID                      // %connection.id
	opSize                        // Message.Size
	opMessage                     // Message.Bytes
	opHeaderBlock                 // %…header
	opBody                        // %…body
	opLine                        // %…line
	opLinePart                    // sel: the part of the first line
	opHeaderNamed                 // %…header.NAME; text: NAME
	opHeaderValue                 // %…header.value(NAME); text: NAME
	opGrep                        // re over the message
	opHeaderGrep                  // re over the header block
	opTLSSNI                      // %tls.sni
	opTLSVersion                  // %tls.version
	opTLSALPN                     // %tls.alpn
	opTLSRoundTrips               // %tls.round-trips
	opTruncated                   // %…truncated
	opStreamID                    // %stream.id
	opGRPCStatus                  // %grpc.status
	opGRPCMessage                 // %grpc.message
)

// side is the message an op reads.
type side uint8

const (
	request side = iota
	response
)

// The durations (spec.sel of opDuration).
const (
	durConnection uint8 = iota
	durIdle0
	durRequest
	durResponseBegin
	durResponseEnd
	durResponse
	durIdle1
	durClose
	durSession
)

// The times of the timestamps (spec.sel of opTimestamp, opTimestamp2).
const (
	tsSYN uint8 = iota
	tsClose
	tsRequest
	tsResponse
)

// op is one step of a Format.
type op struct {
	kind  opKind
	side  side
	sel   uint8
	hasNF bool   // nf replaces the not-found string
	nf    string // the keyword's own not-found string
	text  string // literal text, or a header name
	tf    *strftime.Strftime
	re    *regexp.Regexp
	// perSecond: tf prints nothing finer than seconds.
	perSecond bool
	// slot is where Append finds the value of a header look-up in its
	// scratch: see Format.keys. noSlot: findHeader looks it up alone.
	slot uint8
}

// noSlot is the op.slot of the ops that are not header look-ups resolved
// together.
const noSlot = 0xff

// scratch is what Append computes once per entry for several ops.
type scratch struct {
	resolved [2]bool // the header look-ups of a side were resolved
	found    uint    // bit slot: the header of Format.keys slot was found
	values   [maxLookups][]byte
}

// Append renders the entry e with the format and appends it to dst. It adds
// no newline. A nil o means the default options (not-found "-", Verbatim,
// local time). Append does not allocate when dst has room, but for the grep
// keywords.
func (f *Format) Append(dst []byte, e *entry.Entry, o *Options) []byte {
	if o == nil {
		d := defaultOptions
		o = &d
	}
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	if f.clf {
		return f.appendCLF(dst, e, o, loc)
	}
	var sc scratch
	for i := range f.ops {
		p := &f.ops[i]
		switch p.kind {
		case opLiteral:
			dst = append(dst, p.text...)

		case opIP:
			ap := e.Client
			if p.side == response {
				ap = e.Server
			}
			if !ap.Addr().IsValid() {
				dst = p.missing(dst, o)
				break
			}
			dst = appendAddr(dst, &o.addrs[p.side], ap.Addr())
		case opPort:
			ap := e.Client
			if p.side == response {
				ap = e.Server
			}
			if !ap.IsValid() {
				dst = p.missing(dst, o)
				break
			}
			dst = strconv.AppendUint(dst, uint64(ap.Port()), 10)

		case opName:
			name := e.SourceName
			if p.side == response {
				name = e.DestName
			}
			if name == "" {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, name, o.Encoding)
		case opContainer:
			if e.Container == "" {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, e.Container, o.Encoding)

		case opConnection:
			dst = append(dst, e.Annotation.String()...)
		case opDuration:
			from, to := durationBounds(e, p.sel)
			if from.IsZero() || to.IsZero() {
				dst = p.missing(dst, o)
				break
			}
			dst = appendSeconds(dst, to.UnixMicro()-from.UnixMicro())
		case opTimestamp:
			t := timestamp(e, p.sel)
			if t.IsZero() {
				dst = p.missing(dst, o)
				break
			}
			if p.perSecond {
				dst = appendStamp(dst, &o.stamps[i&1], p.tf, t, loc)
				break
			}
			dst = p.tf.FormatBuffer(dst, t.In(loc))
		case opTimestamp2:
			t := timestamp(e, p.sel)
			if t.IsZero() {
				dst = p.missing(dst, o)
				break
			}
			dst = appendUnixMicro(dst, t.UnixMicro())
		case opOriginator:
			if e.Originator == entry.None {
				dst = p.missing(dst, o)
				break
			}
			dst = append(dst, e.Originator.String()...)
		case opIndex:
			dst = strconv.AppendInt(dst, int64(e.Index), 10)
		case opStreams:
			dst = strconv.AppendInt(dst, int64(e.Streams), 10)
		case opConnID:
			if e.Conn == 0 {
				dst = p.missing(dst, o)
				break
			}
			dst = strconv.AppendUint(dst, e.Conn, 10)

		case opSize:
			dst = strconv.AppendInt(dst, message(e, p.side).Size, 10)
		case opTruncated:
			// What of the message the format prints was cut: its header
			// block (--max-header), or the body it keeps (--max-body).
			// Bodies that are not kept because nothing prints them are
			// not a truncation of the entry.
			m := message(e, p.side)
			switch {
			case m.HeadTruncated:
				dst = append(dst, "header"...)
			case m.BytesTruncated && f.needsBodies:
				dst = append(dst, "body"...)
			default:
				dst = p.missing(dst, o)
			}
		case opMessage, opHeaderBlock, opBody, opLine:
			if e.TLS != nil {
				// A TLS connection's entry holds no bytes: the
				// not-found value, not an empty message.
				dst = p.missing(dst, o)
				break
			}
			switch p.kind {
			case opMessage:
				dst = appendEncoded(dst, message(e, p.side).Bytes, o.Encoding)
			case opHeaderBlock:
				dst = appendEncoded(dst, headerText(message(e, p.side)), o.Encoding)
			case opBody:
				dst = appendEncoded(dst, body(message(e, p.side)), o.Encoding)
			default:
				dst = appendEncoded(dst, firstLine(message(e, p.side)), o.Encoding)
			}
		case opLinePart:
			m := message(e, p.side)
			var part []byte
			if m.HTTP {
				if m.HeadersIncomplete {
					part = exactPart(firstLine(m), p.sel, p.side)
				} else {
					part = linePart(headerBlock(m), p.sel, p.side)
				}
			}
			if len(part) == 0 {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, part, o.Encoding)
		case opHeaderNamed, opHeaderValue:
			m := message(e, p.side)
			v, ok := []byte(nil), false
			switch {
			case !m.HTTP:
			case p.slot != noSlot:
				if !sc.resolved[p.side] {
					sc.resolved[p.side] = true
					sc.found |= f.resolve(m, p.side, &sc.values)
				}
				v, ok = sc.values[p.slot], sc.found&(1<<p.slot) != 0
			default:
				v, ok = findHeader(m, p.text)
			}
			if !ok && m.HTTP {
				v, ok = authority(e, m, p.text)
			}
			if !ok {
				if p.kind == opHeaderNamed {
					dst = p.missing(dst, o)
				}
				break
			}
			dst = appendEncoded(dst, v, o.Encoding)
		case opGrep, opHeaderGrep:
			m := message(e, p.side)
			b := m.Bytes
			if p.kind == opHeaderGrep {
				b = headerBlock(m)
			}
			v, ok := grep(p.re, b)
			if !ok {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, v, o.Encoding)

		case opTLSSNI:
			if e.TLS != nil {
				if e.TLS.SNI == nil {
					dst = p.missing(dst, o)
					break
				}
				dst = appendEncoded(dst, e.TLS.SNI, o.Encoding)
				break
			}
			h, ok := tlshello.Parse(e.Request.Bytes)
			if !ok || h.SNI == nil {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, h.SNI, o.Encoding)
		case opTLSVersion:
			if e.TLS != nil {
				if e.TLS.Version == 0 {
					dst = p.missing(dst, o)
					break
				}
				dst = tlshello.AppendVersion(dst, e.TLS.Version)
				break
			}
			h, ok := tlshello.Parse(e.Request.Bytes)
			if !ok {
				dst = p.missing(dst, o)
				break
			}
			dst = tlshello.AppendVersion(dst, h.Version)
		case opTLSALPN:
			if e.TLS == nil || e.TLS.ALPN == nil {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, e.TLS.ALPN, o.Encoding)
		case opStreamID:
			if e.StreamID == 0 {
				dst = p.missing(dst, o)
				break
			}
			dst = strconv.AppendUint(dst, uint64(e.StreamID), 10)
		case opGRPCStatus:
			if !e.GRPC {
				dst = p.missing(dst, o)
				break
			}
			dst = strconv.AppendInt(dst, int64(e.GRPCStatus), 10)
		case opGRPCMessage:
			if !e.GRPC || e.GRPCMessage == nil {
				dst = p.missing(dst, o)
				break
			}
			dst = appendEncoded(dst, e.GRPCMessage, o.Encoding)
		case opTLSRoundTrips:
			if e.TLS == nil {
				dst = p.missing(dst, o)
				break
			}
			dst = strconv.AppendInt(dst, int64(e.TLS.RoundTrips), 10)
			if e.TLS.LowerBound {
				dst = append(dst, '+')
			}
		}
	}
	return dst
}

// clfOps is the shape of Default's ops, which isCLF recognises: the kind,
// side and selector of each.
var clfOps = [...]struct {
	kind opKind
	side side
	sel  uint8
}{
	{opIP, request, 0}, {opLiteral, 0, 0},
	{opTimestamp, request, tsRequest}, {opLiteral, 0, 0},
	{opLine, request, 0}, {opLiteral, 0, 0},
	{opLinePart, response, 1}, {opLiteral, 0, 0},
	{opHeaderNamed, response, 0}, {opLiteral, 0, 0},
	{opHeaderNamed, request, 0}, {opLiteral, 0, 0},
	{opHeaderNamed, request, 0}, {opLiteral, 0, 0},
}

// isCLF reports whether ops have the shape appendCLF renders: Default's,
// with a per-second timestamp and header look-ups resolved together
// (response first, then request).
func isCLF(ops []op) bool {
	if len(ops) != len(clfOps) {
		return false
	}
	for i, want := range clfOps {
		p := &ops[i]
		if p.kind != want.kind || p.kind != opLiteral && (p.side != want.side || p.sel != want.sel) {
			return false
		}
	}
	return ops[2].perSecond && ops[8].slot != noSlot && ops[10].slot != noSlot && ops[12].slot != noSlot
}

// appendCLF is Append for a format of Default's shape (isCLF): the steps
// of the generic loop for each op, in order, unrolled.
func (f *Format) appendCLF(dst []byte, e *entry.Entry, o *Options, loc *time.Location) []byte {
	ops := f.ops[:len(clfOps):len(clfOps)]
	if a := e.Client.Addr(); !a.IsValid() {
		dst = ops[0].missing(dst, o)
	} else if c := &o.addrs[request]; c.n > 0 && c.addr == a {
		dst = append(dst, c.buf[:c.n]...) // appendAddr's test, inlined
	} else {
		dst = formatAddr(dst, c, a)
	}
	dst = appendLit(dst, ops[1].text)
	if t := e.Request.Last; t.IsZero() {
		dst = ops[2].missing(dst, o)
	} else if c := &o.stamps[2&1]; c.n > 0 && c.tf == ops[2].tf && c.loc == loc && c.sec == t.Unix() {
		dst = append(dst, c.buf[:c.n]...) // appendStamp's test, inlined
	} else {
		dst = formatStamp(dst, c, ops[2].tf, t, loc)
	}
	dst = appendLit(dst, ops[3].text)
	if e.TLS != nil {
		dst = ops[4].missing(dst, o)
	} else {
		dst = appendText(dst, firstLine(&e.Request), o.Encoding)
	}
	dst = appendLit(dst, ops[5].text)
	resp, req := &e.Response, &e.Request
	var part []byte
	if resp.HTTP {
		// ops[6] is %response.code (isCLF): statusCode first, as linePart.
		b := headerBlock(resp)
		var ok bool
		if part, ok = statusCode(b); !ok {
			part = linePart(b, ops[6].sel, response)
		}
	}
	if len(part) == 0 {
		dst = ops[6].missing(dst, o)
	} else {
		dst = appendText(dst, part, o.Encoding)
	}
	dst = appendLit(dst, ops[7].text)
	// The look-ups (resolve) and their values or not-found strings,
	// inlined: calls cost more than a short value's copy.
	var values [maxLookups][]byte
	var found uint
	if resp.HTTP {
		if resp.HasFields {
			found = lookupFields(resp.Bytes, resp.Fields, &f.keys[response], &values)
		} else {
			found = f.resolve(resp, response, &values)
		}
	}
	if p := &ops[8]; resp.HTTP && found&(1<<p.slot) != 0 {
		dst = appendText(dst, values[p.slot&(maxLookups-1)], o.Encoding)
	} else {
		dst = p.missing(dst, o)
	}
	dst = appendLit(dst, ops[9].text)
	if req.HTTP {
		if req.HasFields {
			found |= lookupFields(req.Bytes, req.Fields, &f.keys[request], &values)
		} else {
			found |= f.resolve(req, request, &values)
		}
	}
	if p := &ops[10]; req.HTTP && found&(1<<p.slot) != 0 {
		dst = appendText(dst, values[p.slot&(maxLookups-1)], o.Encoding)
	} else {
		dst = p.missing(dst, o)
	}
	dst = appendLit(dst, ops[11].text)
	if p := &ops[12]; req.HTTP && found&(1<<p.slot) != 0 {
		dst = appendText(dst, values[p.slot&(maxLookups-1)], o.Encoding)
	} else {
		dst = p.missing(dst, o)
	}
	return appendLit(dst, ops[13].text)
}

// appendLit appends s, of a few bytes as bytes: the call to copy them
// costs more than their appends.
func appendLit(dst []byte, s string) []byte {
	switch len(s) {
	case 0:
		return dst
	case 1:
		return append(dst, s[0])
	case 2:
		return append(dst, s[0], s[1])
	case 3:
		return append(dst, s[0], s[1], s[2])
	}
	return append(dst, s...)
}

// appendText is appendEncoded for bytes, with the common case inlined: the
// call to the generic function costs more than the copy of a short value.
func appendText(dst, b []byte, enc Encoding) []byte {
	if enc == Verbatim {
		return append(dst, b...)
	}
	return appendEncoded(dst, b, enc)
}

// resolve finds the values of the header look-ups of a side in m (an HTTP
// message) in one pass over its fields (lookupFields).
func (f *Format) resolve(m *entry.Message, s side, values *[maxLookups][]byte) (found uint) {
	ks := &f.keys[s]
	if len(ks.keys) == 0 {
		return 0
	}
	if !m.HasFields {
		var buf [fieldBuf]entry.Field
		return lookupFields(m.Bytes, m.HeaderFields(buf[:]), ks, values)
	}
	return lookupFields(m.Bytes, m.Fields, ks, values)
}

// missing appends the not-found value of the op.
func (p *op) missing(dst []byte, o *Options) []byte {
	if p.hasNF {
		return appendLit(dst, p.nf)
	}
	return append(dst, o.NotFound...)
}

func message(e *entry.Entry, s side) *entry.Message {
	if s == response {
		return &e.Response
	}
	return &e.Request
}

// durationBounds returns the start and end of a duration; a zero time means
// it is missing.
func durationBounds(e *entry.Entry, d uint8) (from, to time.Time) {
	var zero time.Time
	req, resp := &e.Request, &e.Response
	switch d {
	case durConnection:
		return e.SYN, e.HandshakeDone
	case durIdle0:
		return e.HandshakeDone, req.First
	case durRequest:
		return req.First, req.Last
	case durResponseBegin:
		if req.Last.IsZero() {
			return zero, zero
		}
		return req.Last, resp.First
	case durResponseEnd:
		return resp.First, resp.Last
	case durResponse:
		if req.Last.IsZero() {
			return zero, zero
		}
		return req.Last, resp.Last
	case durIdle1:
		if resp.Last.IsZero() {
			return zero, zero
		}
		return resp.Last, e.Flushed
	case durClose:
		if !e.Annotation.Final() {
			return zero, zero
		}
		if last := e.LastEvent(); !last.IsZero() {
			return last, e.Close
		}
		// No payload: from the handshake, as justniffer counts it (a
		// refused connection has none, and no close time).
		return e.HandshakeDone, e.Close
	case durSession:
		end := e.LastEvent()
		if e.Annotation.Final() && !e.Close.IsZero() {
			end = e.Close
		}
		return e.ConnStart, end
	}
	return zero, zero
}

// timestamp returns the time a timestamp keyword prints; zero if missing.
func timestamp(e *entry.Entry, ts uint8) time.Time {
	switch ts {
	case tsSYN:
		return e.SYN
	case tsClose:
		return e.Close
	case tsRequest:
		return e.Request.Last
	case tsResponse:
		return e.Response.Last
	}
	return time.Time{}
}

// appendSeconds appends a duration in microseconds as seconds with six
// decimals; a negative duration prints as 0.000000.
func appendSeconds(dst []byte, us int64) []byte {
	if us < 0 {
		us = 0
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	return appendPadded(dst, us%1e6, 6)
}

// appendUnixMicro appends microseconds since the epoch as seconds, '.', and
// six zero-padded digits.
func appendUnixMicro(dst []byte, us int64) []byte {
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	dst = strconv.AppendInt(dst, sec, 10)
	dst = append(dst, '.')
	return appendPadded(dst, frac, 6)
}

// appendPadded appends 0 <= v < 10^width in width digits.
func appendPadded(dst []byte, v int64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for ; width > 0 || v > 0; width-- {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[i:]...)
}

// appendStamp renders t with tf through a one-entry cache keyed by the
// second: under load most entries share their second with the previous one,
// and strftime is the costliest part of the default format.
func appendStamp(dst []byte, c *stampCache, tf *strftime.Strftime, t time.Time, loc *time.Location) []byte {
	if c.n > 0 && c.tf == tf && c.loc == loc && c.sec == t.Unix() {
		return append(dst, c.buf[:c.n]...)
	}
	return formatStamp(dst, c, tf, t, loc)
}

// formatStamp is appendStamp when the cache does not hold t's second: it
// renders t and caches the text. (appendCLF tests the cache itself.)
func formatStamp(dst []byte, c *stampCache, tf *strftime.Strftime, t time.Time, loc *time.Location) []byte {
	sec := t.Unix()
	start := len(dst)
	dst = tf.FormatBuffer(dst, t.In(loc))
	if n := len(dst) - start; n <= len(c.buf) {
		c.tf, c.loc, c.sec, c.n = tf, loc, sec, n
		copy(c.buf[:], dst[start:])
	} else {
		c.n = 0
	}
	return dst
}

// appendAddr appends the text of a through a one-entry cache: the entries
// of a connection, and often of many, share their addresses.
func appendAddr(dst []byte, c *addrCache, a netip.Addr) []byte {
	if c.n > 0 && c.addr == a {
		return append(dst, c.buf[:c.n]...)
	}
	return formatAddr(dst, c, a)
}

// formatAddr is appendAddr when the cache does not hold a: it renders a and
// caches the text. (appendCLF tests the cache itself.)
func formatAddr(dst []byte, c *addrCache, a netip.Addr) []byte {
	start := len(dst)
	dst = a.AppendTo(dst)
	if n := len(dst) - start; n <= len(c.buf) {
		c.addr, c.n = a, n
		copy(c.buf[:], dst[start:])
	} else {
		c.n = 0
	}
	return dst
}

// appendMicroseconds is the strftime %f: six-digit zero-padded microseconds.
func appendMicroseconds(dst []byte, t time.Time) []byte {
	return appendPadded(dst, int64(t.Nanosecond()/1e3), 6)
}

// appendUnixSeconds is the strftime %s: seconds since the epoch.
func appendUnixSeconds(dst []byte, t time.Time) []byte {
	return strconv.AppendInt(dst, t.Unix(), 10)
}

// grep returns the last capture group that took part in the first match of
// re in b, or the whole match if there is none. An empty b (no message)
// matches nothing.
func grep(re *regexp.Regexp, b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false // no message: nothing to search
	}
	m := re.FindSubmatchIndex(b)
	if m == nil {
		return nil, false
	}
	for g := len(m)/2 - 1; g > 0; g-- {
		if m[2*g] >= 0 {
			return b[m[2*g]:m[2*g+1]], true
		}
	}
	return b[m[0]:m[1]], true
}
