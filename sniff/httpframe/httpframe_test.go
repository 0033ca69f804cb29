package httpframe

import (
	"fmt"
	"strings"
	"testing"
)

// mark is an event and the stream offset where it happened.
type mark struct {
	off int
	ev  Event
}

// run feeds data in pieces of the given sizes (cycled) and returns the events
// with their absolute offsets.
func run(p *Parser, data string, piece int) []mark {
	var out []mark
	off := 0
	for off < len(data) {
		end := off + piece
		if end > len(data) {
			end = len(data)
		}
		chunk := []byte(data[off:end])
		for len(chunk) > 0 {
			n, ev := p.Feed(chunk)
			off += n
			chunk = chunk[n:]
			if ev == NotHTTP {
				// Where in the rejected line it stops depends on the
				// pieces; the bytes all belong to the rejected message.
				out = append(out, mark{-1, ev})
				return out
			}
			if ev != More {
				out = append(out, mark{off, ev})
			}
			if ev == Upgrade {
				return out
			}
		}
	}
	return out
}

func TestFraming(t *testing.T) {
	get := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	post := "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	chunkedReq := "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
	respChunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	tests := []struct {
		name   string
		kind   Kind
		method Method
		data   string
		want   []mark
	}{
		{"get", Request, 0, get, []mark{{len(get), Done}}},
		{"post", Request, 0, post, []mark{{len(post) - 5, HeadDone}, {len(post), Done}}},
		{"chunked request with trailer", Request, 0, chunkedReq, []mark{{strings.Index(chunkedReq, "4\r\n"), HeadDone}, {len(chunkedReq), Done}}},
		{"two pipelined", Request, 0, get + post, []mark{{len(get), Done}, {len(get) + len(post) - 5, HeadDone}, {len(get) + len(post), Done}}},
		{"response", Response, 0, resp, []mark{{len(resp) - 3, HeadDone}, {len(resp), Done}}},
		{"chunked response", Response, 0, respChunked, []mark{{strings.Index(respChunked, "3\r\n"), HeadDone}, {len(respChunked), Done}}},
		{"HEAD response has no body", Response, HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", []mark{{40, Done}}},
		{"204", Response, 0, "HTTP/1.1 204 No Content\r\n\r\n", []mark{{27, Done}}},
		{"304 ignores content-length", Response, 0, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", []mark{{48, Done}}},
		{"100 then 201", Response, 0, "HTTP/1.1 100 Continue\r\n\r\n" + resp, []mark{{25, Interim}, {25 + len(resp) - 3, HeadDone}, {25 + len(resp), Done}}},
		{"101 upgrade", Response, 0, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", []mark{{56, Upgrade}}},
		{"CONNECT tunnel", Response, CONNECT, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01", []mark{{39, Upgrade}}},
		{"not http request", Request, 0, "\x16\x03\x01\x02\x00", []mark{{-1, NotHTTP}}},
		{"not http after a message", Request, 0, get + "*2\r\n$3\r\nGET\r\n", []mark{{len(get), Done}, {-1, NotHTTP}}},
		{"lower-case method is not http", Request, 0, "get / HTTP/1.1\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"request line without protocol", Request, 0, "GET /\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"not http response", Response, 0, "+OK\r\n", []mark{{-1, NotHTTP}}},
		{"bad status", Response, 0, "HTTP/1.1 2x0 OK\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"crlf between messages", Request, 0, get + "\r\n" + get, []mark{{len(get), Done}, {2*len(get) + 2, Done}}},
		{"bare LF lines", Request, 0, "GET / HTTP/1.0\nContent-Length: 2\n\nok", []mark{{34, HeadDone}, {36, Done}}},
		{"header case", Response, 0, "HTTP/1.0 200 OK\r\ncOnTeNt-LeNgTh: 1\r\n\r\nz", []mark{{38, HeadDone}, {39, Done}}},
	}
	for _, tt := range tests {
		for _, piece := range []int{1, 2, 3, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, piece), func(t *testing.T) {
				var p Parser
				p.Init(tt.kind)
				p.SetRequestMethod(tt.method)
				got := run(&p, tt.data, piece)
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("events = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestCloseDelimited(t *testing.T) {
	var p Parser
	p.Init(Response)
	data := "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close"
	got := run(&p, data, 5)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{30, HeadDone}}) {
		t.Fatalf("events = %v", got)
	}
	if !p.CloseDelimited() {
		t.Fatal("not close-delimited")
	}
	if !p.Close() {
		t.Fatal("Close did not end the message")
	}
	if p.Messages() != 1 {
		t.Fatalf("messages = %d", p.Messages())
	}
}

func TestUnknownTransferEncodingIsCloseDelimited(t *testing.T) {
	var p Parser
	p.Init(Response)
	run(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef", 100)
	if !p.CloseDelimited() {
		t.Fatal("a non-chunked final coding must be close-delimited")
	}
}

func TestPipelineHundred(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
		} else {
			fmt.Fprintf(&b, "PUT /%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", i, i, strings.Repeat("x", i))
		}
	}
	for _, piece := range []int{1, 13, 1 << 20} {
		var p Parser
		p.Init(Request)
		done := 0
		for _, m := range run(&p, b.String(), piece) {
			if m.ev == Done {
				done++
			}
		}
		if done != 100 || p.Messages() != 100 {
			t.Errorf("piece %d: %d messages done, want 100", piece, done)
		}
	}
}

func TestSkipInsideBody(t *testing.T) {
	var p Parser
	p.Init(Response)
	head := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
	run(&p, head+"abc", 100)
	if !p.Skip(4) {
		t.Fatal("a gap inside a Content-Length body must keep the framing")
	}
	if got := p.RemainingKnown(); got != 3 {
		t.Fatalf("remaining = %d, want 3", got)
	}
	got := run(&p, "xyzHTTP/1.1 204 No Content\r\n\r\n", 100)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{3, Done}, {30, Done}}) {
		t.Fatalf("events = %v", got)
	}
}

func TestSkipInHeadResyncs(t *testing.T) {
	var p Parser
	p.Init(Request)
	run(&p, "GET /a HTTP/1.1\r\nHo", 100)
	if p.Skip(10) {
		t.Fatal("a gap in a head cannot keep the framing")
	}
	// Garbage, then a line that merely starts like a method, then a real
	// request line.
	data := "st: x\r\n\r\nGETTING nothing\r\nxx GET / HTTP/1.1\r\nGET /b HTTP/1.1\r\n\r\n"
	got := run(&p, data, 1<<20)
	want := []mark{{len(data) - 19, Skipped}, {len(data), Done}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func TestHuntResponse(t *testing.T) {
	var p Parser
	p.Init(Response)
	p.Resync()
	data := "tail of a body\r\nmore HTTP/1.1 200\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	got := run(&p, data, 1<<20)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{35, Skipped}, {len(data), Done}}) {
		t.Fatalf("events = %v", got)
	}
}

// A start line cut right at its beginning by the end of a piece is not
// recognised while hunting (documented limit of hunt).
func TestHuntLosesSplitCandidate(t *testing.T) {
	var p Parser
	p.Init(Request)
	p.Resync()
	got := run(&p, "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 2)
	for _, m := range got {
		if m.ev != Skipped {
			t.Fatalf("events = %v", got)
		}
	}
}

func TestChunkedSplitEverywhere(t *testing.T) {
	data := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n1234567890abcdef\r\n0\r\nT: 1\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nZ"
	for cut := 1; cut < len(data); cut++ {
		var p Parser
		p.Init(Response)
		var got []mark
		off := 0
		for _, part := range []string{data[:cut], data[cut:]} {
			b := []byte(part)
			for len(b) > 0 {
				n, ev := p.Feed(b)
				off += n
				b = b[n:]
				if ev != More {
					got = append(got, mark{off, ev})
				}
			}
		}
		first := len(data) - len("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nZ")
		want := []mark{{47, HeadDone}, {first, Done}, {len(data) - 1, HeadDone}, {len(data), Done}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("cut %d: events = %v, want %v", cut, got, want)
		}
	}
}

func TestLongLinesAreNotKept(t *testing.T) {
	var p Parser
	p.Init(Request)
	long := strings.Repeat("a", 100000)
	data := "GET /" + long + " HTTP/1.1\r\nX-Long: " + long + "\r\nContent-Length: 2\r\n\r\nok"
	got := run(&p, data, 4096)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{len(data) - 2, HeadDone}, {len(data), Done}}) {
		t.Fatalf("events = %v", got)
	}
}

func TestChunkSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1a": 26, "FF;x=y": 255, " 10": 16, "7fffffffffffffff": -1, "": -1, "zz": -1, ";": -1} {
		n, ok := parseChunkSize([]byte(in))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("parseChunkSize(%q) = %d, want %d", in, n, want)
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), uint8(0), uint8(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8, piece uint8) {
		var p Parser
		p.Init(Kind(kind & 1))
		if kind&2 != 0 {
			p.Resync()
		}
		step := int(piece) + 1
		for off := 0; off < len(data); {
			end := min(off+step, len(data))
			b := data[off:end]
			for len(b) > 0 {
				n, ev := p.Feed(b)
				if n < 0 || n > len(b) {
					t.Fatalf("Feed consumed %d of %d", n, len(b))
				}
				if n == 0 && ev == More {
					t.Fatal("Feed made no progress")
				}
				b = b[n:]
				if ev == NotHTTP || ev == Upgrade {
					return
				}
			}
			off = end
		}
	})
}

func BenchmarkFeed(b *testing.B) {
	msg := []byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 23 Nov 2026 19:27:37 GMT\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world")
	var p Parser
	p.Init(Response)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d := msg
		for len(d) > 0 {
			n, _ := p.Feed(d)
			d = d[n:]
		}
	}
}

// BenchmarkFeedNginx frames one exchange shaped like nginx+wrk traffic: a
// bare GET in one segment, and nginx's 200 answer with its 612-byte body in
// another, as the engine feeds them.
func BenchmarkFeedNginx(b *testing.B) {
	req := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\n" +
		"Content-Type: text/html\r\nContent-Length: 612\r\nLast-Modified: Mon, 23 Nov 2026 18:00:00 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"6560a1a0-264\"\r\nAccept-Ranges: bytes\r\n\r\n" + strings.Repeat("x", 612))
	var rq, rs Parser
	rq.Init(Request)
	rs.Init(Response)
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range [...]struct {
			p *Parser
			d []byte
		}{{&rq, req}, {&rs, resp}} {
			d := c.d
			for len(d) > 0 {
				n, _ := c.p.Feed(d)
				d = d[n:]
			}
		}
	}
}
