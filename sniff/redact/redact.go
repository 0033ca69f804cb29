// Package redact hides the values of secret-bearing headers (credentials,
// cookies) in the bytes of a log entry before it is printed, so that logs of
// CI stacks can be published.
package redact

import (
	"bytes"

	"github.com/sniffer/sniffer/sniff/entry"
)

// Replacement is what a redacted header value becomes.
const Replacement = "[redacted]"

// Default are the headers redacted by default.
var Default = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// Redactor rewrites header values. Its zero value redacts nothing.
type Redactor struct {
	names [][]byte // lower case
	buf   [2][]byte
}

// New returns a Redactor for the given header names (matched whole,
// case-insensitively).
func New(names []string) *Redactor {
	r := &Redactor{}
	for _, n := range names {
		n = string(bytes.TrimSpace([]byte(n)))
		if n != "" {
			r.names = append(r.names, bytes.ToLower([]byte(n)))
		}
	}
	return r
}

// Entry returns e, or a copy of it whose request and response have the named
// headers' values replaced by Replacement. The copy's bytes are only valid
// until the next call. Sizes are left as they were on the wire.
func (r *Redactor) Entry(e *entry.Entry, scratch *entry.Entry) *entry.Entry {
	if len(r.names) == 0 {
		return e
	}
	reqNeed, respNeed := r.needs(&e.Request), r.needs(&e.Response)
	if !reqNeed && !respNeed {
		return e
	}
	*scratch = *e
	if reqNeed {
		r.buf[0] = r.message(r.buf[0][:0], &scratch.Request)
	}
	if respNeed {
		r.buf[1] = r.message(r.buf[1][:0], &scratch.Response)
	}
	return scratch
}

// headEnd is where the header lines of m end in its bytes.
func headEnd(m *entry.Message) int {
	if m.HeaderLen >= 0 && m.Head+m.HeaderLen <= len(m.Bytes) {
		return m.Head + m.HeaderLen
	}
	return len(m.Bytes)
}

// needs reports whether m holds a header to redact.
func (r *Redactor) needs(m *entry.Message) bool {
	if !m.HTTP {
		return false
	}
	b := m.Bytes[:headEnd(m)]
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if r.match(line) >= 0 {
			return true
		}
	}
	return false
}

// match returns the index of the colon of a header line to redact, or -1.
func (r *Redactor) match(line []byte) int {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return -1
	}
	name := bytes.TrimSpace(line[:colon])
	for _, n := range r.names {
		if len(name) == len(n) && bytes.EqualFold(name, n) {
			return colon
		}
	}
	return -1
}

// message rewrites m's header lines into dst and points m at it.
func (r *Redactor) message(dst []byte, m *entry.Message) []byte {
	end := headEnd(m)
	head := -1
	b := m.Bytes[:end]
	for off := 0; off < end; {
		if off == m.Head {
			head = len(dst)
		}
		line := b[off:]
		next := end
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
			next = off + i + 1
		}
		if colon := r.match(bytes.TrimRight(line, "\r\n")); colon >= 0 {
			dst = append(dst, line[:colon+1]...)
			dst = append(dst, ' ')
			dst = append(dst, Replacement...)
			dst = append(dst, line[len(bytes.TrimRight(line, "\r\n")):]...)
		} else {
			dst = append(dst, line...)
		}
		off = next
	}
	if head < 0 {
		head = len(dst)
	}
	if m.HeaderLen >= 0 {
		m.HeaderLen = len(dst) - head
	}
	m.Head = head
	dst = append(dst, m.Bytes[end:]...)
	m.Bytes = dst
	return dst
}
