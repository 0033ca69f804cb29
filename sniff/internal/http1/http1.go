// Package http1 is the engine's default decoder: HTTP/1.x requests paired
// with their responses in order (pipelining, 1xx interim responses,
// close-delimited bodies, resynchronisation after lost framing), and for a
// connection whose bytes are not HTTP (or once it switched protocols) the
// turn-based rules: client bytes until the server answers are a request,
// server bytes until the client speaks again a response.
package http1

import (
	"bytes"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/httpframe"
)

// PickupGiveUp is how many client bytes a connection picked up in the
// middle may skip looking for an HTTP request line before it is taken to
// be another protocol.
const PickupGiveUp = 16 << 10

// Decoder decodes one connection's HTTP/1 (exchange.Decoder).
type Decoder struct {
	c *exchange.Conn
	// raw is set once the client side is not HTTP (or after an upgrade):
	// client bytes until the server answers are a request, server bytes
	// until the client speaks again a response.
	raw       bool
	req, resp httpframe.Parser
	skipped   int64 // client bytes skipped looking for a request line
	// orphans are the methods of requests printed before their response
	// came (a queue past its bound), oldest first: their responses are
	// framed and let go, so that later responses meet their own requests.
	orphans []httpframe.Method
}

// Reset prepares d for the connection of c. Its parsers report the header
// lines of each head, which become the messages' Fields.
func (d *Decoder) Reset(c *exchange.Conn) {
	// Field by field rather than by a composite literal, which would copy
	// the parsers (kept for their line buffers) out and back: Init resets
	// each of them in place.
	d.c, d.raw, d.skipped, d.orphans = c, false, 0, nil
	d.req.Init(httpframe.Request)
	d.resp.Init(httpframe.Response)
	d.req.RecordLines(true)
	d.resp.RecordLines(true)
	if c.T.Pickup {
		d.req.Resync()
		d.resp.Resync()
	}
}

// Start implements exchange.Decoder.
func (d *Decoder) Start(c *exchange.Conn, up *exchange.Exchange, first []byte) {
	d.Reset(c)
}

// Fresh reports whether the connection's client bytes may still be probed
// as another protocol's first bytes: no exchange began, no client byte was
// skipped, and the connection is not turn-based.
func (d *Decoder) Fresh() bool { return d.c.Begun() == 0 && d.skipped == 0 && !d.raw }

// Data implements exchange.Decoder.
func (d *Decoder) Data(dir int, b []byte, ts time.Time) {
	if dir == 0 {
		d.ClientData(b, ts)
	} else {
		d.ServerData(b, ts)
	}
}

// Gap implements exchange.Decoder.
func (d *Decoder) Gap(dir int, n int64, ts time.Time) {
	if dir == 0 {
		d.ClientGap(n, ts)
	} else {
		d.ServerGap(n, ts)
	}
}

// HalfClosed implements exchange.Decoder: the server's FIN ends a
// close-delimited response.
func (d *Decoder) HalfClosed(dir int, ts time.Time) {
	if dir == 1 {
		d.endResponse(ts)
	}
}

// Segment implements exchange.Decoder.
func (d *Decoder) Segment(ts time.Time) {
	d.CheckPickup()
	d.c.Advance(ts)
}

// CheckPickup takes a connection picked up in the middle to be another
// protocol than HTTP once it skipped PickupGiveUp client bytes looking for
// a request line (Segment does it after each segment).
func (d *Decoder) CheckPickup() {
	if d.skipped > PickupGiveUp {
		d.giveUp()
	}
}

// giveUp takes a connection picked up in the middle that skipped too many
// client bytes to be another protocol.
func (d *Decoder) giveUp() {
	if d.c.T.Pickup && !d.raw {
		d.goRaw()
	}
}

// Idle implements exchange.Decoder.
func (d *Decoder) Idle(now time.Time) { d.c.FlushIdle(now) }

// Closer implements exchange.Decoder.
func (d *Decoder) Closer(origin entry.Originator) entry.Originator { return origin }

// End implements exchange.Decoder.
func (d *Decoder) End(closed bool, ts time.Time) {
	if closed {
		d.endResponse(ts)
	}
	d.endHeads()
}

// ConnEnd implements exchange.Decoder.
func (d *Decoder) ConnEnd(ce *entry.ConnEnd) { ce.Exchanges = d.c.Begun() }

// endHeads marks the messages whose head never ended (the connection ended
// first) but whose start line was read: they are HTTP, and their head is
// cut, so that the header lines that did arrive are readable by name and
// the line cut short is not printed as whole.
func (d *Decoder) endHeads() {
	if x := d.reqTarget(); x != nil && x.Req.InHead && d.req.StartLineRead() {
		x.X.Request.HTTP = true
		x.X.Request.HeadTruncated = true
		giveFields(&x.Req, &x.X.Request, &d.req)
	}
	if x := d.respTarget(); x != nil && x.Resp.InHead && d.resp.StartLineRead() {
		x.X.Response.HTTP = true
		x.X.Response.HeadTruncated = true
		giveFields(&x.Resp, &x.X.Response, &d.resp)
	}
}

// endResponse ends what only a close can end: a close-delimited response.
func (d *Decoder) endResponse(ts time.Time) {
	if d.resp.Close() {
		if len(d.orphans) > 0 {
			d.popOrphan() // it was a response already let go
			return
		}
		if x := d.respTarget(); x != nil {
			x.RespDone = true
			d.headDone(&x.Resp, &x.X.Response, &d.resp)
		}
	}
}

// reqTarget is the exchange whose request is being received, if any.
func (d *Decoder) reqTarget() *exchange.Exchange {
	if x := d.c.Last(); x != nil && !x.ReqDone && !x.Raw {
		return x
	}
	return nil
}

// respTarget is the oldest HTTP exchange still waiting for its response.
func (d *Decoder) respTarget() *exchange.Exchange {
	for i, n := 0, d.c.Len(); i < n; i++ {
		if x := d.c.At(i); !x.RespDone && !x.Raw {
			return x
		}
	}
	return nil
}

// headDone records the end of a message head, which p framed, unless it
// was recorded (a message whose head and body came apart). It inlines, so
// that the second case costs no call.
func (d *Decoder) headDone(s *exchange.Side, m *entry.Message, p *httpframe.Parser) {
	if s.InHead {
		endHead(s, m, p)
	}
}

// endHead is headDone of a head not yet recorded.
func endHead(s *exchange.Side, m *entry.Message, p *httpframe.Parser) {
	s.InHead = false
	s.HeadEnd = len(s.Buf)
	m.HTTP = true
	giveFields(s, m, p)
	if !m.BytesTruncated {
		m.HeaderLen = len(s.Buf) - m.Head
	}
}

func method(x *exchange.Exchange) httpframe.Method { return httpframe.Method(x.Meta) }

// giveFields hands the fields p framed of the head of m (at m.Head) to m,
// when they are offsets in its kept bytes: the parser's message began at
// the head (not so when a request continues in a new exchange after
// responses that came early) and every byte of it was kept. Otherwise m
// gets no fields (HasFields false) and its readers read its bytes.
func giveFields(s *exchange.Side, m *entry.Message, p *httpframe.Parser) {
	fields, ok := p.SwapFields(m.Fields)
	m.Fields = fields
	m.HasFields = ok && !m.BytesTruncated && p.Consumed() == len(s.Buf)-m.Head && len(s.Buf) <= 1<<31-1
	if m.Head != 0 && m.HasFields {
		for i := range fields {
			fields[i].Name.Off += int32(m.Head)
			fields[i].Value.Off += int32(m.Head)
		}
	}
}

// ClientData handles reassembled client bytes (one segment's, or a
// segment's tail: a boundary where a request may start after lost framing).
func (d *Decoder) ClientData(b []byte, ts time.Time) {
	c := d.c
	d.req.Boundary()
	for len(b) > 0 {
		if d.raw {
			d.rawClient(b, ts)
			return
		}
		x := d.reqTarget()
		n, ev := d.req.Feed(b)
		if ev == httpframe.Skipped {
			d.skipped += int64(n)
			b = b[n:]
			continue
		}
		if x == nil {
			if n == 0 && ev == httpframe.Malformed {
				continue // a Boundary ended the Malformed line: no bytes, nothing to start
			}
			x = c.Begin()
		}
		if h := d.req.Held(); len(h) > 0 {
			// The request line began in bytes reported skipped.
			d.skipped -= int64(len(h))
			c.Keep(&x.Req, &x.X.Request, h)
			exchange.Account(&x.X.Request, len(h), ts)
		}
		c.Keep(&x.Req, &x.X.Request, b[:n])
		exchange.Account(&x.X.Request, n, ts)
		b = b[n:]
		switch ev {
		case httpframe.HeadDone:
			d.headDone(&x.Req, &x.X.Request, &d.req)
			x.Meta = uint64(d.req.Method())
		case httpframe.Done:
			if x.Req.InHead {
				x.Meta = uint64(d.req.Method())
			}
			d.headDone(&x.Req, &x.X.Request, &d.req)
			x.ReqDone = true
		case httpframe.Upgrade, httpframe.NotHTTP:
			// Not HTTP: this exchange and all that follow are raw.
			x.X.Request.HTTP = false
			x.Raw = true
			d.goRaw()
		case httpframe.Malformed:
			// Not a request, on a connection that carried HTTP (the
			// unframed rest of the request before, or garbage the
			// server will answer with an error): the entry shows what
			// was read and waits for the answer; the parser looks for
			// the next request line.
			x.ReqDone = true
		}
	}
	c.Advance(ts)
}

// goRaw switches the connection's client side to the non-HTTP rules.
func (d *Decoder) goRaw() {
	d.raw = true
	if last := d.c.Last(); last != nil && !last.ReqDone {
		last.Raw = true
		last.X.Request.HTTP = false
	}
}

// rawClient appends client bytes by the non-HTTP rules.
func (d *Decoder) rawClient(b []byte, ts time.Time) {
	c := d.c
	x := c.Last()
	if x == nil || !x.Raw || x.X.Response.Size != 0 {
		x = c.Begin()
		x.Raw = true
	}
	c.KeepRaw(&x.Req, &x.X.Request, b)
	exchange.Account(&x.X.Request, len(b), ts)
}

// rawServer appends server bytes by the non-HTTP rules.
func (d *Decoder) rawServer(b []byte, ts time.Time) {
	c := d.c
	x := c.Last()
	if x == nil || !x.Raw {
		x = c.Begin()
		x.Raw = true
	}
	c.KeepRaw(&x.Resp, &x.X.Response, b)
	exchange.Account(&x.X.Response, len(b), ts)
}

// ServerData handles reassembled server bytes (see ClientData).
func (d *Decoder) ServerData(b []byte, ts time.Time) {
	c := d.c
	d.resp.Boundary()
	for len(b) > 0 {
		if d.resp.Stopped() {
			d.rawServer(b, ts)
			break
		}
		if len(d.orphans) > 0 && !d.raw {
			b = b[d.orphanData(b):]
			continue
		}
		x := d.respTarget()
		if x == nil && d.raw {
			d.rawServer(b, ts)
			break
		}
		if x == nil && c.T.AfterEvict {
			break // the answer to a request printed when it was evicted
		}
		if x != nil && !d.resp.InMessage() {
			d.resp.SetRequestMethod(method(x))
		}
		n, ev := d.resp.Feed(b)
		if ev == httpframe.Skipped {
			b = b[n:]
			continue
		}
		if x == nil {
			if n == 0 && ev == httpframe.Malformed {
				continue // a Boundary ended the Malformed line: no bytes, nothing to start
			}
			// An answer with no request seen (picked up mid-exchange).
			x = c.Begin()
			x.ReqDone = true
		}
		m := &x.X.Response
		if x.Resp.NewHead {
			x.Resp.NewHead = false
			x.Resp.InHead = true
			m.Head = len(x.Resp.Buf)
			m.HeaderLen = -1
			m.HasFields = false
			m.First = time.Time{}
		}
		if h := d.resp.Held(); len(h) > 0 {
			c.Keep(&x.Resp, m, h)
			exchange.Account(m, len(h), ts)
		}
		c.Keep(&x.Resp, m, b[:n])
		exchange.Account(m, n, ts)
		b = b[n:]
		switch ev {
		case httpframe.HeadDone:
			d.headDone(&x.Resp, m, &d.resp)
		case httpframe.Done:
			d.headDone(&x.Resp, m, &d.resp)
			x.RespDone = true
		case httpframe.Interim:
			d.headDone(&x.Resp, m, &d.resp)
			x.Resp.NewHead = true
		case httpframe.Upgrade:
			d.headDone(&x.Resp, m, &d.resp)
			x.RespDone = true
			d.raw = true
			if d.upgrade(x) {
				// Another decoder reads the rest of both directions.
				if len(b) > 0 {
					c.Dec.Data(1, b, ts)
				}
				c.Advance(ts)
				return
			}
		case httpframe.NotHTTP:
			m.HTTP = false
			x.RespDone = true
			x.Raw = true
			d.raw = true
		case httpframe.Malformed:
			// Not a response, after HTTP ones: this request's answer
			// is what was read; the parser looks for the next status
			// line.
			m.HTTP = false
			x.RespDone = true
		}
	}
	c.Advance(ts)
}

// ClientGap takes n client bytes that were never captured.
func (d *Decoder) ClientGap(n int64, ts time.Time) {
	if d.raw {
		if x := d.c.Last(); x != nil {
			x.X.Gap = true
			x.X.Request.Size += n
		}
		return
	}
	x := d.reqTarget()
	if x != nil && d.req.InMessage() {
		// The missing bytes follow this request's: they count in its
		// size whether or not its framing survives.
		if !gap(x, &x.Req, &x.X.Request, &d.req, n) {
			// The framing is lost: the request ends here; parsing
			// resumes at the next request line.
			x.ReqDone = true
		}
		return
	}
	d.req.Skip(n)
}

// ServerGap takes n server bytes that were never captured.
func (d *Decoder) ServerGap(n int64, ts time.Time) {
	x := d.respTarget()
	if d.raw && (x == nil || d.resp.Stopped()) {
		if x := d.c.Last(); x != nil {
			x.X.Gap = true
			x.X.Response.Size += n
		}
		return
	}
	if x != nil && d.resp.InMessage() {
		if !gap(x, &x.Resp, &x.X.Response, &d.resp, n) {
			x.RespDone = true
		}
		return
	}
	d.resp.Skip(n)
}

// gap counts n missing bytes in message m of x, which p is framing, and
// reports whether the framing survives them.
func gap(x *exchange.Exchange, s *exchange.Side, m *entry.Message, p *httpframe.Parser, n int64) bool {
	x.X.Gap = true
	m.Size += n
	if s.InHead {
		// The head has a hole (a snap length cut, a lost segment): what
		// follows the last whole line is not printed as whole.
		m.HeadTruncated = true
	}
	if p.StartLineRead() {
		m.HTTP = true
	}
	return p.Skip(n)
}

// Early implements exchange.Decoder: the response of a request printed
// before it came is framed and let go.
func (d *Decoder) Early(x *exchange.Exchange) {
	if !x.RespDone && !x.Raw && !d.raw {
		if len(d.orphans) >= exchange.MaxQueue {
			d.orphans = d.orphans[:copy(d.orphans, d.orphans[1:])]
		}
		d.orphans = append(d.orphans, method(x))
	}
}

// orphanData frames bytes of a response whose request was already printed
// (Early) and lets them go. It returns how many bytes it took.
func (d *Decoder) orphanData(b []byte) int {
	if !d.resp.InMessage() {
		d.resp.SetRequestMethod(d.orphans[0])
	}
	n, ev := d.resp.Feed(b)
	switch {
	case ev == httpframe.Upgrade || ev == httpframe.NotHTTP:
		d.popOrphan()
		d.raw = true
	case ev == httpframe.Done || ev == httpframe.Malformed || n == 0:
		d.popOrphan() // n == 0: let it go rather than loop
	}
	return n
}

func (d *Decoder) popOrphan() { d.orphans = d.orphans[:copy(d.orphans, d.orphans[1:])] }

// upgrade hands the connection to the decoder registered for the protocol
// x's request asked to upgrade to, if its response switched protocols
// (101). It reports whether one took it.
func (d *Decoder) upgrade(x *exchange.Exchange) bool {
	if len(d.c.S.Registry) == 0 || d.resp.Status() != 101 {
		return false
	}
	m := &x.X.Request
	if !m.HTTP || m.HeaderLen < 0 {
		return false
	}
	var buf [16]entry.Field
	for _, f := range m.HeaderFields(buf[:]) {
		if name, token, ok := f.Split(m.Bytes); ok && bytes.EqualFold(name, []byte("upgrade")) {
			return len(token) > 0 && d.c.Upgrade(token, x)
		}
	}
	return false
}
