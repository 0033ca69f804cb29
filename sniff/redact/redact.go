// Package redact hides the values of secret-bearing headers (credentials,
// cookies) in the bytes of a log entry before it is printed, so that logs of
// CI stacks can be published.
//
// Redaction fails closed: it does not trust the framing of a message. Every
// line of every message, HTTP or not (raw exchanges, bytes after an
// upgrade, bodies, interim responses), that is shaped like a listed header
// — optional blanks, the name (case-insensitive), optional blanks, a colon
// — has the rest of its line replaced, and so do the continuation lines
// (obs-fold: lines starting with SP or HTAB) that follow it. A bare CR
// (not followed by LF) also starts a line, for readers that break lines
// there; the replacement then still runs to the LF.
package redact

import (
	"bytes"

	"github.com/sniffer/sniffer/sniff/entry"
)

// Replacement is what a redacted header value becomes.
const Replacement = "[redacted]"

// Default are the headers redacted by default.
var Default = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// keepCap is the largest rewrite buffer kept from one entry to the next:
// a larger one (a long message full of short redacted lines) is dropped at
// the next call rather than held for good.
const keepCap = 1 << 20

// Redactor rewrites header values. Its zero value redacts nothing. It is
// not safe for concurrent use: its buffers hold the last redacted entry.
type Redactor struct {
	names [][]byte
	buf   [2][]byte
}

// New returns a Redactor for the given header names (matched whole,
// case-insensitively, blanks around them ignored).
func New(names []string) *Redactor {
	r := &Redactor{}
	for _, n := range names {
		b := bytes.TrimSpace([]byte(n))
		if len(b) > 0 {
			r.names = append(r.names, b)
		}
	}
	return r
}

// Entry returns e, or a copy of it whose request and response have the
// values of the named headers replaced by Replacement, anywhere in their
// bytes (see the package comment). The copy's bytes are only valid until the
// next call. Sizes are left as they were on the wire; the header fields of
// a rewritten message are dropped (their offsets no longer hold), so
// readers find the fields in the rewritten bytes (entry.ScanFields).
func (r *Redactor) Entry(e *entry.Entry, scratch *entry.Entry) *entry.Entry {
	if len(r.names) == 0 {
		return e
	}
	reqAt, respAt := r.firstMatch(e.Request.Bytes), r.firstMatch(e.Response.Bytes)
	if reqAt < 0 && respAt < 0 {
		return e
	}
	*scratch = *e
	if reqAt >= 0 {
		r.buf[0] = r.message(r.buf[0], &scratch.Request, reqAt)
	}
	if respAt >= 0 {
		r.buf[1] = r.message(r.buf[1], &scratch.Response, respAt)
	}
	return scratch
}

// lineEnd returns, for the line starting at off in b, the end of its content
// (before its CR LF or LF) and the start of the next line.
func lineEnd(b []byte, off int) (end, next int) {
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return len(b), len(b)
	}
	end, next = off+i, off+i+1
	if end > off && b[end-1] == '\r' {
		end--
	}
	return end, next
}

// firstMatch returns the start of the first line of b to redact, or -1.
func (r *Redactor) firstMatch(b []byte) int {
	if len(r.names) == 0 {
		return -1
	}
	for off := 0; off < len(b); {
		end, next := lineEnd(b, off)
		if r.lineMatch(b[off:end]) >= 0 {
			return off
		}
		off = next
	}
	return -1
}

// lineMatch returns where the value to replace starts in line (just after
// the colon) when the line, or a part of it after a bare CR, is shaped like
// a listed header; -1 otherwise. line excludes its final CR LF or LF, so
// every CR in it is a bare one.
func (r *Redactor) lineMatch(line []byte) int {
	for start := 0; ; {
		if c := r.match(line[start:]); c >= 0 {
			return start + c + 1
		}
		i := bytes.IndexByte(line[start:], '\r')
		if i < 0 {
			return -1
		}
		start += i + 1
	}
}

// match returns the index of the colon of a header line to redact, or -1.
func (r *Redactor) match(line []byte) int {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return -1
	}
	name := bytes.TrimSpace(line[:colon])
	for _, n := range r.names {
		if bytes.EqualFold(name, n) {
			return colon
		}
	}
	return -1
}

// isBlank reports whether c is SP or HTAB, which start a continuation line.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// message rewrites m's bytes into dst (reused), from the line at first on,
// and points m at the result, with Head and HeaderLen moved to match.
func (r *Redactor) message(dst []byte, m *entry.Message, first int) []byte {
	if cap(dst) > keepCap {
		dst = nil
	}
	b := m.Bytes
	head, end := m.Head, -1
	if m.HeaderLen >= 0 {
		end = m.Head + m.HeaderLen
	}
	// Positions before first are copied as they are.
	newHead, newEnd := head, end
	dst = append(dst[:0], b[:first]...)
	folded := false // the previous line was redacted
	for off := first; off < len(b); {
		stop, next := lineEnd(b, off)
		line := b[off:stop]
		at := len(dst)
		cut := -1
		if folded && len(line) > 0 && isBlank(line[0]) {
			// A continuation line of a redacted value: keep its
			// indentation, replace the rest (a blank one holds nothing).
			k := 1
			for k < len(line) && isBlank(line[k]) {
				k++
			}
			if k < len(line) {
				cut = k
			}
			if cut < 0 {
				dst = append(dst, b[off:next]...)
			} else {
				dst = append(dst, line[:cut]...)
				dst = append(dst, Replacement...)
				dst = append(dst, b[stop:next]...)
			}
		} else if cut = r.lineMatch(line); cut >= 0 {
			dst = append(dst, line[:cut]...)
			dst = append(dst, ' ')
			dst = append(dst, Replacement...)
			dst = append(dst, b[stop:next]...)
			folded = true
		} else {
			dst = append(dst, b[off:next]...)
			folded = false
		}
		newHead = movePos(newHead, head, off, next, at, len(dst))
		newEnd = movePos(newEnd, end, off, next, at, len(dst))
		off = next
	}
	// Offsets at or past the end of the bytes keep their distance to it,
	// so that one out of range stays out of range.
	if head >= len(b) && head >= first {
		newHead = len(dst) + head - len(b)
	}
	if end >= len(b) && end >= first {
		newEnd = len(dst) + end - len(b)
	}
	m.Head = newHead
	if m.HeaderLen >= 0 {
		m.HeaderLen = newEnd - newHead
	}
	m.Bytes = dst
	m.Fields, m.HasFields = nil, false
	return dst
}

// movePos maps pos, an offset in the original bytes, when it falls in the
// line [off, next) that was written at [at, atEnd) of the rewrite: the same
// distance into the line, at most the rewritten line's length. cur is the
// value so far, returned when pos is not in the line.
func movePos(cur, pos, off, next, at, atEnd int) int {
	if pos < off || pos >= next {
		return cur
	}
	return at + min(pos-off, atEnd-at)
}
