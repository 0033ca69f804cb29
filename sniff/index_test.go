package sniff_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/httpframe"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// lookupFormat looks up many headers of both sides, some twice, some that
// are never there, some that differ only in case.
const lookupFormat = "%request.header.host|%request.header.HOST|%request.header.x-a|%request.header.value(Transfer-Encoding)|%request.header.x-long|%request.header.get|" +
	"%response.header.content-length|%response.header.Content-Type|%response.header.x-a|%response.header.value(x-b)|%request.line|%response.code"

// TestHeaderFieldsCaptures checks that the header fields the engine frames
// (entry.Message.Fields) print exactly what looking for the headers in the
// kept bytes prints, over every capture of testdata/oracle.
func TestHeaderFieldsCaptures(t *testing.T) {
	paths, err := filepath.Glob("../testdata/oracle/*.pcap")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{logformat.Default, fullFormat, lookupFormat} {
			for _, cfg := range []sniff.Config{{}, {HeaderCap: 40}} {
				with := runCaptureIndex(t, data, format, cfg, true)
				without := runCaptureIndex(t, data, format, cfg, false)
				if with != without {
					t.Errorf("%s, header cap %d, format %.30q…: with the fields\n%s\nscanning the bytes\n%s", filepath.Base(path), cfg.HeaderCap, format, with, without)
				}
			}
		}
	}
}

// TestHeaderFieldsRandom does the same over random segmentations of two
// streams whose heads hold what the fields must get right: CRLFs before a
// request line, blanks before a colon, repeated and differently cased
// names, a line longer than the parser keeps of a split line, a 1xx
// response, chunked bodies, bare LFs, a continuation line; and checks that
// each message's Fields are those a scan of its kept head finds.
func TestHeaderFieldsRandom(t *testing.T) {
	long := bytes.Repeat([]byte("y"), 300)
	stream := [2][]byte{
		[]byte("GET /a HTTP/1.1\r\nHost: h\r\nX-A : one \r\nx-a: two\r\n\r\n\r\nPOST /b HTTP/1.1\r\nHOST:\th2\t\r\nTransfer-Encoding: chunked\r\nX-Long: " + string(long) + "\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
			"GET /c HTTP/1.1\nHost: bare-lf\nGet: x\n\nGET /d HTTP/1.1\r\nX-Long: short\r\n X-A: folded\r\nHost: " + string(long) + "\r\n\r\n"),
		[]byte("HTTP/1.1 100 Continue\r\nX-A: interim\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-B: " + string(long) + "\r\n\r\nok" +
			"HTTP/1.1 200 OK\r\nContent-Length :  3 \r\ncontent-type: a\r\n\r\nabc\r\nHTTP/1.1 200 OK\nX-A: lf\nContent-Length: 0\n\n" +
			"HTTP/1.1 204 No Content\r\nX-A: " + string(long) + "\r\nX-B: b\r\n\r\n"),
	}
	f, err := logformat.Parse(lookupFormat)
	if err != nil {
		t.Fatal(err)
	}
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	r := rand.New(rand.NewPCG(7, 8))
	framed, messages := 0, 0 // messages that came with fields, of all
	run := func(segs [][3]int, headerCap int, index bool) string {
		var out []byte
		cfg := sniff.Config{HeaderCap: headerCap, Emit: func(e *entry.Entry) {
			for _, m := range []*entry.Message{&e.Request, &e.Response} {
				messages++
				if head := bytes.TrimLeft(m.Bytes[m.Head:], "\r\n"); !m.HasFields && m.HTTP && headerCap == 0 &&
					(bytes.HasPrefix(head, []byte("GET ")) || bytes.HasPrefix(head, []byte("POST ")) || bytes.HasPrefix(head, []byte("HTTP/1."))) {
					// Heads that a request continued in a new exchange
					// (after early responses) begins, or that a cap cut,
					// are read in the bytes; others are not.
					t.Errorf("no fields for a whole head (%q)", m.Bytes)
				}
				if !m.HasFields {
					continue
				}
				framed++
				if got, want := fieldsString(m, m.Fields), fieldsString(m, entry.ScanFields(nil, m)); got != want {
					t.Fatalf("fields %s, a scan of the kept head %s (%q, head %d, len %d, cut %v)", got, want, m.Bytes, m.Head, m.HeaderLen, m.HeadTruncated)
				}
				if !index {
					m.HasFields = false
				}
			}
			out = f.Append(out, e, opts)
			out = append(out, '\n')
		}}
		eng := sniff.New(cfg)
		isn := [2]uint32{1000, 5000}
		ts := time.Unix(1795462057, 0)
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(true, isn[0], 0, 0x02, nil))
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(false, isn[1], isn[0]+1, 0x12, nil))
		for _, s := range segs {
			dir, off, end := s[0], s[1], s[2]
			ts = ts.Add(time.Millisecond)
			eng.Packet(layers.LinkTypeRaw, ts, rawSegment(dir == 0, isn[dir]+1+uint32(off), isn[1-dir]+1, 0x18, stream[dir][off:end]))
		}
		eng.Finish()
		return string(out)
	}
	for i := range 3000 {
		// Each direction cut into random pieces, the two interleaved in
		// order (a request's bytes before its response's).
		var segs [][3]int
		var pos [2]int
		for pos[0] < len(stream[0]) || pos[1] < len(stream[1]) {
			dir := r.IntN(2)
			if pos[dir] == len(stream[dir]) {
				dir = 1 - dir
			}
			n := 1 + r.IntN(80)
			if r.IntN(4) == 0 {
				n = 1 + r.IntN(400)
			}
			end := min(pos[dir]+n, len(stream[dir]))
			segs = append(segs, [3]int{dir, pos[dir], end})
			pos[dir] = end
		}
		headerCap := 0
		if i%3 == 0 {
			headerCap = 20 + r.IntN(300)
		}
		with, without := run(segs, headerCap, true), run(segs, headerCap, false)
		if with != without {
			t.Fatalf("round %d (header cap %d): with the fields\n%s\nscanning the bytes\n%s", i, headerCap, with, without)
		}
		if i == 0 && !bytes.Contains([]byte(with), []byte("h|h|one|")) {
			t.Fatalf("the look-ups found nothing:\n%s", with)
		}
	}
	t.Logf("%d of %d messages came with fields", framed, messages)
	if framed < messages/3 {
		t.Fatalf("only %d of %d messages came with fields: the comparison would mostly compare the look-ups with themselves", framed, messages)
	}
}

// fieldsString shows fields of m as name=value pairs.
func fieldsString(m *entry.Message, fields []entry.Field) string {
	var b strings.Builder
	for _, f := range fields {
		if name, value, ok := f.Split(m.Bytes); ok {
			fmt.Fprintf(&b, "%q=%q ", name, value)
		}
	}
	return b.String()
}

// TestHeaderFieldsManyLines checks the bound on the fields of one head: a
// head with more lines than the parser records comes without fields, and
// its headers are still found, in the bytes.
func TestHeaderFieldsManyLines(t *testing.T) {
	f, err := logformat.Parse("%request.header.x-last|%request.header.x-first")
	if err != nil {
		t.Fatal(err)
	}
	for _, lines := range []int{10, 300} {
		req := "GET / HTTP/1.1\r\nX-First: 1\r\n" + strings.Repeat("X-N: v\r\n", lines) + "X-Last: yes\r\n\r\n"
		resp := "HTTP/1.1 204 No Content\r\n\r\n"
		var out []byte
		has := false
		eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) {
			has = e.Request.HasFields
			out = f.Append(out, e, &logformat.Options{NotFound: "-", Location: time.UTC})
		}})
		ts := time.Unix(1795462057, 0)
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(true, 1000, 0, 0x02, nil))
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(false, 5000, 1001, 0x12, nil))
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(true, 1001, 5001, 0x18, []byte(req)))
		eng.Packet(layers.LinkTypeRaw, ts, rawSegment(false, 5001, 1001+uint32(len(req)), 0x18, []byte(resp)))
		eng.Finish()
		if string(out) != "yes|1" {
			t.Errorf("%d lines: printed %q, want %q", lines, out, "yes|1")
		}
		if want := lines+2 <= httpframe.MaxLines; has != want {
			t.Errorf("%d lines: HasFields %v, want %v", lines, has, want)
		}
	}
}
