package sniff

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/httpframe"
	"github.com/sniffer/sniffer/sniff/reassembly"
	"github.com/sniffer/sniffer/sniff/tlsconn"
)

// conn is one tracked TCP connection. Direction 0 is client to server,
// direction 1 server to client.
type conn struct {
	e              *Engine
	key            connKey
	client, server netip.AddrPort

	half [2]reassembly.Half
	recv [2]receiver

	synSeen, synAckSeen bool
	clientISN           reassembly.Seq
	serverISN           reassembly.Seq
	wscale              [2]int8 // window scale shifts of SYN and SYN-ACK (decode.Packet.WScale)
	// acked is the latest acknowledgment each direction sent that its
	// peer's Half took (ackSeen says whether there was one).
	acked   [2]reassembly.Seq
	ackSeen [2]bool
	// softRST is when a RST in the window but not exact was seen (zero if
	// none is outstanding), softOrigin who sent it: the connection closes
	// there unless its sender shows life after it (Engine.recheckRST).
	softRST    time.Time
	softOrigin entry.Originator
	// softDir, softSeq and softAck are the RST's direction, sequence
	// number and acknowledgment (softAckOK: it had one).
	softDir   int8
	softSeq   reassembly.Seq
	softAck   reassembly.Seq
	softAckOK bool
	// gen counts the lives of this slot (see connRef).
	gen uint32
	// id numbers the connection (entry.Entry.Conn); firstSeen is when its
	// first packet was.
	id        uint64
	firstSeen time.Time
	// evicted: flushed because the table was full. afterEvict: picked up
	// again after that; server bytes that answer no request seen since
	// are skipped (their request was printed at the eviction).
	evicted, afterEvict bool
	// provisional is set while an exchange is printed before its place in
	// the connection is known (flushIdle).
	provisional     bool
	synTime, hsDone time.Time
	pickup          bool // the handshake was not captured
	finDir          int8 // direction of the first FIN, -1 if none
	finTime         [2]time.Time
	finAck          [2]reassembly.Seq // the ACK each FIN carried (finAckOK: it had one)
	finAckOK        [2]bool
	lastSeen        time.Time

	// raw is set once the client side is not HTTP (or after an upgrade):
	// client bytes until the server answers are a request, server bytes
	// until the client speaks again a response.
	raw       bool
	req, resp httpframe.Parser
	skipped   int64 // client bytes skipped looking for a request line
	// tlsOn is set when the client's first bytes were a TLS ClientHello
	// (or, picked up in the middle, an application data record): the
	// connection is one entry, its records followed by tls (see
	// tls.go), which the slot keeps for its next TLS connection.
	tlsOn bool
	tls   *tlsState

	queue []*exchange // exchanges not yet emitted, oldest first
	// orphans are the methods of requests printed before their response
	// came (a queue past its bound), oldest first: their responses are
	// framed and let go, so that later responses meet their own requests.
	orphans []httpframe.Method
	spare   []*exchange // recycled exchanges
	index   int         // exchanges started
	shown   int         // entries emitted

	prev, next *conn // LRU list
}

// exchange is an entry being built.
type exchange struct {
	x        entry.Entry
	req      side
	resp     side
	reqDone  bool
	respDone bool
	rawEx    bool // built by the non-HTTP rules
	// method is the request's method, which decides how its response is
	// framed.
	method httpframe.Method
}

// side accumulates one message of an exchange.
type side struct {
	buf     []byte
	inHead  bool // the current message's head is not complete
	headEnd int  // offset in buf where the head ended, -1 while in head
	// newHead: the next bytes start a new message head (after a 1xx).
	newHead bool
}

// receiver delivers one direction's reassembled bytes to its connection.
type receiver struct {
	c   *conn
	dir int
}

func (r *receiver) Data(b []byte, ts time.Time) {
	if r.dir == 0 {
		r.c.clientData(b, ts)
	} else {
		r.c.serverData(b, ts)
	}
}

func (r *receiver) Gap(n int64, ts time.Time) {
	if r.dir == 0 {
		r.c.clientGap(n, ts)
	} else {
		r.c.serverGap(n, ts)
	}
}

func (c *conn) init(e *Engine, key connKey, client, server netip.AddrPort) {
	queue, spare, gen, tls := c.queue[:0], c.spare, c.gen+1, c.tls
	*c = conn{e: e, key: key, client: client, server: server, queue: queue, spare: spare, finDir: -1, gen: gen, tls: tls}
	for d := range c.half {
		c.half[d].MaxPending = e.cfg.MaxPendingPerConn
		c.half[d].Budget = &e.budget
		c.recv[d] = receiver{c: c, dir: d}
	}
	c.req.Init(httpframe.Request)
	c.resp.Init(httpframe.Response)
	c.req.SetWatch(e.watch[0])
	c.resp.SetWatch(e.watch[1])
}

// release returns held memory; large buffers are dropped rather than kept
// for the next connection.
func (c *conn) release() {
	c.half[0].Reset()
	c.half[1].Reset()
	for _, x := range c.queue {
		c.recycle(x)
	}
	c.e.queued -= len(c.queue)
	if cap(c.queue) > 16 {
		c.queue = nil // a deep pipeline grew it: let it go with the connection
	}
	c.queue = c.queue[:0]
	c.e = nil
}

func (c *conn) isClient(a netip.Addr, port uint16) bool {
	return c.client.Port() == port && c.client.Addr() == a
}

// closer is who sent the first FIN.
func (c *conn) closer() entry.Originator {
	switch c.finDir {
	case 0:
		return entry.Client
	case 1:
		return entry.Server
	}
	return entry.None
}

func (c *conn) flushHalves(ts time.Time) {
	c.half[0].Flush(ts, &c.recv[0])
	c.half[1].Flush(ts, &c.recv[1])
}

// halfClosed is called when every byte of a direction up to its FIN was
// delivered.
func (c *conn) halfClosed(dir int, ts time.Time) {
	if dir == 1 {
		c.endResponse(ts)
	}
}

// endHeads marks the messages whose head never ended (the connection ended
// first) but whose start line was read: they are HTTP, and their head is
// cut, so that the header lines that did arrive are readable by name and
// the line cut short is not printed as whole.
func (c *conn) endHeads() {
	if x := c.reqTarget(); x != nil && x.req.inHead && c.req.StartLineRead() {
		x.x.Request.HTTP = true
		x.x.Request.HeadTruncated = true
	}
	if x := c.respTarget(); x != nil && x.resp.inHead && c.resp.StartLineRead() {
		x.x.Response.HTTP = true
		x.x.Response.HeadTruncated = true
	}
}

// endResponse ends what only a close can end: a close-delimited response.
func (c *conn) endResponse(ts time.Time) {
	if c.resp.Close() {
		if len(c.orphans) > 0 {
			c.popOrphan() // it was a response already let go
			return
		}
		if x := c.respTarget(); x != nil {
			x.respDone = true
			c.headDone(&x.resp, &x.x.Response, &c.resp)
		}
	}
}

// newExchange starts an entry at the end of the queue.
func (c *conn) newExchange() *exchange {
	var x *exchange
	if n := len(c.spare); n > 0 {
		x = c.spare[n-1]
		c.spare = c.spare[:n-1]
	} else {
		x = new(exchange)
	}
	reqBuf, respBuf := x.req.buf[:0], x.resp.buf[:0]
	*x = exchange{}
	x.req = side{buf: reqBuf, inHead: true, headEnd: -1}
	x.resp = side{buf: respBuf, inHead: true, headEnd: -1}
	c.index++
	x.x.Index = c.index
	x.x.Request.HeaderLen = -1
	x.x.Response.HeaderLen = -1
	c.queue = append(c.queue, x)
	c.e.queued++
	if len(c.queue) > maxQueue || len(c.queue) > 1 && c.e.queued > queuedPerConn*c.e.cfg.MaxConns {
		c.emitEarly()
	}
	return x
}

func (c *conn) recycle(x *exchange) {
	// Buffers that grew large are let go rather than kept for the next
	// exchange; all kept capacity counts against Config.MaxKept.
	const keep = 16 << 10
	if cap(x.req.buf) > keep {
		c.e.keptCap -= int64(cap(x.req.buf))
		x.req.buf = nil
	}
	if cap(x.resp.buf) > keep {
		c.e.keptCap -= int64(cap(x.resp.buf))
		x.resp.buf = nil
	}
	// newExchange clears a spare when it takes it.
	// One spare serves the usual one exchange at a time; more would hold
	// a few hundred bytes per connection for nothing.
	if len(c.spare) < 1 {
		c.spare = append(c.spare, x)
		return
	}
	c.e.keptCap -= int64(cap(x.req.buf) + cap(x.resp.buf))
}

// dropSpares lets the recycled exchanges' buffers go (e is c's engine: a
// released connection no longer points at it).
func (c *conn) dropSpares(e *Engine) {
	for _, x := range c.spare {
		e.keptCap -= int64(cap(x.req.buf) + cap(x.resp.buf))
	}
	clear(c.spare)
	c.spare = c.spare[:0]
}

// reqTarget is the exchange whose request is being received, if any.
func (c *conn) reqTarget() *exchange {
	if n := len(c.queue); n > 0 {
		if x := c.queue[n-1]; !x.reqDone && !x.rawEx {
			return x
		}
	}
	return nil
}

// respTarget is the oldest HTTP exchange still waiting for its response.
func (c *conn) respTarget() *exchange {
	for _, x := range c.queue {
		if !x.respDone && !x.rawEx {
			return x
		}
	}
	return nil
}

// keep appends b to a side's bytes within the caps.
func (c *conn) keep(s *side, m *entry.Message, b []byte) {
	var room int
	if s.inHead {
		room = m.Head + c.e.cfg.HeaderCap - len(s.buf)
	} else if c.e.cfg.KeepBodies {
		room = s.headEnd + c.e.cfg.BodyCap - len(s.buf)
	}
	c.appendKept(s, m, b, room)
	if s.inHead && m.BytesTruncated && !m.HeadTruncated {
		m.HeadTruncated = true
		c.e.stats.HeadsTruncated++
	}
}

// headStart is the part of each message head that may draw on the reserve
// of the kept-bytes budget (a quarter of Config.MaxKept): when long heads
// and bodies have taken the rest, the first lines of other messages are
// still kept and printed.
const headStart = 1024

// appendKept appends up to room bytes of b to a side's bytes, within what
// Config.MaxKept still allows all connections to hold, and marks the message
// truncated when not all of b fits.
func (c *conn) appendKept(s *side, m *entry.Message, b []byte, room int) {
	want := min(max(room, 0), len(b))
	limit := c.e.cfg.MaxKept
	room = c.within(s, want, limit-limit/4)
	if s.inHead && room < want {
		if start := m.Head + headStart - len(s.buf); start > room {
			room = max(room, c.within(s, min(want, start), limit))
		}
	}
	if room < len(b) {
		m.BytesTruncated = true
		b = b[:room]
	}
	before := cap(s.buf)
	s.buf = append(s.buf, b...)
	c.e.keptCap += int64(cap(s.buf) - before)
	m.Bytes = s.buf
}

// within returns how many of want more bytes a side's buffer may take
// without the capacity of all kept buffers passing limit.
func (c *conn) within(s *side, want int, limit int64) int {
	grow := len(s.buf) + want - cap(s.buf)
	if grow <= 0 {
		return want
	}
	e := c.e
	avail := limit - e.keptCap
	if int64(grow)*2 > avail && len(e.free) > 0 {
		e.trimFree()
		avail = limit - e.keptCap
	}
	// append may double the capacity: stay within the budget.
	if int64(grow)*2 > avail {
		return min(want, cap(s.buf)-len(s.buf)+int(max(avail/2, 0)))
	}
	return want
}

// account records that n bytes of a message were seen at ts.
func account(m *entry.Message, n int, ts time.Time) {
	if n == 0 {
		return
	}
	m.Size += int64(n)
	if m.First.IsZero() {
		m.First = ts
	}
	m.Last = ts
}

// headDone records the end of a message head, which p framed.
func (c *conn) headDone(s *side, m *entry.Message, p *httpframe.Parser) {
	if !s.inHead {
		return
	}
	s.inHead = false
	s.headEnd = len(s.buf)
	m.HTTP = true
	// The index's offsets count from the start line's first byte: they
	// are offsets in the bytes at Head only if the parser's message and
	// this head began at the same byte (not so when a request continues
	// in a new exchange after responses that came early).
	if idx := p.Index(); idx.Names != nil && p.Consumed() == len(s.buf)-m.Head && !m.BytesTruncated {
		m.Headers = entry.HeaderIndex(idx)
	}
	if !m.BytesTruncated {
		m.HeaderLen = len(s.buf) - m.Head
	}
}

// clientData handles reassembled client bytes (one segment's, or a
// segment's tail: a boundary where a request may start after lost framing).
func (c *conn) clientData(b []byte, ts time.Time) {
	if c.tlsOn || c.index == 0 && c.skipped == 0 && !c.raw && (tlsconn.Looks(b) || c.pickup && tlsconn.LooksMidStream(b)) {
		if !c.tlsOn {
			c.startTLS(b[0] == tlsconn.TypeApplicationData)
		}
		c.tlsData(0, b, ts)
		return
	}
	c.req.Boundary()
	for len(b) > 0 {
		if c.raw {
			c.rawClient(b, ts)
			return
		}
		x := c.reqTarget()
		n, ev := c.req.Feed(b)
		if ev == httpframe.Skipped {
			c.skipped += int64(n)
			b = b[n:]
			continue
		}
		if x == nil {
			if n == 0 && ev == httpframe.Malformed {
				continue // a Boundary ended the Malformed line: no bytes, nothing to start
			}
			x = c.newExchange()
		}
		if h := c.req.Held(); len(h) > 0 {
			// The request line began in bytes reported skipped.
			c.skipped -= int64(len(h))
			c.keep(&x.req, &x.x.Request, h)
			account(&x.x.Request, len(h), ts)
		}
		c.keep(&x.req, &x.x.Request, b[:n])
		account(&x.x.Request, n, ts)
		b = b[n:]
		switch ev {
		case httpframe.HeadDone:
			c.headDone(&x.req, &x.x.Request, &c.req)
			x.method = c.req.Method()
		case httpframe.Done:
			if x.req.inHead {
				x.method = c.req.Method()
			}
			c.headDone(&x.req, &x.x.Request, &c.req)
			x.reqDone = true
		case httpframe.Upgrade, httpframe.NotHTTP:
			// Not HTTP: this exchange and all that follow are raw.
			x.x.Request.HTTP = false
			x.rawEx = true
			c.goRaw()
		case httpframe.Malformed:
			// Not a request, on a connection that carried HTTP (the
			// unframed rest of the request before, or garbage the
			// server will answer with an error): the entry shows what
			// was read and waits for the answer; the parser looks for
			// the next request line.
			x.reqDone = true
		}
	}
	c.advance(ts)
}

// goRaw switches the connection's client side to the non-HTTP rules.
func (c *conn) goRaw() {
	c.raw = true
	if n := len(c.queue); n > 0 {
		last := c.queue[n-1]
		if !last.reqDone {
			last.rawEx = true
			last.x.Request.HTTP = false
		}
	}
}

// rawClient appends client bytes by the non-HTTP rules.
func (c *conn) rawClient(b []byte, ts time.Time) {
	var x *exchange
	if n := len(c.queue); n > 0 && c.queue[n-1].rawEx && c.queue[n-1].x.Response.Size == 0 {
		x = c.queue[n-1]
	} else {
		x = c.newExchange()
		x.rawEx = true
	}
	c.keepRaw(&x.req, &x.x.Request, b)
	account(&x.x.Request, len(b), ts)
}

// rawServer appends server bytes by the non-HTTP rules.
func (c *conn) rawServer(b []byte, ts time.Time) {
	var x *exchange
	if n := len(c.queue); n > 0 && c.queue[n-1].rawEx {
		x = c.queue[n-1]
	} else {
		x = c.newExchange()
		x.rawEx = true
	}
	c.keepRaw(&x.resp, &x.x.Response, b)
	account(&x.x.Response, len(b), ts)
}

// keepRaw keeps raw bytes: a head's worth, or a body's worth more when
// bodies are kept.
func (c *conn) keepRaw(s *side, m *entry.Message, b []byte) {
	limit := c.e.cfg.HeaderCap
	if c.e.cfg.KeepBodies {
		limit += c.e.cfg.BodyCap
	}
	c.appendKept(s, m, b, limit-len(s.buf))
}

// serverData handles reassembled server bytes (see clientData).
func (c *conn) serverData(b []byte, ts time.Time) {
	if c.tlsOn {
		c.tlsData(1, b, ts)
		return
	}
	c.resp.Boundary()
	for len(b) > 0 {
		if c.resp.Stopped() {
			c.rawServer(b, ts)
			break
		}
		if len(c.orphans) > 0 && !c.raw {
			b = b[c.orphanData(b):]
			continue
		}
		x := c.respTarget()
		if x == nil && c.raw {
			c.rawServer(b, ts)
			break
		}
		if x == nil && c.afterEvict {
			break // the answer to a request printed when it was evicted
		}
		if x != nil && !c.resp.InMessage() {
			c.resp.SetRequestMethod(x.method)
		}
		n, ev := c.resp.Feed(b)
		if ev == httpframe.Skipped {
			b = b[n:]
			continue
		}
		if x == nil {
			if n == 0 && ev == httpframe.Malformed {
				continue // a Boundary ended the Malformed line: no bytes, nothing to start
			}
			// An answer with no request seen (picked up mid-exchange).
			x = c.newExchange()
			x.reqDone = true
		}
		m := &x.x.Response
		if x.resp.newHead {
			x.resp.newHead = false
			x.resp.inHead = true
			m.Head = len(x.resp.buf)
			m.HeaderLen = -1
			m.Headers = entry.HeaderIndex{}
			m.First = time.Time{}
		}
		if h := c.resp.Held(); len(h) > 0 {
			c.keep(&x.resp, m, h)
			account(m, len(h), ts)
		}
		c.keep(&x.resp, m, b[:n])
		account(m, n, ts)
		b = b[n:]
		switch ev {
		case httpframe.HeadDone:
			c.headDone(&x.resp, m, &c.resp)
		case httpframe.Done:
			c.headDone(&x.resp, m, &c.resp)
			x.respDone = true
		case httpframe.Interim:
			c.headDone(&x.resp, m, &c.resp)
			x.resp.newHead = true
		case httpframe.Upgrade:
			c.headDone(&x.resp, m, &c.resp)
			x.respDone = true
			c.raw = true
		case httpframe.NotHTTP:
			m.HTTP = false
			x.respDone = true
			x.rawEx = true
			c.raw = true
		case httpframe.Malformed:
			// Not a response, after HTTP ones: this request's answer
			// is what was read; the parser looks for the next status
			// line.
			m.HTTP = false
			x.respDone = true
		}
	}
	c.advance(ts)
}

func (c *conn) clientGap(n int64, ts time.Time) {
	if c.tlsOn {
		c.tlsGap(0, n)
		return
	}
	if c.raw {
		if k := len(c.queue); k > 0 {
			x := c.queue[k-1]
			x.x.Gap = true
			x.x.Request.Size += n
		}
		return
	}
	x := c.reqTarget()
	if x != nil && c.req.InMessage() {
		// The missing bytes follow this request's: they count in its
		// size whether or not its framing survives.
		x.x.Gap = true
		x.x.Request.Size += n
		if x.req.inHead {
			// The head has a hole (a snap length cut, a lost segment):
			// what follows the last whole line is not printed as whole.
			x.x.Request.HeadTruncated = true
		}
		if c.req.StartLineRead() {
			x.x.Request.HTTP = true
		}
		if !c.req.Skip(n) {
			// The framing is lost: the request ends here; parsing
			// resumes at the next request line.
			x.reqDone = true
		}
		return
	}
	c.req.Skip(n)
}

func (c *conn) serverGap(n int64, ts time.Time) {
	if c.tlsOn {
		c.tlsGap(1, n)
		return
	}
	x := c.respTarget()
	if c.raw && (x == nil || c.resp.Stopped()) {
		if k := len(c.queue); k > 0 {
			x := c.queue[k-1]
			x.x.Gap = true
			x.x.Response.Size += n
		}
		return
	}
	if x != nil && c.resp.InMessage() {
		x.x.Gap = true
		x.x.Response.Size += n
		if x.resp.inHead {
			x.x.Response.HeadTruncated = true // as for requests
		}
		if c.resp.StartLineRead() {
			x.x.Response.HTTP = true
		}
		if !c.resp.Skip(n) {
			x.respDone = true
		}
		return
	}
	c.resp.Skip(n)
}

// advance emits the exchanges whose annotation is now known: complete ones
// followed by another.
func (c *conn) advance(ts time.Time) {
	for len(c.queue) > 1 {
		x := c.queue[0]
		if !x.rawEx && !(x.reqDone && x.respDone) {
			return
		}
		next := c.queue[1]
		flushed := next.x.Request.First
		if flushed.IsZero() {
			flushed = next.x.Response.First
		}
		if last := x.x.LastEvent(); flushed.Before(last) {
			flushed = last // pipelined: the next request came first
		}
		c.emitHead(flushed, time.Time{}, entry.None, false)
	}
}

// flushIdle prints a complete exchange of an idle connection without waiting
// for its annotation (FlushAfter).
func (c *conn) flushIdle(now time.Time) {
	if len(c.queue) == 0 || c.tlsOn { // a TLS connection's entry waits for its end
		return
	}
	x := c.queue[0]
	if x.rawEx || (x.reqDone && x.respDone) {
		c.provisional = true
		c.emitHead(now, time.Time{}, entry.None, false)
		c.provisional = false
	}
}

// emitAll emits every exchange left; the last one ends the connection.
// closeTS is the close time (zero unless closed).
func (c *conn) emitAll(flushed, closeTS time.Time, origin entry.Originator, closed bool) {
	if c.tlsOn {
		c.tlsFinish()
	}
	if len(c.queue) == 0 && c.shown == 0 {
		// A connection that carried no payload still makes one entry.
		x := c.newExchange()
		c.index = 0
		x.x.Index = 0
	}
	for len(c.queue) > 0 {
		if len(c.queue) == 1 {
			c.emitHead(flushed, closeTS, origin, closed)
			return
		}
		c.emitHead(flushed, time.Time{}, entry.None, false)
	}
}

// emitHead emits the oldest exchange. final marks the connection's end by a
// close; origin is set on the connection's last entry (close, timeout or
// truncation).
func (c *conn) emitHead(flushed, closeTS time.Time, origin entry.Originator, final bool) {
	x := c.queue[0]
	n := copy(c.queue, c.queue[1:])
	c.queue[n] = nil
	c.queue = c.queue[:n]
	c.e.queued--
	en := &x.x
	en.Client, en.Server = c.client, c.server
	en.Conn = c.id
	first := c.shown == 0 && !c.pickup
	switch {
	case c.provisional:
		en.Annotation = entry.Open
	case first && final:
		en.Annotation = entry.Unique
	case first:
		en.Annotation = entry.Start
	case final:
		en.Annotation = entry.Last
	default:
		en.Annotation = entry.Continue
	}
	if first && c.synSeen {
		en.SYN = c.synTime
		en.HandshakeDone = c.hsDone
	}
	if c.synSeen {
		en.ConnStart = c.synTime
	}
	en.Flushed = flushed
	if final {
		en.Close = closeTS
	}
	en.Originator = origin
	rawHead(&en.Request)
	rawHead(&en.Response)
	if en.Response.First.IsZero() && !en.Response.Last.IsZero() {
		en.Response.First = en.Response.Last
	}
	c.shown++
	c.e.emit(en)
	c.recycle(x)
}

// emitEarly prints the oldest exchange before its response is complete, to
// bound the queue. Its response, when it comes, is skipped.
func (c *conn) emitEarly() {
	x := c.queue[0]
	if !x.respDone && !x.rawEx && !c.raw {
		if len(c.orphans) >= maxQueue {
			c.orphans = c.orphans[:copy(c.orphans, c.orphans[1:])]
		}
		c.orphans = append(c.orphans, x.method)
	}
	c.emitHead(c.lastSeen, time.Time{}, entry.None, false)
}

// orphanData frames bytes of a response whose request was already printed
// (emitEarly) and lets them go. It returns how many bytes it took.
func (c *conn) orphanData(b []byte) int {
	if !c.resp.InMessage() {
		c.resp.SetRequestMethod(c.orphans[0])
	}
	n, ev := c.resp.Feed(b)
	switch {
	case ev == httpframe.Upgrade || ev == httpframe.NotHTTP:
		c.popOrphan()
		c.raw = true
	case ev == httpframe.Done || ev == httpframe.Malformed || n == 0:
		c.popOrphan() // n == 0: let it go rather than loop
	}
	return n
}

func (c *conn) popOrphan() { c.orphans = c.orphans[:copy(c.orphans, c.orphans[1:])] }

// rawHead sets the header length of a message that was not parsed as HTTP:
// the bytes up to the first blank line, as justniffer reads them.
func rawHead(m *entry.Message) {
	if m.HTTP || m.HeaderLen >= 0 {
		return
	}
	m.Head = 0
	if i := bytes.Index(m.Bytes, []byte("\r\n\r\n")); i >= 0 {
		m.HeaderLen = i + 4
	}
}
