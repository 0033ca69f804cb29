// Package httpframe finds the boundaries of HTTP/1.0 and HTTP/1.1 messages in
// one direction of a TCP stream, incrementally, without copying the stream.
//
// A Parser is fed the bytes of one direction as they are reassembled, in
// pieces of any size. It reports where each message's head ends and where the
// message ends, following RFC 9112's framing rules: Content-Length, chunked
// transfer coding (with trailers), close-delimited responses, and the
// responses that have no body (HEAD, 1xx, 204, 304). It keeps no message bytes:
// only a short prefix of each line, enough to read the start line and the
// framing headers, so a hostile peer cannot make it grow.
//
// The events and the bytes each message is made of do not depend on the
// sizes of the pieces (FuzzParser checks it), with two documented
// exception: where a message that is not HTTP stops (NotHTTP). The header
// lines of each head are framed into fields (SwapFields).
//
// After a framing error on a stream that carried HTTP (a Content-Length that
// is not one number, an unreadable chunk size, a message that does not start
// with a start line), the parser resynchronises at the next start line
// rather than giving up, except after a request that asked for a tunnel
// (CONNECT, Upgrade), whose payload may hold anything.
package httpframe

import (
	"bytes"
	"encoding/binary"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/ascii"
)

// Kind says which direction a Parser reads.
type Kind uint8

// The kinds.
const (
	Request  Kind = iota // client to server
	Response             // server to client
)

// Event is what Feed found at the end of the bytes it consumed.
type Event uint8

// The events. Those from Done on end the message (or the bytes skipped)
// the consumed bytes belong to: the parser relies on the order.
const (
	// More: every byte was consumed and the current message goes on (or no
	// message has started yet).
	More Event = iota
	// HeadDone: the message's head (start line and headers, through the
	// blank line) ended at the last consumed byte.
	HeadDone
	// Done: the message ended at the last consumed byte; or its framing
	// could not be read there (a Content-Length that is not one number at
	// the end of its head, an unreadable chunk size), and the parser
	// resynchronises at the next start line, skipping what may be the
	// rest of its body.
	Done
	// Interim: a 1xx interim response (not 101) ended at the last consumed
	// byte; the final response follows.
	Interim
	// Upgrade: the message ended and the connection stops speaking HTTP
	// (101 Switching Protocols, or a 2xx answer to CONNECT). Feed will not
	// consume any more bytes.
	Upgrade
	// Skipped: the bytes consumed belong to no message: they were skipped
	// while resynchronising (see Resync). A message may start right after.
	Skipped
	// NotHTTP: the message that started at the last message boundary does
	// not begin with an HTTP start line. The bytes consumed belong to it, as
	// do all that follow: Feed will not consume any more bytes. (How many
	// bytes the event consumes depends on the pieces.)
	NotHTTP
	// Malformed: as NotHTTP, but on a stream that carried HTTP before (a
	// message completed) and not after a request for a tunnel: the message
	// is its first line, which ended at the last consumed byte (or at a
	// Boundary: the event then consumes no bytes), and the parser
	// resynchronises at the next start line (see Resync). It is most
	// likely the unframed rest of the message before it, or a request the
	// server will answer with an error.
	Malformed
)

// Method is the request method as far as framing a response needs it.
type Method uint8

// The methods that change how a response is framed.
const (
	OtherMethod Method = iota
	HEAD
	CONNECT
)

// Limits.
const (
	// maxLinePrefix is how much of each line is kept to be read: enough
	// for any start line prefix and framing header we act on. The rest of
	// a longer line is skipped, not stored.
	maxLinePrefix = 256
	// maxMethod bounds a request method's length.
	maxMethod = 24
	// maxKnown is the length of the longest method hunt knows
	// (knownMethods).
	maxKnown = 9
	// maxHeld bounds the first bytes of a line hunt holds: enough to
	// decide whether a line starts a message (a known method, a space and
	// one byte; or "HTTP/1.x ").
	maxHeld = 16
	// tailLen is how much of the end of a start line is kept, for the
	// protocol of a request line longer than maxLinePrefix.
	tailLen = 10
)

type state uint8

const (
	stStart      state = iota // at the start of a message (may skip CRLFs)
	stStartLine               // in the start line
	stHeader                  // in a header line (or at the start of one)
	stBody                    // in a Content-Length body
	stChunkSize               // in a chunk-size line
	stChunkData               // in chunk data
	stChunkCRLF               // after chunk data, expecting CRLF
	stTrailer                 // in the trailer section
	stUntilClose              // close-delimited body: everything until close
	stHunt                    // resynchronising: looking for a start line
	stJunk                    // in the first line of a Malformed message
	stJunkEnd                 // a Boundary ended that line
	stStopped                 // not HTTP, or upgraded
)

// Parser frames the messages of one direction. The zero value is not ready:
// call Init.
type Parser struct {
	kind  Kind
	state state

	line      [maxLinePrefix]byte
	lineLen   int  // bytes kept of the current line (at most maxLinePrefix)
	lineTotal int  // bytes of the current line read piece by piece, kept or not
	lineCR    bool // the current line's last byte was CR
	lineAny   bool // the current line has at least one byte (kept or not)
	// tail is the end of a start line read piece by piece: its last
	// min(lineTotal, tailLen) bytes end tail.
	tail [tailLen]byte
	// held are the first bytes of a line hunt could not decide on yet
	// (heldLen of them); carried, how many of them began the message the
	// last Feed started (Held).
	held             [maxHeld]byte
	heldLen, carried uint8
	// ext, when not nil, is the current line (without its LF) in the data
	// being fed: a line complete within one piece is read in place rather
	// than copied to line.
	ext []byte

	// Framing of the current message.
	contentLength int64 // -1 if none
	clBad         bool  // a Content-Length that is not one number
	chunked       bool
	teOther       bool  // a Transfer-Encoding other than chunked
	remaining     int64 // bytes left in a body or chunk
	status        int
	method        Method
	reqMethod     Method // for responses: the method of the request answered
	messages      int    // messages completed
	// tunnel: the last request read asked for a tunnel (CONNECT, or an
	// Upgrade header): what follows may not be HTTP, so no resync.
	tunnel bool

	// The header fields (see SwapFields). off is the message offset of
	// the next byte Feed consumes; lineStart that of the current line's
	// first byte; ended (set by Resync) or a last event (the last Feed
	// returned) from Done on says the next byte starts a message.
	record    bool
	fields    []entry.Field
	over      bool // the current head has more lines than a Parser records
	off       int
	lineStart int
	ended     bool
	last      Event
}

// MaxLines bounds the header lines of one message that a Parser reports
// as fields (SwapFields).
const MaxLines = 256

// Consumed returns how many bytes of the current message Feed consumed so
// far; right after the event that ended a message, of that message (the
// message offsets of SwapFields count from its first byte).
func (p *Parser) Consumed() int {
	return p.off
}

// RecordLines makes p frame the header lines of each head into fields
// (SwapFields).
func (p *Parser) RecordLines(on bool) { p.record = on }

// SwapFields returns the fields of the current message's head as framed so
// far (all of them once its head ended), in order, with message offsets
// (the message's first byte is 0), and takes buf[:0] to hold the next
// ones: the caller keeps the returned slice, and the two buffers go back
// and forth without copying. ok is false when the head had more than
// MaxLines lines: those past the bound are not there. Offsets past
// 1<<31-1 wrap: a caller reads the fields only of a message whose bytes
// (Consumed) it kept, which is shorter.
//
// Each field is a line not split yet (Name.Len -1, the line at Value,
// without its line end: entry.Field.Split splits it where the caller kept
// the bytes), lines without a colon included: the parser keeps only a
// prefix of a line split between pieces, and splitting is left to the
// readers of a few names.
func (p *Parser) SwapFields(buf []entry.Field) (fields []entry.Field, ok bool) {
	fields, p.fields = p.fields, buf[:0]
	return fields, !p.over
}

// Init readies p for a new stream of the given kind.
func (p *Parser) Init(k Kind) {
	*p = Parser{kind: k, fields: p.fields[:0], record: p.record}
	p.reset()
}

func (p *Parser) reset() {
	p.state = stStart
	p.newLine()
	p.contentLength = -1
	p.clBad, p.chunked, p.teOther = false, false, false
	p.remaining = 0
	p.status = 0
	p.heldLen = 0
}

// newLine clears the line state: the next byte starts a line.
func (p *Parser) newLine() {
	p.lineLen, p.lineTotal, p.lineCR, p.lineAny, p.ext = 0, 0, false, false, nil
}

// SetRequestMethod tells a response parser which method the request it is
// about to answer used (HEAD responses have no body; a 2xx answer to CONNECT
// starts a tunnel). Call it before the response's first byte.
func (p *Parser) SetRequestMethod(m Method) { p.reqMethod = m }

// Method returns the method of the request being parsed or last parsed,
// valid once its start line was read.
func (p *Parser) Method() Method { return p.method }

// Status returns the status code of the response being parsed, valid once
// its start line was read.
func (p *Parser) Status() int { return p.status }

// Messages returns how many messages were completed.
func (p *Parser) Messages() int { return p.messages }

// Held returns the first bytes of the message the last Feed call began,
// when that call began it with bytes consumed before and reported as
// Skipped (nil otherwise): while resynchronising, a line whose first bytes
// end a piece is held until the next piece shows whether it starts a
// message. A caller that keeps a message's bytes keeps these first; the
// message offsets of Consumed and Index count them.
func (p *Parser) Held() []byte { return p.held[:p.carried] }

// InMessage reports whether a message has started and not ended.
func (p *Parser) InMessage() bool {
	switch p.state {
	case stStart, stHunt, stStopped:
		return false
	}
	return true
}

// StartLineRead reports whether the current message's start line was read
// and accepted (its head is not complete yet, or it is in its body).
func (p *Parser) StartLineRead() bool {
	switch p.state {
	case stStart, stStartLine, stHunt, stJunk, stJunkEnd, stStopped:
		return false
	}
	return true
}

// Stopped reports whether the parser stopped for good (NotHTTP or Upgrade).
func (p *Parser) Stopped() bool { return p.state == stStopped }

// CloseDelimited reports whether the current message ends only when the
// connection closes.
func (p *Parser) CloseDelimited() bool { return p.state == stUntilClose }

// Skip tells the parser that n bytes of the stream were never captured. It
// returns true when the framing survives (the bytes fell inside a body of
// known length, or a close-delimited body); otherwise the parser starts
// hunting for the next start line and returns false.
func (p *Parser) Skip(n int64) bool {
	switch p.state {
	case stBody, stChunkData:
		if n < p.remaining {
			p.remaining -= n
			return true
		}
		if n == p.remaining && p.state == stBody {
			p.remaining = 0
			return true
		}
	case stUntilClose, stStopped:
		return true
	}
	// Hunting too starts again: the bytes after a gap start a line.
	p.Resync()
	return false
}

// Resync makes the parser look for the next line that starts a message,
// skipping everything before it. Use it when the stream is picked up in the
// middle (the capture started while the connection was open), or after a
// gap that the framing cannot cross. The next byte fed counts as the start
// of a line. A message found so begins as the parser hunts: when a line's
// first bytes end a piece, they are held until the next one (see Held).
func (p *Parser) Resync() {
	if p.state == stStopped {
		return
	}
	p.reset()
	p.state = stHunt
	p.ended = true
}

// Boundary tells the parser that the next byte fed follows a boundary the
// caller knows of, such as the start of a TCP segment. While resynchronising,
// the byte then counts as the start of a line: a message that follows a body
// of unknown length starts in the middle of the body's last line, and usually
// at a segment boundary. For the same reason it ends the line of a Malformed
// message. Otherwise (and while the first bytes of a line are held) it does
// nothing: the events of Feed do not depend on how the bytes are cut.
func (p *Parser) Boundary() {
	switch {
	case p.state == stHunt && p.heldLen == 0:
		p.lineAny = false
	case p.state == stJunk:
		p.state = stJunkEnd
	}
}

// RemainingKnown returns the number of body bytes still expected when the
// parser is in a body of known length (Content-Length), else -1.
func (p *Parser) RemainingKnown() int64 {
	if p.state == stBody {
		return p.remaining
	}
	return -1
}

// Feed consumes a prefix of data and returns how many bytes it consumed and
// the event that stopped it. Feed stops after each event other than More so
// that the caller can attribute the bytes before and after the event to
// different messages; call it again with the rest.
//
// Feed only keeps the message offset and the last event, so that it is
// inlined in the callers: feed does the work.
func (p *Parser) Feed(data []byte) (int, Event) {
	n, ev := p.feed(data)
	p.off, p.last = p.off+n, ev
	return n, ev
}

// feed is Feed but for the message offset and end it keeps: p.off is the
// message offset of data[0].
func (p *Parser) feed(data []byte) (int, Event) {
	if p.ended || p.last >= Done {
		p.ended, p.last, p.off = false, More, 0
	}
	p.carried = 0
	i := 0
	for i < len(data) {
		switch p.state {
		case stStopped:
			return i, NotHTTP

		case stStart:
			// Tolerate CRLFs between messages (RFC 9112 2.2).
			c := data[i]
			if c == '\r' || c == '\n' {
				i++
				continue
			}
			if !p.plausibleStart(c) {
				if p.mayResync() {
					p.state = stJunk
					continue
				}
				p.state = stStopped
				return i, NotHTTP
			}
			p.state = stStartLine // the line state is clear (reset, hunt)
			p.startLines()
			// Most start lines are complete in data: read them in place
			// and go on to the header lines without a turn of the loop.
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				continue // the line is read piece by piece
			}
			line := data[i : i+j]
			i += j + 1
			if !p.startLine(line) {
				if p.mayResync() {
					p.Resync()
					return i, Malformed
				}
				p.state = stStopped
				return i, NotHTTP
			}
			p.state = stHeader
			n, ev, stop := p.headerLines(data[i:], p.off+i)
			i += n
			if stop {
				return i, ev
			}

		case stJunk:
			// The first line of a Malformed message.
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				return len(data), More
			}
			p.Resync()
			return i + j + 1, Malformed

		case stJunkEnd:
			p.Resync()
			return i, Malformed

		case stHunt:
			// Look for a line that begins like a start line; the bytes
			// before it are reported as skipped.
			n, found := p.hunt(data[i:])
			i += n
			if found {
				if p.carried > 0 {
					p.startHeld()
				} else {
					p.state = stStart
					p.lineAny = false
				}
			}
			if n > 0 {
				return i, Skipped
			}

		case stStartLine, stHeader, stTrailer, stChunkSize:
			if p.state == stHeader && !p.lineAny {
				// At the start of a header line: read the lines
				// complete in data in place.
				n, ev, stop := p.headerLines(data[i:], p.off+i)
				i += n
				if stop {
					return i, ev
				}
				if i == len(data) {
					break
				}
			}
			if !p.lineAny {
				p.lineStart = p.off + i
			}
			n, complete := p.readLine(data[i:])
			i += n
			if !complete {
				if p.state == stStartLine && !p.startLineOK(false) {
					if p.mayResync() {
						p.state = stJunk // the rest of the line is in the next pieces
						continue
					}
					p.state = stStopped
					return i, NotHTTP
				}
				continue
			}
			ev, stop := p.actOnLine()
			p.newLine()
			if stop {
				return i, ev
			}

		case stBody:
			n := int64(len(data) - i)
			if n > p.remaining {
				n = p.remaining
			}
			i += int(n)
			p.remaining -= n
			if p.remaining == 0 {
				return i, p.finish()
			}

		case stChunkData:
			n := int64(len(data) - i)
			if n > p.remaining {
				n = p.remaining
			}
			i += int(n)
			p.remaining -= n
			if p.remaining == 0 {
				p.state = stChunkCRLF
				p.newLine()
			}

		case stChunkCRLF:
			// Expect CRLF (tolerate a bare LF).
			c := data[i]
			i++
			if c == '\n' {
				p.state = stChunkSize
				p.newLine()
			} else if c != '\r' {
				// Malformed: treat as the start of the next size line.
				p.state = stChunkSize
				p.newLine()
				i--
			}

		case stUntilClose:
			return len(data), More
		}
	}
	return i, More
}

// Close tells the parser the stream ended. It returns true when that ended a
// close-delimited message.
func (p *Parser) Close() bool {
	if p.state == stUntilClose {
		p.messages++
		p.reset()
		return true
	}
	return false
}

// mayResync reports whether a message that does not begin with a start line
// makes the parser resynchronise (Malformed) rather than stop (NotHTTP): the
// stream carried HTTP before, and the last request did not ask for a
// tunnel.
func (p *Parser) mayResync() bool { return p.messages > 0 && !p.tunnel }

// startHeld starts the message hunt found at the bytes it held: they are
// the beginning of its start line, the data fed next its continuation.
func (p *Parser) startHeld() {
	k := int(p.carried)
	p.state = stStartLine
	p.newLine()
	p.lineLen = copy(p.line[:], p.held[:k])
	p.lineTotal, p.lineAny = k, true
	p.pushTail(p.held[:k])
	p.startLines()
	p.off = k
}

// plausibleStart reports whether c can begin a start line.
func (p *Parser) plausibleStart(c byte) bool {
	if p.kind == Response {
		return c == 'H'
	}
	return isMethodChar(c)
}

func isMethodChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}

// readLine consumes bytes up to and including LF, keeping a prefix of the
// line. It returns the bytes consumed and whether the line is complete.
func (p *Parser) readLine(data []byte) (int, bool) {
	j := bytes.IndexByte(data, '\n')
	if j >= 0 && !p.lineAny {
		p.ext = data[:j]
		return j + 1, true
	}
	end := len(data)
	if j >= 0 {
		end = j
	}
	seg := data[:end]
	if len(seg) > 0 {
		p.lineAny = true
		if p.lineLen < maxLinePrefix {
			p.lineLen += copy(p.line[p.lineLen:], seg)
		}
		p.lineTotal += len(seg)
		p.lineCR = seg[len(seg)-1] == '\r'
		if p.state == stStartLine {
			p.pushTail(seg)
		}
	}
	if j < 0 {
		return len(data), false
	}
	return j + 1, true
}

// headerLines reads the header lines that are complete in data, which
// starts at the start of a header line, as readLine and actOnLine would one
// by one: it returns the bytes consumed (through the LF of the last line
// read) and, when the blank line ended the head, headDone's event with stop
// true. The line state is left as at the start of a line.
//
// Every header line of every message comes here, so the loop does no more
// than find the line's end and let header skip the lines that do not
// matter, rather than going through Feed, readLine and actOnLine per line.
func (p *Parser) headerLines(data []byte, at int) (n int, ev Event, stop bool) {
	rest := data // data[n:]
	for {
		if len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n' {
			// The blank line that ends the head, seen without a search.
			ev, stop = p.headDone()
			return len(data) - len(rest) + 2, ev, stop
		}
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			return len(data) - len(rest), More, false
		}
		off := at + len(data) - len(rest)
		b := rest[:j]
		rest = rest[j+1:]
		if len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		if len(b) == 0 {
			ev, stop = p.headDone()
			return len(data) - len(rest), ev, stop
		}
		// header, inlined: most lines need only be recorded.
		if p.record {
			p.recordLine(off, len(b))
		}
		if k := int(framingColon[b[0]]); k != 0 && k < len(b) && b[k] == ':' {
			p.framing(b, k)
		}
	}
}

// pushTail appends seg to the tail of the start line.
func (p *Parser) pushTail(seg []byte) {
	if len(seg) >= tailLen {
		copy(p.tail[:], seg[len(seg)-tailLen:])
		return
	}
	copy(p.tail[:], p.tail[len(seg):])
	copy(p.tail[tailLen-len(seg):], seg)
}

// kept returns what is known of the current line: all of it when it was read
// in place, else its kept prefix.
func (p *Parser) kept() []byte {
	if p.ext != nil {
		return p.ext
	}
	return p.line[:p.lineLen]
}

// lineBytes returns the current line without its CR: all of it when it
// was read in place, else its kept prefix (without a CR only if it is all
// of the line). Framing reads at most the first maxLinePrefix bytes of
// either, so that it does not depend on the pieces.
func (p *Parser) lineBytes() []byte {
	if b := p.ext; b != nil {
		if len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		return b
	}
	b := p.line[:p.lineLen]
	if p.lineCR && p.lineTotal == p.lineLen && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// lineEnd returns the last bytes of the current start line read piece by
// piece (at most tailLen, its CR removed) and the line's length without that
// CR.
func (p *Parser) lineEnd() ([]byte, int) {
	n := p.lineTotal
	t := p.tail[tailLen-min(n, tailLen):]
	if k := len(t); k > 0 && t[k-1] == '\r' {
		t, n = t[:k-1], n-1
	}
	return t, n
}

// startLineOK checks what is known of the start line. With complete false it
// only rejects prefixes that cannot become a start line.
func (p *Parser) startLineOK(complete bool) bool {
	b := p.kept()
	if p.kind == Response {
		const proto = "HTTP/1."
		n := len(b)
		if n > len(proto) {
			n = len(proto)
		}
		if string(b[:n]) != proto[:n] {
			return false
		}
		if !complete {
			return true
		}
		b = p.lineBytes()
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(b) < 12 || b[7] < '0' || b[7] > '9' || b[8] != ' ' {
			return false
		}
		for _, c := range b[9:12] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return len(b) == 12 || b[12] == ' '
	}
	// Request: METHOD SP target SP HTTP/1.x
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		if len(b) > maxMethod {
			return false
		}
		for _, c := range b {
			if !isMethodChar(c) {
				return false
			}
		}
		return !complete
	}
	if sp == 0 || sp > maxMethod {
		return false
	}
	for _, c := range b[:sp] {
		if !isMethodChar(c) {
			return false
		}
	}
	if !complete {
		return true
	}
	// The protocol ends the line, which may be longer than what is kept
	// of it (a long target): it is read in the line's tail.
	var tail []byte
	if p.ext != nil {
		tail = p.lineBytes() // all of the line
	} else {
		var n int
		if tail, n = p.lineEnd(); n < sp+1+1+9 {
			return false
		}
	}
	if len(tail) < 9 || p.ext != nil && len(tail) < sp+1+1+9 {
		return false
	}
	tail = tail[len(tail)-9:]
	return string(tail[:8]) == " HTTP/1." && tail[8] >= '0' && tail[8] <= '9'
}

// startLine checks the start line b, complete in the data fed (without its
// LF), as startLineOK does, and reads its status or method.
func (p *Parser) startLine(b []byte) bool {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if p.kind == Response {
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(b) < 12 || string(b[:7]) != "HTTP/1." || !isDigit(b[7]) || b[8] != ' ' ||
			!isDigit(b[9]) || !isDigit(b[10]) || !isDigit(b[11]) || len(b) > 12 && b[12] != ' ' {
			return false
		}
		p.status = int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0')
		return true
	}
	// METHOD SP target SP HTTP/1.x: the method is all that precedes the
	// first byte that cannot be in one, a space.
	sp := 0
	if len(b) >= 4 && string(b[:4]) == "GET " {
		sp = 3 // the usual method, in one comparison
	}
	for sp < len(b) && sp <= maxMethod && isMethodChar(b[sp]) {
		sp++
	}
	if sp == 0 || sp > maxMethod || len(b) < sp+1+1+9 || b[sp] != ' ' {
		return false
	}
	if tail := b[len(b)-9:]; string(tail[:8]) != " HTTP/1." || !isDigit(tail[8]) {
		return false
	}
	p.setMethod(b[:sp])
	return true
}

// setMethod records the request method m.
func (p *Parser) setMethod(m []byte) {
	p.method = OtherMethod
	switch string(m) {
	case "HEAD":
		p.method = HEAD
	case "CONNECT":
		p.method = CONNECT
	}
	p.tunnel = p.method == CONNECT
}

func isDigit(c byte) bool { return c-'0' <= 9 }

// actOnLine acts on a complete line; the caller then resets the line
// state. stop reports that Feed must return ev.
func (p *Parser) actOnLine() (ev Event, stop bool) {
	switch p.state {
	case stStartLine:
		if !p.startLineOK(true) {
			if p.mayResync() {
				p.Resync()
				return Malformed, true
			}
			p.state = stStopped
			return NotHTTP, true
		}
		b := p.lineBytes()
		if p.kind == Response {
			p.status = int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0')
		} else {
			p.setMethod(b[:bytes.IndexByte(b, ' ')])
		}
		p.state = stHeader
		return More, false

	case stHeader:
		b := p.lineBytes()
		if len(b) == 0 {
			return p.headDone()
		}
		n := len(b) // the line without its line end
		if p.ext == nil && p.lineTotal != p.lineLen {
			n = p.lineTotal
			if p.lineCR {
				n--
			}
		}
		p.header(b, p.lineStart, n, p.ext != nil || p.lineTotal == p.lineLen)
		return More, false

	case stTrailer:
		if len(p.lineBytes()) == 0 {
			return p.finish(), true
		}
		return More, false

	case stChunkSize:
		b := p.lineBytes()
		size, ok := parseChunkSize(b[:min(len(b), maxLinePrefix)])
		if !ok {
			// Unreadable chunk size: framing is lost. Look for the next
			// message.
			return p.lost(), true
		}
		if size == 0 {
			p.state = stTrailer
			return More, false
		}
		p.remaining = size
		p.state = stChunkData
		return More, false
	}
	return More, false
}

// header records the framing headers. Only Content-Length,
// Transfer-Encoding and (in requests) Upgrade matter (the name is all that
// precedes the first colon, blanks included); other lines are passed over
// on their first byte or their length, since every header line of every
// message comes here. The colon is looked for only where those names would
// put it: none holds a colon, so a line has one of them exactly when it
// starts with it and a colon. Framing reads the first maxLinePrefix bytes of
// a line, which is all a line split between pieces keeps.
//
// Every line is first recorded as a field (SwapFields): off is the message
// offset of its first byte, n its length without its line end; whole says
// b is all of the line, not a prefix.
func (p *Parser) header(b []byte, off, n int, whole bool) {
	if len(b) == 0 {
		return
	}
	if p.record {
		p.recordLine(off, n)
	}
	// Most lines start with a letter that no framing header starts with,
	// or have no colon where its name would end: one look passes them over.
	if k := int(framingColon[b[0]]); k != 0 && k < len(b) && b[k] == ':' {
		p.framing(b, k)
	}
}

// framing reads the header line b for the framing headers (see header):
// b[k] is a colon, where the name of the framing header its first byte
// starts would end (framingColon). The first byte is not read again here,
// so that the name's first word is read in one load.
func (p *Parser) framing(b []byte, k int) {
	const (
		cl = "content-length"
		te = "transfer-encoding"
		up = "upgrade"
	)
	b = b[:min(len(b), maxLinePrefix)]
	switch k {
	case len(cl):
		if contentLength.matchTwo(b[:len(cl)]) {
			// The usual value: spaces, then one number, once.
			v := b[len(cl)+1:]
			for len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if n, ok := parseDecimal(v); ok && p.contentLength < 0 {
				p.contentLength = n
			} else {
				p.setContentLength(bytes.TrimSpace(v))
			}
		}
	case len(te):
		if transferEncoding.Match(b[:len(te)]) {
			p.transferEncoding(b[len(te)+1:])
		}
	case len(up):
		if p.kind == Request && upgrade.Match(b[:len(up)]) {
			p.tunnel = true
		}
	}
}

// setContentLength records the value of a Content-Length header: one
// number, or a list of the same number (RFC 9110 section 8.6 lets a
// recipient take "5, 5" as 5), repeated or not in other Content-Length
// lines. Anything else (no number, differing numbers) makes the framing
// unreadable (clBad).
func (p *Parser) setContentLength(v []byte) {
	n, ok := parseContentLength(v)
	if !ok || p.contentLength >= 0 && n != p.contentLength {
		p.clBad = true
		return
	}
	p.contentLength = n
}

// parseContentLength parses a Content-Length value: a comma-separated list
// of decimal numbers, all equal (empty elements are ignored, as RFC 9110
// section 5.6.1 asks).
func parseContentLength(v []byte) (int64, bool) {
	n := int64(-1)
	for {
		elem := v
		k := bytes.IndexByte(v, ',')
		if k >= 0 {
			elem, v = v[:k], v[k+1:]
		}
		if elem = bytes.TrimSpace(elem); len(elem) > 0 {
			m, ok := parseDecimal(elem)
			if !ok || n >= 0 && m != n {
				return 0, false
			}
			n = m
		}
		if k < 0 {
			return n, n >= 0
		}
	}
}

// framingColon gives, for the first byte of a header line, where the colon
// ends the name of the framing header that starts with that byte
// (Content-Length, Transfer-Encoding, Upgrade, in either case); 0 for the
// bytes none starts with.
var framingColon = [256]uint8{
	'c': uint8(len("content-length")), 'C': uint8(len("content-length")),
	't': uint8(len("transfer-encoding")), 'T': uint8(len("transfer-encoding")),
	'u': uint8(len("upgrade")), 'U': uint8(len("upgrade")),
}

// startLines starts the header lines of a message.
func (p *Parser) startLines() {
	p.fields = p.fields[:0]
	p.over = false
}

// recordLine records the header line of n bytes (without its line end)
// at message offset off as a field not split yet (see SwapFields).
func (p *Parser) recordLine(off, n int) {
	if len(p.fields) >= MaxLines {
		p.over = true
		return
	}
	p.fields = append(p.fields, entry.Field{Name: entry.Span{Off: int32(off), Len: -1}, Value: entry.Span{Off: int32(off), Len: int32(n)}})
}

// transferEncoding records the value of a Transfer-Encoding header.
func (p *Parser) transferEncoding(v []byte) {
	// The final coding decides: chunked only if it is last.
	val := bytes.TrimSpace(v)
	last := val
	if k := bytes.LastIndexByte(val, ','); k >= 0 {
		last = bytes.TrimSpace(val[k+1:])
	}
	if ascii.EqualFold(last, "chunked") {
		p.chunked, p.teOther = true, false
	} else {
		p.chunked, p.teOther = false, true
	}
}

// headDone decides the body's framing once the head ended.
func (p *Parser) headDone() (Event, bool) {
	if p.kind == Request {
		switch {
		case p.chunked:
			p.state = stChunkSize
		case p.clBad:
			return p.lost(), true
		case p.contentLength > 0:
			p.state, p.remaining = stBody, p.contentLength
		default:
			// No body: the head is the whole message.
			return p.finish(), true
		}
		return HeadDone, true
	}
	s := p.status
	switch {
	case s == 101:
		p.messages++
		p.state = stStopped
		return Upgrade, true
	case s >= 100 && s < 200:
		p.messages++
		p.reset()
		return Interim, true
	case p.reqMethod == CONNECT && s >= 200 && s < 300:
		p.messages++
		p.state = stStopped
		return Upgrade, true
	case p.reqMethod == HEAD || s == 204 || s == 304:
		return p.finish(), true
	case p.chunked:
		p.state = stChunkSize
	case p.teOther:
		p.state = stUntilClose
	case p.clBad:
		return p.lost(), true
	case p.contentLength >= 0:
		if p.contentLength == 0 {
			return p.finish(), true
		}
		p.state, p.remaining = stBody, p.contentLength
	default:
		p.state = stUntilClose
	}
	return HeadDone, true
}

// lost ends a message whose framing cannot be read (Done) and
// resynchronises at the next start line: the bytes that follow may be its
// body, of unknown length. After a request for a tunnel, what follows is
// read as the next message instead (and stops the parser if not HTTP).
func (p *Parser) lost() Event {
	ev := p.finish()
	if !p.tunnel {
		p.Resync()
	}
	return ev
}

func (p *Parser) finish() Event {
	p.messages++
	p.reset()
	if p.kind == Response {
		p.reqMethod = OtherMethod
	}
	return Done
}

// hunt looks for the start of a line that begins a message (lineAny false
// says data starts a line) and returns the bytes it consumed before it: the
// bytes passed over, and the first bytes of a line cut by the end of data
// that may begin a message, which it holds. found says a start line begins
// right after them; when it begins with held bytes, carried says how many.
func (p *Parser) hunt(data []byte) (n int, found bool) {
	if p.heldLen > 0 {
		var buf [2 * maxHeld]byte
		k := copy(buf[:], p.held[:p.heldLen])
		m := copy(buf[k:], data)
		switch p.candidate(buf[:k+m]) {
		case isStart:
			p.carried, p.heldLen = uint8(k), 0
			return 0, true
		case mayStart:
			// Still too short to tell (m is all of data): hold more.
			p.heldLen += uint8(copy(p.held[k:], data))
			return len(data), false
		}
		p.heldLen = 0
		p.lineAny = true
	}
	i := 0
	for i < len(data) {
		if !p.lineAny {
			switch p.candidate(data[i:]) {
			case isStart:
				return i, true
			case mayStart:
				p.heldLen = uint8(copy(p.held[:], data[i:]))
				return len(data), false
			}
			p.lineAny = true // inside a line that is not a candidate
		}
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return len(data), false
		}
		i += j + 1
		p.lineAny = false
	}
	return i, false
}

// startGuess is what the first bytes of a line say about it.
type startGuess uint8

const (
	notStart startGuess = iota // it does not begin a message
	mayStart                   // too short to tell (less than maxHeld bytes)
	isStart                    // it begins like a start line
)

// candidate says whether b (not empty) begins like a start line: a known
// method, a space and the target's first byte; or "HTTP/1.x ".
func (p *Parser) candidate(b []byte) startGuess {
	if p.kind == Response {
		const proto = "HTTP/1.x "
		for k := range min(len(b), len(proto)) {
			c := b[k]
			if k == 7 && (c < '0' || c > '9') || k != 7 && c != proto[k] {
				return notStart
			}
		}
		if len(b) < len(proto) {
			return mayStart
		}
		return isStart
	}
	sp := bytes.IndexByte(b[:min(len(b), maxKnown+1)], ' ')
	switch {
	case sp < 0 && len(b) <= maxKnown && isKnownPrefix(b):
		return mayStart
	case sp < 0 || !isKnownMethod(b[:sp]):
		return notStart
	case len(b) == sp+1:
		return mayStart
	}
	return isStart
}

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "PURGE"}

func isKnownMethod(b []byte) bool {
	for _, m := range knownMethods {
		if string(b) == m {
			return true
		}
	}
	return false
}

// isKnownPrefix reports whether b begins a known method.
func isKnownPrefix(b []byte) bool {
	for _, m := range knownMethods {
		if len(b) <= len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}

// parseDecimal parses a Content-Length value. Values with a sign, spaces or
// more than 18 digits are rejected.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line: hex digits, optionally followed
// by chunk extensions.
func parseChunkSize(b []byte) (int64, bool) {
	b = bytes.TrimLeft(b, " \t")
	var n int64
	digits := 0
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			if digits == 0 || (c != ';' && c != ' ' && c != '\t') {
				return 0, false
			}
			return n, true
		}
		digits++
		if digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, digits > 0
}

// FoldKey is a name to compare with bytes under ASCII case folding, eight
// bytes at a time: header names are compared on every header line of every
// message, and a byte loop that folds both sides costs about seven
// instructions a byte.
type FoldKey struct {
	s string // the name in lower case (ASCII letters only)
	// words are the name's 8-byte words (little-endian) at offsets 0, 8,
	// …, the last at len(s)-8 (overlapping the one before); masks have
	// 0x20 at the letters, which OR-ing folds to lower case.
	words, masks []uint64
	// The first and the last word and their masks (see matchTwo).
	head, headMask, tail, tailMask uint64
}

// NewFoldKey returns the FoldKey of name.
func NewFoldKey(name string) FoldKey {
	k := FoldKey{s: lowerString(name)}
	if len(k.s) < 8 {
		return k
	}
	for o := 0; o < len(k.s); o += 8 {
		o := min(o, len(k.s)-8)
		var w, m uint64
		for i := 7; i >= 0; i-- {
			c := k.s[o+i]
			w = w<<8 | uint64(c)
			m <<= 8
			if 'a' <= c && c <= 'z' {
				m |= 0x20
			}
		}
		k.words, k.masks = append(k.words, w), append(k.masks, m)
	}
	k.head, k.headMask = k.words[0], k.masks[0]
	k.tail, k.tailMask = k.words[len(k.words)-1], k.masks[len(k.masks)-1]
	return k
}

// Match reports whether b (as long as the name) equals the name under
// ASCII case folding.
func (k *FoldKey) Match(b []byte) bool {
	if len(b) == len(k.s) && len(b) >= 8 && len(b) <= 16 {
		return k.matchTwo(b)
	}
	return k.match(b)
}

// matchTwo is Match for a name of one or two words (8 to 16 bytes, as
// most header names) and a b as long: small enough to be inlined.
func (k *FoldKey) matchTwo(b []byte) bool {
	return binary.LittleEndian.Uint64(b)|k.headMask == k.head &&
		binary.LittleEndian.Uint64(b[len(b)-8:])|k.tailMask == k.tail
}

// match is Match for the names of other lengths, and a b of another length.
func (k *FoldKey) match(b []byte) bool {
	if len(b) != len(k.s) {
		return false
	}
	if len(b) < 8 {
		for i := range len(b) {
			if ascii.Lower(b[i]) != k.s[i] {
				return false
			}
		}
		return true
	}
	w, m := k.words, k.masks
	last := len(w) - 1
	if last < 0 || len(m) != len(w) {
		return false
	}
	for i := range last {
		if binary.LittleEndian.Uint64(b[i*8:])|m[i] != w[i] {
			return false
		}
	}
	return binary.LittleEndian.Uint64(b[len(b)-8:])|m[last] == w[last]
}

// The framing headers' names.
var (
	contentLength    = NewFoldKey("content-length")
	transferEncoding = NewFoldKey("transfer-encoding")
	upgrade          = NewFoldKey("upgrade")
)

// lowerString returns s with its ASCII letters in lower case (other bytes,
// UTF-8 included, compare as they are).
func lowerString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = ascii.Lower(c)
	}
	return string(b)
}
