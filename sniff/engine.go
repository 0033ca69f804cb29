// Package sniff turns captured packets into log entries: it decodes each
// frame, tracks TCP connections, puts each direction back in order, frames
// the HTTP messages and pairs every request with its response, and hands out
// one entry.Entry per exchange, annotated with its place in the connection.
//
// The Engine runs in one goroutine, in one pass over the packets. It keeps no
// goroutine per connection and, once warmed up, allocates nothing per packet
// for in-order traffic; every table and buffer it keeps is bounded (see
// Config).
package sniff

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/httpframe"
	"github.com/sniffer/sniffer/sniff/reassembly"
)

// Defaults for Config's zero fields.
const (
	DefaultMaxConns          = 16384
	DefaultIdleTimeout       = 5 * time.Minute
	DefaultHeaderCap         = 64 << 10
	DefaultBodyCap           = 1 << 20
	DefaultMaxPendingPerConn = 1 << 20
	DefaultMaxPendingTotal   = 32 << 20
	DefaultMaxKept           = 64 << 20
	// maxQueue bounds the exchanges waiting in one connection (pipelined
	// requests not yet answered); past it the oldest is printed as it is.
	maxQueue = 256
	// queuedPerConn is how many exchanges all connections may have waiting,
	// on average, beyond the one each may always have: past
	// queuedPerConn×MaxConns in all, a connection with more than one
	// waiting prints its oldest as it is. Without it, pipelined requests
	// no server answers would hold maxQueue exchanges (a few hundred bytes
	// each, outside the kept-bytes budget) on every connection.
	queuedPerConn = 2
	// pickupGiveUp is how many client bytes a connection picked up in the
	// middle may skip looking for an HTTP request line before it is taken
	// to be another protocol.
	pickupGiveUp = 16 << 10
)

// Config sets the Engine's bounds and behaviour. Zero values take the
// defaults above.
type Config struct {
	// MaxConns bounds the connection table; past it the longest-idle
	// connection is flushed as timed out.
	MaxConns int
	// IdleTimeout forgets a connection idle for that long, flushing its
	// entry as timed out. Negative disables it.
	IdleTimeout time.Duration
	// FlushAfter prints a complete entry whose connection stays idle that
	// long without waiting to know whether it is the last (live capture).
	// Zero disables it.
	FlushAfter time.Duration
	// HeaderCap bounds the bytes kept of each message head.
	HeaderCap int
	// KeepBodies keeps message bodies (up to BodyCap each) for log formats
	// that print them. Sizes are counted exactly either way.
	KeepBodies bool
	// BodyCap bounds the body bytes kept per message.
	BodyCap int
	// MaxPendingPerConn and MaxPendingTotal bound the out-of-order bytes
	// waiting for a gap to fill, per connection and in all.
	MaxPendingPerConn, MaxPendingTotal int64
	// MaxKept bounds the capacity of the buffers that hold message bytes,
	// in all connections together; past it bytes are counted but not kept
	// (the entry says it was truncated).
	MaxKept int64
	// Filter, if set, is applied to each frame before it is decoded, with
	// the frame's own link type: a pcapng file's interfaces may each have
	// their own, and a compiled -p expression reads the frame by its link
	// layer.
	Filter interface {
		Match(link layers.LinkType, frame []byte) bool
	}
	// Tap, if set, receives every frame the filter passed (all frames when
	// there is no filter), before it is decoded: -w writes them out. The
	// frame is only valid during the call.
	Tap func(link layers.LinkType, ts time.Time, frame []byte)
	// IndexHeaders are header names (of requests, then of responses)
	// whose values the HTTP parsers locate while they frame each head
	// (entry.Message.Headers), so that a log format need not look for
	// them again: logformat.Format.HeaderNames.
	IndexHeaders [2][]string
	// NoPureACKs says the capture delivers no pure ACKs (a kernel filter
	// dropped them, live.Config.DropPureACKs): a connection closes once
	// both FINs and every byte before them are in, timed at the second
	// FIN, rather than at the ACK of the second FIN, which will not be
	// seen. What else pure ACKs decide (handshake and close times, FIN
	// order, gaps declared by an ACK past the data, a challenged RST
	// answered by an ACK) is then judged without them: only outputs that
	// do not depend on them may be printed (cmd/sniffer decides).
	NoPureACKs bool
	// Emit receives each entry. The entry and its byte slices are only
	// valid during the call.
	Emit func(*entry.Entry)
	// ConnEnd, if set, receives the life of each connection when it
	// leaves the table, after its last entry: what a reuse verdict is
	// computed from. Valid only during the call.
	ConnEnd func(*entry.ConnEnd)
}

// Stats counts what the Engine saw.
type Stats struct {
	Packets         uint64 // frames given to Packet
	Filtered        uint64 // frames the filter rejected
	UnsupportedLink uint64 // frames of a link type that is not decoded
	NotIP           uint64 // frames that carry no IP
	NotTCP          uint64 // IP packets that carry no TCP
	Fragments       uint64 // IP fragments (not reassembled)
	Malformed       uint64 // frames whose headers make no sense
	Stray           uint64 // segments of unknown connections carrying no data
	Connections     uint64 // connections tracked
	Entries         uint64 // entries emitted
	Evicted         uint64 // connections flushed because the table was full
	IdleExpired     uint64 // connections flushed after IdleTimeout
	Retransmitted   uint64 // segments whose bytes had all been seen
	OutOfWindow     uint64 // segments and acknowledgments outside the receive window, skipped
	Resynced        uint64 // runs of segments outside the window taken as where the stream went
	ChallengedRST   uint64 // RSTs in the window but not exact (RFC 5961: a challenge ACK)
	IgnoredRST      uint64 // RSTs outside the window, skipped
	OutOfOrder      uint64 // segments that waited for earlier bytes
	GapBytes        uint64 // bytes never captured
	HeadsTruncated  uint64 // header blocks cut at the header cap
	TLSLostSync     uint64 // TLS connections whose record framing a gap (or bytes that are not records) broke
}

// Engine is the packet-to-entry pipeline. It is not safe for concurrent use.
type Engine struct {
	cfg    Config
	table  map[connKey]*conn
	lru    conn // sentinel of the list of connections, most recent first
	free   []*conn
	budget reassembly.Budget
	pkt    decode.Packet
	stats  Stats
	now    time.Time
	// keptCap is the capacity of the message buffers held.
	keptCap int64
	// watch are the header names the parsers index (Config.IndexHeaders),
	// for requests and responses.
	watch [2]*httpframe.Watch
	// recent caches connections of the table by their ports (recentSlot):
	// most packets find theirs there. A connection leaves it when it
	// leaves the table.
	recent [recentSize]*conn
	// queued is the number of exchanges waiting in all connections.
	queued int
	// tickDue is when Packet next checks timeouts: 100 ms of capture time
	// after the last Tick. Kept as an instant rather than comparing the
	// time since the last tick, because time.Time.Sub (an Add and an Equal
	// to detect overflow) costs more than the rest of the check per packet.
	tickDue time.Time
	// reset holds the tuples of connections closed by a RST, and when:
	// segments captured after the RST (the other side's data in flight, or
	// captured out of order on another CPU) are not picked up as a new
	// connection for resetLinger.
	reset map[connKey]time.Time
	// challenged are the connections whose last RST was in the window but
	// not exact (see conn.rstAction): each closes if nothing follows.
	challenged []connRef
	// evicted holds the tuples of connections evicted from a full table,
	// and when: the rest of such a connection is picked up in the middle,
	// and the responses of requests already printed are not printed again
	// on their own (see conn.afterEvict). Bounded like reset.
	evicted map[connKey]time.Time
	// ended is handed to Config.ConnEnd.
	ended entry.ConnEnd
}

// resetLinger is how long segments of a connection closed by a RST are
// ignored; maxReset bounds the tuples remembered.
const (
	resetLinger = 2 * time.Second
	maxReset    = 4096
)

// rememberReset records that the connection of key was closed by a RST at ts.
func (e *Engine) rememberReset(key connKey, ts time.Time) { e.remember(&e.reset, key, ts) }

// remember records key at ts in a table of recently ended tuples, bounded
// by maxReset: past it the entries older than resetLinger go, and if that
// is not enough, all of them.
func (e *Engine) remember(m *map[connKey]time.Time, key connKey, ts time.Time) {
	if *m == nil {
		*m = make(map[connKey]time.Time)
	}
	t := *m
	if len(t) >= maxReset {
		for k, at := range t {
			if ts.Sub(at) >= resetLinger {
				delete(t, k)
			}
		}
		if len(t) >= maxReset {
			clear(t)
		}
	}
	t[key] = ts
}

// New returns an Engine.
func New(cfg Config) *Engine {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HeaderCap <= 0 {
		cfg.HeaderCap = DefaultHeaderCap
	}
	if cfg.BodyCap <= 0 {
		cfg.BodyCap = DefaultBodyCap
	}
	if cfg.MaxPendingPerConn <= 0 {
		cfg.MaxPendingPerConn = DefaultMaxPendingPerConn
	}
	if cfg.MaxPendingTotal <= 0 {
		cfg.MaxPendingTotal = DefaultMaxPendingTotal
	}
	if cfg.MaxKept <= 0 {
		cfg.MaxKept = DefaultMaxKept
	}
	if cfg.Emit == nil {
		cfg.Emit = func(*entry.Entry) {}
	}
	e := &Engine{cfg: cfg, table: make(map[connKey]*conn)}
	for d, names := range cfg.IndexHeaders {
		if len(names) > 0 {
			e.watch[d] = httpframe.NewWatch(names)
		}
	}
	e.budget.Max = cfg.MaxPendingTotal
	e.lru.next, e.lru.prev = &e.lru, &e.lru
	return e
}

// Stats returns the counters so far. The reassembly counters
// (Retransmitted, OutOfOrder, GapBytes) count connections that have ended.
func (e *Engine) Stats() Stats { return e.stats }

// Conns returns the number of connections tracked now.
func (e *Engine) Conns() int { return len(e.table) }

// Packet processes one captured frame of the given link type.
func (e *Engine) Packet(link layers.LinkType, ts time.Time, frame []byte) {
	e.stats.Packets++
	if e.cfg.Filter != nil && !e.cfg.Filter.Match(link, frame) {
		e.stats.Filtered++
		return
	}
	if e.cfg.Tap != nil {
		e.cfg.Tap(link, ts, frame)
	}
	if ts.After(e.now) {
		e.now = ts
	}
	if err := decode.Decode(link, frame, &e.pkt); err != nil {
		switch err {
		case decode.ErrUnsupportedLink:
			e.stats.UnsupportedLink++
		case decode.ErrNotIP:
			e.stats.NotIP++
		case decode.ErrNotTCP:
			e.stats.NotTCP++
		case decode.ErrFragment:
			e.stats.Fragments++
		default:
			e.stats.Malformed++
		}
		return
	}
	e.segment(&e.pkt, ts)
	if !e.now.Before(e.tickDue) {
		e.Tick(e.now)
	}
}

// Tick applies the time-based rules (idle timeout, flush-after) as of now.
// Packet calls it as capture time passes; a live capture also calls it on a
// timer so that idle connections are handled without traffic.
func (e *Engine) Tick(now time.Time) {
	e.tickDue = now.Add(time.Second / 10)
	if e.cfg.IdleTimeout > 0 {
		for c := e.lru.prev; c != &e.lru; {
			if now.Sub(c.lastSeen) < e.cfg.IdleTimeout {
				break
			}
			prev := c.prev
			e.stats.IdleExpired++
			e.end(c, now, entry.TimedOut)
			c = prev
		}
	}
	if len(e.challenged) > 0 {
		e.expireChallenged(now, true)
	}
	if e.cfg.FlushAfter > 0 {
		for c := e.lru.prev; c != &e.lru; c = c.prev {
			if now.Sub(c.lastSeen) < e.cfg.FlushAfter {
				break
			}
			c.flushIdle(now)
		}
	}
}

// Finish ends the input: every connection still open is flushed, its last
// entry marked truncated (or closed, if both FINs were seen). Connections are
// flushed from the least recently active.
func (e *Engine) Finish() {
	for e.lru.prev != &e.lru {
		c := e.lru.prev
		if c.softRST.IsZero() && c.half[0].FinSeen() && c.half[1].FinSeen() {
			// Both FINs, no final ACK: closed at the second FIN.
			e.close(c, c.secondFin(), c.closer())
			continue
		}
		e.end(c, time.Time{}, entry.Truncated)
	}
}

type connKey struct {
	a, b   [16]byte
	pa, pb uint16
}

func makeKey(src, dst netip.Addr, sp, dp uint16) connKey {
	a, b := src.As16(), dst.As16()
	if less(a, sp, b, dp) {
		return connKey{a, b, sp, dp}
	}
	return connKey{b, a, dp, sp}
}

// recentSize is the number of slots of Engine.recent (a power of two).
const recentSize = 256

// recentSlot is the slot of Engine.recent of a connection with these ports
// (in either order).
func recentSlot(p, q uint16) int { return int(p^q) & (recentSize - 1) }

// carries reports whether p belongs to c (in either direction).
func (c *conn) carries(p *decode.Packet) bool {
	if c.client.Port() == p.SrcPort && c.server.Port() == p.DstPort {
		return c.client.Addr() == p.Src && c.server.Addr() == p.Dst
	}
	return c.client.Port() == p.DstPort && c.server.Port() == p.SrcPort &&
		c.client.Addr() == p.Dst && c.server.Addr() == p.Src
}

// less orders two endpoints. It compares the addresses as two big-endian
// words each (the same order as byte by byte, in a few instructions rather
// than a loop: it runs for every packet).
func less(a [16]byte, pa uint16, b [16]byte, pb uint16) bool {
	a0, b0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if a0 != b0 {
		return a0 < b0
	}
	a1, b1 := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	if a1 != b1 {
		return a1 < b1
	}
	return pa < pb
}

// segment handles one decoded TCP segment.
func (e *Engine) segment(p *decode.Packet, ts time.Time) {
	// The recent connections first: building the key and hashing it for
	// the map is the costliest part of finding a packet's connection.
	slot := &e.recent[recentSlot(p.SrcPort, p.DstPort)]
	c := *slot
	var key connKey
	if c != nil && c.carries(p) {
		key = c.key
	} else {
		key = makeKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
		c = e.table[key]
		if c != nil {
			*slot = c
		}
	}
	syn, ack, fin, rst := p.Flags.Has(decode.SYN), p.Flags.Has(decode.ACK), p.Flags.Has(decode.FIN), p.Flags.Has(decode.RST)
	seq := reassembly.Seq(p.Seq)

	if syn && !ack {
		if c != nil {
			if c.synSeen && c.isClient(p.Src, p.SrcPort) && c.clientISN == seq {
				// A retransmitted SYN; data on it is a retransmission too.
				e.touch(c, ts)
				if len(p.Payload) > 0 {
					c.fastOpen(0, seq, p, ts)
				}
				return
			}
			// A new connection on a tuple still tracked: the old one is
			// gone, by a close we saw or by one we did not.
			e.replaced(c, ts)
		}
		c = e.open(key, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), ts)
		c.synSeen = true
		c.synTime = ts
		c.clientISN = seq
		c.wscale[0] = p.WScale
		c.half[0].Start(seq)
		c.setWindows()
		c.fastOpen(0, seq, p, ts)
		return
	}
	if c == nil {
		if rst || (len(p.Payload) == 0 && p.Missing == 0 && !syn) {
			e.stats.Stray++
			return
		}
		if at, ok := e.reset[key]; ok {
			if ts.Sub(at) < resetLinger {
				e.stats.Stray++
				return
			}
			delete(e.reset, key)
		}
		// Picked up in the middle: the handshake was not captured.
		var client, server netip.AddrPort
		src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
		if syn || senderIsServer(p) {
			client, server = dst, src
		} else {
			client, server = src, dst
		}
		c = e.open(key, client, server, ts)
		c.pickup = true
		c.req.Resync()
		c.resp.Resync()
		if _, ok := e.evicted[key]; ok {
			delete(e.evicted, key)
			c.afterEvict = true
		}
	}
	e.touch(c, ts)
	dir := 0
	if !c.isClient(p.Src, p.SrcPort) {
		dir = 1
	}

	if syn { // SYN-ACK from the server
		if dir == 1 && !c.half[1].Started() {
			c.half[1].Start(seq)
			c.serverISN = seq
			c.synAckSeen = true
			c.wscale[1] = p.WScale
			c.setWindows()
			c.fastOpen(1, seq, p, ts)
		}
		return
	}
	if rst {
		e.rst(c, p, dir, ts)
		return
	}
	h := &c.half[dir]
	if !h.SegmentCut(seq, p.Payload, int64(p.Missing), fin, ts, &c.recv[dir]) {
		// Outside the receive window: the stack drops it, ACK and FIN
		// with it (RFC 9293 §3.10.7.4); the Half counted it.
		return
	}
	if dir == 0 && ack && c.synSeen && c.synAckSeen && c.hsDone.IsZero() && reassembly.Seq(p.Ack) == c.serverISN.Add(1) {
		c.hsDone = ts
	}
	if fin && c.finTime[dir].IsZero() {
		c.finTime[dir] = ts
		c.finAck[dir], c.finAckOK[dir] = reassembly.Seq(p.Ack), ack
		switch {
		case c.finDir < 0:
			c.finDir = int8(dir)
		case int(c.finDir) != dir && c.finAckOK[1-dir] && c.finAck[1-dir] == h.FinSeq().Add(1):
			// The FIN captured first acknowledged this one: this one was
			// sent first (the capture reordered them).
			c.finDir = int8(dir)
		}
	}
	if ack && c.half[1-dir].Ack(reassembly.Seq(p.Ack), ts, &c.recv[1-dir]) {
		c.acked[dir] = reassembly.Seq(p.Ack)
		c.ackSeen[dir] = true
	}
	if h.Finished() {
		c.halfClosed(dir, ts)
	}
	if c.half[1-dir].Finished() {
		c.halfClosed(1-dir, ts)
	}
	if c.pickup && !c.raw && c.skipped > pickupGiveUp {
		c.goRaw()
	}
	c.advance(ts)
	if !c.softRST.IsZero() && e.recheckRST(c, dir, p) {
		return
	}
	// The close completes with the ACK of the second FIN, sent by the side
	// that closed first.
	if c.half[0].FinSeen() && c.half[1].FinSeen() && ack && int(c.finDir) == dir && reassembly.Seq(p.Ack) == c.half[1-dir].FinSeq().Add(1) {
		e.close(c, ts, c.closer())
	} else if e.cfg.NoPureACKs && c.half[0].Finished() && c.half[1].Finished() && c.softRST.IsZero() {
		// That ACK is not captured: closed once both FINs and every
		// byte before them are in, at the second FIN (as Finish).
		e.close(c, c.secondFin(), c.closer())
	}
}

// fastOpen takes the data a SYN (TCP Fast Open, RFC 7413) or a SYN-ACK
// carries: it starts after the SYN's own sequence number.
func (c *conn) fastOpen(dir int, isn reassembly.Seq, p *decode.Packet, ts time.Time) {
	if len(p.Payload) == 0 && p.Missing == 0 {
		return
	}
	c.half[dir].SegmentCut(isn.Add(1), p.Payload, int64(p.Missing), false, ts, &c.recv[dir])
	c.advance(ts)
}

// setWindows sets the receive window of each direction from the window
// scale options of the handshake's SYN and SYN-ACK, as far as they were
// captured (RFC 7323 §1.3: scaling is in force only if both offered it).
// Data from the client is received in the server's window and the other way
// round; a window that is not known stays reassembly.MaxWindow.
func (c *conn) setWindows() {
	cs, ss := c.wscale[0], c.wscale[1]
	known := func(seen bool, s int8) bool { return seen && s != decode.WScaleUnknown }
	var w0, w1 int64 // 0: MaxWindow
	switch {
	case known(c.synSeen, cs) && cs < 0, known(c.synAckSeen, ss) && ss < 0:
		// One side offered no scaling: there is none either way.
		w0, w1 = reassembly.Window(0), reassembly.Window(0)
	case known(c.synSeen, cs) && known(c.synAckSeen, ss):
		w0, w1 = reassembly.Window(int(ss)), reassembly.Window(int(cs))
	case known(c.synSeen, cs):
		w1 = reassembly.Window(int(cs))
	case known(c.synAckSeen, ss):
		w0 = reassembly.Window(int(ss))
	}
	c.half[0].Window, c.half[1].Window = w0, w1
}

// rstAction is what a RST does to its connection.
type rstAction int

const (
	rstIgnore    rstAction = iota // outside the window: the stack drops it
	rstChallenge                  // in the window, not exact: a challenge ACK
	rstClose                      // exact, or nothing to check it against
)

// rstAction applies RFC 5961 §3.2, as the watched stacks (Linux among them)
// do: a RST exactly at the next sequence number the receiver expects resets
// the connection; one elsewhere in the window draws a challenge ACK and the
// connection goes on; one outside it is dropped. A RST answering a SYN is
// acceptable when it acknowledges the SYN (RFC 9293 §3.10.7.3: refused
// connections).
//
// What the receiver expects is not always what the capture saw, so the
// exact match is taken generously: the next byte the capture delivered,
// the end of the highest byte seen, the FIN's sequence number plus one, and
// the receiver's own latest acknowledgment (which covers segments the
// capture missed). In a direction of whose sequence numbers nothing was
// captured (a connection picked up in the middle whose peer has not spoken),
// there is nothing to check: the RST is taken as it is. A RST in the window
// that is not exact closes the connection all the same if nothing but
// acknowledgments follows it for resetLinger, or when the connection ends
// otherwise (see Engine.expireChallenged).
func (c *conn) rstAction(p *decode.Packet, dir int) rstAction {
	seq := reassembly.Seq(p.Seq)
	h := &c.half[dir]
	if dir == 1 && c.synSeen && !c.synAckSeen && !h.Started() {
		if !p.Flags.Has(decode.ACK) {
			return rstIgnore
		}
		a := reassembly.Seq(p.Ack)
		if a.After(c.clientISN) && !a.After(c.half[0].High()) {
			return rstClose
		}
		return rstIgnore
	}
	peerAck, ackSeen := c.acked[1-dir], c.ackSeen[1-dir]
	if ackSeen && seq == peerAck {
		return rstClose
	}
	if !h.Started() {
		if !ackSeen {
			return rstClose
		}
		if d := seq.Sub(peerAck); d >= -reassembly.MaxWindow && d < reassembly.MaxWindow {
			return rstChallenge
		}
		return rstIgnore
	}
	if c.rstExact(dir, seq) {
		return rstClose
	}
	if h.InWindow(seq) {
		return rstChallenge
	}
	return rstIgnore
}

// rstExact reports whether a RST at seq from direction dir is exactly where
// the receiver expects the next byte, as far as the capture tells (see
// rstAction).
func (c *conn) rstExact(dir int, seq reassembly.Seq) bool {
	h := &c.half[dir]
	return h.Started() && (seq == h.Next() || seq == h.High() || h.FinSeen() && seq == h.FinSeq().Add(1)) ||
		c.ackSeen[1-dir] && seq == c.acked[1-dir]
}

// recheckRST looks again at a challenged RST of c after a segment from
// direction dir was taken. Captures reorder packets (the two directions,
// or a socket's last segments, on different CPUs): bytes the RST's sender
// sent before it may be captured after it, and once they are there the
// RST is exact, and closes the connection at its own time. The connection
// goes on if its sender shows life after it: bytes past the RST's
// sequence number, or an ACK past the RST's. The peer's bytes prove
// nothing (they may have been in flight). It reports whether c was closed.
func (e *Engine) recheckRST(c *conn, dir int, p *decode.Packet) bool {
	d := int(c.softDir)
	if c.rstExact(d, c.softSeq) {
		e.resetClose(c, c.softRST, c.softOrigin)
		return true
	}
	if dir == d && (c.half[d].High().After(c.softSeq) ||
		p.Flags.Has(decode.ACK) && c.softAckOK && reassembly.Seq(p.Ack).After(c.softAck)) {
		c.softRST = time.Time{} // the connection went on after the RST
	}
	return false
}

// rst handles a RST segment of c sent in direction dir.
func (e *Engine) rst(c *conn, p *decode.Packet, dir int, ts time.Time) {
	origin := entry.Client
	if dir == 1 {
		origin = entry.Server
	}
	if c.finDir >= 0 {
		origin = c.closer()
	}
	switch c.rstAction(p, dir) {
	case rstClose:
		e.resetClose(c, ts, origin)
	case rstChallenge:
		e.stats.ChallengedRST++
		if c.softRST.IsZero() {
			c.softRST, c.softOrigin = ts, origin
			c.softDir, c.softSeq = int8(dir), reassembly.Seq(p.Seq)
			c.softAck, c.softAckOK = reassembly.Seq(p.Ack), p.Flags.Has(decode.ACK)
			if len(e.challenged) >= 2*e.cfg.MaxConns {
				e.expireChallenged(e.now, false)
			}
			e.challenged = append(e.challenged, connRef{c, c.gen})
		}
	default:
		e.stats.IgnoredRST++
	}
}

// resetClose closes c as reset at ts, and remembers its tuple so that
// segments still in flight do not start a connection.
func (e *Engine) resetClose(c *conn, ts time.Time, origin entry.Originator) {
	key := c.key
	e.close(c, ts, origin)
	e.rememberReset(key, ts)
}

// connRef names a connection at one point of its slot's life: gen tells
// whether the slot was reused since.
type connRef struct {
	c   *conn
	gen uint32
}

// expireChallenged closes the connections whose challenged RST was followed
// by no sign of life from its sender (Engine.recheckRST) for resetLinger
// (none when due is false: only compacting the list), and forgets the
// others that went on.
func (e *Engine) expireChallenged(now time.Time, due bool) {
	keep := e.challenged[:0]
	for _, r := range e.challenged {
		c := r.c
		if c.gen != r.gen || c.e == nil || c.softRST.IsZero() {
			continue
		}
		if due && now.Sub(c.softRST) >= resetLinger {
			e.resetClose(c, c.softRST, c.softOrigin)
			continue
		}
		keep = append(keep, r)
	}
	clear(e.challenged[len(keep):])
	e.challenged = keep
}

// replaced ends c, whose tuple a new SYN takes over: closed by whoever sent
// the first FIN if both FINs were seen (only the last ACK was not), reset
// if a challenged RST was left unanswered, and timed out otherwise.
func (e *Engine) replaced(c *conn, ts time.Time) {
	if c.softRST.IsZero() && c.half[0].FinSeen() && c.half[1].FinSeen() {
		e.close(c, c.secondFin(), c.closer())
		return
	}
	e.end(c, ts, entry.TimedOut)
}

// secondFin is when the later of the two FINs was seen.
func (c *conn) secondFin() time.Time {
	at := c.finTime[0]
	if c.finTime[1].After(at) {
		at = c.finTime[1]
	}
	return at
}

// senderIsServer guesses, for a connection whose handshake was not captured,
// whether the sender of p is the server: a status line says so, a request
// line says not, and otherwise the lower port is the server's.
func senderIsServer(p *decode.Packet) bool {
	b := p.Payload
	if len(b) >= 7 && string(b[:7]) == "HTTP/1." {
		return true
	}
	if looksLikeRequest(b) {
		return false
	}
	return p.SrcPort < p.DstPort
}

func looksLikeRequest(b []byte) bool {
	for _, m := range [...]string{"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "} {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// open starts tracking a connection, evicting the longest-idle one if the
// table is full.
func (e *Engine) open(key connKey, client, server netip.AddrPort, ts time.Time) *conn {
	for len(e.table) >= e.cfg.MaxConns && e.lru.prev != &e.lru {
		e.stats.Evicted++
		old := e.lru.prev
		old.evicted = true
		e.remember(&e.evicted, old.key, ts)
		e.end(old, ts, entry.TimedOut)
	}
	var c *conn
	if n := len(e.free); n > 0 {
		c = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		c = new(conn)
	}
	c.init(e, key, client, server)
	e.table[key] = c
	e.stats.Connections++
	c.id = e.stats.Connections
	c.firstSeen = ts
	// Link at the front.
	c.next, c.prev = e.lru.next, &e.lru
	e.lru.next.prev = c
	e.lru.next = c
	c.lastSeen = ts
	return c
}

// touch marks c as the most recently active.
func (e *Engine) touch(c *conn, ts time.Time) {
	if ts.After(c.lastSeen) {
		c.lastSeen = ts
	}
	if e.lru.next == c {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.next, c.prev = e.lru.next, &e.lru
	e.lru.next.prev = c
	e.lru.next = c
}

// close ends a connection that closed (FIN handshake or RST).
//
// A TLS connection was closed by the side that sent the first alert (its
// close_notify), when there was one: the peer's stack often sends the first
// FIN, or a RST, in answer to it.
func (e *Engine) close(c *conn, ts time.Time, origin entry.Originator) {
	if c.tlsOn && (origin == entry.Client || origin == entry.Server) {
		switch c.tls.t.FirstAlert {
		case 1:
			origin = entry.Client
		case 2:
			origin = entry.Server
		}
	}
	c.flushHalves(ts)
	c.endResponse(ts)
	c.endHeads()
	c.emitAll(ts, ts, origin, true)
	e.connEnd(c, ts, origin)
	e.remove(c)
}

// connEnd hands c's life to Config.ConnEnd.
func (e *Engine) connEnd(c *conn, at time.Time, origin entry.Originator) {
	if e.cfg.ConnEnd == nil {
		return
	}
	start := c.firstSeen
	if c.synSeen {
		start = c.synTime
	}
	if at.IsZero() {
		at = c.lastSeen
	}
	e.ended = entry.ConnEnd{Conn: c.id, Client: c.client, Server: c.server, Opened: c.synSeen, Start: start, End: at,
		Exchanges: c.index, Originator: origin, Evicted: c.evicted}
	if c.tlsOn {
		c.tlsConnEnd(&e.ended)
	}
	e.cfg.ConnEnd(&e.ended)
}

// end flushes a connection that did not close: evicted, timed out or
// truncated. at is the flush time (zero when input ended).
//
// A connection whose challenged RST its sender did not outlive (see
// Engine.recheckRST) was reset: it closes at the RST.
func (e *Engine) end(c *conn, at time.Time, origin entry.Originator) {
	if !c.softRST.IsZero() {
		e.resetClose(c, c.softRST, c.softOrigin)
		return
	}
	flushTS := at
	if flushTS.IsZero() {
		flushTS = c.lastSeen
	}
	c.flushHalves(flushTS)
	c.endHeads()
	c.emitAll(at, time.Time{}, origin, false)
	e.connEnd(c, at, origin)
	e.remove(c)
}

func (e *Engine) remove(c *conn) {
	for d := range c.half {
		s := c.half[d].Stats
		e.stats.Retransmitted += uint64(s.Retransmitted)
		e.stats.OutOfOrder += uint64(s.OutOfOrder)
		e.stats.OutOfWindow += uint64(s.OutOfWindow)
		e.stats.Resynced += uint64(s.Resynced)
		e.stats.GapBytes += uint64(s.GapBytes)
	}
	delete(e.table, c.key)
	if s := &e.recent[recentSlot(c.client.Port(), c.server.Port())]; *s == c {
		*s = nil
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	c.release()
	if len(e.free) < 1024 {
		e.free = append(e.free, c)
	} else {
		c.dropSpares(e)
	}
}

// trimFree lets go of the connections kept for reuse, and their buffers.
func (e *Engine) trimFree() {
	for _, c := range e.free {
		c.dropSpares(e)
	}
	clear(e.free)
	e.free = e.free[:0]
}

// KeptBytes returns the capacity of the buffers holding message bytes now.
func (e *Engine) KeptBytes() int64 { return e.keptCap }

func (e *Engine) emit(x *entry.Entry) {
	e.stats.Entries++
	x.Streams = len(e.table)
	e.cfg.Emit(x)
}
