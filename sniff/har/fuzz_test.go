package har

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/harcheck"
	"github.com/sniffer/sniffer/sniff/entry"
)

// FuzzAppendEntry renders entries of arbitrary bytes, offsets and times:
// never a panic, and always an entry that harcheck accepts (valid JSON,
// the HAR 1.2 fields and types, timings that add up, an absolute URL), or
// none when the request is not HTTP.
func FuzzAppendEntry(f *testing.F) {
	f.Add([]byte("GET /a?b=c&d HTTP/1.1\r\nHost: a.test\r\nCookie: x=y; z\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nSet-Cookie: s=1; Path=/\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"),
		0, -1, 0, -1, true, true, int64(1000), int64(2000), int64(3000), int64(100), int64(-5), false)
	f.Add([]byte("GET http://x\xff/\"\\ HTTP/1.1\r\nHost: [::1\r\n\r\n"), []byte("HTTP/1.1 1000 \x00\r\n\r\n"), 5, 3, 100, 7, true, true, int64(0), int64(-1), int64(0), int64(0), int64(0), true)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\n\r\n"), 0, 18, 0, 19, true, true, int64(-1<<62), int64(1<<62), int64(-1<<62+1), int64(1<<62), int64(1<<62), false)
	f.Add([]byte("CONNECT a:1 HTTP/1.1\r\n\r\n"), []byte{}, 0, 0, 0, 0, true, false, int64(5), int64(0), int64(0), int64(0), int64(0), false)
	f.Fuzz(func(t *testing.T, req, resp []byte, reqHead, reqHeaderLen, respHead, respHeaderLen int, reqHTTP, respHTTP bool,
		syn, hs, first, d1, d2 int64, v6 bool) {
		// Times near a base, in microseconds, or anywhere (seconds, when
		// first is odd): pcapng timestamps can be anything.
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		at := func(x int64) time.Time {
			switch {
			case x == 0:
				return time.Time{}
			case first&1 == 1:
				return time.Unix(x, 0)
			}
			return base.Add(time.Duration(x%1e12) * time.Microsecond)
		}
		server := netip.MustParseAddrPort("10.0.0.2:80")
		if v6 {
			server = netip.MustParseAddrPort("[fd00::2]:80")
		}
		e := &entry.Entry{Server: server, Conn: uint64(len(req)), Annotation: entry.Annotation(len(resp) % 6),
			SYN: at(syn), HandshakeDone: at(hs),
			Request: entry.Message{Bytes: req, Size: int64(len(req)) + d1, Head: reqHead, HeaderLen: reqHeaderLen, HTTP: reqHTTP,
				First: at(first), Last: at(first + d1)},
			Response: entry.Message{Bytes: resp, Size: int64(len(resp)) + d2, Head: respHead, HeaderLen: respHeaderLen, HTTP: respHTTP,
				First: at(first + d2), Last: at(first + d1 + d2)},
		}
		b, ok := AppendEntry(nil, e, &Options{Location: time.UTC})
		if !ok {
			if reqHTTP || len(b) != 0 {
				t.Fatalf("not written: HTTP %v, %q", reqHTTP, b)
			}
			return
		}
		var log bytes.Buffer
		w := NewWriter(&log, Options{})
		w.Add(e)
		w.Add(e)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		l, err := harcheck.Validate(log.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, log.Bytes())
		}
		if len(l.Entries) != 2 {
			t.Fatalf("%d entries; want 2", len(l.Entries))
		}
	})
}
