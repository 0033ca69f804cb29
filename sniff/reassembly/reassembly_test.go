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
		isn  uint32
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
				h.Segment(tt.isn+1+uint32(s.off), []byte(msg[s.off:s.end]), false, t0, &r)
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
		isn := rng.Uint32()
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
			h.Segment(isn+1+uint32(s.off), []byte(msg[s.off:s.end]), false, t0, &r)
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
			h.Segment(uint32(2+2*k), one, false, t0, &r) // every other byte missing
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
	seq := uint32(1)
	payload := make([]byte, 1400)
	allocs := testing.AllocsPerRun(1000, func() {
		h.Segment(seq, payload, false, t0, r)
		seq += uint32(len(payload))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per in-order segment", allocs)
	}
}

type discard struct{}

func (discard) Data([]byte, time.Time) {}
func (discard) Gap(int64, time.Time)   {}

func FuzzHalf(f *testing.F) {
	f.Add([]byte{0, 5, 3, 2, 9, 1}, uint32(0xfffffff0))
	f.Fuzz(func(t *testing.T, ops []byte, isn uint32) {
		h := Half{MaxPending: 64}
		var r rec
		h.Start(isn)
		const msg = "abcdefghijklmnopqrstuvwxyz0123456789"
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) % len(msg)
			end := min(off+int(ops[i+1]%16), len(msg))
			if ops[i+1]&0x80 != 0 {
				h.Ack(isn+1+uint32(end), t0, &r)
				continue
			}
			h.Segment(isn+1+uint32(off), []byte(msg[off:end]), false, t0, &r)
		}
		h.Flush(t0, &r)
		got := r.b.String()
		for i := 0; i < len(got); i++ {
			if got[i] != '#' && (i >= len(msg) || got[i] != msg[i]) {
				t.Fatalf("byte %d: got %q", i, got)
			}
		}
	})
}

func BenchmarkInOrder(b *testing.B) {
	var h Half
	h.Start(0)
	seq := uint32(1)
	payload := make([]byte, 1400)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Segment(seq, payload, false, t0, discard{})
		seq += uint32(len(payload))
	}

}

func TestSegmentCountBound(t *testing.T) {
	h := Half{MaxSegments: 3}
	var r rec
	h.Start(0)
	for i := 5; i >= 2; i-- { // byte 1 ("a") is lost
		h.Segment(uint32(i), []byte{"abcde"[i-1]}, false, t0, &r)
	}
	// Holding a fourth segment passes the bound: the gap before the held
	// ones is declared lost, and "b", arriving after that, is old.
	if got := r.b.String(); got != "##cde" {
		t.Fatalf("got %q", got)
	}
}
