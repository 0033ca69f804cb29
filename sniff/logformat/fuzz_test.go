package logformat

import (
	"testing"

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
