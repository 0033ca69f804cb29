package logformat

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

// refFindHeader is the plain header look-up that findHeader and
// lookupFields over the fields of a head must agree with: each line of the
// block after the first split at its first colon (a line that starts with
// a colon and has a second, an HTTP/2 pseudo-header field, at its second),
// up to the blank line.
func refFindHeader(block []byte, name string) ([]byte, bool) {
	i := bytes.IndexByte(block, '\n')
	if i < 0 {
		return nil, false
	}
	for _, line := range bytes.Split(block[i+1:], []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		n, v, ok := bytes.Cut(line, []byte(":"))
		if ok && len(n) == 0 {
			if rest, v2, ok2 := bytes.Cut(line[1:], []byte(":")); ok2 {
				n, v = line[:1+len(rest)], v2
			}
		}
		if ok && bytes.EqualFold(bytes.TrimRight(n, " \t"), []byte(name)) {
			return bytes.Trim(v, " \t"), true
		}
	}
	return nil, false
}

// unsplit returns the fields as a decoder may leave them: each line, at
// its name's offset, not split (Name.Len < 0).
func unsplit(b []byte, fields []entry.Field) []entry.Field {
	var out []entry.Field
	for _, f := range fields {
		line := b[f.Name.Off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		out = append(out, entry.Field{Name: entry.Span{Off: f.Name.Off, Len: -1}, Value: entry.Span{Off: f.Name.Off, Len: int32(len(line))}})
	}
	return out
}

// refFirstLine is firstLine the plain way.
func refFirstLine(m *entry.Message) []byte {
	b := headerBlock(m)
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

// TestHeaderLookups compares the header look-ups (alone and together),
// firstLine and linePart with their plain versions over random header
// blocks.
func TestHeaderLookups(t *testing.T) {
	names := []string{"", ":x", ":authority", "a", "A", "ab", "aB", "a b", "a:", "a ", " a", "\r", "\ra", "a\r", "a\nb", "b", "-", "ab:c", "x", "ab-ab-ab-ab-x", "AB-ab-ab-ab-ab-ab-x"}
	pieces := []string{"a", "A", "b", "B", "ab", "Ab", ":", " ", "\t", "\r", "\n", "\r\n", "x", "-", "\n\n", "\r\n\r\n",
		"\r\na: v", "\nAB :v ", "\r\nb:", "\n\ra:", "\n:x", "\n \t: y", "\nx:a:b", "\n:authority: h", "\n:x:y", "GET / HTTP/1.1", "HTTP/1.1 200 OK", "HTTP/1.1  404 \t",
		"\nAb-AB-aB-ab-x: v", "\r\nab-ab-ab-ab-ab-ab-x :w", "\nab-ab-ab-ab-x\t"}
	r := rand.New(rand.NewPCG(1, 2))
	var b []byte
	hits := 0
	for range 200000 {
		b = b[:0]
		for range r.IntN(24) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		name := names[r.IntN(len(names))]
		hm := &entry.Message{Bytes: b, HTTP: true, HeaderLen: -1}
		if r.IntN(2) == 0 {
			hm.Fields, hm.HasFields = entry.ScanFields(nil, hm), true
		}
		v, ok := findHeader(hm, name)
		wv, wok := refFindHeader(b, name)
		if ok != wok || !bytes.Equal(v, wv) || ok && v == nil {
			t.Fatalf("findHeader(%q, %q) = %q, %v; want %q, %v", b, name, v, ok, wv, wok)
		}
		if ok {
			hits++
		}

		var ks keySet
		for slot := range uint8(r.IntN(maxLookups) + 1) {
			if n := names[r.IntN(len(names))]; plainName(n) {
				ks.add(newHeaderKey(n, slot))
			}
		}
		var values [maxLookups][]byte
		split := entry.ScanFields(nil, hm)
		for i, fields := range [][]entry.Field{split, unsplit(b, split)} {
			clear(values[:])
			found := lookupFields(b, fields, &ks, &values)
			for _, k := range ks.keys {
				wv, wok := refFindHeader(b, k.name)
				if ok := found&(1<<k.slot) != 0; ok != wok || ok && !bytes.Equal(values[k.slot], wv) {
					t.Fatalf("lookupFields(%q, %q, unsplit %v): %q, %v; want %q, %v", b, k.name, i == 1, values[k.slot], ok, wv, wok)
				}
			}
		}

		m := &entry.Message{Bytes: b, Head: r.IntN(4), HeaderLen: r.IntN(len(b)+2) - 1}
		if got, want := firstLine(m), refFirstLine(m); !bytes.Equal(got, want) {
			t.Fatalf("firstLine(%q) = %q, want %q", b, got, want)
		}
		for part := range uint8(3) {
			for _, s := range []side{request, response} {
				if got, want := linePart(headerBlock(m), part, s), lineField(refFirstLine(m), part, s); !bytes.Equal(got, want) {
					t.Fatalf("linePart(%q, %d, %d) = %q, want %q", b, part, s, got, want)
				}
			}
		}
	}
	if hits < 1000 {
		t.Errorf("only %d look-ups found a header", hits)
	}
	t.Logf("%d look-ups found a header", hits)
}

// TestManyHeaderLookups checks a format with more header look-ups than
// Append resolves together, and with names it cannot resolve that way.
func TestManyHeaderLookups(t *testing.T) {
	format := ""
	want := ""
	for _, h := range []struct{ name, value string }{
		{"host", "example.com"}, {"x-none", "-"}, {"user-agent", "curl/8.0"}, {"x-dup", "one"},
		{"X-DUP", "one"}, {"content-type", "text/plain"}, {"x-request-id", "abc-123"}, {"x-user-agent", "evil"},
		{"host", "example.com"}, {"x-request-id", "abc-123"}, {"user-agent", "curl/8.0"},
	} {
		format += "%request.header." + h.name + "|"
		want += h.value + "|"
	}
	format += "%request.header.value(x-dup )|%request.header.value(a:b)|%response.header.server|%response.header.value(content-length)"
	want += "||test|5"
	f, err := Parse(format)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Append(nil, sample(), utc)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
