package logformat

import (
	"bytes"

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
func firstLine(m *entry.Message) []byte {
	b := headerBlock(m)
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
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
		colon := bytes.IndexByte(line, ':')
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
