package reassembly

import (
	"math/rand"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rec records what a Half delivers, with gaps as '#'.
type rec struct {
	b strings.Builder
}

func (r *rec) Data(b []byte, _ time.Time) { r.b.Write(b) }
func (r *rec) Gap(n int64, _ time.Time)   { r.b.WriteString(strings.Repeat("#", int(n))) }

var t0 = time.Unix(1795462057, 0)

func TestOrderings(t *testing.T) {
	const msg = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	type seg struct {
		off, end int
	}
	tests := []struct {
		name string
		isn  Seq
		segs []seg
	}{
		{"in order", 1000, []seg{{0, 10}, {10, 20}, {20, len(msg)}}},
		{"reversed", 1000, []seg{{20, len(msg)}, {10, 20}, {0, 10}}},
		{"retransmitted", 1000, []seg{{0, 10}, {0, 10}, {10, 20}, {0, 20}, {20, len(msg)}, {20, len(msg)}}},
		{"overlapping", 1000, []seg{{0, 12}, {5, 25}, {20, len(msg)}}},
		{"overlapping early", 1000, []seg{{15, 25}, {20, len(msg)}, {10, 18}, {0, 11}}},
		{"wraparound", 0xffffffff - 10, []seg{{0, 5}, {15, len(msg)}, {5, 15}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Half
			var r rec
			h.Start(tt.isn)
			for _, s := range tt.segs {
				h.Segment(tt.isn+1+Seq(s.off), []byte(msg[s.off:s.end]), false, t0, &r)
			}
			if r.b.String() != msg {
				t.Fatalf("got %q", r.b.String())
			}
			if h.Pending() != 0 {
				t.Fatalf("%d bytes still pending", h.Pending())
			}
		})
	}
}

func TestRandomPermutations(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	msg := strings.Repeat("0123456789abcdef", 64)
	for iter := 0; iter < 500; iter++ {
		isn := Seq(rng.Uint32())
		// Random segments covering the message, with duplicates and
		// overlaps, in random order.
		type seg struct{ off, end int }
		var segs []seg
		for off := 0; off < len(msg); {
			n := 1 + rng.Intn(100)
			end := min(off+n, len(msg))
			segs = append(segs, seg{off, end})
			if rng.Intn(4) == 0 {
				a := rng.Intn(len(msg))
				segs = append(segs, seg{a, min(a+1+rng.Intn(200), len(msg))})
			}
			off = end
		}
		rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
		var h Half
		var r rec
		h.Start(isn)
		for _, s := range segs {
			h.Segment(isn+1+Seq(s.off), []byte(msg[s.off:s.end]), false, t0, &r)
		}
		if r.b.String() != msg {
			t.Fatalf("iteration %d: got %d bytes, want %d", iter, r.b.Len(), len(msg))
		}
	}
}

func TestGapDeclaredByAck(t *testing.T) {
	var h Half
	var r rec
	h.Start(0)
	h.Segment(1, []byte("abc"), false, t0, &r)
	h.Segment(7, []byte("ghi"), false, t0, &r) // "def" never captured
	if got := r.b.String(); got != "abc" {
		t.Fatalf("before ack: %q", got)
	}
	h.Ack(10, t0, &r)
	if got := r.b.String(); got != "abc###ghi" {
		t.Fatalf("after ack: %q", got)
	}
	// The lost segment shows up late: it is old now.
	h.Segment(4, []byte("def"), false, t0, &r)
	h.Segment(10, []byte("jk"), false, t0, &r)
	if got := r.b.String(); got != "abc###ghijk" {
		t.Fatalf("after more: %q", got)
	}
	if h.Stats.GapBytes != 3 {
		t.Fatalf("gap bytes %d", h.Stats.GapBytes)
	}
}

func TestAckPastEverything(t *testing.T) {
	var h Half
	var r rec
	h.Start(100)
	h.Segment(101, []byte("ab"), false, t0, &r)
	h.Ack(110, t0, &r) // 7 bytes never captured, nothing held
	h.Segment(110, []byte("z"), false, t0, &r)
	if got := r.b.String(); got != "ab#######z" {
		t.Fatalf("got %q", got)
	}
}

func TestFlushAndFin(t *testing.T) {
	var h Half
	var r rec
	h.Start(0)
	h.Segment(1, []byte("ab"), false, t0, &r)
	h.Segment(5, []byte("ef"), true, t0, &r) // FIN after "ef"; "cd" lost
	if h.Finished() {
		t.Fatal("finished with bytes missing")
	}
	h.Flush(t0, &r)
	if got := r.b.String(); got != "ab##ef" || !h.Finished() {
		t.Fatalf("got %q finished=%v", got, h.Finished())
	}
}

func TestFinWithoutTailData(t *testing.T) {
	var h Half
	var r rec
	h.Start(0)
	h.Segment(1, []byte("ab"), false, t0, &r)
	h.Segment(6, nil, true, t0, &r) // FIN at 6: "cde" never captured
	h.Flush(t0, &r)
	if got := r.b.String(); got != "ab###" || !h.Finished() {
		t.Fatalf("got %q finished=%v", got, h.Finished())
	}
}

func TestPickupStartsAtFirstSegment(t *testing.T) {
	var h Half
	var r rec
	h.Segment(5000, nil, false, t0, &r) // pure ACK: does not start
	if h.Started() {
		t.Fatal("started on an empty segment")
	}
	h.Segment(7000, []byte("xyz"), false, t0, &r)
	h.Segment(7003, []byte("w"), false, t0, &r)
	if r.b.String() != "xyzw" {
		t.Fatalf("got %q", r.b.String())
	}
}

func TestBoundsDeclareGap(t *testing.T) {
	budget := &Budget{Max: 1 << 20}
	h := Half{MaxPending: 10, Budget: budget}
	var r rec
	h.Start(0)
	h.Segment(1, []byte("a"), false, t0, &r)
	// "b" is lost; the next segments wait until the bound is passed.
	h.Segment(3, []byte("cdefg"), false, t0, &r)
	h.Segment(8, []byte("hijkl"), false, t0, &r)
	if r.b.String() != "a" || budget.Used != 2*SegmentCost(5) {
		t.Fatalf("got %q, budget %d", r.b.String(), budget.Used)
	}
	h.Segment(13, []byte("mn"), false, t0, &r)
	if got := r.b.String(); got != "a#cdefghijklmn" {
		t.Fatalf("got %q", got)
	}
	if budget.Used != 0 || h.Pending() != 0 {
		t.Fatalf("budget %d pending %d", budget.Used, h.Pending())
	}
}

func TestSharedBudget(t *testing.T) {
	budget := &Budget{Max: 2 * SegmentCost(2)}
	var a, b Half
	a.Budget, b.Budget = budget, budget
	var ra, rb rec
	a.Start(0)
	b.Start(0)
	a.Segment(3, []byte("cd"), false, t0, &ra)
	b.Segment(3, []byte("CD"), false, t0, &rb)
	b.Segment(5, []byte("EF"), false, t0, &rb) // over the shared budget
	if rb.b.String() != "##CDEF" {
		t.Fatalf("b got %q", rb.b.String())
	}
	a.Reset()
	if budget.Used != 0 {
		t.Fatalf("budget used %d after reset", budget.Used)
	}
}

// TestTinySegmentFloodStaysInBudget: early 1-byte segments on many
// connections cost their bookkeeping, not one byte each: what the Halves
// hold stays within the shared Budget, and a drained Half lets its grown
// list go.
func TestTinySegmentFloodStaysInBudget(t *testing.T) {
	const max = 4 << 20
	budget := &Budget{Max: max}
	halves := make([]Half, 4096)
	var r discard
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	one := []byte{'x'}
	for i := range halves {
		h := &halves[i]
		h.Budget = budget
		h.Start(0)
		for k := 0; k < DefaultMaxSegments; k++ {
			h.Segment(Seq(2+2*k), one, false, t0, &r) // every other byte missing
		}
	}
	grown := int64(heap() - before)
	if budget.Used > max {
		t.Errorf("budget used %d > %d", budget.Used, max)
	}
	// The halves themselves are 4096 × a few hundred bytes.
	if limit := int64(max + max/4 + len(halves)*512); grown > limit {
		t.Errorf("holding early segments grew the heap by %d bytes, want ≤ %d (budget %d)", grown, limit, max)
	}
	for i := range halves {
		halves[i].Flush(t0, &r)
		if halves[i].Pending() != 0 || cap(halves[i].pending) > keepSlots {
			t.Fatalf("half %d still holds %d bytes in a list of %d slots", i, halves[i].Pending(), cap(halves[i].pending))
		}
	}
	if budget.Used != 0 {
		t.Errorf("budget used %d after flushing", budget.Used)
	}
	runtime.KeepAlive(halves)
}

func TestInOrderDoesNotAllocate(t *testing.T) {
	var h Half
	var r discard
	h.Start(0)
	seq := Seq(1)
	payload := make([]byte, 1400)
	allocs := testing.AllocsPerRun(1000, func() {
		h.Segment(seq, payload, false, t0, r)
		seq += Seq(len(payload))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per in-order segment", allocs)
	}
}

type discard struct{}

func (discard) Data([]byte, time.Time) {}
func (discard) Gap(int64, time.Time)   {}

// FuzzHalf plays segments and acknowledgments of one direction. Ops of
// kind 0-2 carry the message's own bytes at their offsets, and what comes
// out must be those bytes at their places, or gaps. Ops of kind 3-5 are
// hostile: a raw 32-bit sequence or acknowledgment number anywhere in the
// sequence space, with bytes of no message; a segment the Half reports
// outside the window must deliver nothing.
func FuzzHalf(f *testing.F) {
	f.Add([]byte{0, 5, 3, 2, 9, 1}, uint32(0xfffffff0), uint32(0))
	f.Add([]byte{0, 0, 0, 0, 0, 5, 3, 0x80, 0, 0, 0, 4}, uint32(1000), uint32(0))
	f.Add([]byte{4, 0x80, 0, 0, 0, 4, 0, 0, 0, 0, 0, 5}, uint32(7), uint32(65535))
	f.Fuzz(func(t *testing.T, ops []byte, isn uint32, win uint32) {
		budget := &Budget{Max: 1 << 12}
		h := Half{MaxPending: 64, MaxSegments: 8, Budget: budget, Window: int64(win % (2 * MaxWindow))}
		var r capRec // a hostile op may declare a gigabyte lost: not written out
		start := Seq(isn)
		h.Start(start)
		const msg = "abcdefghijklmnopqrstuvwxyz0123456789"
		hostile := false
		for i := 0; i+5 < len(ops); i += 6 {
			kind := ops[i] % 6
			raw := uint32(ops[i+1])<<24 | uint32(ops[i+2])<<16 | uint32(ops[i+3])<<8 | uint32(ops[i+4])
			n := int(ops[i+5] % 16)
			switch kind {
			case 0, 1: // the message's bytes, maybe with a FIN or cut
				off := int(raw % uint32(len(msg)))
				end := min(off+n, len(msg))
				seq := start.Add(1 + int64(off))
				if kind == 1 && end > off {
					cut := (end - off) / 2
					h.SegmentCut(seq, []byte(msg[off:end-cut]), int64(cut), false, t0, &r)
				} else {
					h.Segment(seq, []byte(msg[off:end]), false, t0, &r)
				}
			case 2: // an acknowledgment inside the message
				h.Ack(start.Add(1+int64(raw%uint32(len(msg)+1))), t0, &r)
			case 3, 4: // a hostile segment anywhere
				hostile = true
				before := int64(r.b.Len()) + r.over
				if !h.Segment(start.Add(1).Add(int64(raw)), []byte("!!!!!!!!!!!!!!!!"[:n]), kind == 4, t0, &r) && int64(r.b.Len())+r.over != before {
					t.Fatalf("a segment outside the window delivered %d bytes", int64(r.b.Len())+r.over-before)
				}
			case 5: // a hostile acknowledgment anywhere
				hostile = true
				h.Ack(start.Add(1).Add(int64(raw)), t0, &r)
			}
			if h.Pending() < 0 || budget.Used < 0 || budget.Used > budget.Max {
				t.Fatalf("pending %d, budget %d of %d", h.Pending(), budget.Used, budget.Max)
			}
		}
		h.Flush(t0, &r)
		if h.Pending() != 0 {
			t.Fatalf("%d bytes pending after Flush", h.Pending())
		}
		h.Reset()
		if budget.Used != 0 {
			t.Fatalf("budget used %d after Reset", budget.Used)
		}
		if hostile {
			return
		}
		got := r.b.String()
		for i := 0; i < len(got); i++ {
			if got[i] != '#' && (i >= len(msg) || got[i] != msg[i]) {
				t.Fatalf("byte %d: got %q", i, got)
			}
		}
	})
}

// capRec is rec for gaps of any size: past 64 KiB of output it counts
// instead of writing (the positional check needs no more).
type capRec struct {
	rec
	over int64
}

func (r *capRec) Gap(n int64, ts time.Time) {
	if r.over > 0 || int64(r.b.Len())+n > 1<<16 {
		r.over += n
		return
	}
	r.rec.Gap(n, ts)
}

func (r *capRec) Data(b []byte, ts time.Time) {
	if r.over > 0 || r.b.Len()+len(b) > 1<<16 {
		r.over += int64(len(b))
		return
	}
	r.rec.Data(b, ts)
}

// TestSegmentHalfTheSpaceAway: a segment 2^31 from the next expected byte
// (whose distance, as an int32, cannot be negated) is outside the window:
// counted and skipped, never a panic.
func TestSegmentHalfTheSpaceAway(t *testing.T) {
	for _, isn := range []Seq{0, 1000, 0x7fffffff, 0xffffffff} {
		var h Half
		var r rec
		h.Start(isn)
		h.Segment(isn.Add(1), []byte("GET /"), false, t0, &r)
		for _, off := range []int64{1 << 31, 1<<31 - 1, 1<<31 + 1, 1<<30 + 5, -(1 << 30) - 1} {
			if h.Segment(h.Next().Add(off), []byte("evil"), false, t0, &r) {
				t.Errorf("isn %d: a segment %d bytes away was taken", isn, off)
			}
			// 2^31 and more is behind (RFC 1982 orders the half-way
			// point behind): an old acknowledgment, which does nothing.
			if ahead := off > 0 && off < 1<<31; h.Ack(h.Next().Add(off), t0, &r) == ahead {
				t.Errorf("isn %d: an acknowledgment %d bytes away: taken %v", isn, off, !ahead)
			}
		}
		h.Segment(isn.Add(6), []byte(" HTTP"), false, t0, &r)
		h.Flush(t0, &r)
		if got := r.b.String(); got != "GET / HTTP" {
			t.Errorf("isn %d: got %q", isn, got)
		}
		if h.Stats.OutOfWindow != 7 {
			t.Errorf("isn %d: %d out of window, want 7", isn, h.Stats.OutOfWindow)
		}
	}
}

// TestWindowFromScale: with the window a handshake announced, a segment
// just past it is skipped and one just inside is held.
func TestWindowFromScale(t *testing.T) {
	var h Half
	var r rec
	h.Window = Window(0)
	h.Start(0)
	if h.Segment(Seq(1).Add(65535), []byte("x"), false, t0, &r) {
		t.Fatal("a segment one window ahead was taken")
	}
	if !h.Segment(Seq(1).Add(65534), []byte("y"), false, t0, &r) || h.Pending() != 1 {
		t.Fatal("a segment inside the window was not held")
	}
	if Window(7) != 65535<<7 || Window(20) != 65535<<14 || Window(-1) != 65535 {
		t.Fatalf("Window: %d %d %d", Window(7), Window(20), Window(-1))
	}
}

// TestResyncAfterLostWindow: when more than a window was lost, segments
// and acknowledgments alike, a run of contiguous segments outside the
// window is where the stream went on.
func TestResyncAfterLostWindow(t *testing.T) {
	var h Half
	var r rec
	h.Window = Window(0)
	h.Start(0)
	h.Segment(1, []byte("ab"), false, t0, &r)
	base := Seq(1).Add(100000)
	for i := range int64(resyncRun) {
		h.Segment(base.Add(i), []byte{'0' + byte(i)}, false, t0, &r)
	}
	h.Segment(base.Add(int64(resyncRun)), []byte("z"), false, t0, &r)
	want := "ab" + strings.Repeat("#", 100000-2+resyncRun-1) + string(rune('0'+resyncRun-1)) + "z"
	if got := r.b.String(); got != want {
		t.Fatalf("got %d bytes ending %q, want %d ending %q", len(got), got[max(0, len(got)-4):], len(want), want[len(want)-4:])
	}
	if h.Stats.Resynced != 1 || h.Stats.OutOfWindow != resyncRun {
		t.Fatalf("stats %+v", h.Stats)
	}
}

// TestSnapCutIsAGapAtOnce: the bytes a snap length cut are a gap as soon
// as the bytes before them are delivered, and the FIN is after them.
func TestSnapCutIsAGapAtOnce(t *testing.T) {
	var h Half
	var r rec
	h.Start(0)
	h.SegmentCut(1, []byte("abc"), 4, false, t0, &r)
	if got := r.b.String(); got != "abc####" {
		t.Fatalf("in order: got %q", got)
	}
	// Early and cut, with the FIN after the cut bytes.
	h.SegmentCut(11, []byte("kl"), 3, true, t0, &r)
	if h.FinSeq() != 16 {
		t.Fatalf("FIN at %d, want 16", h.FinSeq())
	}
	h.Segment(8, []byte("hij"), false, t0, &r)
	if got := r.b.String(); got != "abc####hijkl###" || !h.Finished() {
		t.Fatalf("got %q finished=%v", got, h.Finished())
	}
}

func BenchmarkInOrder(b *testing.B) {
	var h Half
	h.Start(0)
	seq := Seq(1)
	payload := make([]byte, 1400)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Segment(seq, payload, false, t0, discard{})
		seq += Seq(len(payload))
	}

}

func TestSegmentCountBound(t *testing.T) {
	h := Half{MaxSegments: 3}
	var r rec
	h.Start(0)
	for i := 5; i >= 2; i-- { // byte 1 ("a") is lost
		h.Segment(Seq(i), []byte{"abcde"[i-1]}, false, t0, &r)
	}
	// Holding a fourth segment passes the bound: the gap before the held
	// ones is declared lost, and "b", arriving after that, is old.
	if got := r.b.String(); got != "##cde" {
		t.Fatalf("got %q", got)
	}
}

// TestTakeAgreesWithSegmentCut feeds the same random segments (in order,
// reordered, retransmitted, empty, with FIN or lost bytes, some outside the
// window) to two halves: one takes them as the TCP table does (TakeNext or
// TakeAck, else SegmentCut), the other by SegmentCut alone. Both deliver
// the same and end in the same state.
func TestTakeAgreesWithSegmentCut(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	payload := []byte(strings.Repeat("abcdefghij", 40))
	taken := 0
	for run := range 300 {
		var a, b Half
		var ra, rb rec
		isn := Seq(rng.Uint32())
		a.Window = int64(1+rng.Intn(3)) * 1000
		b.Window = a.Window
		if run%2 == 0 {
			a.Start(isn)
			b.Start(isn)
		}
		next := 0
		for range 40 {
			off := next
			switch rng.Intn(6) {
			case 0:
				off = rng.Intn(len(payload))
			case 1:
				off = next - rng.Intn(50)
			case 2:
				off = next + rng.Intn(50)
			case 3:
				off = next + rng.Intn(1<<20) // far outside the window
			}
			n := 0
			if rng.Intn(3) > 0 {
				n = rng.Intn(60)
			}
			lo, hi := min(max(off, 0), len(payload)), min(max(off+n, 0), len(payload))
			seg := payload[lo:hi]
			lost := int64(0)
			if rng.Intn(10) == 0 {
				lost = int64(rng.Intn(20))
			}
			fin := rng.Intn(30) == 0
			seq := isn.Add(1 + int64(off))
			okA := true
			switch {
			case len(seg) > 0 && a.TakeNext(seq, len(seg), lost, fin):
				ra.Data(seg, t0)
				taken++
			case len(seg) == 0 && a.TakeAck(seq, lost, fin):
				taken++
			default:
				okA = a.SegmentCut(seq, seg, lost, fin, t0, &ra)
			}
			okB := b.SegmentCut(seq, seg, lost, fin, t0, &rb)
			if okA != okB || ra.b.String() != rb.b.String() || a.next != b.next || a.high != b.high ||
				a.oowRun != b.oowRun || a.Stats != b.Stats || a.finSeen != b.finSeen || len(a.pending) != len(b.pending) {
				t.Fatalf("run %d: segment at %d, %d bytes, lost %d, fin %v: taken %v/%v, state %+v / %+v", run, off, len(seg), lost, fin, okA, okB, a, b)
			}
			if okB && off+len(seg) > next && off <= next {
				next = off + len(seg)
			}
		}
	}
	if taken == 0 {
		t.Fatal("TakeNext and TakeAck never took a segment")
	}
}
