package logformat

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
)

// FuzzParse parses arbitrary formats and renders those it accepts.
func FuzzParse(f *testing.F) {
	for _, s := range []string{Default, Raw, full, "%request.grep(^([^ ]+))", "%request.timestamp(%d/%b/%Y:%T %z)",
		"took %response.time.", "%request.header.x-dup-", "%%%-%tab", "%request.grep([)]\\))", "50%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, format string) {
		fm, err := Parse(format)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Pos < 0 || pe.Pos >= len(format) || format[pe.Pos] != '%' {
				t.Fatalf("Parse(%q): %#v", format, err)
			}
			return
		}
		fm.Append(nil, sample(), &Options{Encoding: Hex})
		fm.Append(nil, &entry.Entry{}, nil)
	})
}

// FuzzAppend renders every message keyword over arbitrary messages and
// offsets.
func FuzzAppend(f *testing.F) {
	fm, err := Parse(full + "%request%response%request.header%response.header%request.body%response.body" +
		"%request.method%request.url%request.protocol%response.protocol%response.message" +
		"%request.header.user-agent%response.header.value(server)%request.grep(^(\\w+))%response.header.grep(: (.*))" +
		"%tls.sni%tls.version")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(sampleRequest+sampleRequestBody), []byte(sampleInterim+sampleResponse+sampleResponseBody), len(sampleRequest), len(sampleInterim), len(sampleResponse), true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost"), []byte{}, -1, 0, -1, false)
	f.Fuzz(func(t *testing.T, req, resp []byte, reqHeaderLen, respHead, respHeaderLen int, http bool) {
		e := sample()
		e.Request.Bytes, e.Request.HeaderLen, e.Request.HTTP = req, reqHeaderLen, http
		e.Response.Bytes, e.Response.Head, e.Response.HeaderLen, e.Response.HTTP = resp, respHead, respHeaderLen, http
		for _, enc := range []Encoding{Verbatim, Dots, Hex} {
			fm.Append(nil, e, &Options{NotFound: "-", Encoding: enc})
		}
	})
}

// FuzzCLF checks that appendCLF, the unrolled rendering of Default, prints
// what the generic loop over the same ops prints, over arbitrary messages,
// offsets, times, addresses and encodings.
func FuzzCLF(f *testing.F) {
	fast, err := Parse(Default)
	if err != nil {
		f.Fatal(err)
	}
	if !fast.clf {
		f.Fatal("Default is not rendered by appendCLF")
	}
	slow := *fast
	slow.clf = false
	f.Add([]byte(sampleRequest+sampleRequestBody), []byte(sampleInterim+sampleResponse+sampleResponseBody), len(sampleRequest), len(sampleInterim), len(sampleResponse), true, true, false, int64(0), true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost"), []byte{}, -1, 0, -1, false, true, false, int64(-1), false)
	f.Add([]byte("GET / HTTP/1.1\r\nReferer: \xff\x1b\r\nUser-Agent:  a b \r\n\r\n"), []byte("HTTP/1.1  200\r\ncontent-length:  7 \r\n\r\n"), 40, 0, 39, true, false, true, int64(86399), true)
	f.Fuzz(func(t *testing.T, req, resp []byte, reqHeaderLen, respHead, respHeaderLen int, reqHTTP, respHTTP, tls bool, sec int64, client bool) {
		e := sample()
		e.Request.Bytes, e.Request.HeaderLen, e.Request.HTTP = req, reqHeaderLen, reqHTTP
		e.Response.Bytes, e.Response.Head, e.Response.HeaderLen, e.Response.HTTP = resp, respHead, respHeaderLen, respHTTP
		e.Request.HeadTruncated = reqHeaderLen < 0
		if tls {
			e.TLS = &entry.TLS{}
		}
		switch {
		case sec < 0:
			e.Request.Last = time.Time{}
		default:
			e.Request.Last = time.Unix(1_700_000_000+sec%(1<<40), sec%1e9)
		}
		if !client {
			e.Client = netip.AddrPort{}
		}
		for _, o := range []*Options{
			{NotFound: "-", Encoding: Verbatim, Location: time.UTC},
			{NotFound: "", Encoding: Escaped, Location: time.FixedZone("X", -(3*3600 + 1800))},
			{NotFound: "n/a", Encoding: Hex},
			{Encoding: Dots, Location: time.UTC},
		} {
			o2 := *o
			got, want := fast.Append(nil, e, o), slow.Append(nil, e, &o2)
			if string(got) != string(want) {
				t.Fatalf("appendCLF printed\n%q\nthe ops print\n%q", got, want)
			}
		}
	})
}

// FuzzStatusCode checks that the status-code shortcut returns what the
// word-by-word reading of the line returns, whenever it applies.
func FuzzStatusCode(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.0 404\r\n", "HTTP/1.1 200\n", "HTTP/1.1  200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK\r\n", "HTTP/2 200 OK"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, ok := statusCode(b)
		if !ok {
			return
		}
		if want := linePartLoop(b, 1); string(code) != string(want) {
			t.Fatalf("statusCode(%q) = %q, the loop reads %q", b, code, want)
		}
	})
}
