package redact

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

func msg(s string, head int) entry.Message {
	end := strings.Index(s[head:], "\r\n\r\n")
	return entry.Message{Bytes: []byte(s), Size: int64(len(s)), Head: head, HeaderLen: end + 4, HTTP: true}
}

func TestEntry(t *testing.T) {
	r := New(append(Default, "X-Api-Key"))
	e := &entry.Entry{
		Request:  msg("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t\r\nx-api-key:k\r\nX-Authorization-Hint: keep\r\nCOOKIE: a=b\r\n\r\nbody", 0),
		Response: msg("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: id=42\r\n\r\nok", 25),
	}
	e.Request.Fields, e.Request.HasFields = []entry.Field{{Name: entry.Span{Off: 16, Len: 4}, Value: entry.Span{Off: 22, Len: 1}}}, true
	var scratch entry.Entry
	got := r.Entry(e, &scratch)
	wantReq := "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: [redacted]\r\nx-api-key: [redacted]\r\nX-Authorization-Hint: keep\r\nCOOKIE: [redacted]\r\n\r\nbody"
	if string(got.Request.Bytes) != wantReq {
		t.Errorf("request:\n%q\nwant\n%q", got.Request.Bytes, wantReq)
	}
	if got.Request.HeaderLen != len(wantReq)-4 || got.Request.Size != e.Request.Size {
		t.Errorf("request header len %d size %d", got.Request.HeaderLen, got.Request.Size)
	}
	if got.Request.HasFields || got.Request.Fields != nil {
		t.Error("the header fields of a rewritten message were kept: their offsets are those of the original bytes")
	}
	wantResp := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: [redacted]\r\n\r\nok"
	if string(got.Response.Bytes) != wantResp || got.Response.Head != 25 || string(got.Response.Bytes[25:25+got.Response.HeaderLen]) != "HTTP/1.1 200 OK\r\nSet-Cookie: [redacted]\r\n\r\n" {
		t.Errorf("response: %q head %d len %d", got.Response.Bytes, got.Response.Head, got.Response.HeaderLen)
	}
	if !strings.Contains(string(e.Request.Bytes), "s3cr3t") || !e.Request.HasFields {
		t.Error("the original entry was modified")
	}
}

func TestNothingToRedact(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{Request: msg("GET / HTTP/1.1\r\nHost: h\r\nX-Cookie: no\r\nCookies: no\r\n\r\nCookie", 0)}
	var scratch entry.Entry
	if r.Entry(e, &scratch) != e {
		t.Error("an entry without secrets was copied")
	}
	if New(nil).Entry(e, &scratch) != e {
		t.Error("a Redactor without names rewrote an entry")
	}
}

// TestFailClosed: every line shaped like a listed header is redacted,
// wherever it is and whatever the message's framing says.
func TestFailClosed(t *testing.T) {
	r := New(append(Default, " X-Token "))
	for _, c := range []struct {
		name, in, want string
	}{
		{"folded",
			"GET / HTTP/1.1\r\nAuthorization: Basic\r\n  c2VjcmV0\r\n\tmore secret\r\n \r\nHost: h\r\n continued host\r\n\r\n",
			"GET / HTTP/1.1\r\nAuthorization: [redacted]\r\n  [redacted]\r\n\t[redacted]\r\n \r\nHost: h\r\n continued host\r\n\r\n"},
		{"folded empty value",
			"GET / HTTP/1.1\r\nCookie:\r\n a=s3cr3t\r\n\r\n",
			"GET / HTTP/1.1\r\nCookie: [redacted]\r\n [redacted]\r\n\r\n"},
		{"blanks around the name",
			"GET / HTTP/1.1\r\n\t cookie \t: s3cr3t\r\nx-token\t:s3cr3t\r\n\r\n",
			"GET / HTTP/1.1\r\n\t cookie \t: [redacted]\r\nx-token\t: [redacted]\r\n\r\n"},
		{"in the body",
			"POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\nnote\nSet-Cookie: s3cr3t\n\tfold s3cr3t\nend",
			"POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\nnote\nSet-Cookie: [redacted]\n\t[redacted]\nend"},
		{"bare CR",
			"GET / HTTP/1.1\r\nX: a\rCookie: s3cr3t\rtail s3cr3t\r\nNext: ok\r\n\r\n",
			"GET / HTTP/1.1\r\nX: a\rCookie: [redacted]\r\nNext: ok\r\n\r\n"},
		{"LF only, no final newline",
			"Authorization: s3cr3t\nProxy-Authorization: s3cr3t",
			"Authorization: [redacted]\nProxy-Authorization: [redacted]"},
	} {
		e := &entry.Entry{Request: msg(c.in, 0)}
		if !strings.Contains(c.in, "\r\n\r\n") {
			e.Request.HeaderLen = -1
		}
		var scratch entry.Entry
		got := r.Entry(e, &scratch)
		if string(got.Request.Bytes) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got.Request.Bytes, c.want)
		}
		if i := strings.Index(c.want, "\r\n\r\n"); i >= 0 && got.Request.HeaderLen != i+4 {
			t.Errorf("%s: header length %d, want %d", c.name, got.Request.HeaderLen, i+4)
		}
	}
}

// TestNotHTTP: raw exchanges (and bytes after an upgrade) are redacted line
// by line too.
func TestNotHTTP(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{
		Request:  entry.Message{Bytes: []byte("HELLO\r\nCookie: s3cr3t\r\n\x00\x01binary\n"), HeaderLen: -1},
		Response: entry.Message{Bytes: []byte("\x81\x05frame\nset-cookie:s3cr3t"), HeaderLen: -1},
	}
	var scratch entry.Entry
	got := r.Entry(e, &scratch)
	if string(got.Request.Bytes) != "HELLO\r\nCookie: [redacted]\r\n\x00\x01binary\n" ||
		string(got.Response.Bytes) != "\x81\x05frame\nset-cookie: [redacted]" {
		t.Errorf("got %q / %q", got.Request.Bytes, got.Response.Bytes)
	}
	if got.Request.HTTP || got.Request.HeaderLen != -1 {
		t.Errorf("framing changed: HTTP %v HeaderLen %d", got.Request.HTTP, got.Request.HeaderLen)
	}
}

func TestIncompleteHead(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{Request: entry.Message{Bytes: []byte("GET / HTTP/1.1\r\nCookie: abc"), HeaderLen: -1, HTTP: true}}
	var scratch entry.Entry
	got := r.Entry(e, &scratch)
	if string(got.Request.Bytes) != "GET / HTTP/1.1\r\nCookie: [redacted]" || got.Request.HeaderLen != -1 {
		t.Errorf("got %q", got.Request.Bytes)
	}
}

// TestOffsets: Head and HeaderLen follow the rewrite, and offsets out of
// range stay out of range.
func TestOffsets(t *testing.T) {
	r := New(Default)
	in := "HTTP/1.1 103 Early Hints\r\nSet-Cookie: a-long-secret\r\n\r\nHTTP/1.1 200 OK\r\nCookie: x\r\n\r\nbody"
	head := strings.Index(in, "HTTP/1.1 200")
	e := &entry.Entry{Response: msg(in, head)}
	var scratch entry.Entry
	got := r.Entry(e, &scratch).Response
	want := "HTTP/1.1 103 Early Hints\r\nSet-Cookie: [redacted]\r\n\r\nHTTP/1.1 200 OK\r\nCookie: [redacted]\r\n\r\nbody"
	if string(got.Bytes) != want || got.Head != strings.Index(want, "HTTP/1.1 200") ||
		string(got.Bytes[got.Head:got.Head+got.HeaderLen]) != "HTTP/1.1 200 OK\r\nCookie: [redacted]\r\n\r\n" {
		t.Errorf("got %q head %d len %d", got.Bytes, got.Head, got.HeaderLen)
	}
	bad := &entry.Entry{Request: entry.Message{Bytes: []byte("Cookie: x\r\n"), Head: 20, HeaderLen: 5}}
	g := r.Entry(bad, &scratch).Request
	if g.Head <= len(g.Bytes) || g.Head+g.HeaderLen <= len(g.Bytes) {
		t.Errorf("out-of-range offsets came into range: head %d len %d of %d bytes", g.Head, g.HeaderLen, len(g.Bytes))
	}
}

// TestReuse: the buffers are reused from one entry to the next, without
// allocating.
func TestReuse(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{Request: msg("GET / HTTP/1.1\r\nCookie: s3cr3t\r\n\r\n", 0)}
	var scratch entry.Entry
	r.Entry(e, &scratch)
	if n := testing.AllocsPerRun(100, func() { r.Entry(e, &scratch) }); n != 0 {
		t.Errorf("%v allocations per entry", n)
	}
}

// checkRedacted fails when a line of out shaped like a header of names (in
// the package comment's sense) keeps anything but the replacement, or a
// continuation line of one keeps anything but blanks and the replacement.
// It is written apart from the Redactor, line by line.
func checkRedacted(t *testing.T, names []string, out []byte) {
	t.Helper()
	shaped := func(seg string) int {
		name, _, ok := strings.Cut(seg, ":")
		if !ok {
			return -1
		}
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(n)) && strings.TrimSpace(n) != "" {
				return len(name)
			}
		}
		return -1
	}
	folded := false
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if folded && line != "" && (line[0] == ' ' || line[0] == '\t') {
			if v := strings.TrimLeft(line, " \t"); v != "" && v != Replacement {
				t.Fatalf("continuation line %q of a redacted header kept its value in\n%q", line, out)
			}
			continue
		}
		folded = false
		for start := 0; start <= len(line); {
			if c := shaped(line[start:]); c >= 0 {
				if rest := line[start+c+1:]; rest != " "+Replacement {
					t.Fatalf("line %q keeps %q in\n%q", line, rest, out)
				}
				folded = true
				break
			}
			i := strings.IndexByte(line[start:], '\r')
			if i < 0 {
				break
			}
			start += i + 1
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nCookie: a\r\n b\r\n\r\nbody\nAuthorization: x"), 0, 30, "x-key")
	f.Add([]byte("X: a\rCookie: s\r\n\tz\r\nSet-Cookie:\n"), 0, -1, "")
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Key : v\r\n\r\n"), 25, 25, "X-Key")
	f.Fuzz(func(t *testing.T, b []byte, head, headerLen int, extra string) {
		names := append(append([]string(nil), Default...), extra)
		r := New(names)
		in := append([]byte(nil), b...)
		e := &entry.Entry{Request: entry.Message{Bytes: b, Head: head, HeaderLen: headerLen, HTTP: true}}
		var scratch entry.Entry
		got := r.Entry(e, &scratch).Request
		if !bytes.Equal(b, in) {
			t.Fatal("the input was modified")
		}
		checkRedacted(t, names, got.Bytes)
		inRange := func(h, n int, size int) bool { return h >= 0 && h <= size && n >= 0 && h+n <= size }
		if inRange(head, headerLen, len(b)) != inRange(got.Head, got.HeaderLen, len(got.Bytes)) && headerLen >= 0 {
			t.Fatalf("header block %d+%d of %d bytes became %d+%d of %d", head, headerLen, len(b), got.Head, got.HeaderLen, len(got.Bytes))
		}
		// Redacting again changes nothing more.
		again := r.Entry(&entry.Entry{Request: entry.Message{Bytes: append([]byte(nil), got.Bytes...), HeaderLen: -1}}, &entry.Entry{}).Request
		if !bytes.Equal(again.Bytes, got.Bytes) {
			t.Fatalf("not idempotent:\n%q\n%q", got.Bytes, again.Bytes)
		}
	})
}

// BenchmarkEntry is the cost of --redact on a typical exchange: a request
// with a cookie, a response without secrets and a small body.
func BenchmarkEntry(b *testing.B) {
	r := New(Default)
	e := &entry.Entry{
		Request:  msg("GET /items/1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\nCookie: session=0123456789abcdef\r\n\r\n", 0),
		Response: msg("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n"+strings.Repeat("{\"k\":1}\n", 8), 0),
	}
	var scratch entry.Entry
	b.ReportAllocs()
	for b.Loop() {
		r.Entry(e, &scratch)
	}
}
