package logformat

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
)

// t0 is 2026-01-15 10:00:00 UTC (1768471200), a winter day in New York.
var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

func us(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }

const (
	sampleRequest = "POST /submit?x=1 HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"X-User-Agent: evil\r\n" +
		"User-Agent:  curl/8.0 \r\n" +
		"Content-Type: text/plain\r\n" +
		"X-Request-Id: abc-123\r\n" +
		"X-Dup: one\r\n" +
		"x-dup: two\r\n" +
		"\r\n"
	sampleRequestBody = "hello body"
	sampleInterim     = "HTTP/1.1 100 Continue\r\n\r\n"
	sampleResponse    = "HTTP/1.1 404 Not Found\r\n" +
		"Server: test\r\n" +
		"Content-Length: 5\r\n" +
		"\r\n"
	sampleResponseBody = "nope\n"
)

// sample returns a complete entry: the only exchange of a connection the
// server closed, with a 100 Continue before the final response.
func sample() *entry.Entry {
	resp := []byte(sampleInterim + sampleResponse + sampleResponseBody)
	return &entry.Entry{
		Client:     netip.MustParseAddrPort("192.0.2.1:51000"),
		Server:     netip.MustParseAddrPort("198.51.100.2:80"),
		Annotation: entry.Unique, Index: 1, Streams: 7,
		SYN: us(0), HandshakeDone: us(100), ConnStart: us(0),
		Request: httpMessage(sampleRequest, sampleRequestBody, us(1000), us(2500)),
		Response: entry.Message{
			Bytes: resp, Size: int64(len(resp)), Head: len(sampleInterim), HeaderLen: len(sampleResponse),
			HTTP: true, First: us(3000), Last: us(10000),
		},
		Flushed:    us(20000),
		Close:      us(30000),
		Originator: entry.Server,
	}
}

func TestKeywords(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	hello := clientHello(t, &tls.Config{ServerName: "secure.example", MinVersion: tls.VersionTLS12})
	hello12 := clientHello(t, &tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12})

	tests := []struct {
		name   string
		format string
		modify func(e *entry.Entry)
		opts   *Options
		want   string
	}{
		// Constants and syntax.
		{"literal", "plain text", nil, nil, "plain text"},
		{"empty", "", nil, nil, ""},
		{"constants", "a%tab%newline%%b%-c", nil, nil, "a\t\n%bc"},
		{"break", "%response.time%-ms", nil, nil, "0.007500ms"},
		{"trailing-dot", "took %response.time.", nil, nil, "took 0.007500."},
		{"trailing-dots", "%streams..", nil, nil, "7.."},
		{"trailing-dot-header", "%request.header.host.", nil, nil, "example.com."},
		{"trailing-dash-header", "%request.header.x-dup-", nil, nil, "one-"},
		{"header-block-dot", "%request.header.", nil, nil, strings.TrimSuffix(sampleRequest, "\r\n") + "."},
		{"dash-outside-header", "%request.size-%response.size", nil, nil, itoa(len(sampleRequest+sampleRequestBody)) + "-" + itoa(len(sampleInterim+sampleResponse+sampleResponseBody))},
		{"paren-after-plain-keyword", "%source.ip(x) %request.line(y)", nil, nil, "192.0.2.1(x) POST /submit?x=1 HTTP/1.1(y)"},
		{"percent-paren", "%%(x)", nil, nil, "%(x)"},

		// Addresses.
		{"addresses", "%source.ip:%source.port>%dest.ip:%dest.port", nil, nil, "192.0.2.1:51000>198.51.100.2:80"},
		{"ipv6", "%source.ip %source.port %dest.ip %dest.port", func(e *entry.Entry) {
			e.Client = netip.MustParseAddrPort("[2001:db8::1]:51000")
			e.Server = netip.MustParseAddrPort("[2001:db8:0:0:0:0:0:2]:443")
		}, nil, "2001:db8::1 51000 2001:db8::2 443"},
		{"no-address", "%source.ip %source.port %dest.ip(none)", func(e *entry.Entry) {
			e.Client, e.Server = netip.AddrPort{}, netip.AddrPort{}
		}, nil, "- - -(none)"}, // no [nf] argument: the parenthesis is text
		{"names", "%container %source.name>%dest.name", func(e *entry.Entry) {
			e.Container, e.SourceName, e.DestName = "proj_web_1", "web", "api"
		}, nil, "proj_web_1 web>api"},
		{"names-not-found", "%container|%source.name(?)|%dest.name(none)", nil, nil, "-|?|none"},
		{"names-escaped", "%source.name", func(e *entry.Entry) { e.SourceName = "a\x1b[2Jb" }, &Options{Encoding: Escaped}, `a\x1b[2Jb`},

		// Connection.
		{"connection", "%connection", nil, nil, "unique"},
		{"connection-start", "%connection", func(e *entry.Entry) { e.Annotation = entry.Start }, nil, "start"},
		{"connection-continue", "%connection", func(e *entry.Entry) { e.Annotation = entry.Continue }, nil, "continue"},
		{"connection-last", "%connection", func(e *entry.Entry) { e.Annotation = entry.Last }, nil, "last"},
		{"session-requests", "%session.requests %streams", nil, nil, "1 7"},
		{"session-requests-zero", "%session.requests(x)", func(e *entry.Entry) { e.Index = 0 }, nil, "0"},
		{"originator", "%close.originator", nil, nil, "server"},
		{"originator-client", "%close.originator", func(e *entry.Entry) { e.Originator = entry.Client }, nil, "client"},
		{"originator-timedout", "%close.originator", func(e *entry.Entry) { e.Originator = entry.TimedOut }, nil, "timedout"},
		{"originator-truncated", "%close.originator", func(e *entry.Entry) { e.Originator = entry.Truncated }, nil, "truncated"},
		{"originator-none", "%close.originator|%close.originator(open)", func(e *entry.Entry) { e.Originator = entry.None }, nil, "-|open"},

		// Durations.
		{"durations", "%connection.time %idle.time.0 %request.time %response.time.begin %response.time.end %response.time %idle.time.1 %close.time %session.time",
			nil, nil, "0.000100 0.000900 0.001500 0.000500 0.007000 0.007500 0.010000 0.020000 0.030000"},
		{"long-duration", "%session.time", func(e *entry.Entry) { e.Close = us(3723_000_042) }, nil, "3723.000042"},
		{"connection-time-later-entry", "%connection.time|%connection.time(x)|%connection.time()|%idle.time.0", func(e *entry.Entry) {
			e.SYN, e.HandshakeDone = time.Time{}, time.Time{}
		}, nil, "-|x||-"},
		{"no-request", "%request.time %response.time.begin %response.time", func(e *entry.Entry) {
			e.Request = entry.Message{HeaderLen: -1}
		}, nil, "- - -"},
		{"no-response", "%response.time.begin %response.time.end %response.time %idle.time.1 %close.time", func(e *entry.Entry) {
			e.Response = entry.Message{HeaderLen: -1}
		}, nil, "- - - - 0.027500"},
		{"negative-clamped", "%response.time.begin %response.time", func(e *entry.Entry) {
			e.Response.First, e.Response.Last = us(2000), us(2400)
		}, nil, "0.000000 0.000000"},
		{"truncated-entry", "%idle.time.1(open)", func(e *entry.Entry) { e.Flushed = time.Time{} }, nil, "open"},
		{"not-final", "%close.time|%session.time", func(e *entry.Entry) {
			e.Annotation, e.Close, e.Originator = entry.Start, time.Time{}, entry.None
		}, nil, "-|0.010000"},
		{"final-without-close", "%close.time|%session.time", func(e *entry.Entry) { e.Close = time.Time{} }, nil, "-|0.010000"},
		{"session-no-handshake", "%session.time", func(e *entry.Entry) { e.ConnStart = time.Time{} }, nil, "-"},
		{"nf-option", "%connection.time %request.header.referer", func(e *entry.Entry) { e.SYN = time.Time{} },
			&Options{NotFound: "N/A"}, "N/A N/A"},
		{"nf-option-empty", "[%connection.time]", func(e *entry.Entry) { e.SYN = time.Time{} }, &Options{}, "[]"},

		// Timestamps.
		{"timestamps", "%request.timestamp|%response.timestamp|%connection.timestamp|%close.timestamp", nil, utc,
			"2026-01-15 10:00:00.002500|2026-01-15 10:00:00.010000|2026-01-15 10:00:00.000000|2026-01-15 10:00:00.030000"},
		{"timestamps2", "%request.timestamp2|%response.timestamp2|%connection.timestamp2|%close.timestamp2", nil, utc,
			"1768471200.002500|1768471200.010000|1768471200.000000|1768471200.030000"},
		{"timestamp-small-micros", "%request.timestamp %request.timestamp2", func(e *entry.Entry) { e.Request.Last = us(31856) }, utc,
			"2026-01-15 10:00:00.031856 1768471200.031856"},
		{"timestamp-strftime", "[%request.timestamp(%d/%b/%Y:%T %z)]", nil, utc, "[15/Jan/2026:10:00:00 +0000]"},
		{"timestamp-new-york", "%request.timestamp(%d/%b/%Y:%T %z %Z) %request.timestamp", nil, &Options{Location: ny},
			"15/Jan/2026:05:00:00 -0500 EST 2026-01-15 05:00:00.002500"},
		{"timestamp-new-york-summer", "%request.timestamp(%F %T %z %Z)", func(e *entry.Entry) {
			e.Request.Last = time.Date(2026, 7, 15, 10, 0, 0, 0, time.UTC)
		}, &Options{Location: ny}, "2026-07-15 06:00:00 -0400 EDT"},
		{"timestamp2-ignores-zone", "%request.timestamp2", nil, &Options{Location: ny}, "1768471200.002500"},
		{"timestamp-f-and-s", "%request.timestamp(%s.%f|%H:%M:%S.%f|%-d/%-m)", nil, utc, "1768471200.002500|10:00:00.002500|15/1"},
		{"timestamp-escaped-paren", `%request.timestamp(\(%Y\))`, nil, utc, "(2026)"},
		{"timestamp-nested-paren", `%request.timestamp((%Y))`, nil, utc, "(2026)"},
		{"timestamp-long", "%request.timestamp(%A %d %B %Y, %H hours %M minutes %S seconds)", nil, utc,
			"Thursday 15 January 2026, 10 hours 00 minutes 00 seconds"},
		{"timestamp-missing", "%request.timestamp|%request.timestamp(%F)|%request.timestamp2|%request.timestamp2(none)", func(e *entry.Entry) {
			e.Request = entry.Message{HeaderLen: -1}
		}, utc, "-|-|-|none"},
		{"conn-timestamp-missing", "%connection.timestamp %connection.timestamp2 %close.timestamp %close.timestamp2(open)", func(e *entry.Entry) {
			e.SYN, e.Close = time.Time{}, time.Time{}
		}, utc, "- - - open"},

		// Messages.
		{"sizes", "%request.size %response.size", nil, nil, itoa(len(sampleRequest+sampleRequestBody)) + " " + itoa(len(sampleInterim+sampleResponse+sampleResponseBody))},
		{"sizes-none", "%request.size %response.size", func(e *entry.Entry) {
			e.Request, e.Response = entry.Message{HeaderLen: -1}, entry.Message{HeaderLen: -1}
		}, nil, "0 0"},
		{"size-not-bytes", "%request.size", func(e *entry.Entry) { e.Request.Size = 1 << 40 }, nil, "1099511627776"},
		{"request", "%request", nil, nil, sampleRequest + sampleRequestBody},
		{"response", "%response", nil, nil, sampleInterim + sampleResponse + sampleResponseBody},
		{"raw", Raw, nil, nil, sampleRequest + sampleRequestBody + sampleInterim + sampleResponse + sampleResponseBody},
		{"header-blocks", "%request.header|%response.header", nil, nil,
			strings.TrimSuffix(sampleRequest, "\r\n") + "|" + strings.TrimSuffix(sampleResponse, "\r\n")},
		{"header-lf-only", "%request.header|%request.body", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.0\nHost: a\n\n", "x", us(1), us(1))
		}, nil, "GET / HTTP/1.0\nHost: a\n|x"},
		{"header-incomplete", "%request.header|%request.body|%request.header.b", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nA: 1\r\nB: 2", "", us(1), us(1))
			e.Request.HeaderLen = -1
		}, nil, "GET / HTTP/1.1\r\nA: 1\r\nB: 2||2"},
		{"bodies", "%request.body|%response.body", nil, nil, sampleRequestBody + "|" + sampleResponseBody},
		{"lines", "%request.line|%response.line", nil, nil, "POST /submit?x=1 HTTP/1.1|HTTP/1.1 404 Not Found"},
		{"line-lf", "%request.line|", func(e *entry.Entry) { e.Request.Bytes = []byte("GET /\nrest") }, nil, "GET /|"},
		{"line-no-eol", "%request.line|", func(e *entry.Entry) { e.Request.Bytes = []byte("GET /") }, nil, "GET /|"},
		{"line-empty", "[%request.line][%response.line][%request][%request.header][%request.body]", func(e *entry.Entry) {
			e.Request, e.Response = entry.Message{HeaderLen: -1}, entry.Message{HeaderLen: -1}
		}, nil, "[][][][][]"},
		{"first-line-parts", "%request.method %request.url %request.protocol|%response.protocol %response.code %response.message", nil, nil,
			"POST /submit?x=1 HTTP/1.1|HTTP/1.1 404 Not Found"},
		{"reason-spaces", "[%response.message]", func(e *entry.Entry) {
			e.Response = httpMessage("HTTP/1.1  500  Internal  Server Error \r\n\r\n", "", us(3000), us(3000))
		}, nil, "[Internal  Server Error]"},
		{"no-reason", "%response.code %response.message %response.message(none)", func(e *entry.Entry) {
			e.Response = httpMessage("HTTP/1.1 204\r\n\r\n", "", us(3000), us(3000))
		}, nil, "204 - none"},
		{"http09", "%request.method %request.url %request.protocol", func(e *entry.Entry) {
			e.Request = httpMessage("GET /\r\n", "", us(1), us(1))
		}, nil, "GET / -"},
		{"not-http", "%request.line|%request.method|%request.url(?)|%response.line|%response.code|%response.message|%response.protocol", func(e *entry.Entry) {
			e.Request = entry.Message{Bytes: []byte("PING hello there\r\n"), Size: 18, HeaderLen: -1, First: us(1), Last: us(1)}
			e.Response = entry.Message{Bytes: []byte("+PONG\r\n"), Size: 7, HeaderLen: -1, First: us(2), Last: us(2)}
		}, nil, "PING hello there|-|?|+PONG|-|-|-"},
		{"not-http-headers", "%request.header.host|%request.header.value(host)|", func(e *entry.Entry) {
			e.Request.HTTP = false
		}, nil, "-||"},

		// Headers.
		{"header-named", "%request.header.host|%response.header.server|%response.header.content-length(0)", nil, nil, "example.com|test|5"},
		{"header-whole-name", "%request.header.user-agent", nil, nil, "curl/8.0"},
		{"header-substring-not-matched", "%request.header.agent|%request.header.x-user-agent", nil, nil, "-|evil"},
		{"header-case", "%request.header.HOST|%request.header.Content-Type", nil, nil, "example.com|text/plain"},
		{"header-any-name", "%request.header.x-request-id", nil, nil, "abc-123"},
		{"header-first-wins", "%request.header.x-dup", nil, nil, "one"},
		{"header-missing", "%request.header.referer|%request.header.referer()|%request.header.referer(none)", nil, nil, "-||none"},
		{"default-missing", `"%request.header.referer()" "%request.header.user-agent()"`, func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "", us(1), us(1))
		}, nil, `"" ""`},
		{"header-not-in-interim", "%response.header.content-length(0)|%response.header.value(server)", func(e *entry.Entry) {
			e.Response.Head = 0
			e.Response.HeaderLen = len(sampleInterim)
		}, nil, "0|"},
		{"header-body-not-searched", "%response.header.nope", func(e *entry.Entry) {
			e.Response = httpMessage("HTTP/1.1 200 OK\r\n\r\n", "Nope: body\r\n", us(3000), us(3000))
		}, nil, "-"},
		{"header-value", "[%request.header.value(X-None)][%request.header.value(content-type)][%response.header.value(SERVER)]", nil, nil,
			"[][text/plain][test]"},
		{"header-value-reserved-names", "%request.header.value(value)|%request.header.value(grep)", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nValue: v\r\nGrep: g\r\n\r\n", "", us(1), us(1))
		}, nil, "v|g"},
		{"header-empty-value", "[%request.header.x-empty]", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", "", us(1), us(1))
		}, nil, "[]"},
		{"header-blank-before-colon", "%request.header.host", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nHost : spaced\r\n\r\n", "", us(1), us(1))
		}, nil, "spaced"},
		{"header-continuation-not-joined", "%request.header.x-long|%request.header.more", func(e *entry.Entry) {
			e.Request = httpMessage("GET / HTTP/1.1\r\nX-Long: a\r\n more: b\r\n\r\n", "", us(1), us(1))
		}, nil, "a|-"},

		// Grep.
		{"grep-group", "%request.grep(^([^ ]+))", nil, nil, "POST"},
		{"grep-case-insensitive-whole-match", "%response.grep(not found)", nil, nil, "Not Found"},
		{"grep-last-group", "%request.grep(^(P(O)ST))", nil, nil, "O"},
		{"grep-last-participating-group", "%request.grep((POST)|(GET))", nil, nil, "POST"},
		{"grep-multiline", `%request.grep(^host: ([^\r\n]*))`, nil, nil, "example.com"},
		{"grep-class-paren", `%request.grep(([^()]+)\?)`, nil, nil, "POST /submit"},
		{"grep-escaped-paren", `%request.grep(\(|(x)=)`, nil, nil, "x"},
		{"grep-no-match", "%request.grep(zzz)", nil, nil, "-"},
		{"grep-no-message", "%response.grep(^)", func(e *entry.Entry) { e.Response = entry.Message{HeaderLen: -1} }, nil, "-"},
		{"grep-body", "%request.grep(hello (\\w+))|%response.grep(^nope$)", nil, nil, "body|nope"},
		{"header-grep", `%response.header.grep(^server: (\w+))|%request.header.grep(hello)|%response.header.grep(continue)`, nil, nil, "test|-|-"},
		{"grep-nf-option", "%request.grep(zzz)", nil, &Options{NotFound: "?"}, "?"},

		// TLS.
		{"tls13", "%tls.sni %tls.version", func(e *entry.Entry) {
			e.Request = entry.Message{Bytes: hello, Size: int64(len(hello)), HeaderLen: -1, First: us(1), Last: us(1)}
		}, nil, "secure.example TLS_1.3"},
		{"tls12", "%tls.sni %tls.version", func(e *entry.Entry) {
			e.Request = entry.Message{Bytes: hello12, Size: int64(len(hello12)), HeaderLen: -1, First: us(1), Last: us(1)}
		}, nil, "old.example TLS_1.2"},
		{"tls-not", "%tls.sni %tls.version|%tls.sni(no-tls)", nil, nil, "- -|no-tls"},

		// Encodings.
		{"dots", "%request|%request.line|%request.header.x", func(e *entry.Entry) {
			e.Request = httpMessage("GET /\x01\xff HTTP/1.1\r\nX: a\x7fb\tc\r\n\r\n", "", us(1), us(1))
		}, &Options{Encoding: Dots}, "GET /.. HTTP/1.1.\nX: a.b\tc.\n.\n|GET /.. HTTP/1.1|a.b\tc"},
		{"hex", "%request|%request.line|%request.header.x", func(e *entry.Entry) {
			e.Request = httpMessage("GET /\x01\xff HTTP/1.1\r\nX: a\x7fb\tc\r\n\r\n", "", us(1), us(1))
		}, &Options{Encoding: Hex}, "GET /[0x1][0xff] HTTP/1.1[0xd]\nX: a[0x7f]b\tc[0xd]\n[0xd]\n|GET /[0x1][0xff] HTTP/1.1|a[0x7f]b\tc"},
		{"hex-literal-and-nf-untouched", "\x01%request.header.none(\x02)", nil, &Options{Encoding: Hex}, "\x01\x02"},
		{"hex-utf8", "%request.url", func(e *entry.Entry) {
			e.Request = httpMessage("GET /é HTTP/1.1\r\n\r\n", "", us(1), us(1))
		}, &Options{Encoding: Hex}, "/[0xc3][0xa9]"},
		{"verbatim-utf8", "%request.url", func(e *entry.Entry) {
			e.Request = httpMessage("GET /é HTTP/1.1\r\n\r\n", "", us(1), us(1))
		}, nil, "/é"},
		{"dots-grep", `%request.grep(^(.*)$)`, nil, &Options{Encoding: Dots}, "POST /submit?x=1 HTTP/1.1."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.format)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.format, err)
			}
			e := sample()
			if tt.modify != nil {
				tt.modify(e)
			}
			opts := tt.opts
			if opts != nil && opts.Location == nil {
				o := *opts
				o.Location = time.UTC
				opts = &o
			}
			if opts == nil {
				opts = utc
			}
			got := string(f.Append([]byte("prefix:"), e, opts))
			if got != "prefix:"+tt.want {
				t.Errorf("format %q\n got %q\nwant %q", tt.format, strings.TrimPrefix(got, "prefix:"), tt.want)
			}
		})
	}
}

// TestEveryKeyword checks that every keyword of justniffer's --help parses.
func TestEveryKeyword(t *testing.T) {
	help := []string{
		"%%", "%-", "%close.originator", "%close.time", "%close.timestamp", "%close.timestamp2", "%connection",
		"%connection.time", "%connection.timestamp", "%connection.timestamp2", "%dest.ip", "%dest.port",
		"%idle.time.0", "%idle.time.1", "%newline", "%request", "%request.body", "%request.grep(x)", "%request.header",
		"%request.header.accept", "%request.header.accept-charset", "%request.header.accept-encoding",
		"%request.header.accept-language", "%request.header.authorization", "%request.header.connection",
		"%request.header.content-encoding", "%request.header.content-language", "%request.header.content-length",
		"%request.header.content-md5", "%request.header.content-type", "%request.header.cookie",
		"%request.header.grep(x)", "%request.header.host", "%request.header.keep-alive", "%request.header.origin",
		"%request.header.range", "%request.header.referer", "%request.header.transfer-encoding",
		"%request.header.user-agent", "%request.header.value(x)", "%request.header.via", "%request.line",
		"%request.method", "%request.protocol", "%request.size", "%request.time", "%request.timestamp",
		"%request.timestamp2", "%request.url", "%response", "%response.body", "%response.code", "%response.grep(x)",
		"%response.header", "%response.header.accept-ranges", "%response.header.age", "%response.header.allow",
		"%response.header.cache-control", "%response.header.connection", "%response.header.content-encoding",
		"%response.header.content-language", "%response.header.content-length", "%response.header.content-md5",
		"%response.header.content-range", "%response.header.content-type", "%response.header.date",
		"%response.header.etag", "%response.header.expires", "%response.header.grep(x)",
		"%response.header.keep-alive", "%response.header.last-modified", "%response.header.pragma",
		"%response.header.server", "%response.header.set-cookie", "%response.header.transfer-encoding",
		"%response.header.value(x)", "%response.header.vary", "%response.header.via",
		"%response.header.www-authenticate", "%response.line", "%response.message", "%response.protocol",
		"%response.size", "%response.time", "%response.time.begin", "%response.time.end", "%response.timestamp",
		"%response.timestamp2", "%session.requests", "%session.time", "%source.ip", "%source.port", "%streams",
		"%tab", "%tls.sni", "%tls.version", "%tls.alpn", "%tls.round-trips",
		"%container", "%source.name", "%dest.name",
	}
	for _, k := range help {
		f, err := Parse(k)
		if err != nil {
			t.Errorf("Parse(%q): %v", k, err)
			continue
		}
		// Each renders something sensible on an empty entry, without
		// panicking.
		f.Append(nil, &entry.Entry{}, nil)
		f.Append(nil, sample(), &Options{Encoding: Hex})
	}
	// The response's content-language is looked up under its real name
	// (justniffer misspells it "Content-Laguage").
	f, _ := Parse("%response.header.content-language")
	e := sample()
	e.Response = httpMessage("HTTP/1.1 200 OK\r\nContent-Language: fr\r\n\r\n", "", us(1), us(1))
	if got := string(f.Append(nil, e, nil)); got != "fr" {
		t.Errorf("content-language = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		format  string
		pos     int
		keyword string
		msg     string
		text    string // Error(), or its prefix when it ends with "…"
	}{
		{"abc %foo def", 4, "%foo", msgUnknown, `log format: unknown keyword "%foo" at position 4`},
		{"%request.foo", 0, "%request.foo", msgUnknown, `log format: unknown keyword "%request.foo" at position 0`},
		{"ok %Request", 3, "%Request", msgUnknown, `log format: unknown keyword "%Request" at position 3`},
		{"%response.time.beginx", 0, "%response.time.beginx", msgUnknown, `log format: unknown keyword "%response.time.beginx" at position 0`},
		{"%streams %idle.time.2.", 9, "%idle.time.2.", msgUnknown, `log format: unknown keyword "%idle.time.2." at position 9`},
		{"50%", 2, "%", msgUnknown, `log format: stray "%" at position 2 (write %% for a literal %)`},
		{"% x", 0, "%", msgUnknown, `log format: stray "%" at position 0 (write %% for a literal %)`},
		{"%(x)", 0, "%", msgUnknown, `log format: stray "%" at position 0 (write %% for a literal %)`},
		{"xyz%request.grep(()", 3, "%request.grep", msgUnterminated, `log format: unterminated "(" in %request.grep at position 3`},
		{"%request.grep([)]", 0, "%request.grep", msgUnterminated, `log format: unterminated "(" in %request.grep at position 0`},
		{`%request.header.host(\)`, 0, "%request.header.host", msgUnterminated, `log format: unterminated "(" in %request.header.host at position 0`},
		{"a%request.timestamp(%d", 1, "%request.timestamp", msgUnterminated, `log format: unterminated "(" in %request.timestamp at position 1`},
		{"abc%request.grep(*)", 3, "%request.grep", msgBadRegexp, `log format: bad regexp in %request.grep at position 3: error parsing regexp: …`},
		{"%response.header.grep(a{2,1})", 0, "%response.header.grep", msgBadRegexp, `log format: bad regexp in %response.header.grep at position 0: …`},
		{"%request.grep", 0, "%request.grep", msgMissingArg, `log format: missing argument in %request.grep at position 0`},
		{"%request.grep (x)", 0, "%request.grep", msgMissingArg, `log format: missing argument in %request.grep at position 0`},
		{"%request.header.value", 0, "%request.header.value", msgMissingArg, `log format: missing argument in %request.header.value at position 0`},
		{"%response.header.value()", 0, "%response.header.value", msgMissingArg, `log format: missing argument in %response.header.value at position 0`},
		{"%close.timestamp(%Q)", 0, "%close.timestamp", msgBadStrftime, `log format: bad strftime pattern in %close.timestamp at position 0: …`},
		{"%close.timestamp(%)", 0, "%close.timestamp", msgBadStrftime, `log format: bad strftime pattern in %close.timestamp at position 0: …`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.format)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, %v; want a *ParseError", tt.format, f, err)
			continue
		}
		if pe.Pos != tt.pos || pe.Keyword != tt.keyword || pe.Msg != tt.msg {
			t.Errorf("Parse(%q): Pos %d Keyword %q Msg %q, want %d %q %q", tt.format, pe.Pos, pe.Keyword, pe.Msg, tt.pos, tt.keyword, tt.msg)
		}
		if prefix, ok := strings.CutSuffix(tt.text, "…"); ok {
			if !strings.HasPrefix(err.Error(), prefix) || pe.Unwrap() == nil {
				t.Errorf("Parse(%q): %q, want %q…", tt.format, err, prefix)
			}
		} else if err.Error() != tt.text {
			t.Errorf("Parse(%q): %q, want %q", tt.format, err, tt.text)
		}
	}
}

func TestNeedsBodies(t *testing.T) {
	for format, want := range map[string]bool{
		Default:                            false,
		full:                               false,
		Raw:                                true,
		"%request":                         true,
		"%response":                        true,
		"%request.body":                    true,
		"%response.body":                   true,
		"%request.grep(x)":                 true,
		"%response.grep(x)":                true,
		"%request.header.grep(x)":          false,
		"%response.header.grep(x)":         false,
		"%request.header %response.header": false,
		"%request.size %tls.sni":           false,
	} {
		f, err := Parse(format)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.NeedsBodies(); got != want {
			t.Errorf("Parse(%q).NeedsBodies() = %v, want %v", format, got, want)
		}
	}
}

func TestNeedsClientHello(t *testing.T) {
	for format, want := range map[string]bool{Default: false, full: false, Raw: false, "%tls.sni": true, "x%tls.version(-)": true} {
		f, err := Parse(format)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.NeedsClientHello(); got != want {
			t.Errorf("Parse(%q).NeedsClientHello() = %v, want %v", format, got, want)
		}
	}
}

func TestNeedsNames(t *testing.T) {
	for format, want := range map[string]bool{Default: false, full: false, Raw: false, "%container": false,
		"%source.name": true, "x %dest.name(-)": true} {
		f, err := Parse(format)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.NeedsNames(); got != want {
			t.Errorf("Parse(%q).NeedsNames() = %v, want %v", format, got, want)
		}
	}
}

func TestNilOptions(t *testing.T) {
	f, err := Parse("%connection.time|%request.timestamp(%s)")
	if err != nil {
		t.Fatal(err)
	}
	e := sample()
	e.SYN = time.Time{}
	if got, want := string(f.Append(nil, e, nil)), "-|1768471200"; got != want {
		t.Errorf("nil options: %q, want %q", got, want)
	}
	// A nil Location is time.Local.
	f, _ = Parse("%request.timestamp(%F %T %z)")
	want := e.Request.Last.In(time.Local).Format("2006-01-02 15:04:05 -0700")
	if got := string(f.Append(nil, e, &Options{})); got != want {
		t.Errorf("local time: %q, want %q", got, want)
	}
}

func TestAllocs(t *testing.T) {
	e := sample()
	dst := make([]byte, 0, 4096)
	for _, c := range []struct {
		name   string
		format string
		opts   *Options
	}{
		{"default", Default, utc},
		{"full", full, utc},
		{"raw-hex", Raw, &Options{Encoding: Hex}},
		{"default-nil-options", Default, nil},
	} {
		f, err := Parse(c.format)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { dst = f.Append(dst[:0], e, c.opts) }); n != 0 {
			t.Errorf("%s: %v allocations per Append", c.name, n)
		}
	}
}

// TestConcurrent renders one Format from several goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	f, err := Parse(full + "%request.grep(^(\\w+))%request.timestamp(%F)")
	if err != nil {
		t.Fatal(err)
	}
	want := string(f.Append(nil, sample(), utc))
	done := make(chan string)
	for range 4 {
		go func() {
			var got []byte
			opts := *utc // an Options is not for concurrent use
			for range 100 {
				got = f.Append(got[:0], sample(), &opts)
			}
			done <- string(got)
		}()
	}
	for range 4 {
		if got := <-done; got != want {
			t.Errorf("concurrent Append: %q, want %q", got, want)
		}
	}
}

func TestAppendEncoded(t *testing.T) {
	in := "a\x00\x1f \x7e\x7f\x80\xff\n\t\r"
	for enc, want := range map[Encoding]string{
		Verbatim: in,
		Dots:     "a.. \x7e...\n\t.",
		Hex:      "a[0x0][0x1f] \x7e[0x7f][0x80][0xff]\n\t[0xd]",
	} {
		if got := string(appendEncoded(nil, in, enc)); got != want {
			t.Errorf("string, encoding %d: %q, want %q", enc, got, want)
		}
		if got := string(appendEncoded(nil, []byte(in), enc)); got != want {
			t.Errorf("[]byte, encoding %d: %q, want %q", enc, got, want)
		}
	}
}

func TestScanArg(t *testing.T) {
	for _, tt := range []struct {
		s      string
		regexp bool
		end    int // -1: unterminated
	}{
		{"(abc)x", false, 5},
		{"(a(b)c)x", false, 7},
		{`(a\)b)x`, false, 6},
		{`(a\\)b)`, false, 5},
		{"([)])x", true, 5},
		{"([)])x", false, 3},
		{"([^)]+)x", true, 7},
		{"([])])x", true, 6},
		{"([^])])x", true, 7},
		{`([\]])])x`, true, 6},
		{"(abc", false, -1},
		{`(abc\)`, false, -1},
		{"([)", true, -1},
		{`(\`, false, -1},
	} {
		end, ok := scanArg(tt.s, 0, tt.regexp)
		if !ok {
			end = -1
		}
		if end != tt.end {
			t.Errorf("scanArg(%q, regexp %v) = %d, want %d", tt.s, tt.regexp, end, tt.end)
		}
	}
}

// clientHello returns the ClientHello record a crypto/tls client sends.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cli.Close()
		_ = cli.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tls.Client(cli, cfg).Handshake()
	}()
	_ = srv.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(srv, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(srv, body); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	<-done
	return append(hdr, body...)
}

func BenchmarkAppend(b *testing.B) {
	e := sample()
	for _, c := range []struct{ name, format string }{{"default", Default}, {"full", full}} {
		f, err := Parse(c.format)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				dst = f.Append(dst[:0], e, utc)
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// TestTimestampCache checks that the per-second cache of rendered
// timestamps never serves a stale second or zone.
func TestTimestampCache(t *testing.T) {
	f, err := Parse("%request.timestamp(%H:%M:%S %Z)|%response.timestamp(%S)")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	opts := &Options{Location: time.UTC}
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		req, resp time.Duration
		loc       *time.Location
		want      string
	}{
		{100 * time.Millisecond, 200 * time.Millisecond, time.UTC, "10:00:00 UTC|00"},
		{900 * time.Millisecond, 1100 * time.Millisecond, time.UTC, "10:00:00 UTC|01"},
		{1000 * time.Millisecond, 1100 * time.Millisecond, time.UTC, "10:00:01 UTC|01"},
		{1000 * time.Millisecond, 1100 * time.Millisecond, ny, "05:00:01 EST|01"},
		{-time.Second, 0, ny, "04:59:59 EST|00"},
	} {
		opts.Location = c.loc
		e := &entry.Entry{}
		e.Request.Last = base.Add(c.req)
		e.Response.Last = base.Add(c.resp)
		if got := string(f.Append(nil, e, opts)); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\tand\nnewline": "plain text\tand\nnewline",
		"\x1b[2J clear":            `\x1b[2J clear`,
		"CRLF\r\n":                 "CRLF\\r\n",
		"del\x7f nul\x00":          `del\x7f nul\x00`,
		"héllo ✓":                  "héllo ✓",
		"bad \xff\xfe utf8":        `bad \xff\xfe utf8`,
		"c1 \xc2\x9b csi":          `c1 \xc2\x9b csi`,
		"cut \xe2\x9c":             `cut \xe2\x9c`,
	} {
		if got := string(appendEncoded(nil, []byte(in), Escaped)); got != want {
			t.Errorf("Escaped(%q) = %q, want %q", in, got, want)
		}
		if got := string(appendEncoded(nil, in, Escaped)); got != want {
			t.Errorf("Escaped(string %q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkAppendNginx renders the default format for an exchange shaped
// like the nginx+wrk traffic of a live capture: a bare GET and nginx's 200
// answer for its index page.
func BenchmarkAppendNginx(b *testing.B) {
	const (
		req  = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
		resp = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\n" +
			"Content-Type: text/html\r\nContent-Length: 612\r\nLast-Modified: Mon, 23 Nov 2026 18:00:00 GMT\r\n" +
			"Connection: keep-alive\r\nETag: \"6560a1a0-264\"\r\nAccept-Ranges: bytes\r\n\r\n"
	)
	e := &entry.Entry{
		Client:     netip.MustParseAddrPort("127.0.0.1:51000"),
		Server:     netip.MustParseAddrPort("127.0.0.1:8080"),
		Annotation: entry.Continue, Index: 3, Streams: 200,
		ConnStart: us(0),
		Request:   httpMessage(req, "", us(1000), us(1000)),
		Response:  httpMessage(resp, "", us(1100), us(1100)),
		Flushed:   us(2000),
	}
	e.Response.Size += 612
	e.Response.BytesTruncated = true
	f, err := Parse(Default)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = f.Append(dst[:0], e, utc)
	}
	b.SetBytes(int64(len(dst)))
}
