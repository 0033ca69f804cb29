// Package logformat implements justniffer's --log-format language: a format
// string of literal text and %keywords, parsed once and rendered for every
// log entry.
//
// # Syntax
//
// A keyword is '%' followed by a name made of the characters [0-9A-Za-z._];
// in the name of a header (%request.header.NAME, %response.header.NAME) '-'
// is allowed too, and in %tls.round-trips, so %request.header.content-length is one keyword while
// %response.time%-ms is %response.time, an empty break and the text "ms".
// When the longest name is not a keyword but dropping its trailing '.'
// characters (and, in a header name, '-') gives one, that keyword is used
// and the dropped characters are text: "took %response.time." works.
//
// Some keywords take an argument in parentheses right after the name:
// %request.timestamp(%d/%b/%Y), %request.header.referer(none),
// %request.grep(^(\w+)). Parentheses nest; a backslash escapes the next
// character (in a regexp it is kept, in any other argument it is removed, so
// "\)" is a literal ')'); in a regexp a '(' or ')' inside a [...] class needs
// no escape. After a keyword that takes no argument a '(' is plain text, as
// in justniffer.
//
// %% prints '%', %tab a tab, %newline a newline and %- nothing (it ends the
// keyword before it).
//
// # Keywords
//
// The keywords are justniffer's (see justniffer --help). Durations print in
// seconds with six decimals (0.000035), never negative. A value that is
// missing prints the not-found string (Options.NotFound, "-" by default);
// keywords marked [nf] take an optional argument that replaces it:
//
//	%source.ip %source.port      the client (the SYN sender)
//	%dest.ip %dest.port          the server; IPv6 in its usual text form
//	%source.name %dest.name [nf] the compose service, else the container, that owns the
//	                             client's (server's) address (sniffer attach; not justniffer's)
//	%container [nf]              the container the entry was captured in (sniffer attach)
//	%connection                  start, continue, last or unique; open for an entry printed live
//	                             while its idle connection was open (--flush-after), before its
//	                             place in the connection was known
//	%connection.id               the connection's number, in order of appearance (not justniffer's)
//	%connection.time [nf]        SYN → the ACK completing the handshake (first entry only)
//	%connection.timestamp[(fmt)] the SYN time (first entry only)
//	%connection.timestamp2 [nf]  the same, as seconds.microseconds since the epoch
//	%idle.time.0 [nf]            handshake completed → first request packet
//	%request.time [nf]           first → last request packet
//	%response.time.begin [nf]    last request packet → first response packet
//	%response.time.end [nf]      first → last response packet
//	%response.time [nf]          last request packet → last response packet
//	%idle.time.1 [nf]            last response packet → the event that flushed the entry
//	%close.time [nf]             last packet → close (final entries only)
//	%close.timestamp[(fmt)]      the close time
//	%close.timestamp2 [nf]       the same, as seconds.microseconds
//	%close.originator [nf]       client, server, timedout, truncated
//	%session.time [nf]           SYN → close (final entries) or the entry's last packet
//	%session.requests [nf]       the entry's index in its connection (0: no payload)
//	%streams                     connections tracked
//	%request.timestamp[(fmt)]    time of the last request packet
//	%request.timestamp2 [nf]     the same, as seconds.microseconds
//	%request.size                request payload bytes (0 if none)
//	%request.truncated [nf]      "header" when the header block was cut at the
//	                             header cap (--max-header), "body" when a body the
//	                             format prints was cut (--max-body)
//	%request                     the request bytes, as sent
//	%request.header              the header block: the first line and the header
//	                             lines, each ending in its CRLF, without the blank line
//	%request.body                the bytes after the blank line, as sent
//	%request.line                the bytes up to the first CR or LF
//	%request.method .url .protocol [nf]
//	                             the parts of an HTTP request line
//	%request.header.NAME [nf]    the value of header NAME (any name)
//	%request.header.value(NAME)  the same, but "" when missing
//	%request.grep(re)            regexp over the whole request
//	%request.header.grep(re)     regexp over the header block
//	%response…                   the same for the response, with
//	%response.protocol .code .message [nf] for the parts of its status line
//	%tls.sni [nf]                the server name of a TLS ClientHello
//	%tls.version [nf]            TLS_1.0 … TLS_1.3 (SSL_3.0, or 0x.... if unknown): on a TLS
//	                             connection's entry the version the ServerHello negotiated, or
//	                             the highest the ClientHello offered when no ServerHello was seen
//	%tls.alpn [nf]               the application protocol (ALPN) the server selected when it is
//	                             visible (a TLS 1.2 ServerHello), else the protocols the client
//	                             offered, joined by commas ("h2,http/1.1"): TLS 1.3 sends the
//	                             server's choice encrypted
//	%tls.round-trips [nf]        the application round trips of a TLS connection (requests, not
//	                             records: see package tlsconn); followed by "+" when a capture
//	                             gap lost the record framing (at least that many)
//
// A TLS connection (one whose client's first bytes are a ClientHello, or on
// a connection picked up in the middle a TLS application data record) is one
// entry, printed when it ends: %request.size and %response.size are the
// bytes each way, %session.time its duration, %close.originator who closed
// it; %request, %request.line, %request.header, %request.body (and the
// same of the response) print the not-found value, as do the other fields
// of HTTP (justniffer prints ciphertext as fake exchanges). %tls.sni and
// %tls.version also read a ClientHello at the start of the request bytes of
// other entries.
//
// # HTTP/2
//
// An HTTP/2 connection (cleartext: prior knowledge, or an HTTP/1.1
// Upgrade: h2c) makes one entry per stream, printed when the stream
// completes; %connection labels the streams in the order their requests
// began, so entries of a multiplexed connection may print out of their
// labels' order. The request and the response are rendered as HTTP/1-style
// heads: "GET /path HTTP/2.0" (%request.protocol HTTP/2.0) and
// "HTTP/2.0 200" (%response.code from :status; %response.message is not
// found: HTTP/2 has no reason phrase), then every header field as a line,
// pseudo-headers included (%request.header.value(:authority) reads
// them), the body, and the trailers as lines after the
// body; %request.header.host falls back to :authority. %request.size and
// %response.size count the stream's frame bytes, 9-byte frame headers and
// padding included; the times are the stream's first and last frames.
// On an upgrade the first entry is the HTTP/1.1 request with its HTTP/2
// response (after the 101, which %response does print first).
//
//	%stream.id [nf]              the HTTP/2 stream identifier
//	%grpc.status [nf]            the grpc-status of the response's trailers (or of a
//	                             Trailers-Only response)
//	%grpc.message [nf]           its grpc-message, percent-decoded
//
// On a connection picked up in the middle, or after a capture gap, the
// HPACK state is lost: what can still be decoded (static table, literals,
// entries added since) is printed, header fields that referenced the
// missing table print the not-found value (JSON: headers_incomplete).
//
// The timestamps print in Options.Location, by default as
// "2006-01-02 15:04:05.000000" (justniffer's %Y-%m-%d %T.uuuuuu, with the
// microseconds zero-padded: justniffer left-justifies them). An argument is
// a strftime pattern (github.com/lestrrat-go/strftime, which also knows
// %-d style unpadded fields) extended with %f, the six-digit zero-padded
// microseconds, and %s, the seconds since the epoch; its output is not cut
// at 31 characters as justniffer's is.
//
// Header look-ups (%…header.NAME, %…header.value) match whole header names,
// case-insensitively (justniffer matches substrings, so that X-User-Agent
// answered for User-Agent); the first header of that name wins and its value
// is trimmed of surrounding blanks. They only look at messages whose first
// line is an HTTP request or status line (entry.Message.HTTP); so do the
// parts of the first line, which print the not-found value otherwise.
//
// The grep keywords use Go's RE2 syntax, compiled with the flags i
// (case-insensitive, as in justniffer) and m (^ and $ match at line
// boundaries, as in justniffer's Boost regexps; '.' does not match a newline
// unless the pattern sets (?s)). They print the last capture group that took
// part in the first match, or the whole match when the pattern has no group
// (or none took part); the not-found value when nothing matches.
//
// With Options.Encoding Dots or Hex, the bytes taken from the traffic
// (messages, lines, first-line parts, header values, grep results, SNI, ALPN) have
// every byte below 0x20 but '\n' and '\t', and every byte from 0x7f up,
// replaced by '.' or by "[0x" hex "]". The format's own text, the not-found
// string, numbers, addresses and times are not encoded.
package logformat

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/lestrrat-go/strftime"

	// The time zone database, so that Options.Location can be any zone even
	// in an image without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Default is justniffer's default format, Apache's common log format.
const Default = `%source.ip - - [%request.timestamp(%d/%b/%Y:%T %z)] "%request.line" %response.code %response.header.content-length(0) "%request.header.referer()" "%request.header.user-agent()"`

// Raw is the format of justniffer's -r: the request and response bytes.
const Raw = "%request%response"

// DefaultNotFound is what a missing value prints by default (justniffer's -n).
const DefaultNotFound = "-"

// Encoding says how the bytes taken from the traffic are printed.
type Encoding uint8

// The encodings.
const (
	// Verbatim prints the bytes as they are (the default).
	Verbatim Encoding = iota
	// Dots replaces unprintable bytes with '.' (justniffer's -u).
	Dots
	// Hex replaces unprintable bytes with "[0x" lowercase hex "]", as in
	// "[0xd]" (justniffer's -x).
	Hex
	// Escaped writes control characters (below 0x20 but tab and newline,
	// and 0x7f, and C1 controls) and bytes of invalid UTF-8 as escapes
	// (\r, \x1b, \xff): captured bytes cannot act on the terminal they are
	// printed to. Valid UTF-8 text is kept.
	Escaped
)

// Options are the settings of a rendering.
type Options struct {
	// NotFound is what a missing value prints (justniffer's -n). It is
	// used as is: "" prints nothing. Use DefaultNotFound for justniffer's
	// default.
	NotFound string
	// Encoding is how captured bytes print.
	Encoding Encoding
	// Location is the time zone of the timestamps; nil means time.Local.
	Location *time.Location

	// stamps caches timestamps rendered by strftime patterns that print
	// whole seconds: entries of the same second reuse the text. Because of
	// it an Options must not be used by two Appends at once (a Format
	// may).
	stamps [2]stampCache
	// addrs caches the text of the last address printed for each side.
	addrs [2]addrCache
}

// addrCache is one rendered address.
type addrCache struct {
	addr netip.Addr
	n    int
	buf  [64]byte
}

// stampCache is one rendered timestamp.
type stampCache struct {
	tf  *strftime.Strftime
	loc *time.Location
	sec int64
	n   int
	buf [64]byte
}

// defaultOptions is what a nil *Options means.
var defaultOptions = Options{NotFound: DefaultNotFound}

// ParseError reports a format string that Parse rejects.
type ParseError struct {
	// Pos is the byte offset in the format of the '%' of the keyword at
	// fault, from 0.
	Pos int
	// Keyword is that keyword, with its '%' ("%foo").
	Keyword string
	// Msg says what is wrong: "unknown keyword", "bad regexp",
	// "bad strftime pattern", "unterminated \"(\"", "missing argument".
	Msg string
	// Err is the underlying error, if any (from regexp or strftime).
	Err error
}

// Error returns, for example, `log format: unknown keyword "%foo" at
// position 12`.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("log format: ")
	switch {
	case e.Keyword == "%":
		fmt.Fprintf(&b, "stray %q at position %d (write %%%% for a literal %%)", "%", e.Pos)
	case e.Msg == msgUnknown:
		fmt.Fprintf(&b, "%s %q at position %d", e.Msg, e.Keyword, e.Pos)
	default:
		fmt.Fprintf(&b, "%s in %s at position %d", e.Msg, e.Keyword, e.Pos)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

const (
	msgUnknown      = "unknown keyword"
	msgBadRegexp    = "bad regexp"
	msgBadStrftime  = "bad strftime pattern"
	msgUnterminated = `unterminated "("`
	msgMissingArg   = "missing argument"
)

// Format is a parsed log format. It is safe for concurrent use.
type Format struct {
	ops []op
	// keys are the header names of the look-ups of each side (indexed by
	// side) that Append resolves in one pass per message: at most
	// maxLookups in all, each plainName. The ops refer to them by op.slot.
	keys        [2]keySet
	needsBodies bool
	needsHello  bool
	needsACKs   bool
	needsNames  bool
	// clf: the ops are those of Default, which Append renders with
	// appendCLF, the same steps without the dispatch over op kinds.
	clf bool
}

// NeedsBodies reports whether the format prints whole messages or their
// bodies (%request, %response, %request.body, %response.body,
// %request.grep, %response.grep): only then need the engine keep the bytes
// after the headers.
func (f *Format) NeedsBodies() bool { return f.needsBodies }

// NeedsClientHello reports whether the format prints %tls.sni or
// %tls.version, which read the TLS ClientHello at the start of the request
// bytes: the engine must then keep the first bytes of a request that is not
// HTTP, up to one TLS record (5+16384 bytes), even without bodies.
func (f *Format) NeedsClientHello() bool { return f.needsHello }

// NeedsNames reports whether the format prints peer names (%source.name,
// %dest.name): only then is a live capture's table of names worth
// consulting for every entry.
func (f *Format) NeedsNames() bool { return f.needsNames }

// NeedsPureACKs reports whether what the format prints may depend on pure
// ACKs (TCP segments with no payload and none of SYN, FIN, RST), so that a
// capture that drops them (sniff.Config.NoPureACKs) could print something
// else. They decide:
//
//   - when the handshake completes (the client's final ACK):
//     %connection.time, %idle.time.0;
//   - when a close completes (the ACK of the second FIN), and which side
//     closed first when the capture reordered the FINs (the ACK a FIN
//     carries): %close.time, %close.timestamp, %close.timestamp2,
//     %close.originator, %session.time, and %idle.time.1, which ends at
//     the close for a connection's last entry;
//   - whether a challenged RST is undone by the sender's ACK, and when an
//     idle connection was last seen (--flush-after's "open", idle
//     expiry, which connection is evicted from a full table): the
//     annotation, %connection;
//   - which connections exist at all (one seen only through pure ACKs):
//     %connection.id, %streams;
//   - %tls.round-trips, counted over the packets of a TLS connection.
//
// The other keywords read the bytes of the messages, their sizes, the
// times of the packets that carried them, the SYN's time, the addresses and
// the TLS hellos, which no pure ACK carries. The default format is among
// them.
func (f *Format) NeedsPureACKs() bool { return f.needsACKs }

// needsPureACKs is NeedsPureACKs for one op.
func needsPureACKs(o op) bool {
	switch o.kind {
	case opConnection, opConnID, opStreams, opOriginator, opTLSRoundTrips:
		return true
	case opDuration:
		switch o.sel {
		case durConnection, durIdle0, durIdle1, durClose, durSession:
			return true
		}
	case opTimestamp, opTimestamp2:
		return o.sel == tsClose
	}
	return false
}

// PureACKFree is a format of every keyword whose output does not depend on
// pure ACKs (NeedsPureACKs is false for it), for tests.
const PureACKFree = `%source.ip:%source.port>%dest.ip:%dest.port|%connection.timestamp|%connection.timestamp2|%session.requests|` +
	`%request.time|%response.time.begin|%response.time.end|%response.time|%request.timestamp(%T.%f)|%request.timestamp2|` +
	`%response.timestamp|%response.timestamp2|%request.size|%response.size|%request.truncated|%response.truncated|` +
	`%request.line|%response.line|%request.method|%request.url|%request.protocol|%response.protocol|%response.code|%response.message|` +
	`%request.header.host|%response.header.content-length|%request.header.value(User-Agent)|%request.header.grep(^Accept: (.*))|` +
	`%request.grep(^(\w+))|%response.body|%request.body|%tls.sni|%tls.version|%tls.alpn`

// argKind says what a keyword does with an argument in parentheses.
type argKind uint8

const (
	argNone     argKind = iota // a '(' after it is text
	argNF                      // optional: the not-found string
	argStrftime                // optional: a strftime pattern
	argName                    // required: a header name
	argRegexp                  // required: a regexp
)

// spec describes a keyword.
type spec struct {
	kind opKind
	side side
	sel  uint8 // which time, duration or first-line part
	arg  argKind
}

var keywords = map[string]spec{
	"%":       {kind: opLiteral},
	"-":       {kind: opNothing},
	"tab":     {kind: opLiteral},
	"newline": {kind: opLiteral},

	"source.ip":   {kind: opIP, side: request},
	"source.port": {kind: opPort, side: request},
	"dest.ip":     {kind: opIP, side: response},
	"dest.port":   {kind: opPort, side: response},
	"source.name": {kind: opName, side: request, arg: argNF},
	"dest.name":   {kind: opName, side: response, arg: argNF},
	"container":   {kind: opContainer, arg: argNF},

	"connection":            {kind: opConnection},
	"connection.id":         {kind: opConnID},
	"connection.time":       {kind: opDuration, sel: durConnection, arg: argNF},
	"connection.timestamp":  {kind: opTimestamp, sel: tsSYN, arg: argStrftime},
	"connection.timestamp2": {kind: opTimestamp2, sel: tsSYN, arg: argNF},
	"idle.time.0":           {kind: opDuration, sel: durIdle0, arg: argNF},
	"idle.time.1":           {kind: opDuration, sel: durIdle1, arg: argNF},
	"close.time":            {kind: opDuration, sel: durClose, arg: argNF},
	"close.timestamp":       {kind: opTimestamp, sel: tsClose, arg: argStrftime},
	"close.timestamp2":      {kind: opTimestamp2, sel: tsClose, arg: argNF},
	"close.originator":      {kind: opOriginator, arg: argNF},
	"session.time":          {kind: opDuration, sel: durSession, arg: argNF},
	"session.requests":      {kind: opIndex, arg: argNF},
	"streams":               {kind: opStreams},

	"request.time":          {kind: opDuration, sel: durRequest, arg: argNF},
	"response.time.begin":   {kind: opDuration, sel: durResponseBegin, arg: argNF},
	"response.time.end":     {kind: opDuration, sel: durResponseEnd, arg: argNF},
	"response.time":         {kind: opDuration, sel: durResponse, arg: argNF},
	"request.timestamp":     {kind: opTimestamp, sel: tsRequest, arg: argStrftime},
	"request.timestamp2":    {kind: opTimestamp2, sel: tsRequest, arg: argNF},
	"response.timestamp":    {kind: opTimestamp, sel: tsResponse, arg: argStrftime},
	"response.timestamp2":   {kind: opTimestamp2, sel: tsResponse, arg: argNF},
	"request.size":          {kind: opSize, side: request},
	"response.size":         {kind: opSize, side: response},
	"request.truncated":     {kind: opTruncated, side: request, arg: argNF},
	"response.truncated":    {kind: opTruncated, side: response, arg: argNF},
	"request":               {kind: opMessage, side: request},
	"response":              {kind: opMessage, side: response},
	"request.header":        {kind: opHeaderBlock, side: request},
	"response.header":       {kind: opHeaderBlock, side: response},
	"request.body":          {kind: opBody, side: request},
	"response.body":         {kind: opBody, side: response},
	"request.line":          {kind: opLine, side: request},
	"response.line":         {kind: opLine, side: response},
	"request.method":        {kind: opLinePart, side: request, sel: 0, arg: argNF},
	"request.url":           {kind: opLinePart, side: request, sel: 1, arg: argNF},
	"request.protocol":      {kind: opLinePart, side: request, sel: 2, arg: argNF},
	"response.protocol":     {kind: opLinePart, side: response, sel: 0, arg: argNF},
	"response.code":         {kind: opLinePart, side: response, sel: 1, arg: argNF},
	"response.message":      {kind: opLinePart, side: response, sel: 2, arg: argNF},
	"request.header.value":  {kind: opHeaderValue, side: request, arg: argName},
	"response.header.value": {kind: opHeaderValue, side: response, arg: argName},
	"request.grep":          {kind: opGrep, side: request, arg: argRegexp},
	"response.grep":         {kind: opGrep, side: response, arg: argRegexp},
	"request.header.grep":   {kind: opHeaderGrep, side: request, arg: argRegexp},
	"response.header.grep":  {kind: opHeaderGrep, side: response, arg: argRegexp},

	"tls.sni":         {kind: opTLSSNI, arg: argNF},
	"tls.version":     {kind: opTLSVersion, arg: argNF},
	"tls.alpn":        {kind: opTLSALPN, arg: argNF},
	"tls.round-trips": {kind: opTLSRoundTrips, arg: argNF},

	"stream.id":    {kind: opStreamID, arg: argNF},
	"grpc.status":  {kind: opGRPCStatus, arg: argNF},
	"grpc.message": {kind: opGRPCMessage, arg: argNF},
}

// The prefixes of %request.header.NAME and %response.header.NAME.
const (
	requestHeaderPrefix  = "request.header."
	responseHeaderPrefix = "response.header."
)

// literals are the texts of the constant keywords.
var literals = map[string]string{"%": "%", "tab": "\t", "newline": "\n"}

// lookup returns the keyword named w.
func lookup(w string) (spec, bool) {
	if s, ok := keywords[w]; ok {
		return s, true
	}
	for _, p := range [...]struct {
		prefix string
		side   side
	}{{requestHeaderPrefix, request}, {responseHeaderPrefix, response}} {
		name, ok := strings.CutPrefix(w, p.prefix)
		if !ok {
			continue
		}
		if name == "" || name[len(name)-1] == '.' || name[len(name)-1] == '-' {
			return spec{}, false
		}
		return spec{kind: opHeaderNamed, side: p.side, arg: argNF}, true
	}
	return spec{}, false
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_'
}

// dashedTLS is the part before the '-' of the one keyword outside header
// names with a '-' in its name, %tls.round-trips: only there does a '-'
// continue a %tls. name (%tls.sni-x is %tls.sni and "-x", as before).
const dashedTLS = "tls.round"

// inHeaderName reports whether the keyword name w has reached a header name,
// where '-' is a name character.
func inHeaderName(w string) bool {
	return strings.HasPrefix(w, requestHeaderPrefix) || strings.HasPrefix(w, responseHeaderPrefix)
}

// scanName returns the end of the longest keyword name starting at s[i].
func scanName(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if isNameByte(c) || c == '-' && (inHeaderName(s[i:j]) || s[i:j] == dashedTLS) {
			j++
			continue
		}
		break
	}
	return j
}

// specs is the strftime specification set of timestamp arguments: the
// library's, plus %f for the zero-padded microseconds and %s for the seconds
// since the epoch (as in glibc, which justniffer uses).
var specs = func() strftime.SpecificationSet {
	ss := strftime.NewSpecificationSet()
	if err := ss.Set('f', strftime.AppendFunc(appendMicroseconds)); err != nil {
		panic(err)
	}
	if err := ss.Set('s', strftime.AppendFunc(appendUnixSeconds)); err != nil {
		panic(err)
	}
	return ss
}()

// defaultTimestamp is the pattern of timestamps without an argument.
var defaultTimestamp = mustStrftime("%Y-%m-%d %H:%M:%S.%f")

func mustStrftime(p string) *strftime.Strftime {
	f, err := strftime.New(p, strftime.WithSpecificationSet(specs))
	if err != nil {
		panic(err)
	}
	return f
}

// Parse parses a log format. It returns a *ParseError for an unknown
// keyword, a bad or missing argument, or an unterminated parenthesis.
func Parse(format string) (*Format, error) {
	f := &Format{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, op{kind: opLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		pct := strings.IndexByte(format[i:], '%')
		if pct < 0 {
			lit.WriteString(format[i:])
			break
		}
		lit.WriteString(format[i : i+pct])
		i += pct
		pos := i
		i++ // the '%'
		var name string
		if i < len(format) && (format[i] == '%' || format[i] == '-') {
			name = format[i : i+1]
		} else {
			end := scanName(format, i)
			name = format[i:end]
		}
		sp, ok := lookup(name)
		for !ok && name != "" {
			last := name[len(name)-1]
			if last != '.' && !(last == '-' && inHeaderName(name)) {
				break
			}
			name = name[:len(name)-1]
			sp, ok = lookup(name)
		}
		if !ok {
			return nil, &ParseError{Pos: pos, Keyword: "%" + format[i:scanName(format, i)], Msg: msgUnknown}
		}
		i += len(name)
		kw := "%" + name

		// The argument.
		var arg string
		hasArg := false
		if sp.arg != argNone && i < len(format) && format[i] == '(' {
			end, ok := scanArg(format, i, sp.arg == argRegexp)
			if !ok {
				return nil, &ParseError{Pos: pos, Keyword: kw, Msg: msgUnterminated}
			}
			arg, hasArg = format[i+1:end-1], true
			if sp.arg != argRegexp {
				arg = unescape(arg)
			}
			i = end
		}

		switch sp.kind {
		case opNothing:
			continue
		case opLiteral:
			lit.WriteString(literals[name])
			continue
		}
		flush()
		o := op{kind: sp.kind, side: sp.side, sel: sp.sel}
		switch sp.arg {
		case argNF:
			o.nf, o.hasNF = arg, hasArg
		case argStrftime:
			o.tf = defaultTimestamp
			if hasArg {
				tf, err := strftime.New(arg, strftime.WithSpecificationSet(specs))
				if err != nil {
					return nil, &ParseError{Pos: pos, Keyword: kw, Msg: msgBadStrftime, Err: err}
				}
				o.tf = tf
				// Patterns without %f print the same text for a whole
				// second: Append caches it.
				o.perSecond = !strings.Contains(arg, "%f")
			}
		case argName:
			if !hasArg || arg == "" {
				return nil, &ParseError{Pos: pos, Keyword: kw, Msg: msgMissingArg}
			}
			o.text = arg
		case argRegexp:
			if !hasArg {
				return nil, &ParseError{Pos: pos, Keyword: kw, Msg: msgMissingArg}
			}
			re, err := regexp.Compile("(?im)" + arg)
			if err != nil {
				return nil, &ParseError{Pos: pos, Keyword: kw, Msg: msgBadRegexp, Err: err}
			}
			o.re = re
		}
		if sp.kind == opHeaderNamed {
			o.text = name[strings.IndexByte(name, '.')+len(".header."):]
		}
		o.slot = noSlot
		if sp.kind == opHeaderNamed || sp.kind == opHeaderValue {
			if n := len(f.keys[request].keys) + len(f.keys[response].keys); n < maxLookups && plainName(o.text) {
				o.slot = uint8(n)
				f.keys[o.side].add(newHeaderKey(o.text, o.slot))
			}
		}
		switch sp.kind {
		case opMessage, opBody:
			f.needsBodies = true
		case opGrep:
			f.needsBodies = true
		case opTLSSNI, opTLSVersion:
			f.needsHello = true
		case opName:
			f.needsNames = true
		}
		f.needsACKs = f.needsACKs || needsPureACKs(o)
		f.ops = append(f.ops, o)
	}
	flush()
	f.clf = isCLF(f.ops)
	return f, nil
}

// scanArg returns the offset just past the ')' that closes the '(' at
// s[i], and whether there is one. A backslash escapes the next byte; in a
// regexp, parentheses inside a bracketed class do not count.
func scanArg(s string, i int, regexp bool) (int, bool) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1, true
			}
		case '[':
			if !regexp {
				continue
			}
			// A class: '^' and a leading ']' are part of it; it ends at
			// the next unescaped ']'. POSIX classes ([:alpha:]) contain
			// no parentheses, so they need no care.
			k := j + 1
			if k < len(s) && s[k] == '^' {
				k++
			}
			if k < len(s) && s[k] == ']' {
				k++
			}
			for k < len(s) && s[k] != ']' {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			j = k
		}
	}
	return 0, false
}

// unescape removes the backslashes of an argument that is not a regexp.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}
