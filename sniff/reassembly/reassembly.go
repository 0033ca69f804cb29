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

type segment struct {
	seq  uint32
	data []byte
}

// Stats counts what a Half saw.
type Stats struct {
	// Retransmitted counts segments whose bytes had all been delivered.
	Retransmitted int
	// Overlapping counts segments that were partly new.
	Overlapping int
	// OutOfOrder counts segments that had to wait for earlier bytes.
	OutOfOrder int
	// GapBytes counts bytes declared lost.
	GapBytes int64
}

// Half is one direction of a connection. The zero value waits for its first
// segment to learn where the stream starts (a connection picked up in the
// middle); call Start when the SYN was seen.
type Half struct {
	next    uint32 // sequence number of the next byte to deliver
	started bool

	pending      []segment // waiting segments, sorted by seq
	pendingBytes int64     // their payload bytes
	charged      int64     // what they are charged to the Budget

	finSeen bool
	finSeq  uint32 // sequence number of the FIN

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
func (h *Half) Start(isn uint32) {
	h.next = isn + 1
	h.started = true
}

// Started reports whether the Half knows where its stream is.
func (h *Half) Started() bool { return h.started }

// Next returns the sequence number of the next byte to deliver.
func (h *Half) Next() uint32 { return h.next }

// Pending returns the number of bytes waiting for earlier ones.
func (h *Half) Pending() int64 { return h.pendingBytes }

// Finished reports whether the FIN was seen and every byte before it was
// delivered (or declared lost).
func (h *Half) Finished() bool { return h.finSeen && h.next == h.finSeq }

// FinSeq returns the sequence number of the FIN, valid when FinSeen.
func (h *Half) FinSeq() uint32 { return h.finSeq }

// FinSeen reports whether a FIN was seen.
func (h *Half) FinSeen() bool { return h.finSeen }

// Reset forgets everything, releasing held bytes from the Budget.
func (h *Half) Reset() {
	h.releaseAll()
	max, segs, budget := h.MaxPending, h.MaxSegments, h.Budget
	*h = Half{MaxPending: max, MaxSegments: segs, Budget: budget, pending: h.pending[:0]}
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
// waiting bytes they make deliverable.
func (h *Half) Segment(seq uint32, payload []byte, fin bool, ts time.Time, r Receiver) {
	if !h.started {
		if len(payload) == 0 && !fin {
			return
		}
		h.next = seq
		h.started = true
	}
	if fin {
		end := seq + uint32(len(payload))
		if !h.finSeen || diff(end, h.finSeq) < 0 {
			h.finSeen = true
			h.finSeq = end
		}
	}
	if len(payload) == 0 {
		return
	}
	d := diff(seq, h.next)
	switch {
	case d == 0:
		h.deliver(payload, ts, r)
		h.drain(ts, r)
	case d < 0:
		if int64(-d) >= int64(len(payload)) {
			h.Stats.Retransmitted++
			return
		}
		h.Stats.Overlapping++
		h.deliver(payload[-d:], ts, r)
		h.drain(ts, r)
	default:
		h.Stats.OutOfOrder++
		h.hold(seq, payload, ts, r)
	}
}

// Ack tells the Half that its peer acknowledged every byte before ack: bytes
// before that point that were not captured are declared lost, and what waits
// behind them is delivered.
func (h *Half) Ack(ack uint32, ts time.Time, r Receiver) {
	if !h.started {
		return
	}
	limit := ack
	if h.finSeen && diff(limit, h.finSeq) > 0 {
		limit = h.finSeq // the FIN's own sequence number is not data
	}
	if diff(limit, h.next) <= 0 {
		return
	}
	h.skipTo(limit, ts, r)
}

// Flush declares lost whatever is missing before the bytes that wait, and
// before the FIN if one was seen, delivering everything held. Use it when no
// more packets will come (close, eviction, end of input).
func (h *Half) Flush(ts time.Time, r Receiver) {
	if !h.started {
		return
	}
	if n := len(h.pending); n > 0 {
		last := h.pending[n-1]
		h.skipTo(last.seq+uint32(len(last.data)), ts, r)
	}
	if h.finSeen && diff(h.finSeq, h.next) > 0 {
		h.skipTo(h.finSeq, ts, r)
	}
}

// skipTo delivers everything up to limit, declaring the missing parts lost.
func (h *Half) skipTo(limit uint32, ts time.Time, r Receiver) {
	for diff(limit, h.next) > 0 {
		if len(h.pending) > 0 && diff(h.pending[0].seq, limit) < 0 {
			s := h.pending[0]
			if g := diff(s.seq, h.next); g > 0 {
				h.gap(int64(g), ts, r)
			}
			h.drain(ts, r)
			continue
		}
		h.gap(int64(diff(limit, h.next)), ts, r)
		h.drain(ts, r)
	}
}

func (h *Half) gap(n int64, ts time.Time, r Receiver) {
	h.Stats.GapBytes += n
	h.next += uint32(n)
	r.Gap(n, ts)
}

func (h *Half) deliver(b []byte, ts time.Time, r Receiver) {
	if h.finSeen && diff(h.next+uint32(len(b)), h.finSeq) > 0 {
		// Bytes past the FIN make no sense; keep what is before it.
		keep := diff(h.finSeq, h.next)
		if keep <= 0 {
			return
		}
		b = b[:keep]
	}
	h.next += uint32(len(b))
	r.Data(b, ts)
}

// drain delivers waiting segments that have become deliverable.
func (h *Half) drain(ts time.Time, r Receiver) {
	for len(h.pending) > 0 {
		s := h.pending[0]
		d := diff(s.seq, h.next)
		if d > 0 {
			return
		}
		n := copy(h.pending, h.pending[1:])
		h.pending[n] = segment{} // the last slot's copy is stale: let its bytes go
		h.pending = h.pending[:n]
		h.pendingBytes -= int64(len(s.data))
		cost := SegmentCost(len(s.data))
		h.charged -= cost
		h.Budget.add(-cost)
		if int64(-d) < int64(len(s.data)) {
			h.deliver(s.data[-d:], ts, r)
		}
	}
	h.shrink()
}

// hold keeps a copy of an early segment, within the bounds; past them the
// missing bytes are declared lost so that parsing moves on.
func (h *Half) hold(seq uint32, payload []byte, ts time.Time, r Receiver) {
	n := int64(len(payload))
	maxSegs := h.MaxSegments
	if maxSegs <= 0 {
		maxSegs = DefaultMaxSegments
	}
	cost := SegmentCost(len(payload))
	for (h.MaxPending > 0 && h.pendingBytes+n > h.MaxPending) || !h.Budget.fits(cost) || len(h.pending) >= maxSegs {
		if len(h.pending) == 0 {
			// Nothing held to give up: skip straight to this segment.
			h.skipTo(seq, ts, r)
			h.deliver(payload, ts, r)
			h.drain(ts, r)
			return
		}
		first := h.pending[0]
		h.skipTo(first.seq+uint32(len(first.data)), ts, r)
		if d := diff(seq, h.next); d <= 0 {
			if int64(-d) < n {
				h.deliver(payload[-d:], ts, r)
				h.drain(ts, r)
			}
			return
		}
	}
	// Insert sorted by seq; drop an exact duplicate.
	i := len(h.pending)
	for i > 0 && diff(h.pending[i-1].seq, seq) > 0 {
		i--
	}
	if i > 0 && h.pending[i-1].seq == seq && len(h.pending[i-1].data) >= len(payload) {
		h.Stats.Retransmitted++
		return
	}
	c := make([]byte, len(payload))
	copy(c, payload)
	h.pending = append(h.pending, segment{})
	copy(h.pending[i+1:], h.pending[i:])
	h.pending[i] = segment{seq: seq, data: c}
	h.pendingBytes += n
	h.charged += cost
	h.Budget.add(cost)
}

// diff returns a-b in sequence space (RFC 1982 serial arithmetic).
func diff(a, b uint32) int32 { return int32(a - b) }
