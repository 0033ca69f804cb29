package httpframe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

// mark is an event and the stream offset where it happened.
type mark struct {
	off int
	ev  Event
}

// run feeds data in pieces of the given size and returns the events with
// their absolute offsets (consecutive Skipped events, which depend on the
// pieces, as one; held bytes counted in the message they begin).
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
			if h := len(p.Held()); h > 0 && len(out) > 0 && out[len(out)-1].ev == Skipped {
				out[len(out)-1].off -= h
				prev := 0
				if len(out) > 1 {
					prev = out[len(out)-2].off
				}
				if out[len(out)-1].off == prev {
					out = out[:len(out)-1] // only held bytes were skipped
				}
			}
			off += n
			chunk = chunk[n:]
			if ev == NotHTTP {
				// Where in the rejected line it stops depends on the
				// pieces; the bytes all belong to the rejected message.
				out = append(out, mark{-1, ev})
				return out
			}
			if ev == Skipped && len(out) > 0 && out[len(out)-1].ev == Skipped {
				out[len(out)-1].off = off
			} else if ev != More {
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
		{"not http after a message resyncs", Request, 0, get + "*2\r\n$3\r\nGET\r\n" + get,
			[]mark{{len(get), Done}, {len(get) + 4, Malformed}, {len(get) + 13, Skipped}, {2*len(get) + 13, Done}}},
		{"bad request line after a message resyncs", Request, 0, get + "GET /x\r\n\r\n" + get,
			[]mark{{len(get), Done}, {len(get) + 8, Malformed}, {len(get) + 10, Skipped}, {2*len(get) + 10, Done}}},
		{"bad status line after a message resyncs", Response, 0, resp + "HTTP/1.1 2x0 OK\r\nA: b\r\n\r\n" + resp,
			[]mark{{len(resp) - 3, HeadDone}, {len(resp), Done}, {len(resp) + 17, Malformed}, {len(resp) + 25, Skipped},
				{2*len(resp) + 22, HeadDone}, {2*len(resp) + 25, Done}}},
		{"not http after CONNECT stops", Request, 0, "CONNECT h:443 HTTP/1.1\r\n\r\n\x16\x03\x01GET / HTTP/1.1\r\n\r\n",
			[]mark{{26, Done}, {-1, NotHTTP}}},
		{"not http after an Upgrade request stops", Request, 0, "GET /ws HTTP/1.1\r\nupgrade: websocket\r\n\r\n\x81\x05GET / HTTP/1.1\r\n\r\n",
			[]mark{{40, Done}, {-1, NotHTTP}}},
		{"content-length list", Request, 0, "POST /p HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello" + get,
			[]mark{{42, HeadDone}, {47, Done}, {47 + len(get), Done}}},
		{"content-length repeated", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2,,2\r\n\r\nok" + resp,
			[]mark{{60, HeadDone}, {62, Done}, {62 + len(resp) - 3, HeadDone}, {62 + len(resp), Done}}},
		// The request right after the body is in the body's line: without a
		// Boundary, the next one is found.
		{"content-length conflict resyncs", Request, 0, "POST /p HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello" + get + get,
			[]mark{{42, Done}, {47 + len(get), Skipped}, {47 + 2*len(get), Done}}},
		{"content-length lines conflict resyncs", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello\r\n" + resp,
			[]mark{{57, Done}, {64, Skipped}, {64 + len(resp) - 3, HeadDone}, {64 + len(resp), Done}}},
		{"content-length conflict after CONNECT request", Request, 0, "CONNECT h:443 HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nhello",
			[]mark{{48, Done}, {-1, NotHTTP}}},
		{"content-length conflict in a 304", Response, 0, "HTTP/1.1 304 Not Modified\r\nContent-Length: 1, 2\r\n\r\n" + resp,
			[]mark{{51, Done}, {51 + len(resp) - 3, HeadDone}, {51 + len(resp), Done}}},
		{"chunked overrides a bad content-length", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
			[]mark{{66, HeadDone}, {77, Done}}},
		{"lower-case method is not http", Request, 0, "get / HTTP/1.1\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"request line without protocol", Request, 0, "GET /\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"not http response", Response, 0, "+OK\r\n", []mark{{-1, NotHTTP}}},
		{"bad status", Response, 0, "HTTP/1.1 2x0 OK\r\n\r\n", []mark{{-1, NotHTTP}}},
		{"crlf between messages", Request, 0, get + "\r\n" + get, []mark{{len(get), Done}, {2*len(get) + 2, Done}}},
		{"bare LF lines", Request, 0, "GET / HTTP/1.0\nContent-Length: 2\n\nok", []mark{{34, HeadDone}, {36, Done}}},
		{"content-length in blanks", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length:\t 2 \t\r\n\r\nok", []mark{{41, HeadDone}, {43, Done}}},
		{"content-length after a no-break space", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length: \u00a02\r\n\r\nok", []mark{{40, HeadDone}, {42, Done}}},
		{"content-length with a sign", Response, 0, "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", []mark{{39, Done}}},
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

// A start line cut right at its beginning by the end of a piece is found
// while hunting: its first bytes are held, and Held gives them back.
func TestHuntFindsSplitCandidate(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		parts []string
		held  string
	}{
		{Request, []string{"xx\nGE", "T / HTTP/1.1\r\n\r\n"}, "GE"},
		{Request, []string{"xx\nG", "E", "T", " ", "/ HTTP/1.1\r\n\r\n"}, "GET "},
		{Response, []string{"body\r\nHTTP/1", ".1 204 No Content\r\n\r\n"}, "HTTP/1"},
	} {
		var p Parser
		p.Init(tc.kind)
		p.Resync()
		var msg []byte
		var evs []Event
		for _, part := range tc.parts {
			b := []byte(part)
			for len(b) > 0 {
				n, ev := p.Feed(b)
				if ev != Skipped {
					msg = append(append(msg, p.Held()...), b[:n]...)
				}
				if ev != More {
					evs = append(evs, ev)
				}
				b = b[n:]
			}
		}
		want := tc.held + tc.parts[len(tc.parts)-1]
		if string(msg) != want || evs[len(evs)-1] != Done || p.Messages() != 1 {
			t.Errorf("%q: message %q, events %v; want %q, Done", tc.parts, msg, evs, want)
		}
		if p.Consumed() != len(want) {
			t.Errorf("%q: Consumed = %d, want %d", tc.parts, p.Consumed(), len(want))
		}
	}
	// Held bytes that turn out not to start a message are skipped, and
	// the line they began is passed over whole.
	var p Parser
	p.Init(Request)
	p.Resync()
	got := run(&p, "GE\nGET / HTTP/1.1\r\n\r\n", 2)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{3, Skipped}, {21, Done}}) {
		t.Errorf("events = %v", got)
	}
	p.Init(Request)
	p.Resync()
	got = run(&p, "GETX GET / HTTP/1.1\r\n\r\n", 2)
	if fmt.Sprint(got) != fmt.Sprint([]mark{{23, Skipped}}) {
		t.Errorf("events = %v", got)
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

// unit is what FuzzParser compares: the bytes of the stream from one event
// that is not More to the next, the event, and what the parser says then.
// Consecutive Skipped events make one unit, and bytes Held gives back belong
// to the message they begin, not to the Skipped unit before it: so defined,
// the units do not depend on the pieces the stream comes in. A message that
// is not HTTP (NotHTTP, or what follows Upgrade) takes the rest of the
// stream.
type unit struct {
	ev       Event
	data     []byte
	status   int
	method   Method
	messages int
}

func (u unit) String() string {
	return fmt.Sprintf("{%d %q status %d method %d messages %d}", u.ev, u.data, u.status, u.method, u.messages)
}

// rest marks the unit of the bytes after an Upgrade.
const rest Event = 255

// framed is the outcome of one run of FuzzParser.
type framed struct {
	units []unit
	// heads holds the fields (SwapFields) of each head, read in the
	// message's bytes.
	heads []string
	// The state at the end, and what Close returned.
	inMessage, closeDelimited, closed bool
	messages                          int
}

// frame feeds data to a new parser set up by kind, in pieces of the sizes
// next returns, and checks what must hold whatever the pieces.
func frame(t *testing.T, data []byte, kind uint8, next func() int) framed {
	t.Helper()
	var p Parser
	p.Init(Kind(kind & 1))
	if kind&2 != 0 {
		p.Resync()
	}
	p.SetRequestMethod(Method(kind >> 2 % 3))
	if kind&16 != 0 {
		p.RecordLines(true)
	}
	var out framed
	var cur, msg []byte // bytes of the unit, and of the message, so far
	headSeen := false
	var buf []entry.Field
	add := func(ev Event) {
		u := unit{ev, cur, p.Status(), p.Method(), p.Messages()}
		if n := len(out.units); ev == Skipped && n > 0 && out.units[n-1].ev == Skipped {
			out.units[n-1].data = append(out.units[n-1].data, cur...)
		} else {
			out.units = append(out.units, u)
		}
		cur = nil
	}
	for off := 0; off < len(data); {
		end := min(off+next(), len(data))
		b := data[off:end]
		off = end
		for len(b) > 0 {
			n, ev := p.Feed(b)
			if n < 0 || n > len(b) || n == 0 && ev != NotHTTP {
				t.Fatalf("Feed(%q) = %d, %v", b, n, ev)
			}
			if h := p.Held(); len(h) > 0 {
				// Given back from the Skipped unit just before.
				k := len(out.units) - 1
				if len(cur) > 0 || k < 0 || out.units[k].ev != Skipped || !bytes.HasSuffix(out.units[k].data, h) {
					t.Fatalf("Held %q does not end the bytes skipped (%v, %q)", h, out.units, cur)
				}
				d := out.units[k].data
				if out.units[k].data = d[:len(d)-len(h)]; len(out.units[k].data) == 0 {
					out.units = out.units[:k]
				}
				cur = append(cur, h...)
				msg = append(msg[:0], h...)
			}
			cur = append(cur, b[:n]...)
			msg = append(msg, b[:n]...)
			b = b[n:]

			switch ev {
			case More:
				continue
			case NotHTTP, Upgrade:
				if ev == NotHTTP {
					cur = append(append(cur, b...), data[off:]...)
				}
				add(ev)
				if ev == Upgrade {
					cur = append(append([]byte(nil), b...), data[off:]...)
					add(rest)
				}
				if n, again := p.Feed([]byte("GET / HTTP/1.1\r\n\r\n")); n != 0 || again != NotHTTP || !p.Stopped() {
					t.Fatalf("after %v: Feed = %d, %v", ev, n, again)
				}
				out.messages = p.Messages()
				return out
			case HeadDone, Done, Interim:
				if p.Consumed() != len(msg) {
					t.Fatalf("%v: Consumed = %d, want %d", ev, p.Consumed(), len(msg))
				}
				fs, ok := p.SwapFields(buf)
				buf = fs
				if kind&16 == 0 && len(fs) > 0 {
					t.Fatalf("fields framed without RecordLines: %v", fs)
				}
				if !headSeen && kind&16 != 0 {
					got := strings.Join(fieldStrings(t, msg, fs), " ")
					if !ok {
						got += " (over)"
					}
					if want := scanFields(msg); got != want && !strings.HasSuffix(got, "(over)") {
						t.Fatalf("%v: fields %s, a scan of the head %s (%q)", ev, got, want, msg)
					}
					out.heads = append(out.heads, got)
				}
				headSeen = true
			}
			add(ev)
			if ev != HeadDone {
				msg = msg[:0]
				headSeen = false
			}
		}
	}
	if len(cur) > 0 {
		add(More)
	}
	out.inMessage, out.closeDelimited = p.InMessage(), p.CloseDelimited()
	out.closed = p.Close()
	out.messages = p.Messages()
	return out
}

// fieldStrings returns fields (SwapFields) split in msg, the message's
// bytes, as name=value strings; it checks that each is a whole line of msg.
func fieldStrings(t *testing.T, msg []byte, fields []entry.Field) []string {
	t.Helper()
	var out []string
	for _, f := range fields {
		off, end := int(f.Value.Off), int(f.Value.Off+f.Value.Len)
		if f.Name.Len != -1 || f.Name.Off != f.Value.Off || off <= 0 || end >= len(msg) || msg[off-1] != '\n' ||
			!bytes.HasPrefix(msg[end:], []byte("\n")) && !bytes.HasPrefix(msg[end:], []byte("\r\n")) {
			t.Fatalf("field %+v is not a line of the message %q", f, msg)
		}
		if name, value, ok := f.Split(msg); ok {
			out = append(out, fmt.Sprintf("%q=%q", name, value))
		}
	}
	return out
}

// scanFields returns the fields of the head that begins msg, as linesFields
// shows them, found by a plain reading of the bytes: CRs and LFs before the
// start line are passed over, the start line skipped, then each line up to
// the blank one split at its first colon (a line that starts with one and
// has a second: at the second).
func scanFields(msg []byte) string {
	b := bytes.TrimLeft(msg, "\r\n")
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(b[i+1:]), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if name == "" {
			// An HTTP/2 pseudo-header line (entry.LineField): up to
			// the second colon.
			if n, v, ok := strings.Cut(value, ":"); ok {
				name, value = ":"+n, v
			}
		}
		out = append(out, fmt.Sprintf("%q=%q", strings.TrimRight(name, " \t"), strings.Trim(value, " \t")))
	}
	return strings.Join(out, " ")
}

// FuzzParser checks that the parser frames a stream the same whatever the
// sizes of the pieces it comes in: whole, one byte at a time, and cut where
// the fuzzer says (each byte of cuts is a piece's size less one).
func FuzzParser(f *testing.F) {
	for _, s := range []struct {
		data string
		kind uint8
	}{
		{"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 16},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1},
		{"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", 16},
		{"POST /p HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello\r\nGET / HTTP/1.1\r\n\r\n", 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab\nHTTP/1.1 204 x\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\n\r\n*2\r\n$3\r\nGET / HTTP/1.1\r\n\r\n", 0},
		{"CONNECT h:1 HTTP/1.1\r\n\r\n\x16\x03GET / HTTP/1.1\r\n\r\n", 0},
		{"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n", 16},
		{"HTTP/1.1 101 Switching\r\n\r\nGET / HTTP/1.1\r\n", 1},
		{"HTTP/1.1 200 OK\r\n\r\n\x16\x03", 1 | 2<<2},
		{"ody\r\nxx GET / HTTP/1.1\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 2 | 16},
		{"tail\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 3},
		{"GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nContent-Length:" + strings.Repeat(" ", 250) + "3\r\n\r\nabc", 16},
	} {
		f.Add([]byte(s.data), s.kind, []byte{1, 6, 0, 30})
	}
	f.Fuzz(checkPieces)
}

// checkPieces frames data whole, cut by cuts, and byte by byte, and compares.
func checkPieces(t *testing.T, data []byte, kind uint8, cuts []byte) {
	whole := frame(t, data, kind, func() int { return len(data) })
	k := 0
	split := frame(t, data, kind, func() int {
		k++
		if len(cuts) == 0 {
			return 3
		}
		return int(cuts[k%len(cuts)]) + 1
	})
	bytewise := frame(t, data, kind, func() int { return 1 })
	for _, got := range []struct {
		name string
		f    framed
	}{{"split", split}, {"byte by byte", bytewise}} {
		g := got.f
		if fmt.Sprint(g.units) != fmt.Sprint(whole.units) {
			t.Fatalf("%s:\n%v\nwhole:\n%v", got.name, g.units, whole.units)
		}
		if g.inMessage != whole.inMessage || g.closeDelimited != whole.closeDelimited || g.closed != whole.closed || g.messages != whole.messages {
			t.Fatalf("%s: end state %+v, whole %+v", got.name, g, whole)
		}
		if fmt.Sprint(g.heads) != fmt.Sprint(whole.heads) {
			t.Fatalf("%s: fields\n%v\nwhole:\n%v", got.name, g.heads, whole.heads)
		}
	}
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

// After lost framing, a message that starts in the middle of a line is found
// at a Boundary, and only there.
func TestBoundary(t *testing.T) {
	head := "POST /p HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"
	next := "GET /b HTTP/1.1\r\n\r\n"
	for _, boundary := range []bool{false, true} {
		var p Parser
		p.Init(Request)
		var evs []mark
		off := 0
		for _, part := range []string{head, "hello", next} {
			if boundary {
				p.Boundary()
			}
			b := []byte(part)
			for len(b) > 0 {
				n, ev := p.Feed(b)
				off += n
				b = b[n:]
				if ev != More {
					evs = append(evs, mark{off, ev})
				}
			}
		}
		want := []mark{{len(head), Done}, {len(head) + 5, Skipped}, {len(head) + 5 + len(next), Done}}
		if !boundary {
			want = []mark{{len(head), Done}, {len(head) + 5, Skipped}, {len(head) + 5 + len(next), Skipped}}
		}
		if fmt.Sprint(evs) != fmt.Sprint(want) {
			t.Errorf("boundary %v: events %v, want %v", boundary, evs, want)
		}
	}
	// Outside hunting, Boundary changes nothing.
	var p Parser
	p.Init(Request)
	p.Feed([]byte("GET /x"))
	p.Boundary()
	if n, ev := p.Feed([]byte("GET HTTP/1.1\r\n\r\n")); n != 16 || ev != Done {
		t.Errorf("Feed = %d, %v; want 16, Done", n, ev)
	}
}

// A Boundary ends the line of a Malformed message: the request after it is
// not taken for the rest of that line.
func TestBoundaryEndsMalformedLine(t *testing.T) {
	var p Parser
	p.Init(Request)
	var evs []mark
	off := 0
	for _, part := range []string{"POST /form HTTP/1.1\r\n\r\na=1&b=2", "GET /next HTTP/1.1\r\n\r\n"} {
		p.Boundary()
		b := []byte(part)
		for len(b) > 0 {
			n, ev := p.Feed(b)
			off += n
			b = b[n:]
			if ev != More {
				evs = append(evs, mark{off, ev})
			}
		}
	}
	if want := []mark{{23, Done}, {30, Malformed}, {52, Done}}; fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", evs, want)
	}
}

// TestFramePiecesRandom runs FuzzParser's check over random streams made of
// the parts that matter to framing (start lines, framing headers, bodies,
// garbage, lines about as long as the parser keeps), which a short fuzzing
// run rarely puts together.
func TestFramePiecesRandom(t *testing.T) {
	long := func(n int) string { return strings.Repeat(" ", n) }
	parts := [2][]string{{
		"GET / HTTP/1.1\r\n", "HEAD /h HTTP/1.0\n", "POST /p HTTP/1.1\r\n", "CONNECT h:1 HTTP/1.1\r\n", "GET /" + strings.Repeat("a", 250),
		" HTTP/1.1\r\n", "Upgrade: websocket\r\n", "GE", "T /x HTTP/1.1\r\n", "PUT", " ", "get / HTTP/1.1\r\n",
	}, {
		"HTTP/1.1 200 OK\r\n", "HTTP/1.1 204 No Content\r\n", "HTTP/1.0 100 Continue\r\n", "HTTP/1.1 101 Switching\r\n",
		"HTTP/1.1 304\r\n", "HTTP/1", ".1 404 x\r\n", "HTTP/1.1 2x0 bad\r\n",
	}}
	common := []string{
		"Host: x\r\n", "Content-Length: 3\r\n", "content-length: 3, 3\r\n", "Content-Length: 3, 4\r\n", "Content-Length: 0\r\n",
		"Content-Length:" + long(240) + "3\r\n", "Content-Length:" + long(241) + "3\r\n", "Content-Length:" + long(239) + "3\r\n",
		"Transfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip\r\n", "X-A: " + long(250) + "v\r\n", "X-A: a\r\n",
		"\r\n", "\r\n", "\r\n", "\n", "abc", "3\r\nabc\r\n0\r\n\r\n", "zz\r\n", long(250) + "3\r\nabc\r\n", "\x16\x03\x01", "*2\r\n$3\r\n",
		"\r\n", "1;" + long(254) + "\r\nx\r\n",
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		kind := uint8(r.IntN(64))
		var s []byte
		for range r.IntN(24) {
			if k := kind & 1; r.IntN(3) == 0 {
				s = append(s, parts[k][r.IntN(len(parts[k]))]...)
			} else {
				s = append(s, common[r.IntN(len(common))]...)
			}
		}
		cuts := make([]byte, 1+r.IntN(6))
		for i := range cuts {
			cuts[i] = byte(r.IntN(12))
			if r.IntN(8) == 0 {
				cuts[i] = byte(r.IntN(256))
			}
		}
		t.Run("", func(t *testing.T) { checkPieces(t, s, kind, cuts) })
		if t.Failed() {
			t.Fatalf("stream %q kind %d cuts %v", s, kind, cuts)
		}
	}
}

// Start lines read in place (complete in one piece) and piece by piece are
// checked alike: valid and invalid ones, first in a stream and after a
// message.
func TestStartLinesPieces(t *testing.T) {
	requests := []string{
		"GET / HTTP/1.1", "HEAD /x HTTP/1.0", "CONNECT h:443 HTTP/1.1", "PROPPATCH / HTTP/1.1",
		"M-_ / HTTP/1.1", strings.Repeat("A", 24) + " / HTTP/1.1", strings.Repeat("A", 25) + " / HTTP/1.1",
		"GET  HTTP/1.1", "GET / HTTP/1.1 ", "GET / HTTP/1.x", "GET / HTTP/2.0", "get / HTTP/1.1",
		" GET / HTTP/1.1", "GET\t/ HTTP/1.1", "GET / HTTP/1.1\r", "GET", "GET /", "GET / http/1.1",
		"G / HTTP/1.1", "GET HTTP/1.1", "GETHTTP/1.1 HTTP/1.1", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1",
	}
	responses := []string{
		"HTTP/1.1 200 OK", "HTTP/1.0 404", "HTTP/1.1 304 Not Modified", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
		"HTTP/1.1 200OK", "HTTP/1.x 200 OK", "HTTP/2.0 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 2x0 OK",
		"HTTP/1.1 200 OK\r", "HTTP/1.1", "HTTP/1.", "HTTX/1.1 200 OK", "HTTP/1.1 101 x", "HTTP/1.1 100 Continue",
	}
	for _, c := range []struct {
		kind  uint8
		lines []string
		first string
	}{{16, requests, "GET / HTTP/1.1\r\n\r\n"}, {17, responses, "HTTP/1.1 204 x\r\n\r\n"}} {
		for _, line := range c.lines {
			for _, before := range []string{"", c.first} {
				data := before + line + "\r\nHost: x\r\nContent-Length: 1\r\n\r\nz" + c.first
				checkPieces(t, []byte(data), c.kind, []byte{4, 0, 20})
				checkPieces(t, []byte(strings.ReplaceAll(data, "\r\n", "\n")), c.kind, nil)
			}
		}
	}
}
