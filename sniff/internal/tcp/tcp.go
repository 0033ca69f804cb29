// Package tcp is the engine's transport layer: the table of tracked TCP
// connections (bounded, least recently active first out), their handshakes
// and closes (FIN order, RST acceptance after RFC 5961), and the two
// directions of each put back in order (reassembly.Half). It hands what it
// learns upward through a Handler per connection: ordered bytes, gaps, a
// direction's end, and the connection's end with its origin.
//
// The package knows no application protocol. To add one, nothing here
// changes:
//   - write a decoder package (next to internal/http1 and internal/tlsdec)
//     whose type implements exchange.Decoder: it begins exchanges with
//     exchange.Conn.Begin, fills their messages (Conn.Keep, KeepRaw,
//     exchange.Account), marks them complete, and calls Conn.Advance; one
//     whose exchanges complete out of order sets Conn.Concurrent in Start;
//   - export an exchange.Factory for it (Probe: does it recognise the
//     client's first bytes; Upgrade: the HTTP/1.1 Upgrade token it takes
//     over after a 101);
//   - add that factory to the engine's registry, the decoders list of
//     package sniff (one line; tried in order).
package tcp

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/reassembly"
)

// Handler receives what one connection carries, in order. Direction 0 is
// client to server, direction 1 server to client.
type Handler interface {
	// Receiver returns the receiver of direction dir's reassembled bytes
	// and gaps (called once when the connection opens).
	Receiver(dir int) reassembly.Receiver
	// HalfClosed is called when every byte of direction dir up to its FIN
	// was delivered.
	HalfClosed(dir int, ts time.Time)
	// Segment is called after each segment was taken.
	Segment(ts time.Time)
	// Idle is called when the connection was idle for Config.FlushAfter.
	Idle(now time.Time)
	// Closer is called when the connection closed (FIN handshake or RST),
	// before its last bytes are delivered: it returns the originator to
	// record, origin (the transport's closer) or another the application
	// protocol knows better.
	Closer(origin entry.Originator) entry.Originator
	// Ended is called when the connection leaves the table, after every
	// byte that could be delivered was. closed: it closed (FIN handshake or
	// RST) at at; otherwise it was evicted, timed out (at the flush time)
	// or truncated (at zero: input ended). origin says who closed it, or
	// how it ended. The handler emits what is left and reports the
	// connection's life (Conn.FillConnEnd).
	Ended(at time.Time, origin entry.Originator, closed bool)
}

// Upper makes the Handler of each connection.
type Upper interface {
	// Open is called when c starts being tracked; it sets c.Up. The slot
	// may be a reused one: c.Up is then the handler it had, to reuse.
	Open(c *Conn)
	// Drop is called for a released slot that is not kept for reuse: its
	// handler should let its buffers go.
	Drop(c *Conn)
}

// Config sets the table's bounds.
type Config struct {
	// MaxConns bounds the table; past it the longest-idle connection is
	// flushed as timed out.
	MaxConns int
	// IdleTimeout forgets a connection idle that long (negative: never).
	IdleTimeout time.Duration
	// FlushAfter calls Handler.Idle of connections idle that long (zero:
	// never).
	FlushAfter time.Duration
	// MaxPendingPerConn and MaxPendingTotal bound the out-of-order bytes
	// waiting for a gap to fill.
	MaxPendingPerConn, MaxPendingTotal int64
	// NoPureACKs: the capture delivers no pure ACKs (sniff.Config.NoPureACKs),
	// so a connection closes once both FINs and every byte before them are
	// in, at the second FIN, rather than at the final ACK.
	NoPureACKs bool
}

// Stats counts what the table saw; each field is the sniff.Stats field of
// the same name, which documents it.
type Stats struct {
	Stray         uint64
	Connections   uint64
	Evicted       uint64
	IdleExpired   uint64
	Retransmitted uint64
	OutOfWindow   uint64
	Resynced      uint64
	ChallengedRST uint64
	IgnoredRST    uint64
	OutOfOrder    uint64
	GapBytes      uint64
}

// Direction is one direction of a connection: its bytes in order, and what
// its SYN, FIN and acknowledgments said.
type Direction struct {
	// Half puts the direction's bytes back in order.
	Half reassembly.Half
	// isn is the initial sequence number of its SYN (or SYN-ACK).
	isn reassembly.Seq
	// wscale is the window scale shift of its SYN (decode.Packet.WScale).
	wscale int8
	// acked is the latest acknowledgment this direction sent that its
	// peer's Half took (ackSeen says whether there was one).
	acked   reassembly.Seq
	ackSeen bool
	// FinTime is when its FIN was seen; finAck the ACK the FIN carried
	// (finAckOK: it had one).
	FinTime  time.Time
	finAck   reassembly.Seq
	finAckOK bool
}

// Conn is one tracked TCP connection.
type Conn struct {
	t   *Table
	key connKey
	// Client is the SYN's sender (or the guess for a connection picked up
	// in the middle), Server its peer.
	Client, Server netip.AddrPort
	// Up is the connection's handler (Upper.Open).
	Up Handler

	// Dir are the two directions: 0 client to server, 1 server to client.
	Dir  [2]Direction
	recv [2]reassembly.Receiver

	// SynSeen and SynAckSeen: the handshake's SYN and SYN-ACK were seen.
	SynSeen, SynAckSeen bool
	// softRST is when a RST in the window but not exact was seen (zero if
	// none is outstanding), softOrigin who sent it: the connection closes
	// there unless its sender shows life after it (Table.recheckRST).
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
	// ID numbers the connection (entry.Entry.Conn); FirstSeen is when its
	// first packet was.
	ID        uint64
	FirstSeen time.Time
	// Evicted: flushed because the table was full. AfterEvict: picked up
	// again after that; server bytes that answer no request seen since
	// are skipped (their request was printed at the eviction).
	Evicted, AfterEvict bool
	// SynTime is when the SYN was seen, HsDone when the client's ACK
	// completed the handshake.
	SynTime, HsDone time.Time
	// Pickup: the handshake was not captured.
	Pickup bool
	// finDir is the direction of the first FIN, -1 if none.
	finDir int8
	// LastSeen is the time of the latest packet (lastAt: the same, as an
	// instant, for touch).
	LastSeen time.Time
	lastAt   instant

	prev, next *Conn // LRU list
}

// Closer is who sent the first FIN.
func (c *Conn) Closer() entry.Originator {
	switch c.finDir {
	case 0:
		return entry.Client
	case 1:
		return entry.Server
	}
	return entry.None
}

// FillConnEnd sets the transport fields of the life of c, which ends at at
// (zero: its last packet) by origin.
func (c *Conn) FillConnEnd(ce *entry.ConnEnd, at time.Time, origin entry.Originator) {
	start := c.FirstSeen
	if c.SynSeen {
		start = c.SynTime
	}
	if at.IsZero() {
		at = c.LastSeen
	}
	*ce = entry.ConnEnd{Conn: c.ID, Client: c.Client, Server: c.Server, Opened: c.SynSeen, Start: start, End: at,
		Originator: origin, Evicted: c.Evicted}
}

// Table is the connection table. It is not safe for concurrent use.
type Table struct {
	cfg   Config
	up    Upper
	table map[connKey]*Conn
	lru   Conn // sentinel of the list of connections, most recent first
	free  []*Conn
	// Budget bounds the out-of-order bytes of all connections.
	budget reassembly.Budget
	stats  Stats
	// recent caches connections of the table by their ports (recentSlot):
	// most packets find theirs there. A connection leaves it when it
	// leaves the table.
	recent [recentSize]*Conn
	// missed is the key of the last segment lookup found in no slot of
	// recent: the SYN or the pickup that opens its connection uses it.
	missed connKey
	// reset holds the tuples of connections closed by a RST, and when:
	// segments captured after the RST (the other side's data in flight, or
	// captured out of order on another CPU) are not picked up as a new
	// connection for resetLinger.
	reset map[connKey]time.Time
	// challenged are the connections whose last RST was in the window but
	// not exact (see Conn.rstAction): each closes if nothing follows.
	challenged []connRef
	// evicted holds the tuples of connections evicted from a full table,
	// and when: the rest of such a connection is picked up in the middle,
	// and the responses of requests already printed are not printed again
	// on their own (see Conn.AfterEvict). Bounded like reset.
	evicted map[connKey]time.Time
}

// resetLinger is how long segments of a connection closed by a RST are
// ignored; maxReset bounds the tuples remembered.
const (
	resetLinger = 2 * time.Second
	maxReset    = 4096
)

// Init prepares an empty table; cfg's fields must be set (no defaults
// here). A Table must not be copied after Init.
func (t *Table) Init(cfg Config, up Upper) {
	*t = Table{cfg: cfg, up: up, table: make(map[connKey]*Conn)}
	t.budget.Max = cfg.MaxPendingTotal
	t.lru.next, t.lru.prev = &t.lru, &t.lru
}

// Stats returns the counters so far. The reassembly counters
// (Retransmitted, OutOfOrder, GapBytes, OutOfWindow, Resynced) count
// connections that have ended.
func (t *Table) Stats() Stats { return t.stats }

// Len returns the number of connections tracked now.
func (t *Table) Len() int { return len(t.table) }

// rememberReset records that the connection of key was closed by a RST at ts.
func (t *Table) rememberReset(key connKey, ts time.Time) { t.remember(&t.reset, key, ts) }

// remember records key at ts in a table of recently ended tuples, bounded
// by maxReset: past it the entries older than resetLinger go, and if that
// is not enough, all of them.
func (t *Table) remember(m *map[connKey]time.Time, key connKey, ts time.Time) {
	if *m == nil {
		*m = make(map[connKey]time.Time)
	}
	tab := *m
	if len(tab) >= maxReset {
		for k, at := range tab {
			if ts.Sub(at) >= resetLinger {
				delete(tab, k)
			}
		}
		if len(tab) >= maxReset {
			clear(tab)
		}
	}
	tab[key] = ts
}

// Tick applies the time-based rules (idle timeout, challenged RSTs,
// flush-after) as of now.
func (t *Table) Tick(now time.Time) {
	if t.cfg.IdleTimeout > 0 {
		for c := t.lru.prev; c != &t.lru; {
			if now.Sub(c.LastSeen) < t.cfg.IdleTimeout {
				break
			}
			prev := c.prev
			t.stats.IdleExpired++
			t.end(c, now, entry.TimedOut)
			c = prev
		}
	}
	if len(t.challenged) > 0 {
		t.expireChallenged(now, true)
	}
	if t.cfg.FlushAfter > 0 {
		for c := t.lru.prev; c != &t.lru; c = c.prev {
			if now.Sub(c.LastSeen) < t.cfg.FlushAfter {
				break
			}
			c.Up.Idle(now)
		}
	}
}

// Finish ends every connection still open, from the least recently
// active: closed at the second FIN if both FINs were seen, truncated
// otherwise.
func (t *Table) Finish() {
	for t.lru.prev != &t.lru {
		c := t.lru.prev
		if c.softRST.IsZero() && c.Dir[0].Half.FinSeen() && c.Dir[1].Half.FinSeen() {
			// Both FINs, no final ACK: closed at the second FIN.
			t.close(c, c.secondFin(), c.Closer())
			continue
		}
		t.end(c, time.Time{}, entry.Truncated)
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

// recentSize is the number of slots of Table.recent (a power of two).
const recentSize = 256

// recentSlot is the slot of Table.recent of a connection with these ports
// (in either order).
func recentSlot(p, q uint16) int { return int(p^q) & (recentSize - 1) }

// carries reports whether p belongs to c (in either direction).
func (c *Conn) carries(p *decode.Packet) bool {
	if c.Client.Port() == p.SrcPort && c.Server.Port() == p.DstPort {
		return c.Client.Addr() == p.Src && c.Server.Addr() == p.Dst
	}
	return c.Client.Port() == p.DstPort && c.Server.Port() == p.SrcPort &&
		c.Client.Addr() == p.Dst && c.Server.Addr() == p.Src
}

func (c *Conn) isClient(a netip.Addr, port uint16) bool {
	return c.Client.Port() == port && c.Client.Addr() == a
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

// Segment handles one decoded TCP segment.
func (t *Table) Segment(p *decode.Packet, ts time.Time) {
	// The recent connections first: building the key and hashing it for
	// the map is the costliest part of finding a packet's connection.
	slot := &t.recent[recentSlot(p.SrcPort, p.DstPort)]
	c := *slot
	if c == nil || !c.carries(p) {
		c = t.lookup(p, slot)
	}
	syn, ack, fin, rst := p.Flags.Has(decode.SYN), p.Flags.Has(decode.ACK), p.Flags.Has(decode.FIN), p.Flags.Has(decode.RST)
	seq := reassembly.Seq(p.Seq)

	if syn && !ack {
		t.syn(c, p, seq, ts)
		return
	}
	if c == nil {
		if c = t.pickup(p, syn, rst, ts); c == nil {
			return
		}
	}
	t.touch(c, ts)
	dir := 0
	if !c.isClient(p.Src, p.SrcPort) {
		dir = 1
	}

	if syn { // SYN-ACK from the server
		if d := &c.Dir[1]; dir == 1 && !d.Half.Started() {
			d.Half.Start(seq)
			d.isn = seq
			c.SynAckSeen = true
			d.wscale = p.WScale
			c.setWindows()
			c.fastOpen(1, seq, p, ts)
		}
		return
	}
	if rst {
		t.rst(c, p, dir, ts)
		return
	}
	d, peer := &c.Dir[dir], &c.Dir[1-dir]
	h := &d.Half
	// The usual segments, in-order bytes and ACKs, are taken without
	// SegmentCut's call and checks. A segment outside the receive window
	// is dropped by the stack, ACK and FIN with it (RFC 9293 §3.10.7.4):
	// SegmentCut counted it.
	if len(p.Payload) > 0 {
		if h.TakeNext(seq, len(p.Payload), int64(p.Missing), fin) {
			c.recv[dir].Data(p.Payload, ts)
		} else if !h.SegmentCut(seq, p.Payload, int64(p.Missing), fin, ts, c.recv[dir]) {
			return
		}
	} else if !h.TakeAck(seq, int64(p.Missing), fin) && !h.SegmentCut(seq, p.Payload, int64(p.Missing), fin, ts, c.recv[dir]) {
		return
	}
	if dir == 0 && ack && c.SynSeen && c.SynAckSeen && c.HsDone.IsZero() && reassembly.Seq(p.Ack) == c.Dir[1].isn.Add(1) {
		c.HsDone = ts
	}
	if fin && d.FinTime.IsZero() {
		d.FinTime = ts
		d.finAck, d.finAckOK = reassembly.Seq(p.Ack), ack
		switch {
		case c.finDir < 0:
			c.finDir = int8(dir)
		case int(c.finDir) != dir && peer.finAckOK && peer.finAck == h.FinSeq().Add(1):
			// The FIN captured first acknowledged this one: this one was
			// sent first (the capture reordered them).
			c.finDir = int8(dir)
		}
	}
	if ack && peer.Half.Ack(reassembly.Seq(p.Ack), ts, c.recv[1-dir]) {
		d.acked = reassembly.Seq(p.Ack)
		d.ackSeen = true
	}
	if h.Finished() {
		c.Up.HalfClosed(dir, ts)
	}
	if peer.Half.Finished() {
		c.Up.HalfClosed(1-dir, ts)
	}
	c.Up.Segment(ts)
	if !c.softRST.IsZero() && t.recheckRST(c, dir, p) {
		return
	}
	// The close completes with the ACK of the second FIN, sent by the side
	// that closed first.
	if c.Dir[0].Half.FinSeen() && c.Dir[1].Half.FinSeen() && ack && int(c.finDir) == dir && reassembly.Seq(p.Ack) == peer.Half.FinSeq().Add(1) {
		t.close(c, ts, c.Closer())
	} else if t.cfg.NoPureACKs && c.Dir[0].Half.Finished() && c.Dir[1].Half.Finished() && c.softRST.IsZero() {
		// That ACK is not captured: closed once both FINs and every
		// byte before them are in, at the second FIN (as Finish).
		t.close(c, c.secondFin(), c.Closer())
	}
}

// lookup finds the connection of p in the map, and makes it the recent
// one of its slot.
func (t *Table) lookup(p *decode.Packet, slot **Conn) *Conn {
	t.missed = makeKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
	c := t.table[t.missed]
	if c != nil {
		*slot = c
	}
	return c
}

// syn handles a SYN without ACK, c being the connection tracked on its
// tuple, if any.
func (t *Table) syn(c *Conn, p *decode.Packet, seq reassembly.Seq, ts time.Time) {
	key := t.missed // c is nil only when lookup missed
	if c != nil {
		key = c.key
		if c.SynSeen && c.isClient(p.Src, p.SrcPort) && c.Dir[0].isn == seq {
			// A retransmitted SYN; data on it is a retransmission too.
			t.touch(c, ts)
			if len(p.Payload) > 0 {
				c.fastOpen(0, seq, p, ts)
			}
			return
		}
		// A new connection on a tuple still tracked: the old one is
		// gone, by a close we saw or by one we did not.
		t.replaced(c, ts)
	}
	c = t.open(key, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), ts, false, false)
	c.SynSeen = true
	c.SynTime = ts
	c.Dir[0].isn = seq
	c.Dir[0].wscale = p.WScale
	c.Dir[0].Half.Start(seq)
	c.setWindows()
	c.fastOpen(0, seq, p, ts)
}

// pickup opens the connection of a segment (not a SYN without ACK) on a
// tuple not tracked: one picked up in the middle, its handshake not
// captured. It returns nil when the segment opens none (a stray).
func (t *Table) pickup(p *decode.Packet, syn, rst bool, ts time.Time) *Conn {
	if rst || (len(p.Payload) == 0 && p.Missing == 0 && !syn) {
		t.stats.Stray++
		return nil
	}
	key := t.missed // c is nil: lookup missed
	if at, ok := t.reset[key]; ok {
		if ts.Sub(at) < resetLinger {
			t.stats.Stray++
			return nil
		}
		delete(t.reset, key)
	}
	var client, server netip.AddrPort
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	if syn || senderIsServer(p) {
		client, server = dst, src
	} else {
		client, server = src, dst
	}
	afterEvict := false
	if _, ok := t.evicted[key]; ok {
		delete(t.evicted, key)
		afterEvict = true
	}
	return t.open(key, client, server, ts, true, afterEvict)
}

// fastOpen takes the data a SYN (TCP Fast Open, RFC 7413) or a SYN-ACK
// carries: it starts after the SYN's own sequence number.
func (c *Conn) fastOpen(dir int, isn reassembly.Seq, p *decode.Packet, ts time.Time) {
	if len(p.Payload) == 0 && p.Missing == 0 {
		return
	}
	c.Dir[dir].Half.SegmentCut(isn.Add(1), p.Payload, int64(p.Missing), false, ts, c.recv[dir])
	c.Up.Segment(ts)
}

// setWindows sets the receive window of each direction from the window
// scale options of the handshake's SYN and SYN-ACK, as far as they were
// captured (RFC 7323 §1.3: scaling is in force only if both offered it).
// Data from the client is received in the server's window and the other way
// round; a window that is not known stays reassembly.MaxWindow.
func (c *Conn) setWindows() {
	cs, ss := c.Dir[0].wscale, c.Dir[1].wscale
	known := func(seen bool, s int8) bool { return seen && s != decode.WScaleUnknown }
	var w0, w1 int64 // 0: MaxWindow
	switch {
	case known(c.SynSeen, cs) && cs < 0, known(c.SynAckSeen, ss) && ss < 0:
		// One side offered no scaling: there is none either way.
		w0, w1 = reassembly.Window(0), reassembly.Window(0)
	case known(c.SynSeen, cs) && known(c.SynAckSeen, ss):
		w0, w1 = reassembly.Window(int(ss)), reassembly.Window(int(cs))
	case known(c.SynSeen, cs):
		w1 = reassembly.Window(int(cs))
	case known(c.SynAckSeen, ss):
		w0 = reassembly.Window(int(ss))
	}
	c.Dir[0].Half.Window, c.Dir[1].Half.Window = w0, w1
}
