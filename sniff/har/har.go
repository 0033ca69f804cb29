// Package har writes log entries as an HTTP Archive (HAR 1.2,
// http://www.softwareishard.com/blog/har-12-spec/), the file browsers'
// developer tools open: Chrome and Firefox show each exchange with its
// Connection ID column and its waterfall.
//
// # Writing incrementally
//
// A Writer writes the log's head at once, then each entry as it comes
// (after a comma from the second on), and the closing brackets at Close:
// a capture stopped by a signal still ends with a valid file, as long as
// Close runs. Entries are in the order they are given, which is not
// always the order of their startedDateTime (an entry is printed once its
// place in its connection is known); the spec only prefers that order.
//
// # What an entry holds
//
// Only exchanges whose request is HTTP are written: raw exchanges (bytes
// after an upgrade, TLS without HTTP, other protocols) have no method or
// URL, and are counted (Writer.Skipped) and named in log.comment.
//
//	startedDateTime  the SYN on a connection's first entry when the handshake
//	                 was captured, else the request's first packet; RFC 3339
//	                 with milliseconds (JavaScript's Date precision)
//	time             the sum of the timings that are not -1 (milliseconds)
//	request.url      absolute: http://, the Host header (or the server address
//	                 when it is missing or not a valid authority), the request
//	                 target; bytes a URL cannot hold are percent-encoded. An
//	                 absolute-form target (a proxy's) is kept as it is.
//	httpVersion      the protocol of the first line (HTTP/1.1)
//	headers          in order, as %…header.NAME reads them
//	cookies          the name=value pairs of Cookie headers (request) and of
//	                 Set-Cookie headers (response); pairs without '=' (a
//	                 value --redact replaced) are left out
//	queryString      the target's query, split at '&' and the first '=', not
//	                 decoded
//	headersSize      the header block, through its blank line; -1 when it was
//	                 not captured whole
//	bodySize         the bytes after it on the wire (chunked framing
//	                 included); -1 when the header block is not known
//	content.size     the body's size on the wire (compression is not undone)
//	content.mimeType the Content-Type header, "x-unknown" without one
//	redirectURL      the Location header, or ""
//	timings          blocked and dns -1 (the wire cannot show them), ssl -1;
//	                 connect the handshake (SYN to the client's ACK) on a
//	                 connection's first entry, -1 on the others; send from
//	                 then (or the request's first packet) to its last one;
//	                 wait to the response's first packet; receive to its last
//	serverIPAddress  the server's address
//	connection       the connection's number (Entry.Conn), as a string
//	_connectionId    the same: Chrome's Connection ID column reads it (Chrome
//	                 and Firefox show connection as the server's port)
//	_annotation      sniffer's %connection: start, continue, last, unique, open
//	_error           "no response captured" on an entry without a response,
//	                 "the response is not HTTP" when the server answered
//	                 something else: the response has status 0 and sizes -1
//	_container       the container the entry was captured in, when
//	                 Options.Container names one
//
// Times are in milliseconds with three decimals (microseconds), never
// negative: each phase starts where the one before it ended.
package har

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/ascii"
	"github.com/sniffer/sniffer/sniff/jsonlog"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// Options tune a Writer.
type Options struct {
	// Location is the zone of startedDateTime; nil means UTC.
	Location *time.Location
	// Version is sniffer's version, written in log.creator.
	Version string
	// Container is the hook for the _container field that names the
	// container an entry was captured in (sniffer attach sets it to
	// return entry.Entry.Container); when it is set and returns a
	// non-empty string, the entry gets "_container": that string.
	Container func(e *entry.Entry) string
}

// Writer writes a HAR log incrementally. It is not safe for concurrent
// use. Write errors are sticky: the first one is returned by Flush and
// Close.
type Writer struct {
	w       *bufio.Writer
	o       Options
	buf     []byte
	entries int
	skipped int
	closed  bool
	err     error
}

// NewWriter starts a HAR log on w: the log's head is buffered at once
// (Flush writes it out).
func NewWriter(w io.Writer, o Options) *Writer {
	hw := &Writer{w: bufio.NewWriterSize(w, 64<<10), o: o}
	if hw.o.Location == nil {
		hw.o.Location = time.UTC
	}
	b := append(hw.buf[:0], `{"log":{"version":"1.2","creator":{"name":"sniffer","version":`...)
	v := o.Version
	if v == "" {
		v = "dev"
	}
	b = jsonlog.AppendString(b, []byte(v))
	b = append(b, `},"pages":[],"entries":[`...)
	hw.buf = b
	hw.write(b)
	return hw
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = err
	}
}

// Add writes e as the log's next entry, or counts it as skipped when its
// request is not HTTP. It does not allocate once its buffer has grown to
// the largest entry.
func (w *Writer) Add(e *entry.Entry) {
	if w.closed {
		return
	}
	b := w.buf[:0]
	if w.entries > 0 {
		b = append(b, ',')
	}
	b = append(b, '\n')
	b, ok := AppendEntry(b, e, &w.o)
	w.buf = b
	if !ok {
		w.skipped++
		return
	}
	w.entries++
	w.write(b)
}

// Entries returns the number of entries written.
func (w *Writer) Entries() int { return w.entries }

// Skipped returns the number of entries left out because their request
// is not HTTP.
func (w *Writer) Skipped() int { return w.skipped }

// Buffered reports whether bytes wait to be written (for a caller that
// flushes on a timer).
func (w *Writer) Buffered() bool { return w.w.Buffered() > 0 }

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Close ends the log (the closing brackets, and a comment counting the
// entries left out) and flushes it. It does not close the underlying
// writer. Later calls only return the error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	b := append(w.buf[:0], "\n]"...)
	if w.skipped > 0 {
		b = append(b, `,"comment":"`...)
		b = strconv.AppendInt(b, int64(w.skipped), 10)
		b = append(b, ` exchanges that are not HTTP (raw, TLS, other protocols) are left out"`...)
	}
	b = append(b, "}}\n"...)
	w.buf = b
	w.write(b)
	return w.Flush()
}

// AppendEntry appends e as one HAR entry object to dst. It returns dst
// unchanged and false when e's request is not HTTP (it has no HAR entry).
// A nil o means the default options.
func AppendEntry(dst []byte, e *entry.Entry, o *Options) ([]byte, bool) {
	req, resp := &e.Request, &e.Response
	if !req.HTTP {
		return dst, false
	}
	var def Options
	if o == nil {
		o = &def
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	// A response that is not HTTP (the server answered something else)
	// still has its times; its HTTP fields are those of no response.
	hasResp := !resp.First.IsZero()

	// The phases, each from where the one before ended, as offsets from
	// start (time.Time.Sub saturates: hostile timestamps cannot overflow).
	start := req.First
	if start.IsZero() {
		start = e.LastEvent()
	}
	connect := !e.SYN.IsZero() && !e.HandshakeDone.IsZero() && !e.SYN.After(start)
	if connect {
		start = e.SYN
	}
	var t1 int64
	if connect {
		t1 = offset(0, start, e.HandshakeDone)
	}
	t2 := offset(t1, start, req.Last)
	t3, t4 := t2, t2
	if hasResp {
		t3 = offset(t2, start, resp.First)
		t4 = offset(t3, start, resp.Last)
	}

	dst = append(dst, `{"startedDateTime":"`...)
	dst = appendDate(dst, start, loc)
	dst = append(dst, `","time":`...)
	dst = appendMillis(dst, t4)
	dst = append(dst, `,"request":`...)
	dst = appendRequest(dst, e)
	dst = append(dst, `,"response":`...)
	dst = appendResponse(dst, resp, resp.HTTP)
	dst = append(dst, `,"cache":{},"timings":{"blocked":-1,"dns":-1,"connect":`...)
	if connect {
		dst = appendMillis(dst, t1)
	} else {
		dst = append(dst, "-1"...)
	}
	dst = append(dst, `,"ssl":-1,"send":`...)
	dst = appendMillis(dst, t2-t1)
	dst = append(dst, `,"wait":`...)
	dst = appendMillis(dst, t3-t2)
	dst = append(dst, `,"receive":`...)
	dst = appendMillis(dst, t4-t3)
	dst = append(dst, '}')
	if a := e.Server.Addr(); a.IsValid() {
		dst = append(dst, `,"serverIPAddress":"`...)
		dst = a.Unmap().AppendTo(dst)
		dst = append(dst, '"')
	}
	// connection is the HAR spec's; Chrome's Connection ID column reads
	// _connectionId.
	for _, key := range [...]string{`,"connection":"`, `","_connectionId":"`} {
		dst = append(dst, key...)
		dst = strconv.AppendUint(dst, e.Conn, 10)
	}
	dst = append(dst, `","_annotation":"`...)
	dst = append(dst, e.Annotation.String()...)
	dst = append(dst, '"')
	switch {
	case !hasResp && resp.Size == 0:
		dst = append(dst, `,"_error":"no response captured"`...)
	case !resp.HTTP:
		dst = append(dst, `,"_error":"the response is not HTTP"`...)
	}
	if o.Container != nil {
		if c := o.Container(e); c != "" {
			dst = append(dst, `,"_container":`...)
			dst = jsonlog.AppendString(dst, []byte(c))
		}
	}
	return append(dst, '}'), true
}

// offset returns the microseconds from start to t, or from when t is zero
// or earlier.
func offset(from int64, start, t time.Time) int64 {
	if t.IsZero() {
		return from
	}
	if us := t.Sub(start).Microseconds(); us > from {
		return us
	}
	return from
}

// Bounds of the dates RFC 3339 (four-digit years) can write.
var (
	minDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// appendDate appends t in RFC 3339 with milliseconds, clamped to the years
// RFC 3339 can write (a hostile capture's timestamps can be anything; one
// date a browser cannot read would make it reject the whole file).
func appendDate(dst []byte, t time.Time, loc *time.Location) []byte {
	switch {
	case t.Before(minDate):
		t, loc = minDate, time.UTC
	case t.After(maxDate):
		t, loc = maxDate, time.UTC
	}
	return t.In(loc).AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
}

// appendMillis appends microseconds as milliseconds with three decimals.
func appendMillis(dst []byte, us int64) []byte {
	if us < 0 {
		us = 0
	}
	dst = strconv.AppendInt(dst, us/1000, 10)
	f := us % 1000
	return append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

func appendRequest(dst []byte, e *entry.Entry) []byte {
	m := &e.Request
	method, target, proto := logformat.LineParts(m, false)
	dst = append(dst, `{"method":`...)
	dst = jsonlog.AppendString(dst, method)
	dst = append(dst, `,"url":"`...)
	dst = appendURL(dst, e, method, target)
	dst = append(dst, `","httpVersion":`...)
	dst = jsonlog.AppendString(dst, proto)
	dst = appendCookies(dst, m, false)
	dst = appendHeaders(dst, m)
	dst = append(dst, `,"queryString":[`...)
	dst = appendQuery(dst, target)
	dst = append(dst, ']')
	dst = appendSizes(dst, m)
	return append(dst, '}')
}

func appendResponse(dst []byte, m *entry.Message, http bool) []byte {
	if !http {
		return append(dst, `{"status":0,"statusText":"","httpVersion":"","cookies":[],"headers":[],`+
			`"content":{"size":0,"mimeType":"x-unknown"},"redirectURL":"","headersSize":-1,"bodySize":-1}`...)
	}
	proto, code, reason := logformat.LineParts(m, true)
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(parseCode(code)), 10)
	dst = append(dst, `,"statusText":`...)
	dst = jsonlog.AppendString(dst, reason)
	dst = append(dst, `,"httpVersion":`...)
	dst = jsonlog.AppendString(dst, proto)
	dst = appendCookies(dst, m, true)
	dst = appendHeaders(dst, m)
	dst = append(dst, `,"content":{"size":`...)
	body := bodySize(m)
	dst = strconv.AppendInt(dst, max(body, 0), 10)
	dst = append(dst, `,"mimeType":`...)
	if ct, ok := logformat.Header(m, "Content-Type"); ok && len(ct) > 0 {
		dst = jsonlog.AppendString(dst, ct)
	} else {
		dst = append(dst, `"x-unknown"`...)
	}
	dst = append(dst, `},"redirectURL":`...)
	loc, _ := logformat.Header(m, "Location")
	dst = jsonlog.AppendString(dst, loc)
	dst = appendSizes(dst, m)
	return append(dst, '}')
}

// parseCode reads a status code of three digits; 0 otherwise.
func parseCode(b []byte) int {
	if len(b) != 3 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// bodySize returns the bytes of m after its header block, on the wire;
// -1 when the block is not known.
func bodySize(m *entry.Message) int64 {
	if m.HeaderLen < 0 || m.Head < 0 {
		return -1
	}
	n := m.Size - int64(m.Head) - int64(m.HeaderLen)
	if n < 0 {
		return -1
	}
	return n
}

func appendSizes(dst []byte, m *entry.Message) []byte {
	dst = append(dst, `,"headersSize":`...)
	if m.HeaderLen >= 0 {
		dst = strconv.AppendInt(dst, int64(m.HeaderLen), 10)
	} else {
		dst = append(dst, "-1"...)
	}
	dst = append(dst, `,"bodySize":`...)
	return strconv.AppendInt(dst, bodySize(m), 10)
}

func appendHeaders(dst []byte, m *entry.Message) []byte {
	dst = append(dst, `,"headers":[`...)
	var buf [32]entry.Field
	n := 0
	for _, f := range m.HeaderFields(buf[:]) {
		name, value, ok := f.Split(m.Bytes)
		if !ok {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendPair(dst, trimName(name), value)
	}
	return append(dst, ']')
}

// trimName is a header field's name as HAR shows it: trimmed of blanks (a
// continuation line's name starts with one).
func trimName(name []byte) []byte { return bytes.TrimLeft(name, " \t") }

func appendPair(dst, name, value []byte) []byte {
	dst = append(dst, `{"name":`...)
	dst = jsonlog.AppendString(dst, name)
	dst = append(dst, `,"value":`...)
	dst = jsonlog.AppendString(dst, value)
	return append(dst, '}')
}

// appendCookies appends the cookies field: the pairs of every Cookie
// header of a request, or the first pair of every Set-Cookie header of a
// response.
func appendCookies(dst []byte, m *entry.Message, response bool) []byte {
	dst = append(dst, `,"cookies":[`...)
	want := "Cookie"
	if response {
		want = "Set-Cookie"
	}
	var buf [32]entry.Field
	n := 0
	for _, f := range m.HeaderFields(buf[:]) {
		name, value, ok := f.Split(m.Bytes)
		if !ok || !ascii.EqualFold(trimName(name), want) {
			continue
		}
		for len(value) > 0 {
			pair := value
			if i := bytes.IndexByte(value, ';'); i >= 0 {
				pair, value = value[:i], value[i+1:]
			} else {
				value = nil
			}
			if response {
				value = nil // attributes follow the pair
			}
			k, v, ok := bytes.Cut(pair, []byte{'='})
			k = bytes.TrimSpace(k)
			if !ok || len(k) == 0 {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendPair(dst, k, bytes.TrimSpace(v))
		}
	}
	return append(dst, ']')
}

// appendQuery appends the queryString pairs of a request target.
func appendQuery(dst, target []byte) []byte {
	_, q, ok := bytes.Cut(target, []byte{'?'})
	if !ok {
		return dst
	}
	if i := bytes.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	n := 0
	for len(q) > 0 {
		pair := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if len(pair) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(pair, []byte{'='})
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendPair(dst, k, v)
	}
	return dst
}

// appendURL appends the absolute URL of a request (inside a JSON string,
// whose quotes the caller writes): every byte it writes is a printable
// ASCII character that needs no JSON escape.
func appendURL(dst []byte, e *entry.Entry, method, target []byte) []byte {
	if n := httpScheme(target); n > 0 {
		// absolute-form (a proxy's request), kept when its authority can
		// stand as a URL's: a hostile one would make the URL unparseable
		// (it is then the path of a URL built from the Host header or the
		// server's address, below).
		auth := target[n:]
		if i := bytes.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if validAuthority(auth) {
			return appendEscaped(dst, target)
		}
	}
	dst = append(dst, "http://"...)
	if ascii.EqualFold(method, "CONNECT") && validAuthority(target) {
		return append(append(dst, target...), '/') // authority-form
	}
	if host, ok := logformat.Header(&e.Request, "Host"); ok && validAuthority(host) {
		dst = append(dst, host...)
	} else if s := e.Server; s.Addr().IsValid() {
		dst = s.AppendTo(dst) // [v6]:port
	} else {
		dst = append(dst, "unknown"...)
	}
	switch {
	case len(target) > 0 && target[0] == '/':
	case len(target) == 1 && target[0] == '*': // OPTIONS *
		return dst
	default:
		dst = append(dst, '/')
	}
	return appendEscaped(dst, target)
}

// httpScheme returns the length of b's "http://" or "https://" prefix
// (case-insensitive), 0 if it has neither.
func httpScheme(b []byte) int {
	switch {
	case len(b) > 7 && ascii.EqualFold(b[:7], "http://"):
		return 7
	case len(b) > 8 && ascii.EqualFold(b[:8], "https://"):
		return 8
	}
	return 0
}

// validAuthority reports whether b can stand as a URL's host[:port], so
// that a hostile Host cannot change the URL's path or make it unparseable:
// a name of letters, digits, '-', '.', '_' and '~' (an IPv4 address when
// its last label starts with a digit), or an IPv6 address in brackets, and
// an optional port of at most five digits.
func validAuthority(b []byte) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	host := b
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 2 {
			return false
		}
		if !validIPv6(b[1:end]) {
			return false
		}
		host, b = nil, b[end+1:]
	} else if i := bytes.IndexByte(b, ':'); i >= 0 {
		host, b = b[:i], b[i:]
	} else {
		b = nil
	}
	if host != nil {
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !isHex(c) && !('g' <= c && c <= 'z' || 'G' <= c && c <= 'Z') && strings.IndexByte("-._~", c) < 0 {
				return false
			}
		}
		// A name whose last label is a number is an IPv4 address to URL
		// parsers (WHATWG): it must be a valid one.
		last := host[bytes.LastIndexByte(host, '.')+1:]
		if len(last) > 0 && '0' <= last[0] && last[0] <= '9' {
			if !validIPv4(host) {
				return false
			}
		}
	}
	if len(b) == 0 {
		return true
	}
	if b[0] != ':' || len(b) < 2 || len(b) > 6 {
		return false
	}
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validIPv4 reports whether b is a dotted-quad IPv4 address (decimal, no
// leading zeros), without allocating.
func validIPv4(b []byte) bool {
	for part := 0; part < 4; part++ {
		n, digits := 0, 0
		for len(b) > 0 && '0' <= b[0] && b[0] <= '9' {
			if digits == 1 && n == 0 {
				return false // a leading zero
			}
			n, digits, b = n*10+int(b[0]-'0'), digits+1, b[1:]
			if n > 255 {
				return false
			}
		}
		if digits == 0 {
			return false
		}
		if part < 3 {
			if len(b) == 0 || b[0] != '.' {
				return false
			}
			b = b[1:]
		}
	}
	return len(b) == 0
}

// validIPv6 reports whether b is an IPv6 address (RFC 4291 text form, with
// an IPv4 tail allowed, no zone), without allocating.
func validIPv6(b []byte) bool {
	groups, elided := 0, false
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		elided, b = true, b[2:]
	} else if len(b) > 0 && b[0] == ':' {
		return false
	}
	for len(b) > 0 {
		n := 0
		for n < len(b) && isHex(b[n]) {
			n++
		}
		if n < len(b) && b[n] == '.' { // the IPv4 tail
			if !validIPv4(b) {
				return false
			}
			groups += 2
			b = nil
			break
		}
		if n == 0 || n > 4 {
			return false
		}
		groups++
		b = b[n:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' {
			return false
		}
		b = b[1:]
		if len(b) > 0 && b[0] == ':' {
			if elided {
				return false
			}
			elided, b = true, b[1:]
		} else if len(b) == 0 {
			return false // a trailing single ':'
		}
	}
	if elided {
		return groups < 8
	}
	return groups == 8
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

const hexUpper = "0123456789ABCDEF"

// appendEscaped appends b with the bytes a URL cannot hold percent-encoded:
// controls, space, non-ASCII, "<>\^`{|} (the JSON escapes '"' and '\'
// included), and a '%' that does not start an escape.
func appendEscaped(dst, b []byte) []byte {
	for i, c := range b {
		badPercent := c == '%' && (i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]))
		if c <= ' ' || c >= 0x7f || badPercent || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
