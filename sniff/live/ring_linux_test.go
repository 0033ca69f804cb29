package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakePacket is a packet to put in a fake ring block.
type fakePacket struct {
	sec, nsec uint32
	data      []byte
}

// fakeMac is where a fake packet's frame starts, from its tpacket3_hdr:
// the header and a sockaddr_ll, aligned, as the kernel lays them out.
const fakeMac = 80

// putBlock writes into b (a whole block) what the kernel would: a
// descriptor with status, and the packets, each with its tpacket3_hdr. It
// returns the offsets of the (first 4) packet headers.
func putBlock(b []byte, status uint32, pkts ...fakePacket) (offs [4]int) {
	clear(b)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], 3) // version
	ne.PutUint32(b[bdStatus:], status)
	ne.PutUint32(b[bdNumPkts:], uint32(len(pkts)))
	ne.PutUint32(b[bdFirstPkt:], bdHeaderSize)
	off := bdHeaderSize
	for i, p := range pkts {
		if i < len(offs) {
			offs[i] = off
		}
		next := (fakeMac + len(p.data) + 7) &^ 7
		if i == len(pkts)-1 {
			next = 0
		}
		ne.PutUint32(b[off:], uint32(next))
		ne.PutUint32(b[off+4:], p.sec)
		ne.PutUint32(b[off+8:], p.nsec)
		ne.PutUint32(b[off+12:], uint32(len(p.data))) // snaplen
		ne.PutUint32(b[off+16:], uint32(len(p.data))) // len
		ne.PutUint16(b[off+24:], fakeMac)             // mac
		ne.PutUint16(b[off+26:], fakeMac)             // net
		copy(b[off+fakeMac:], p.data)
		off += next
	}
	return
}

// walked is what a walk over a block handed over.
type walked struct {
	pkts []fakePacket
	bad  bool
}

// walkAll walks block b to its end.
func walkAll(t *testing.T, b []byte) walked {
	t.Helper()
	var w blockWalker
	var got walked
	w.reset(b)
	for i := 0; ; i++ {
		if i > len(b) {
			t.Fatal("walk does not end")
		}
		sec, nsec, frame, ok := w.next()
		if !ok {
			break
		}
		if cap(frame) != len(frame) {
			t.Errorf("frame capacity %d, length %d: the handler could append into the ring", cap(frame), len(frame))
		}
		got.pkts = append(got.pkts, fakePacket{sec, nsec, bytes.Clone(frame)})
	}
	got.bad = w.bad
	return got
}

// threePackets are the packets of the test blocks.
var threePackets = []fakePacket{
	{1700000000, 1, []byte("first packet")},
	{1700000000, 2, bytes.Repeat([]byte{0x45}, 1500)},
	{1700000001, 999999999, []byte("third")},
}

func checkWalk(t *testing.T, got walked, want []fakePacket, bad bool) {
	t.Helper()
	if got.bad != bad {
		t.Errorf("bad = %v; want %v", got.bad, bad)
	}
	if len(got.pkts) != len(want) {
		t.Fatalf("%d packets handed over; want %d", len(got.pkts), len(want))
	}
	for i, p := range got.pkts {
		if p.sec != want[i].sec || p.nsec != want[i].nsec || !bytes.Equal(p.data, want[i].data) {
			t.Errorf("packet %d: %d.%09d %q; want %d.%09d %q", i, p.sec, p.nsec, p.data, want[i].sec, want[i].nsec, want[i].data)
		}
	}
}

func TestBlockWalker(t *testing.T) {
	const bs = 4096
	ne := binary.NativeEndian
	b := make([]byte, bs)

	t.Run("Sound", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER, threePackets...)
		checkWalk(t, walkAll(t, b), threePackets, false)
	})
	t.Run("Empty", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER)
		checkWalk(t, walkAll(t, b), nil, false)
	})
	// A next offset that points outside the block: the packets up to it
	// are handed over, the rest of the block is skipped.
	t.Run("NextOutside", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[offs[1]:], 0xfffffff0)
		checkWalk(t, walkAll(t, b), threePackets[:2], true)
	})
	// A next offset of 0 (or shorter than a header) before the last
	// packet would loop over the same packet.
	t.Run("NextZero", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[offs[0]:], 0)
		checkWalk(t, walkAll(t, b), threePackets[:1], true)
	})
	t.Run("NextUnaligned", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[offs[0]:], uint32(offs[1]-offs[0]+2))
		checkWalk(t, walkAll(t, b), threePackets[:1], true)
	})
	// A header that starts in the block but does not end in it.
	t.Run("HeaderCut", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[offs[1]:], uint32(bs-offs[1]-8))
		checkWalk(t, walkAll(t, b), threePackets[:2], true)
	})
	// More packets counted than there are: the last one's next offset
	// is 0.
	t.Run("NumPktsTooBig", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[bdNumPkts:], 0xffffffff)
		checkWalk(t, walkAll(t, b), threePackets, true)
	})
	t.Run("SnaplenOutside", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[offs[1]+12:], 0xffffffff)
		checkWalk(t, walkAll(t, b), threePackets[:1], true)
	})
	t.Run("MacOutside", func(t *testing.T) {
		offs := putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint16(b[offs[2]+24:], 0xffff)
		checkWalk(t, walkAll(t, b), threePackets[:2], true)
	})
	t.Run("FirstOutside", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[bdFirstPkt:], bs)
		checkWalk(t, walkAll(t, b), nil, true)
	})
	t.Run("FirstInDescriptor", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER, threePackets...)
		ne.PutUint32(b[bdFirstPkt:], 8)
		checkWalk(t, walkAll(t, b), nil, true)
	})
	t.Run("NoAllocation", func(t *testing.T) {
		putBlock(b, unix.TP_STATUS_USER, threePackets...)
		var w blockWalker
		n := 0
		allocs := testing.AllocsPerRun(100, func() {
			w.reset(b)
			for {
				_, _, frame, ok := w.next()
				if !ok {
					break
				}
				n += len(frame)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per block", allocs)
		}
	})
}

// FuzzBlockWalker checks that no block content makes the walker read
// outside the block or loop.
func FuzzBlockWalker(f *testing.F) {
	b := make([]byte, 4096)
	putBlock(b, unix.TP_STATUS_USER, threePackets...)
	f.Add(b[:512])
	f.Fuzz(func(t *testing.T, data []byte) {
		var w blockWalker
		w.reset(data)
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("walk does not end")
			}
			if _, _, _, ok := w.next(); !ok {
				break
			}
		}
	})
}

// fakeRing returns a ring of nb blocks of bs bytes in ordinary memory,
// all the kernel's, whose socket is the read end of a pipe: writing to
// the write end (returned) wakes a wait, as the kernel does when it
// retires a block.
func fakeRing(t *testing.T, nb, bs int) (*ring, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	conn, err := pr.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	conn.Control(func(f uintptr) { fd = int(f) }) // not pr.Fd(): that makes it blocking
	r := &ring{file: pr, conn: conn, fd: fd, mem: make([]byte, nb*bs), bs: bs, nb: nb}
	r.check = r.checkBlock
	return r, pw
}

// recorder is a Handler that records what it is handed.
type recorder struct {
	pkts    []fakePacket
	ticks   int
	onPkt   func(n int) // called after each packet with the count so far
	onTick  func(n int) // called after each tick with the count so far
	noAlloc bool        // do not record the packets
}

func (h *recorder) Packet(ts time.Time, frame []byte) {
	if !h.noAlloc {
		h.pkts = append(h.pkts, fakePacket{uint32(ts.Unix()), uint32(ts.Nanosecond()), bytes.Clone(frame)})
	}
	if h.onPkt != nil {
		h.onPkt(len(h.pkts))
	}
}

func (h *recorder) Tick(now time.Time) {
	h.ticks++
	if h.onTick != nil {
		h.onTick(h.ticks)
	}
}

// testConfig is the configuration of the fake-ring tests.
var testConfig = Config{BlockSize: 4096, NumBlocks: 4}.withDefaults()

// at returns a fake packet timestamped t.
func at(t time.Time, data string) fakePacket {
	return fakePacket{uint32(t.Unix()), uint32(t.Nanosecond()), []byte(data)}
}

// TestRunFakeRing runs Run over a ring in ordinary memory: it walks the
// blocks the kernel handed over in order, gives them back, skips a corrupt
// one, waits, ticks, and on the stop drains the block that comes late.
func TestRunFakeRing(t *testing.T) {
	r, wake := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	s := &Source{cfg: testConfig, ring: r, name: "fake"}
	past := time.Now().Add(-time.Second)
	blk := func(i int) []byte { return r.mem[i*r.bs : (i+1)*r.bs] }
	// Blocks 0 and 1 handed over (1 corrupt after its first packet);
	// block 2 comes after the stop, with a packet from before the stop
	// and one from after it.
	putBlock(blk(0), unix.TP_STATUS_USER, at(past, "a"), at(past, "b"))
	offs := putBlock(blk(1), unix.TP_STATUS_USER, at(past, "c"), at(past, "lost"))
	binary.NativeEndian.PutUint32(blk(1)[offs[0]:], 1)
	ctx, cancel := context.WithCancel(context.Background())
	h := &recorder{}
	h.onPkt = func(n int) {
		if n != 3 {
			return
		}
		// After "c": stop, and the kernel retires block 2 a little
		// later (within the drain's wait), with a packet captured
		// before the stop and one after it.
		before := time.Now()
		cancel()
		go func() {
			time.Sleep(testConfig.BlockTimeout)
			// Run reads the status word meanwhile (handOver).
			handOver(r, 2, at(before, "d"), at(time.Now().Add(time.Hour), "after"))
			wake.Write([]byte{0})
		}()
	}
	done := make(chan error)
	go func() { done <- s.Run(ctx, h) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	var got []string
	for _, p := range h.pkts {
		got = append(got, string(p.data))
	}
	if got, want := strings.Join(got, " "), "a b c d"; got != want {
		t.Errorf("handed over %q; want %q", got, want)
	}
	if h.pkts[0].sec != uint32(past.Unix()) || h.pkts[0].nsec != uint32(past.Nanosecond()) {
		t.Errorf("timestamp %d.%09d; want %d.%09d", h.pkts[0].sec, h.pkts[0].nsec, past.Unix(), past.Nanosecond())
	}
	if got := s.packets.Load(); got != 4 {
		t.Errorf("Packets = %d; want 4", got)
	}
	if got := r.corrupt.Load(); got != 1 {
		t.Errorf("%d corrupt blocks counted; want 1", got)
	}
	for i, want := range []uint32{unix.TP_STATUS_KERNEL, unix.TP_STATUS_KERNEL, unix.TP_STATUS_USER} {
		if st := atomic.LoadUint32(r.status(i)); st != want {
			t.Errorf("block %d status %d; want %d", i, st, want)
		}
	}
	if r.cur != 2 {
		t.Errorf("current block %d; want 2", r.cur)
	}
}

// TestRunFakeRingIdle: without blocks Run keeps ticking (every
// PollTimeout), and after the stop returns. It waits for the ticks rather
// than timing them: a loaded machine may delay any of them.
func TestRunFakeRingIdle(t *testing.T) {
	r, _ := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	s := &Source{cfg: testConfig, ring: r, name: "fake"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stopped time.Time
	h := &recorder{onTick: func(n int) {
		if n == 5 {
			stopped = time.Now()
			cancel()
		}
	}}
	if err := s.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	if h.ticks < 5 {
		t.Fatalf("Run returned after %d ticks (a minute passed without five)", h.ticks)
	}
	if el := time.Since(stopped); el > 10*time.Second {
		t.Errorf("Run returned %v after the stop", el)
	}
}

// TestRunFakeRingWrap: Run goes round the ring, block after block,
// without allocating per block or per packet.
func TestRunFakeRingWrap(t *testing.T) {
	r, _ := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	s := &Source{cfg: testConfig, ring: r, name: "fake"}
	past := time.Now().Add(-time.Second)
	pkts := []fakePacket{at(past, "x"), at(past, "y"), at(past, "z")}
	const rounds = 200
	blocks := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &recorder{noAlloc: true}
	fill := func(i int) {
		putBlock(r.mem[i*r.bs:(i+1)*r.bs], unix.TP_STATUS_USER, pkts...)
	}
	n := 0
	h.onPkt = func(int) {
		// At the last packet of a block, the kernel fills the block
		// before it (which Run gave back): Run never waits.
		if n++; n%3 != 0 {
			return
		}
		if blocks++; blocks >= rounds*r.nb {
			cancel() // Run drains the blocks that are ready
			return
		}
		fill((r.cur + r.nb - 1) % r.nb)
	}
	for i := range r.nb - 1 {
		fill(i)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if err := s.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	// The blocks filled before the stop: nb-1 at first, then one per
	// block read but the last.
	if want := 3 * (r.nb - 1 + rounds*r.nb - 1); n != want {
		t.Errorf("%d packets; want %d", n, want)
	}
	// Run itself allocates a little (the stop's AfterFunc, the wait's
	// deadline); not per block.
	if allocs := m1.Mallocs - m0.Mallocs; allocs > 20 {
		t.Errorf("%d allocations for %d blocks", allocs, blocks)
	}
}

// handOver fills block i of r with pkts while a wait may be reading its
// status word, as the kernel does: the rest of the block first, then the
// status, atomically.
func handOver(r *ring, i int, pkts ...fakePacket) {
	tmp := make([]byte, r.bs)
	putBlock(tmp, 0, pkts...)
	b := r.mem[i*r.bs : (i+1)*r.bs]
	copy(b[:bdStatus], tmp)
	copy(b[bdStatus+4:], tmp[bdStatus+4:])
	atomic.StoreUint32(r.status(i), unix.TP_STATUS_USER)
}

// TestWaitDirect: a direct wait returns at once for a block that is
// there, wakes for one handed over while it waits, times out (and stops
// the flow) when none comes, and leaves the rest of its wait to the
// netpoller when woken without a block, rather than spin.
func TestWaitDirect(t *testing.T) {
	r, wake := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	past := time.Now().Add(-time.Second)
	blk := func(i int) []byte { return r.mem[i*r.bs : (i+1)*r.bs] }

	putBlock(blk(0), unix.TP_STATUS_USER, at(past, "a"))
	r.flowing = true
	if err := r.waitDirect(time.Second); err != nil || !r.flowing {
		t.Fatalf("block there: %v, flowing %v; want nil, true", err, r.flowing)
	}
	r.release()

	// Handed over while the wait is in ppoll.
	go func() {
		time.Sleep(20 * time.Millisecond)
		handOver(r, 1, at(past, "b"))
		wake.Write([]byte{0})
	}()
	start := time.Now()
	if err := r.waitDirect(10 * time.Second); err != nil || !r.ready() {
		t.Fatalf("block handed over: %v, ready %v; want nil, true", err, r.ready())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("woken after %v", el)
	}
	r.release()

	// The pipe stays readable (nothing reads the wake byte): woken
	// without a block, the wait goes on in the netpoller until its end.
	const d = 60 * time.Millisecond
	start = time.Now()
	err := r.waitDirect(d)
	if !errors.Is(err, os.ErrDeadlineExceeded) || r.flowing {
		t.Fatalf("no block: %v, flowing %v; want a deadline error, false", err, r.flowing)
	}
	if el := time.Since(start); el < d {
		t.Errorf("returned after %v; want %v", el, d)
	}
	if n := r.directWaits.Load(); n != 3 {
		t.Errorf("%d direct waits counted; want 3", n)
	}

	// With no wake-up at all, the direct wait times out by itself.
	r2, _ := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	r2.flowing = true
	start = time.Now()
	if err := r2.waitDirect(d); !errors.Is(err, os.ErrDeadlineExceeded) || r2.flowing {
		t.Fatalf("quiet: %v, flowing %v; want a deadline error, false", err, r2.flowing)
	}
	if el := time.Since(start); el < d {
		t.Errorf("quiet: returned after %v; want %v", el, d)
	}
}

// TestWaitChoosesDirect: the first wait, and any after one that timed
// out, is in the netpoller; while blocks come, waits are direct, but only
// when a single capture runs and there is a second P.
func TestWaitChoosesDirect(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	r, wake := fakeRing(t, testConfig.NumBlocks, testConfig.BlockSize)
	past := time.Now().Add(-time.Second)
	hand := func(i int) {
		time.Sleep(5 * time.Millisecond)
		handOver(r, i, at(past, "x"))
		wake.Write([]byte{0})
	}
	runningSources.Add(1)
	defer runningSources.Add(-1)
	go hand(0)
	if err := r.wait(time.Minute); err != nil || r.directWaits.Load() != 0 || !r.flowing {
		t.Fatalf("first wait: %v, %d direct, flowing %v; want nil, 0, true", err, r.directWaits.Load(), r.flowing)
	}
	r.release()
	// The fake's pipe stays readable, so this direct wait is woken
	// at once and goes on in the netpoller, where the next block wakes it.
	go hand(1)
	if err := r.wait(time.Minute); err != nil || r.directWaits.Load() != 1 {
		t.Fatalf("second wait: %v, %d direct; want nil, 1", err, r.directWaits.Load())
	}
	r.release()
	runningSources.Add(1) // another capture runs: netpoller only
	go hand(2)
	err := r.wait(time.Minute)
	runningSources.Add(-1)
	if err != nil || r.directWaits.Load() != 1 {
		t.Fatalf("two captures: %v, %d direct; want nil, 1", err, r.directWaits.Load())
	}
	r.release()
	if err := r.wait(10 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) || r.flowing {
		t.Fatalf("no block: %v, flowing %v", err, r.flowing)
	}
	if r.directWaits.Load() != 2 {
		t.Fatalf("%d direct waits; want 2", r.directWaits.Load())
	}
	before := r.directWaits.Load()
	if err := r.wait(10 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) || r.directWaits.Load() != before {
		t.Fatalf("after a timeout: %v, %d direct; want the netpoller", err, r.directWaits.Load())
	}
}
