package logformat

import (
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

// tlsEntry is a TLS connection's entry, as the engine makes it.
func tlsEntry() *entry.Entry {
	e := sample()
	e.Request = entry.Message{Size: 1500, HeaderLen: -1, First: us(10), Last: us(90)}
	e.Response = entry.Message{Size: 7000, HeaderLen: -1, First: us(20), Last: us(100)}
	e.TLS = &entry.TLS{SNI: []byte("api.example.com"), Version: 0x0304, ALPN: []byte("h2,http/1.1"), RoundTrips: 3}
	return e
}

func TestTLSKeywords(t *testing.T) {
	for _, tc := range []struct {
		format string
		e      func() *entry.Entry
		want   string
	}{
		{"%tls.sni %tls.version %tls.alpn %tls.round-trips %request.size %response.size", tlsEntry,
			"api.example.com TLS_1.3 h2,http/1.1 3 1500 7000"},
		{"[%request.line] [%response.line] [%request] [%response.body] [%request.header] %request.method %response.code %request.header.host",
			tlsEntry, "[-] [-] [-] [-] [-] - - -"},
		{"%tls.round-trips.|%tls.round-trips-|%tls.sni-x|%tls.alpn(none)", tlsEntry, "3.|3-|api.example.com-x|h2,http/1.1"},
		{"%tls.round-trips %tls.alpn(none) %tls.version(v?) %tls.sni", func() *entry.Entry {
			e := tlsEntry()
			e.TLS = &entry.TLS{RoundTrips: 2, LowerBound: true}
			return e
		}, "2+ none v? -"},
		// Not a TLS connection: the TLS keywords print the not-found
		// value, the others as before.
		{"%tls.round-trips %tls.alpn %tls.sni %request.method", sample, "- - - POST"},
	} {
		f, err := Parse(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		if got := string(f.Append(nil, tc.e(), nil)); got != tc.want {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.format, got, tc.want)
		}
	}
	if _, err := Parse("%tls.round-trip"); err == nil {
		t.Errorf("%%tls.round-trip parsed")
	}
}

func TestTLSKeywordsDoNotAllocate(t *testing.T) {
	f, _ := Parse("%tls.sni %tls.version %tls.alpn %tls.round-trips %request.line %close.originator")
	e := tlsEntry()
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { dst = f.Append(dst[:0], e, nil) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
