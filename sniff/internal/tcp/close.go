package tcp

import (
	"net/netip"
	"time"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/reassembly"
)

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
// otherwise (see Table.expireChallenged).
func (c *Conn) rstAction(p *decode.Packet, dir int) rstAction {
	seq := reassembly.Seq(p.Seq)
	h := &c.Dir[dir].Half
	if dir == 1 && c.SynSeen && !c.SynAckSeen && !h.Started() {
		if !p.Flags.Has(decode.ACK) {
			return rstIgnore
		}
		a := reassembly.Seq(p.Ack)
		if a.After(c.Dir[0].isn) && !a.After(c.Dir[0].Half.High()) {
			return rstClose
		}
		return rstIgnore
	}
	peer := &c.Dir[1-dir]
	peerAck, ackSeen := peer.acked, peer.ackSeen
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
func (c *Conn) rstExact(dir int, seq reassembly.Seq) bool {
	h := &c.Dir[dir].Half
	peer := &c.Dir[1-dir]
	return h.Started() && (seq == h.Next() || seq == h.High() || h.FinSeen() && seq == h.FinSeq().Add(1)) ||
		peer.ackSeen && seq == peer.acked
}

// recheckRST looks again at a challenged RST of c after a segment from
// direction dir was taken. Captures reorder packets (the two directions,
// or a socket's last segments, on different CPUs): bytes the RST's sender
// sent before it may be captured after it, and once they are there the
// RST is exact, and closes the connection at its own time. The connection
// goes on if its sender shows life after it: bytes past the RST's
// sequence number, or an ACK past the RST's. The peer's bytes prove
// nothing (they may have been in flight). It reports whether c was closed.
func (t *Table) recheckRST(c *Conn, dir int, p *decode.Packet) bool {
	d := int(c.softDir)
	if c.rstExact(d, c.softSeq) {
		t.resetClose(c, c.softRST, c.softOrigin)
		return true
	}
	if dir == d && (c.Dir[d].Half.High().After(c.softSeq) ||
		p.Flags.Has(decode.ACK) && c.softAckOK && reassembly.Seq(p.Ack).After(c.softAck)) {
		c.softRST = time.Time{} // the connection went on after the RST
	}
	return false
}

// rst handles a RST segment of c sent in direction dir.
func (t *Table) rst(c *Conn, p *decode.Packet, dir int, ts time.Time) {
	origin := entry.Client
	if dir == 1 {
		origin = entry.Server
	}
	if c.finDir >= 0 {
		origin = c.Closer()
	}
	switch c.rstAction(p, dir) {
	case rstClose:
		t.resetClose(c, ts, origin)
	case rstChallenge:
		t.stats.ChallengedRST++
		if c.softRST.IsZero() {
			c.softRST, c.softOrigin = ts, origin
			c.softDir, c.softSeq = int8(dir), reassembly.Seq(p.Seq)
			c.softAck, c.softAckOK = reassembly.Seq(p.Ack), p.Flags.Has(decode.ACK)
			if len(t.challenged) >= 2*t.cfg.MaxConns {
				t.expireChallenged(time.Time{}, false) // compacting: no time needed
			}
			t.challenged = append(t.challenged, connRef{c, c.gen})
		}
	default:
		t.stats.IgnoredRST++
	}
}

// resetClose closes c as reset at ts, and remembers its tuple so that
// segments still in flight do not start a connection.
func (t *Table) resetClose(c *Conn, ts time.Time, origin entry.Originator) {
	key := c.key
	t.close(c, ts, origin)
	t.rememberReset(key, ts)
}

// connRef names a connection at one point of its slot's life: gen tells
// whether the slot was reused since.
type connRef struct {
	c   *Conn
	gen uint32
}

// expireChallenged closes the connections whose challenged RST was followed
// by no sign of life from its sender (Table.recheckRST) for resetLinger
// (none when due is false: only compacting the list), and forgets the
// others that went on.
func (t *Table) expireChallenged(now time.Time, due bool) {
	keep := t.challenged[:0]
	for _, r := range t.challenged {
		c := r.c
		if c.gen != r.gen || c.t == nil || c.softRST.IsZero() {
			continue
		}
		if due && now.Sub(c.softRST) >= resetLinger {
			t.resetClose(c, c.softRST, c.softOrigin)
			continue
		}
		keep = append(keep, r)
	}
	clear(t.challenged[len(keep):])
	t.challenged = keep
}

// replaced ends c, whose tuple a new SYN takes over: closed by whoever sent
// the first FIN if both FINs were seen (only the last ACK was not), reset
// if a challenged RST was left unanswered, and timed out otherwise.
func (t *Table) replaced(c *Conn, ts time.Time) {
	if c.softRST.IsZero() && c.Dir[0].Half.FinSeen() && c.Dir[1].Half.FinSeen() {
		t.close(c, c.secondFin(), c.Closer())
		return
	}
	t.end(c, ts, entry.TimedOut)
}

// secondFin is when the later of the two FINs was seen.
func (c *Conn) secondFin() time.Time {
	at := c.Dir[0].FinTime
	if c.Dir[1].FinTime.After(at) {
		at = c.Dir[1].FinTime
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
	if h2, server := h2Sender(b); h2 {
		return server
	}
	return p.SrcPort < p.DstPort
}

// h2Sender guesses the sender of HTTP/2 frames from the first HEADERS
// frame among the frames b starts with: a header block that starts with
// the HPACK static table's :status (indexed, or a literal with its name)
// is a response, one that starts with :authority, :method, :path or
// :scheme a request. The client preface is a request too. h2 is false when
// b tells nothing of the kind.
func h2Sender(b []byte) (h2, server bool) {
	if len(b) >= 3 && string(b[:3]) == "PRI" {
		return true, false
	}
	for len(b) >= 9 {
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags := b[3], b[4]
		if typ > 9 || b[5]&0x80 != 0 {
			return false, false
		}
		if typ != 1 { // not HEADERS
			if len(b) < 9+n {
				return false, false
			}
			b = b[9+n:]
			continue
		}
		p := b[9:min(len(b), 9+n)]
		if flags&0x8 != 0 && len(p) > 0 { // PADDED
			p = p[1:]
		}
		if flags&0x20 != 0 { // PRIORITY
			if len(p) < 5 {
				return false, false
			}
			p = p[5:]
		}
		for len(p) > 0 && p[0]&0xe0 == 0x20 { // dynamic table size updates
			p = p[1:]
		}
		if len(p) == 0 {
			return false, false
		}
		var idx byte
		switch c := p[0]; {
		case c&0x80 != 0:
			idx = c & 0x7f
		case c&0xc0 == 0x40:
			idx = c & 0x3f
		default:
			idx = c & 0x0f
		}
		switch {
		case idx >= 8 && idx <= 14:
			return true, true
		case idx >= 1 && idx <= 7:
			return true, false
		}
		return false, false
	}
	return false, false
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
func (t *Table) open(key connKey, client, server netip.AddrPort, ts time.Time, pickup, afterEvict bool) *Conn {
	for len(t.table) >= t.cfg.MaxConns && t.lru.prev != &t.lru {
		t.stats.Evicted++
		old := t.lru.prev
		old.Evicted = true
		t.remember(&t.evicted, old.key, ts)
		t.end(old, ts, entry.TimedOut)
	}
	var c *Conn
	if n := len(t.free); n > 0 {
		c = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		c = new(Conn)
	}
	up, gen := c.Up, c.gen+1
	// Cleared in place, then set: a composite literal of the fields would
	// be built aside and copied.
	*c = Conn{}
	c.t, c.key, c.Client, c.Server, c.finDir, c.gen, c.Up = t, key, client, server, -1, gen, up
	c.Pickup, c.AfterEvict = pickup, afterEvict
	for d := range c.Dir {
		c.Dir[d].Half.MaxPending = t.cfg.MaxPendingPerConn
		c.Dir[d].Half.Budget = &t.budget
	}
	t.table[key] = c
	t.stats.Connections++
	c.ID = t.stats.Connections
	c.FirstSeen = ts
	// Link at the front.
	c.next, c.prev = t.lru.next, &t.lru
	t.lru.next.prev = c
	t.lru.next = c
	c.LastSeen, c.lastAt = ts, instantOf(ts)
	t.up.Open(c)
	c.recv[0], c.recv[1] = c.Up.Receiver(0), c.Up.Receiver(1)
	return c
}

// touch marks c as the most recently active.
func (t *Table) touch(c *Conn, ts time.Time) {
	if at := instantOf(ts); c.lastAt.before(at) {
		c.LastSeen, c.lastAt = ts, at
	}
	if t.lru.next == c {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.next, c.prev = t.lru.next, &t.lru
	t.lru.next.prev = c
	t.lru.next = c
}

// instant is a time.Time's wall clock reading as seconds and nanoseconds
// (Unix, Nanosecond), compared in a few inlined instructions where
// time.Time.After is a call (touch compares for every packet). Capture
// timestamps carry no monotonic reading, so the order is the same as
// theirs; no overflow, whatever the year.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

// before reports whether i is before j.
func (i instant) before(j instant) bool {
	return i.sec < j.sec || i.sec == j.sec && i.nsec < j.nsec
}

func (c *Conn) flushHalves(ts time.Time) {
	c.Dir[0].Half.Flush(ts, c.recv[0])
	c.Dir[1].Half.Flush(ts, c.recv[1])
}

// close ends a connection that closed (FIN handshake or RST).
func (t *Table) close(c *Conn, ts time.Time, origin entry.Originator) {
	origin = c.Up.Closer(origin)
	c.flushHalves(ts)
	c.Up.Ended(ts, origin, true)
	t.remove(c)
}

// end flushes a connection that did not close: evicted, timed out or
// truncated. at is the flush time (zero when input ended).
//
// A connection whose challenged RST its sender did not outlive (see
// Table.recheckRST) was reset: it closes at the RST.
func (t *Table) end(c *Conn, at time.Time, origin entry.Originator) {
	if !c.softRST.IsZero() {
		t.resetClose(c, c.softRST, c.softOrigin)
		return
	}
	flushTS := at
	if flushTS.IsZero() {
		flushTS = c.LastSeen
	}
	c.flushHalves(flushTS)
	c.Up.Ended(at, origin, false)
	t.remove(c)
}

func (t *Table) remove(c *Conn) {
	for d := range c.Dir {
		s := c.Dir[d].Half.Stats
		t.stats.Retransmitted += uint64(s.Retransmitted)
		t.stats.OutOfOrder += uint64(s.OutOfOrder)
		t.stats.OutOfWindow += uint64(s.OutOfWindow)
		t.stats.Resynced += uint64(s.Resynced)
		t.stats.GapBytes += uint64(s.GapBytes)
	}
	delete(t.table, c.key)
	if s := &t.recent[recentSlot(c.Client.Port(), c.Server.Port())]; *s == c {
		*s = nil
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	c.Dir[0].Half.Reset()
	c.Dir[1].Half.Reset()
	c.t = nil
	if len(t.free) < 1024 {
		t.free = append(t.free, c)
	} else {
		t.up.Drop(c)
	}
}

// TrimFree lets go of the connections kept for reuse, and their handlers'
// buffers (Upper.Drop).
func (t *Table) TrimFree() {
	for _, c := range t.free {
		t.up.Drop(c)
	}
	clear(t.free)
	t.free = t.free[:0]
}
