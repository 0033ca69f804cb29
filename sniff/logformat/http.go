package logformat

import (
	"bytes"
	"strings"

	"github.com/sniffer/sniffer/sniff/entry"
)

// headerBlock returns the header block of m: the bytes at Head, through the
// blank line when the block is complete (HeaderLen >= 0), else up to the end
// of what was kept. Offsets out of range give an empty or shorter block.
func headerBlock(m *entry.Message) []byte {
	b := m.Bytes
	if m.Head < 0 || m.Head > len(b) {
		return nil
	}
	b = b[m.Head:]
	if m.HeaderLen >= 0 && m.HeaderLen <= len(b) {
		b = b[:m.HeaderLen]
	}
	return b
}

// headerLinesBlock is the header block that header lookups read: for a head
// cut at the header cap (HeadTruncated), only its complete lines, so that
// a value cut short is not printed as if it were whole.
func headerLinesBlock(m *entry.Message) []byte {
	b := headerBlock(m)
	if m.HeadTruncated {
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = b[:0]
		}
	}
	return b
}

// headerComplete reports whether m's header block is complete and in range.
func headerComplete(m *entry.Message) bool {
	return m.HeaderLen >= 0 && m.Head >= 0 && m.Head <= len(m.Bytes) && m.HeaderLen <= len(m.Bytes)-m.Head
}

// headerText returns what %…header prints: the header block without its
// final blank line, so that it ends with the CRLF of the last header line.
// An incomplete block prints as it is.
func headerText(m *entry.Message) []byte {
	b := headerBlock(m)
	if !headerComplete(m) {
		return b
	}
	n := len(b)
	if n == 0 || b[n-1] != '\n' {
		return b
	}
	k := n - 1
	if k > 0 && b[k-1] == '\r' {
		k--
	}
	if k == 0 || b[k-1] == '\n' {
		return b[:k]
	}
	return b
}

// body returns the bytes after m's header block; nil when the block is not
// complete.
func body(m *entry.Message) []byte {
	if !headerComplete(m) {
		return nil
	}
	return m.Bytes[m.Head+m.HeaderLen:]
}

// firstLine returns the bytes at m.Head up to the first CR or LF.
func firstLine(m *entry.Message) []byte { return cutLine(headerBlock(m)) }

// cutLine returns b up to its first CR or LF.
func cutLine(b []byte) []byte {
	// Two bytes.IndexByte rather than one bytes.IndexAny(b, "\r\n"),
	// which builds a byte set and tests the line byte by byte.
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		b = b[:i]
	}
	return b
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// lineField returns a part of an HTTP first line. Parts 0 and 1 are the
// first two blank-separated words (method and URL, or protocol and status
// code); part 2 is the third word of a request line (its protocol) or
// everything after the status code of a status line (the reason phrase,
// which may contain blanks), trimmed.
func lineField(line []byte, part uint8, s side) []byte {
	for n := uint8(0); ; n++ {
		for len(line) > 0 && isBlank(line[0]) {
			line = line[1:]
		}
		if n == 2 && s == response {
			return trimBlanks(line)
		}
		i := 0
		for i < len(line) && !isBlank(line[i]) {
			i++
		}
		if n == part {
			return line[:i]
		}
		line = line[i:]
	}
}

// linePart returns lineField(line, part, s) for the first line of the
// header block b (the line being b up to its first CR or LF), or an empty
// slice where lineField's is empty. The parts but a reason phrase are read
// without first looking for the end of the line: %response.code needs
// only the first bytes of a status line.
func linePart(b []byte, part uint8, s side) []byte {
	if part == 2 && s == response {
		return lineField(cutLine(b), part, s)
	}
	if part == 1 && s == response {
		if code, ok := statusCode(b); ok {
			return code
		}
	}
	return linePartLoop(b, part)
}

// statusCode returns the status code of a status line shaped as nearly all
// are, "HTTP/d.d ddd" and a blank or the line's end, which it checks byte
// by byte: what linePartLoop(b, 1) returns for it. ok is false for any
// other shape.
func statusCode(b []byte) (code []byte, ok bool) {
	if len(b) < 13 || string(b[:5]) != "HTTP/" || wordEnd[b[5]] || wordEnd[b[6]] || wordEnd[b[7]] ||
		b[8] != ' ' || wordEnd[b[9]] || wordEnd[b[10]] || wordEnd[b[11]] || !wordEnd[b[12]] {
		return nil, false
	}
	return b[9:12], true
}

// linePartLoop is linePart word by word: part 0 or 1, or 2 of a request
// line.
func linePartLoop(b []byte, part uint8) []byte {
	for n := uint8(0); ; n++ {
		i := 0
		for i < len(b) && isBlank(b[i]) {
			i++
		}
		b = b[i:]
		i = 0
		for i < len(b) && !wordEnd[b[i]] {
			i++
		}
		if n == part {
			return b[:i]
		}
		if i < len(b) && !isBlank(b[i]) {
			return b[i:i] // the line ended before the part
		}
		b = b[i:]
	}
}

// wordEnd holds the bytes that end a word of a first line: blanks, CR, LF.
var wordEnd = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

func trimBlanks(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// findHeader returns the value of the first header of the given name in a
// header block (whose first line is the request or status line), trimmed
// of blanks. Names compare whole and case-insensitively; continuation lines
// are not joined.
func findHeader(block []byte, name string) ([]byte, bool) {
	if !plainName(name) {
		return findHeaderSplit(block, name)
	}
	var v [1][]byte
	if findHeaders(block, []headerKey{{name: name}}, v[:]) == 0 {
		return nil, false
	}
	return v[0], true
}

// findHeaderSplit is findHeader the plain way: each line split at its first
// colon and the name before it (right-trimmed of blanks) compared with name.
// It serves the names that are not plainName.
func findHeaderSplit(block []byte, name string) ([]byte, bool) {
	i := bytes.IndexByte(block, '\n')
	if i < 0 {
		return nil, false
	}
	rest := block[i+1:]
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			break // the blank line
		}
		colon := headerColon(line)
		if colon < 0 {
			continue
		}
		n := line[:colon]
		for len(n) > 0 && isBlank(n[len(n)-1]) {
			n = n[:len(n)-1]
		}
		if equalFoldASCII(n, name) {
			return trimBlanks(line[colon+1:]), true
		}
	}
	return nil, false
}

// plainName reports whether findHeaders can look for name: it is not empty,
// has no colon or LF and does not end in a blank. Such a name is what is
// before the first colon of a line, right-trimmed, exactly when the line
// starts with it followed by blanks and a colon; other names need
// findHeaderSplit (only the empty one can match at all).
func plainName(name string) bool {
	return name != "" && !isBlank(name[len(name)-1]) &&
		strings.IndexByte(name, ':') < 0 && strings.IndexByte(name, '\n') < 0
}

// headerKey is a header name that findHeaders looks for.
type headerKey struct {
	name string // a plainName
	slot uint8  // where findHeaders puts its value
}

// maxLookups bounds the header look-ups that Append resolves together.
const maxLookups = 8

// findHeaders looks for the plainName headers of keys in a header block as
// findHeader does, in one pass: the value of keys[k] goes to
// values[keys[k].slot], and bit slot of the result is set when it was found.
// Slots must be below len(values).
//
// It is the inner loop of every %…header.NAME, hence the one pass for all
// the names of a message and the way lines are read: rather than splitting
// each line at its colon, the start of the line is compared with the names
// (first byte, then the whole name), and bytes.IndexByte jumps to the next
// line.
func findHeaders(block []byte, keys []headerKey, values [][]byte) (found uint) {
	i := bytes.IndexByte(block, '\n')
	if i < 0 || len(keys) == 0 {
		return 0
	}
	rest := block[i+1:]
	// want is the slots of keys; first has a bit for each byte (either
	// case) a name starts with, so that the other lines cost one test.
	var (
		want  uint
		first [4]uint64
	)
	for _, k := range keys {
		want |= 1 << k.slot
		c := lower(k.name[0])
		first[c>>6] |= 1 << (c & 63)
		c = upper(c)
		first[c>>6] |= 1 << (c & 63)
	}
	for len(rest) > 0 {
		c := rest[0]
		if c == '\n' || c == '\r' && (len(rest) == 1 || rest[1] == '\n') {
			break // the blank line
		}
		if first[c>>6]&(1<<(c&63)) != 0 {
			c = lower(c)
			for _, k := range keys {
				if lower(k.name[0]) != c || found&(1<<k.slot) != 0 {
					continue
				}
				if v, ok := headerValue(rest, k.name); ok {
					values[k.slot] = v
					found |= 1 << k.slot
					if found == want {
						return found
					}
				}
			}
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return found
}

// headerValue returns the value of the header line at the start of b,
// trimmed of blanks, if its name is name (a plainName): b starts with name,
// blanks and a colon.
func headerValue(b []byte, name string) ([]byte, bool) {
	k := len(name)
	// The byte after the name first: it rules out most lines that share
	// the name's first letters (Content-Type for Content-Length).
	if len(b) <= k || b[k] != ':' && !isBlank(b[k]) || !equalFoldASCII(b[:k], name) {
		return nil, false
	}
	for k < len(b) && isBlank(b[k]) {
		k++
	}
	if k == len(b) || b[k] != ':' {
		return nil, false
	}
	v := b[k+1:]
	if i := bytes.IndexByte(v, '\n'); i >= 0 {
		v = v[:i]
	}
	if len(v) > 0 && v[len(v)-1] == '\r' {
		v = v[:len(v)-1]
	}
	return trimBlanks(v), true
}

// lower returns the ASCII lower case of c.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// upper returns the ASCII upper case of c.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	return c
}

// equalFoldASCII reports whether b and s are equal under ASCII case folding.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// headerColon returns the offset of the colon that ends the name of a
// header line, -1 if none: the first colon, but for the lines of an HTTP/2
// head's pseudo-header fields (":authority: example.com"), whose name
// starts with one.
func headerColon(line []byte) int {
	if len(line) > 1 && line[0] == ':' {
		if i := bytes.IndexByte(line[1:], ':'); i >= 0 {
			return i + 1
		}
		return -1
	}
	return bytes.IndexByte(line, ':')
}

// authority returns the :authority of an HTTP/2 request, the host an
// HTTP/2 client names (it sends no Host header), for the look-ups of
// "host" that found none.
func authority(e *entry.Entry, m *entry.Message, name string) ([]byte, bool) {
	if e.StreamID == 0 || m != &e.Request || !equalFoldASCII([]byte(name), "host") {
		return nil, false
	}
	return findHeaderSplit(headerLinesBlock(m), ":authority")
}
