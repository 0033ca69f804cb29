// Package reassembly puts one direction of a TCP connection back in order.
//
// A Half receives the segments of one direction as they were captured and
// hands their payload to a Receiver in sequence order, exactly once:
// retransmitted and overlapping bytes are dropped, segments that arrive early
// wait (copied, within a budget) until the bytes before them arrive, and
// sequence numbers wrap around as TCP's do. Bytes that were never captured
// become a Gap, declared when the peer acknowledges past them, when the
// waiting data exceeds its budget, or when the caller flushes (at close, end
// of input, eviction); what follows a gap is delivered, never lost.
//
// Every segment is checked against the receive window before its bytes are
// used: a segment that starts outside it (a crafted one, or one of another
// connection's life) is counted and skipped, as the receiving stack would
// drop it. See Half.Window for the tolerance after segments the capture
// missed.
//
// The common case — segments in order — copies nothing: the payload slice is
// handed to the Receiver as it is.
package reassembly

import (
	"time"
)

// Receiver takes what a Half delivers.
type Receiver interface {
	// Data delivers the next bytes of the stream. b is only valid during
	// the call. ts is the capture time of the packet that made them
	// deliverable.
	Data(b []byte, ts time.Time)
	// Gap says that n bytes of the stream at this point were never
	// captured.
	Gap(n int64, ts time.Time)
}

// Budget bounds the memory that all Halves sharing it may hold while they
// wait for earlier data. The zero value is unlimited; set Max.
//
// A held segment is charged what it costs, not only its payload: a flood of
// 1-byte segments would otherwise hold many times the budget in
// bookkeeping (see SegmentCost).
type Budget struct {
	// Max is the most bytes held at once by all Halves using the Budget;
	// 0 means no limit.
	Max int64
	// Used is the number of bytes charged now.
	Used int64
}

// SegmentCost is what holding a segment of n payload bytes is charged: the
// copy of its payload rounded up the way the allocator's size classes do
// (at most 1/8 more), and a fixed part for its slot in the sorted list
// (32 bytes, up to twice that while the list grows) and the allocation's
// smallest size.
func SegmentCost(n int) int64 { return int64(n) + int64(n)/8 + segmentOverhead }

const segmentOverhead = 80

// keepSlots is the capacity of a Half's list of held segments kept once it
// is empty; a larger list (grown by a burst of early segments) is let go.
const keepSlots = 16

func (b *Budget) fits(n int64) bool { return b == nil || b.Max == 0 || b.Used+n <= b.Max }

func (b *Budget) add(n int64) {
	if b != nil {
		b.Used += n
	}
}

// DefaultMaxSegments is the number of early segments a Half holds at most
// unless MaxSegments says otherwise.
const DefaultMaxSegments = 1024

// resyncRun is how many contiguous segments outside the window make a Half
// take its stream to have moved there (see Half.Window).
const resyncRun = 4

type segment struct {
	seq  Seq
	data []byte
	lost int64 // bytes after data that the capture cut (snap length)
}

// end is the sequence number after the segment.
func (s *segment) end() Seq { return s.seq.Add(int64(len(s.data)) + s.lost) }

// Stats counts what a Half saw.
type Stats struct {
	// Retransmitted counts segments whose bytes had all been delivered.
	Retransmitted int
	// Overlapping counts segments that were partly new.
	Overlapping int
	// OutOfOrder counts segments that had to wait for earlier bytes.
	OutOfOrder int
	// OutOfWindow counts segments, and acknowledgments, outside the
	// receive window: skipped.
	OutOfWindow int
	// Resynced counts the times a run of segments outside the window was
	// taken to be where the stream is (see Half.Window).
	Resynced int
	// GapBytes counts bytes declared lost.
	GapBytes int64
}

// Half is one direction of a connection. The zero value waits for its first
// segment to learn where the stream starts (a connection picked up in the
// middle); call Start when the SYN was seen.
type Half struct {
	next    Seq // sequence number of the next byte to deliver
	high    Seq // sequence number after the highest byte seen
	started bool

	pending      []segment // waiting segments, sorted by seq
	pendingBytes int64     // their payload bytes
	charged      int64     // what they are charged to the Budget

	finSeen bool
	finSeq  Seq // sequence number of the FIN

	// oowNext and oowRun follow a run of contiguous segments outside the
	// window: where the next one would start, and how many there were.
	oowNext Seq
	oowRun  int

	// Window is the receive window of the peer that receives this
	// direction, in bytes: a segment starting more than Window before or
	// from Window after the next byte to deliver is outside it, and so is
	// an acknowledgment more than Window ahead. 0 means MaxWindow. Set it
	// from the handshake's window scale options (see reassembly.Window).
	//
	// Tolerance: the window is measured from the next byte the capture
	// delivered, not from the receiver's own position, which the capture
	// may have lost sight of. Lost segments whose acknowledgment was
	// captured move that position on (a Gap); if both were lost, the
	// stream's bytes may start outside the window, and after resyncRun
	// contiguous segments outside it (what a crafted packet alone does not
	// make) the Half takes the stream to be there: the bytes in between
	// are a Gap, or, behind, are forgotten.
	Window int64
	// MaxPending bounds the bytes this Half holds while waiting; 0 means
	// no limit of its own (the Budget may still apply).
	MaxPending int64
	// MaxSegments bounds the number of segments held (DefaultMaxSegments
	// when 0): a flood of tiny early segments would otherwise cost time
	// quadratic in their number to keep in order.
	MaxSegments int
	// Budget, if set, is shared with other Halves.
	Budget *Budget

	Stats Stats
}

// Start sets the initial sequence number from the SYN.
func (h *Half) Start(isn Seq) {
	h.next = isn.Add(1)
	h.high = h.next
	h.started = true
}

// Started reports whether the Half knows where its stream is.
func (h *Half) Started() bool { return h.started }

// Next returns the sequence number of the next byte to deliver.
func (h *Half) Next() Seq { return h.next }

// High returns the sequence number after the highest byte seen (delivered,
// waiting or cut by the snap length).
func (h *Half) High() Seq { return h.high }

// Pending returns the number of bytes waiting for earlier ones.
func (h *Half) Pending() int64 { return h.pendingBytes }

// Finished reports whether the FIN was seen and every byte before it was
// delivered (or declared lost).
func (h *Half) Finished() bool { return h.finSeen && h.next == h.finSeq }

// FinSeq returns the sequence number of the FIN, valid when FinSeen.
func (h *Half) FinSeq() Seq { return h.finSeq }

// FinSeen reports whether a FIN was seen.
func (h *Half) FinSeen() bool { return h.finSeen }

// window returns the receive window in force.
func (h *Half) window() int64 {
	if h.Window <= 0 || h.Window > MaxWindow {
		return MaxWindow
	}
	return h.Window
}

// InWindow reports whether a segment starting at seq is inside the receive
// window. Before the Half has started, any sequence number is.
func (h *Half) InWindow(seq Seq) bool {
	if !h.started {
		return true
	}
	w := h.window()
	d := seq.Sub(h.next)
	return d >= -w && d < w
}

// Reset forgets everything, releasing held bytes from the Budget.
func (h *Half) Reset() {
	h.releaseAll()
	win, max, segs, budget, pending := h.Window, h.MaxPending, h.MaxSegments, h.Budget, h.pending[:0]
	// Cleared in place, then set: a composite literal would be built
	// aside and copied.
	*h = Half{}
	h.Window, h.MaxPending, h.MaxSegments, h.Budget, h.pending = win, max, segs, budget, pending
}

func (h *Half) releaseAll() {
	for i := range h.pending {
		h.pending[i].data = nil
	}
	h.Budget.add(-h.charged)
	h.pendingBytes, h.charged = 0, 0
	h.pending = h.pending[:0]
	h.shrink()
}

// shrink lets an empty list of held segments go if a burst made it large:
// idle connections must not keep what a flood grew.
func (h *Half) shrink() {
	if len(h.pending) == 0 && cap(h.pending) > keepSlots {
		h.pending = nil
	}
}

// Segment takes one captured segment: its sequence number, payload and
// whether it carries FIN. In-order bytes go to r at once, followed by any
// waiting bytes they make deliverable. It reports false for a segment
// outside the receive window, which is counted and skipped (its FIN too).
func (h *Half) Segment(seq Seq, payload []byte, fin bool, ts time.Time, r Receiver) bool {
	return h.SegmentCut(seq, payload, 0, fin, ts, r)
}

// TakeNext and TakeAck take the usual segments of a started half with
// fewer checks than SegmentCut (TakeNext inlines). TakeNext takes the next
// n bytes (n > 0, none lost, nothing waiting, no FIN) without delivering
// them: the caller hands them to its Receiver's Data, which completes what
// SegmentCut would do. TakeAck takes a segment without lost bytes or FIN
// that starts inside the window; its caller has checked that it carries no
// payload. Each reports whether it took the segment; when it did not, the
// caller calls SegmentCut.
func (h *Half) TakeNext(seq Seq, n int, lost int64, fin bool) bool {
	if n == 0 || fin || !h.started || seq != h.next || lost > 0 || h.finSeen || len(h.pending) != 0 {
		return false
	}
	h.oowRun = 0
	h.next = seq.Add(int64(n))
	if h.next.After(h.high) {
		h.high = h.next
	}
	return true
}

// TakeAck: see TakeNext.
func (h *Half) TakeAck(seq Seq, lost int64, fin bool) bool {
	if fin || lost > 0 || !h.started {
		return false
	}
	if d, w := seq.Sub(h.next), h.window(); d < -w || d >= w {
		return false
	}
	h.oowRun = 0
	if seq.After(h.high) {
		h.high = seq
	}
	return true
}

// SegmentCut is Segment for a segment that the capture's snap length cut:
// lost bytes of it after payload were never captured. They are a Gap as
// soon as the bytes before them are delivered, and the FIN, if any, is
// after them.
func (h *Half) SegmentCut(seq Seq, payload []byte, lost int64, fin bool, ts time.Time, r Receiver) bool {
	n := int64(len(payload)) + max(lost, 0)
	if !h.started {
		if n == 0 && !fin {
			return true
		}
		h.next, h.high = seq, seq
		h.started = true
	}
	d := seq.Sub(h.next)
	if d == 0 && len(payload) > 0 && lost <= 0 && !fin && !h.finSeen && len(h.pending) == 0 {
		// The common case: the next bytes, nothing waiting behind them,
		// no FIN. What take, deliver and drain would do, without the
		// calls.
		h.oowRun = 0
		h.next = seq.Add(int64(len(payload)))
		if h.next.After(h.high) {
			h.high = h.next
		}
		r.Data(payload, ts)
		return true
	}
	if w := h.window(); d < -w || d >= w {
		return h.outOfWindow(seq, d, payload, lost, fin, ts, r)
	}
	h.oowRun = 0
	end := seq.Add(n)
	if end.After(h.high) {
		h.high = end
	}
	if fin && (!h.finSeen || end.Before(h.finSeq)) {
		h.finSeen = true
		h.finSeq = end
	}
	if n == 0 {
		return true
	}
	if d > 0 {
		h.Stats.OutOfOrder++
		h.hold(seq, payload, lost, ts, r)
		return true
	}
	if -d >= n {
		h.Stats.Retransmitted++
		return true
	}
	if d < 0 {
		h.Stats.Overlapping++
	}
	h.take(seq, payload, lost, ts, r)
	h.drain(ts, r)
	return true
}

// outOfWindow counts a segment outside the window, and follows runs of
// them (see Window).
func (h *Half) outOfWindow(seq Seq, d int64, payload []byte, lost int64, fin bool, ts time.Time, r Receiver) bool {
	h.Stats.OutOfWindow++
	n := int64(len(payload)) + max(lost, 0)
	if n == 0 {
		return false
	}
	if h.oowRun > 0 && seq == h.oowNext {
		h.oowRun++
	} else {
		h.oowRun = 1
	}
	h.oowNext = seq.Add(n)
	if h.oowRun < resyncRun {
		return false
	}
	// The stream is there: what was between is lost (ahead) or forgotten
	// (behind), along with a FIN seen before.
	h.oowRun = 0
	h.Stats.Resynced++
	if d > 0 {
		h.finSeen = false
		h.skipTo(seq, ts, r)
	} else {
		h.releaseAll()
		h.next, h.high = seq, seq
		h.finSeen = false
	}
	return h.SegmentCut(seq, payload, lost, fin, ts, r)
}

// Ack tells the Half that its peer acknowledged every byte before ack: bytes
// before that point that were not captured are declared lost, and what waits
// behind them is delivered. It reports false for an acknowledgment more
// than the window ahead, which is counted and ignored.
func (h *Half) Ack(ack Seq, ts time.Time, r Receiver) bool {
	// Most acknowledgments are of bytes delivered already: this part
	// inlines into the caller, the rest is ackAhead.
	if !h.started || int32(ack-h.next) <= 0 { // ack.Sub(h.next), cheaper to inline
		return true
	}
	return h.ackAhead(ack, ts, r)
}

// ackAhead is Ack for an acknowledgment past the next byte to deliver.
func (h *Half) ackAhead(ack Seq, ts time.Time, r Receiver) bool {
	if d := ack.Sub(h.next); d > h.window() {
		h.Stats.OutOfWindow++
		return false
	}
	limit := ack
	if h.finSeen && limit.After(h.finSeq) {
		limit = h.finSeq // the FIN's own sequence number is not data
	}
	if limit.After(h.next) {
		h.skipTo(limit, ts, r)
	}
	return true
}

// Flush declares lost whatever is missing before the bytes that wait, and
// before the FIN if one was seen, delivering everything held. Use it when no
// more packets will come (close, eviction, end of input).
func (h *Half) Flush(ts time.Time, r Receiver) {
	if !h.started {
		return
	}
	if n := len(h.pending); n > 0 {
		h.skipTo(h.pending[n-1].end(), ts, r)
	}
	if h.finSeen && h.finSeq.After(h.next) {
		h.skipTo(h.finSeq, ts, r)
	}
	h.releaseAll() // anything still held is past the FIN
}

// skipTo delivers everything up to limit, declaring the missing parts lost.
// Nothing is delivered past a FIN: a limit after it stops there, and what
// waits past it is let go.
func (h *Half) skipTo(limit Seq, ts time.Time, r Receiver) {
	if h.finSeen && limit.After(h.finSeq) {
		limit = h.finSeq
	}
	for limit.After(h.next) {
		if len(h.pending) > 0 && h.pending[0].seq.Before(limit) {
			if g := h.pending[0].seq.Sub(h.next); g > 0 {
				h.gap(g, ts, r)
			}
			h.drain(ts, r)
			continue
		}
		h.gap(limit.Sub(h.next), ts, r)
		h.drain(ts, r)
	}
	if h.finSeen && h.next == h.finSeq && len(h.pending) > 0 {
		h.releaseAll()
	}
}

// gap declares the next n bytes lost, up to the FIN.
func (h *Half) gap(n int64, ts time.Time, r Receiver) {
	if h.finSeen {
		n = min(n, h.finSeq.Sub(h.next))
	}
	if n <= 0 {
		return
	}
	h.Stats.GapBytes += n
	h.next = h.next.Add(n)
	r.Gap(n, ts)
}

// take delivers the part of a segment at or after next; a segment that
// starts after next is left alone.
func (h *Half) take(seq Seq, data []byte, lost int64, ts time.Time, r Receiver) {
	skip := h.next.Sub(seq) // within the window
	if skip < 0 {
		return
	}
	if skip < int64(len(data)) {
		h.deliver(data[skip:], ts, r)
		skip = 0
	} else {
		skip -= int64(len(data))
	}
	if lost > skip {
		h.gap(lost-skip, ts, r)
	}
}

func (h *Half) deliver(b []byte, ts time.Time, r Receiver) {
	if h.finSeen {
		// Bytes past the FIN make no sense; keep what is before it.
		keep := h.finSeq.Sub(h.next)
		if keep <= 0 {
			return
		}
		if int64(len(b)) > keep {
			b = b[:keep]
		}
	}
	h.next = h.next.Add(int64(len(b)))
	r.Data(b, ts)
}

// drain delivers waiting segments that have become deliverable.
func (h *Half) drain(ts time.Time, r Receiver) {
	for len(h.pending) > 0 {
		s := h.pending[0]
		if s.seq.After(h.next) {
			return
		}
		n := copy(h.pending, h.pending[1:])
		h.pending[n] = segment{} // the last slot's copy is stale: let its bytes go
		h.pending = h.pending[:n]
		h.pendingBytes -= int64(len(s.data))
		cost := SegmentCost(len(s.data))
		h.charged -= cost
		h.Budget.add(-cost)
		if s.end().After(h.next) {
			h.take(s.seq, s.data, s.lost, ts, r)
		}
	}
	h.shrink()
}

// hold keeps a copy of an early segment, within the bounds; past them the
// missing bytes are declared lost so that parsing moves on.
func (h *Half) hold(seq Seq, payload []byte, lost int64, ts time.Time, r Receiver) {
	n := int64(len(payload))
	maxSegs := h.MaxSegments
	if maxSegs <= 0 {
		maxSegs = DefaultMaxSegments
	}
	if h.finSeen && !seq.Before(h.finSeq) {
		return // past the FIN: nothing there makes sense
	}
	cost := SegmentCost(len(payload))
	for (h.MaxPending > 0 && h.pendingBytes+n > h.MaxPending) || !h.Budget.fits(cost) || len(h.pending) >= maxSegs {
		if len(h.pending) == 0 {
			// Nothing held to give up: skip straight to this segment.
			h.skipTo(seq, ts, r)
			h.take(seq, payload, lost, ts, r)
			h.drain(ts, r)
			return
		}
		h.skipTo(h.pending[0].end(), ts, r)
		if !seq.After(h.next) {
			if seq.Add(n + lost).After(h.next) {
				h.take(seq, payload, lost, ts, r)
				h.drain(ts, r)
			}
			return
		}
	}
	// Insert sorted by seq; drop an exact duplicate.
	i := len(h.pending)
	for i > 0 && h.pending[i-1].seq.After(seq) {
		i--
	}
	if i > 0 && h.pending[i-1].seq == seq && len(h.pending[i-1].data) >= len(payload) && h.pending[i-1].lost >= lost {
		h.Stats.Retransmitted++
		return
	}
	c := make([]byte, len(payload))
	copy(c, payload)
	h.pending = append(h.pending, segment{})
	copy(h.pending[i+1:], h.pending[i:])
	h.pending[i] = segment{seq: seq, data: c, lost: max(lost, 0)}
	h.pendingBytes += n
	h.charged += cost
	h.Budget.add(cost)
}
