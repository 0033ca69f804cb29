// Package exchange is the engine's layer between the application decoders
// and the entries: it keeps each connection's exchanges in the order they
// began, bounds what waits (exchanges per connection and in all, the bytes
// kept of every message), labels each exchange with its place in the
// connection (start, continue, last, unique, open) and emits it once that
// label is known.
//
// A Decoder turns a connection's ordered bytes into exchanges: it begins
// them (Conn.Begin), fills their messages (Conn.Keep, Account), marks them
// complete (Exchange.ReqDone, RespDone or Raw) and lets the layer emit what
// is ready (Conn.Advance). An exchange's label is final once a later
// exchange began or the connection ended; a complete one is emitted then.
// By default exchanges are emitted in the order they began (HTTP/1: a
// response answers the oldest request); a decoder whose exchanges run
// concurrently and complete out of order (HTTP/2 streams) sets
// Conn.Concurrent, and each is then emitted as soon as it is complete and
// its label final, whatever the state of those that began before it.
package exchange

import (
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/ascii"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
)

const (
	// MaxQueue bounds the exchanges waiting in one connection (pipelined
	// requests not yet answered); past it the oldest is printed as it is.
	MaxQueue = 256
	// queuedPerConn is how many exchanges all connections may have waiting,
	// on average, beyond the one each may always have: past
	// queuedPerConn×MaxConns in all, a connection with more than one
	// waiting prints its oldest as it is. Without it, pipelined requests
	// no server answers would hold MaxQueue exchanges (a few hundred bytes
	// each, outside the kept-bytes budget) on every connection.
	queuedPerConn = 2
	// headStart is the part of each message head that may draw on the
	// reserve of the kept-bytes budget (a quarter of MaxKept): when long
	// heads and bodies have taken the rest, the first lines of other
	// messages are still kept and printed.
	headStart = 1024
	// maxSpares bounds the recycled exchanges a connection of concurrent
	// exchanges keeps for its next ones.
	maxSpares = 16
)

// Shared is what all connections' exchanges share: the bounds, the
// kept-bytes budget, the counters and where entries go.
type Shared struct {
	// HeaderCap bounds the bytes kept of each message head, BodyCap of
	// each body (kept only if KeepBodies).
	HeaderCap, BodyCap int
	KeepBodies         bool
	// MaxKept bounds the capacity of all message buffers together.
	MaxKept int64
	// MaxConns is the connection table's bound (the queue bound in all is
	// proportional to it).
	MaxConns int
	// KeptCap is the capacity of the message buffers held now.
	KeptCap int64
	// Queued is the number of exchanges waiting in all connections.
	Queued int
	// HeadsTruncated counts header blocks cut at a cap; TLSLostSync TLS
	// connections whose record framing was lost.
	HeadsTruncated, TLSLostSync uint64
	// Entries counts the entries emitted.
	Entries uint64
	// Emit receives each entry.
	Emit func(*entry.Entry)
	// Table is the connection table (entry.Entry.Streams).
	Table *tcp.Table
	// Trim lets go of buffers kept for reuse (of connection slots kept
	// for reuse), when the budget runs short.
	Trim func()
	// Registry are the decoders a connection may switch to, tried in
	// order on its first client bytes (Factory.Probe).
	Registry []Factory
}

// Factory registers a decoder.
type Factory struct {
	// Name names the protocol.
	Name string
	// Probe reports whether a connection whose client's first bytes are
	// b speaks this protocol; pickup says the handshake was not captured
	// (b may be from the middle of the stream). Nil: never from the first
	// bytes.
	Probe func(b []byte, pickup bool) bool
	// ServerProbe reports whether a connection whose server spoke first,
	// b being its first bytes (no client byte seen yet), speaks this
	// protocol (an HTTP/2 server sends its SETTINGS without waiting for
	// the client's preface). Nil: never from the server's bytes.
	ServerProbe func(b []byte, pickup bool) bool
	// Upgrade is the HTTP/1.1 Upgrade token (RFC 9110 §7.8) whose
	// acceptance (101 Switching Protocols) hands the rest of both
	// directions to this decoder; empty if none.
	Upgrade string
	// New returns a decoder. A connection slot keeps it for its next
	// connections (Decoder.Start resets it).
	New func() Decoder
}

// Decoder is an application protocol's reading of one connection. Direction
// 0 is client to server, direction 1 server to client. The Conn calls it
// in one goroutine, in capture order.
type Decoder interface {
	// Start begins decoding c. up is the exchange whose HTTP/1 request
	// was upgraded to this protocol (nil when chosen by Probe): its
	// answer comes in the new protocol. first are the client bytes Probe
	// recognised (nil on an upgrade); Data receives them next.
	Start(c *Conn, up *Exchange, first []byte)
	// Data takes reassembled bytes of direction dir, seen at ts.
	Data(dir int, b []byte, ts time.Time)
	// Gap takes n bytes of direction dir that were never captured.
	Gap(dir int, n int64, ts time.Time)
	// HalfClosed: every byte of direction dir up to its FIN was given.
	HalfClosed(dir int, ts time.Time)
	// Segment is called after each TCP segment was taken: the decoder
	// emits what is ready (Conn.Advance).
	Segment(ts time.Time)
	// Idle is called when the connection was idle for FlushAfter: the
	// decoder may print complete exchanges before their label is known
	// (Conn.FlushIdle) or let them wait.
	Idle(now time.Time)
	// Early is called when x (the oldest waiting exchange) is about to
	// be printed before it completed, to bound the queue: what is still
	// to come of it must be read and let go.
	Early(x *Exchange)
	// Closer is called when the connection closed (FIN handshake or
	// RST), before its last bytes are given: it returns who closed the
	// session at the decoder's level (a TLS close_notify's sender), or
	// origin, the transport's closer.
	Closer(origin entry.Originator) entry.Originator
	// End is called when the connection ends, after its last bytes were
	// given and before its last exchanges are emitted: closed says by a
	// close (at ts) rather than an eviction, a timeout or the end of
	// input. The decoder completes what only an end completes.
	End(closed bool, ts time.Time)
	// ConnEnd sets the decoder's figures of the connection's life
	// (Exchanges, TLS, LowerBound), after the transport's.
	ConnEnd(ce *entry.ConnEnd)
}

// Exchange is an entry being built.
type Exchange struct {
	// X is the entry.
	X entry.Entry
	// Req and Resp accumulate its request's and response's bytes.
	Req, Resp Side
	// ReqDone and RespDone: the request and the response are complete.
	// Raw: built by the turn-based rules, complete whenever the next one
	// begins.
	ReqDone, RespDone, Raw bool
	// Meta is the decoder's own word about the exchange (the request
	// method that frames an HTTP/1 response, an HTTP/2 stream
	// identifier).
	Meta uint64
}

// Complete reports whether x may be emitted once its label is known.
func (x *Exchange) Complete() bool { return x.Raw || x.ReqDone && x.RespDone }

// Side accumulates one message of an exchange.
type Side struct {
	// Buf holds the message's kept bytes (entry.Message.Bytes).
	Buf []byte
	// InHead: the current message's head is not complete.
	InHead bool
	// HeadEnd is the offset in Buf where the head ended, -1 while in
	// head.
	HeadEnd int
	// NewHead: the next bytes start a new message head (after a 1xx).
	NewHead bool
}

// Conn is the exchanges of one connection.
type Conn struct {
	// S is what all connections share; T the transport's connection.
	S *Shared
	T *tcp.Conn
	// Dec is the decoder in charge; nil: Default, the engine's decoder
	// for connections no registered decoder claimed (HTTP/1 and the
	// turn-based rules).
	Dec, Default Decoder
	// Concurrent: exchanges complete out of order; each is emitted when
	// complete and its label is final (see the package comment).
	Concurrent bool
	// Reversed: the decoder found that the transport, which guessed the
	// ends of a connection picked up in the middle, took the client for
	// the server; entries name them the other way round (Entry.Client,
	// Entry.Server).
	Reversed bool

	queue []*Exchange // exchanges not yet emitted, in the order they began
	spare []*Exchange // recycled exchanges
	cache []Decoder   // decoders made for this slot, by registry position
	index int         // exchanges begun
	shown int         // entries emitted
	// provisional is set while an exchange is printed before its place
	// in the connection is known (FlushIdle).
	provisional bool
	// early counts the bytes of each direction never captured before a
	// decoder was chosen (EarlyGap), and earlyAt is when the last such
	// gap was declared: the decoder a probe puts in charge is told.
	early   [2]int64
	earlyAt time.Time
}

// EarlyGap records that n bytes of direction dir were never captured
// while no exchange had begun and no decoder was chosen, the default
// decoder having been told. A probe that then puts a decoder in charge
// hands it the gap, so that what it reports (Entry.Gap, a lower bound)
// says the framing it took up was not seen from its start.
func (c *Conn) EarlyGap(dir int, n int64, ts time.Time) {
	c.early[dir&1] += n
	c.earlyAt = ts
}

// MidStream reports whether the client's first bytes were not captured:
// the connection was picked up in the middle, or bytes were lost before
// any client byte was seen. What follows is probed as the middle of a
// stream (Factory.Probe's pickup), not as its beginning.
func (c *Conn) MidStream() bool { return c.T.Pickup || c.early[0] > 0 }

// Init prepares c for the connection t, keeping the buffers of the slot's
// previous connection.
func (c *Conn) Init(s *Shared, t *tcp.Conn) {
	queue, spare, cache, def := c.queue[:0], c.spare, c.cache, c.Default
	// Cleared in place, then set: a composite literal would be built
	// aside and copied.
	*c = Conn{}
	c.S, c.T, c.queue, c.spare, c.cache, c.Default = s, t, queue, spare, cache, def
}

// Decoder returns the decoder in charge.
func (c *Conn) Decoder() Decoder {
	if c.Dec != nil {
		return c.Dec
	}
	return c.Default
}

// Release lets go of what the connection held once it ended; large
// buffers are dropped rather than kept for the next connection.
func (c *Conn) Release() {
	for _, x := range c.queue {
		c.recycle(x)
	}
	c.S.Queued -= len(c.queue)
	if cap(c.queue) > 16 {
		c.queue = nil // a deep pipeline grew it: let it go with the connection
	}
	c.queue = c.queue[:0]
	c.Dec = nil
}

// Probe tries the registered decoders on the client's first bytes b and
// puts the first that recognises them in charge. It reports whether one
// did.
func (c *Conn) Probe(b []byte) bool {
	for i := range c.S.Registry {
		if f := &c.S.Registry[i]; f.Probe != nil && f.Probe(b, c.MidStream()) {
			c.use(i, nil, b)
			c.replayEarly()
			return true
		}
	}
	return false
}

// ProbeServer tries the registered decoders' ServerProbe on the server's
// first bytes b, sent before any client byte, and puts the first that
// recognises them in charge (Decoder.Start's first is nil). It reports
// whether one did.
func (c *Conn) ProbeServer(b []byte) bool {
	for i := range c.S.Registry {
		if f := &c.S.Registry[i]; f.ServerProbe != nil && f.ServerProbe(b, c.T.Pickup || c.early[1] > 0) {
			c.use(i, nil, nil)
			c.replayEarly()
			return true
		}
	}
	return false
}

// Upgrade puts the decoder registered for the HTTP/1.1 Upgrade token in
// charge (case-insensitively), up being the upgraded exchange. It reports
// whether one is registered.
func (c *Conn) Upgrade(token []byte, up *Exchange) bool {
	for i := range c.S.Registry {
		if f := &c.S.Registry[i]; f.Upgrade != "" && ascii.EqualFold(token, f.Upgrade) {
			c.use(i, up, nil)
			return true
		}
	}
	return false
}

func (c *Conn) use(i int, up *Exchange, first []byte) {
	if len(c.cache) < len(c.S.Registry) {
		c.cache = append(c.cache, make([]Decoder, len(c.S.Registry)-len(c.cache))...)
	}
	d := c.cache[i]
	if d == nil {
		d = c.S.Registry[i].New()
		c.cache[i] = d
	}
	c.Dec = d
	d.Start(c, up, first)
}

// replayEarly tells the decoder just put in charge of the gaps declared
// before it was (EarlyGap).
func (c *Conn) replayEarly() {
	for dir, n := range c.early {
		if n > 0 {
			c.Dec.Gap(dir, n, c.earlyAt)
		}
	}
	c.early = [2]int64{}
}

// Begun returns the number of exchanges begun.
func (c *Conn) Begun() int { return c.index }

// Len returns the number of exchanges waiting.
func (c *Conn) Len() int { return len(c.queue) }

// At returns the i-th waiting exchange, oldest first.
func (c *Conn) At(i int) *Exchange { return c.queue[i] }

// Last returns the exchange that began last, if it still waits.
func (c *Conn) Last() *Exchange {
	if n := len(c.queue); n > 0 {
		return c.queue[n-1]
	}
	return nil
}

// Begin starts an exchange, after all the others. Past the queue's bounds
// the oldest waiting one is printed as it is (Decoder.Early first).
func (c *Conn) Begin() *Exchange {
	var x *Exchange
	if n := len(c.spare); n > 0 {
		x = c.spare[n-1]
		c.spare = c.spare[:n-1]
	} else {
		x = new(Exchange)
	}
	reqBuf, respBuf := x.Req.Buf[:0], x.Resp.Buf[:0]
	reqF, respF := x.X.Request.Fields[:0], x.X.Response.Fields[:0]
	*x = Exchange{}
	x.Req = Side{Buf: reqBuf, InHead: true, HeadEnd: -1}
	x.Resp = Side{Buf: respBuf, InHead: true, HeadEnd: -1}
	x.X.Request.Fields, x.X.Response.Fields = reqF, respF
	c.index++
	x.X.Index = c.index
	x.X.Request.HeaderLen = -1
	x.X.Response.HeaderLen = -1
	c.queue = append(c.queue, x)
	c.S.Queued++
	if len(c.queue) > MaxQueue || len(c.queue) > 1 && c.S.Queued > queuedPerConn*c.S.MaxConns {
		c.emitEarly()
	}
	return x
}

func (c *Conn) recycle(x *Exchange) {
	// Buffers that grew large are let go rather than kept for the next
	// exchange; all kept capacity counts against MaxKept.
	const keep = 16 << 10
	if cap(x.Req.Buf) > keep {
		c.S.KeptCap -= int64(cap(x.Req.Buf))
		x.Req.Buf = nil
	}
	if cap(x.Resp.Buf) > keep {
		c.S.KeptCap -= int64(cap(x.Resp.Buf))
		x.Resp.Buf = nil
	}
	// Begin clears a spare when it takes it.
	// One spare serves the usual one exchange at a time; more would hold
	// a few hundred bytes per connection for nothing.
	// A connection of concurrent exchanges (HTTP/2 streams) keeps up
	// to maxSpares, so that its streams in flight reuse them.
	if len(c.spare) < 1 || c.Concurrent && len(c.spare) < maxSpares {
		c.spare = append(c.spare, x)
		return
	}
	c.S.KeptCap -= int64(cap(x.Req.Buf) + cap(x.Resp.Buf))
}

// DropSpares lets the recycled exchanges' buffers go.
func (c *Conn) DropSpares() {
	for _, x := range c.spare {
		c.S.KeptCap -= int64(cap(x.Req.Buf) + cap(x.Resp.Buf))
	}
	clear(c.spare)
	c.spare = c.spare[:0]
}

// Keep appends b to a side's bytes within the caps: a head's worth, and a
// body's worth when bodies are kept.
func (c *Conn) Keep(s *Side, m *entry.Message, b []byte) {
	var room int
	if s.InHead {
		room = m.Head + c.S.HeaderCap - len(s.Buf)
	} else if c.S.KeepBodies {
		room = s.HeadEnd + c.S.BodyCap - len(s.Buf)
	}
	// AppendKept, its usual case inlined: Keep runs for every segment.
	if want := min(max(room, 0), len(b)); !appendFit(s, m, b, want) {
		c.appendGrow(s, m, b, want)
	}
	if s.InHead && m.BytesTruncated && !m.HeadTruncated {
		m.HeadTruncated = true
		c.S.HeadsTruncated++
	}
}

// KeepRaw keeps bytes read by no framing: a head's worth, or a body's
// worth more when bodies are kept.
func (c *Conn) KeepRaw(s *Side, m *entry.Message, b []byte) {
	limit := c.S.HeaderCap
	if c.S.KeepBodies {
		limit += c.S.BodyCap
	}
	c.AppendKept(s, m, b, limit-len(s.Buf))
}

// AppendKept appends up to room bytes of b to a side's bytes, within what
// MaxKept still allows all connections to hold, and marks the message
// truncated when not all of b fits.
func (c *Conn) AppendKept(s *Side, m *entry.Message, b []byte, room int) {
	if want := min(max(room, 0), len(b)); !appendFit(s, m, b, want) {
		c.appendGrow(s, m, b, want)
	}
}

// appendFit is AppendKept of want bytes of b when they fit in the buffer
// as it is (the usual case, and a body not kept): no budget to consult, no
// capacity to count. It reports false, having done nothing, when the
// buffer must grow.
func appendFit(s *Side, m *entry.Message, b []byte, want int) bool {
	n := len(s.Buf)
	if n+want > cap(s.Buf) {
		return false
	}
	if want < len(b) {
		m.BytesTruncated = true
	}
	if want > 0 {
		s.Buf = s.Buf[:n+want]
		copy(s.Buf[n:], b)
	}
	m.Bytes = s.Buf
	return true
}

// appendGrow is AppendKept when the buffer must grow to take want bytes.
func (c *Conn) appendGrow(s *Side, m *entry.Message, b []byte, want int) {
	limit := c.S.MaxKept
	room := c.within(s, want, limit-limit/4)
	if s.InHead && room < want {
		if start := m.Head + headStart - len(s.Buf); start > room {
			room = max(room, c.within(s, min(want, start), limit))
		}
	}
	if room < len(b) {
		m.BytesTruncated = true
		b = b[:room]
	}
	before := cap(s.Buf)
	s.Buf = append(s.Buf, b...)
	c.S.KeptCap += int64(cap(s.Buf) - before)
	m.Bytes = s.Buf
}

// within returns how many of want more bytes a side's buffer may take
// without the capacity of all kept buffers passing limit.
func (c *Conn) within(s *Side, want int, limit int64) int {
	grow := len(s.Buf) + want - cap(s.Buf)
	if grow <= 0 {
		return want
	}
	sh := c.S
	avail := limit - sh.KeptCap
	if int64(grow)*2 > avail && sh.Trim != nil {
		sh.Trim()
		avail = limit - sh.KeptCap
	}
	// append may double the capacity: stay within the budget.
	if int64(grow)*2 > avail {
		return min(want, cap(s.Buf)-len(s.Buf)+int(max(avail/2, 0)))
	}
	return want
}

// Account records that n bytes of a message were seen at ts.
func Account(m *entry.Message, n int, ts time.Time) {
	if n == 0 {
		return
	}
	m.Size += int64(n)
	if m.First.IsZero() {
		m.First = ts
	}
	m.Last = ts
}
