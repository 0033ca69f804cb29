package sniff_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// These tests feed hostile traffic through the whole engine with its default
// bounds and check that memory stays under a cap while the entries that
// should appear do. Memory is the Go heap in use after a collection, sampled
// while the traffic flows.

// frame builds one Ethernet frame.
// SYNs carry a window scale option of 7, as Linux's do.
func frame(src, dst netip.AddrPort, seq, ack uint32, flags decode.Flags, payload []byte) []byte {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	c.TCP(t0, src, dst, seq, ack, flags, payload)
	return c.Frames()[0]
}

// heap samples the heap in use.
type heap struct{ max uint64 }

func (h *heap) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapInuse > h.max {
		h.max = m.HeapInuse
	}
}

func (h *heap) check(t *testing.T, limit uint64) {
	t.Helper()
	t.Logf("peak heap in use: %.1f MiB", float64(h.max)/(1<<20))
	if h.max > limit {
		t.Errorf("peak heap in use %.1f MiB, over the %.0f MiB cap", float64(h.max)/(1<<20), float64(limit)/(1<<20))
	}
}

// entries counts entries and keeps the last one's rendering.
type entries struct {
	n    int
	last string
	fmt  func(e *entry.Entry) string
}

func (c *entries) emit(e *entry.Entry) {
	c.n++
	if c.fmt != nil {
		c.last = c.fmt(e)
	}
}

func TestSYNFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var got entries
	eng := sniff.New(sniff.Config{Emit: got.emit})
	var h heap
	h.sample()
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	const n = 100000
	ts := t0
	for i := 0; i < n; i++ {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		eng.Packet(layers.LinkTypeEthernet, ts, frame(cl, srv, uint32(i)*7919, 0, decode.SYN, nil))
		ts = ts.Add(time.Microsecond)
		if i%20000 == 0 {
			h.sample()
		}
	}
	h.sample()
	eng.Finish()
	h.check(t, 64<<20)
	if got.n != n {
		t.Errorf("%d entries for %d half-open connections", got.n, n)
	}
	if s := eng.Stats(); s.Evicted != n-sniff.DefaultMaxConns {
		t.Errorf("evicted %d, want %d", s.Evicted, n-sniff.DefaultMaxConns)
	}
}

// streamTo plays a response of total bytes, produced by next in segments of
// up to 60000 bytes, on one connection.
func hugeResponse(t *testing.T, eng *sniff.Engine, head string, body func(off int64, b []byte) int, total int64, h *heap) {
	cl, srv := cli4, srv4
	var ts = t0
	pkt := func(fromClient bool, seq, ack uint32, flags decode.Flags, p []byte) {
		src, dst := cl, srv
		if !fromClient {
			src, dst = srv, cl
		}
		eng.Packet(layers.LinkTypeEthernet, ts, frame(src, dst, seq, ack, flags, p))
		ts = ts.Add(10 * time.Microsecond)
	}
	cseq, sseq := uint32(100), uint32(1<<31)
	pkt(true, cseq, 0, decode.SYN, nil)
	pkt(false, sseq, cseq+1, decode.SYN|decode.ACK, nil)
	cseq++
	sseq++
	pkt(true, cseq, sseq, decode.ACK, nil)
	req := get("/huge")
	pkt(true, cseq, sseq, decode.PSH|decode.ACK, req)
	cseq += uint32(len(req))
	pkt(false, sseq, cseq, decode.PSH|decode.ACK, []byte(head))
	sseq += uint32(len(head))
	buf := make([]byte, 60000)
	var off int64
	for i := 0; off < total; i++ {
		n := body(off, buf[:min(int64(len(buf)), total-off)])
		pkt(false, sseq, cseq, decode.ACK, buf[:n])
		sseq += uint32(n)
		off += int64(n)
		if i%4000 == 0 {
			h.sample()
		}
	}
	pkt(true, cseq, sseq, decode.FIN|decode.ACK, nil)
	pkt(false, sseq, cseq+1, decode.FIN|decode.ACK, nil)
	pkt(true, cseq+1, sseq+1, decode.ACK, nil)
}

func TestGigabyteChunkedBody(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	// 1 GiB of body in chunks of 0x8000 bytes, sent as it comes.
	const chunk = 0x8000
	const chunks = 1 << 30 / chunk
	unit := "8000\r\n" + strings.Repeat("z", chunk) + "\r\n"
	stream := strings.Repeat(unit, 1) // one chunk with its framing
	total := int64(len(stream))*chunks + int64(len("0\r\n\r\n"))
	body := func(off int64, b []byte) int {
		for i := range b {
			o := off + int64(i)
			if o >= total-5 {
				b[i] = "0\r\n\r\n"[o-(total-5)]
			} else {
				b[i] = stream[o%int64(len(stream))]
			}
		}
		return len(b)
	}
	got := entries{fmt: func(e *entry.Entry) string {
		return fmt.Sprintf("%s %d %d %v", e.Annotation, e.Response.Size, len(e.Response.Bytes), e.Response.BytesTruncated)
	}}
	// The format prints bodies: they are kept, up to the 1 MiB default.
	eng := sniff.New(sniff.Config{Emit: got.emit, KeepBodies: true})
	var h heap
	head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	hugeResponse(t, eng, head, body, total, &h)
	eng.Finish()
	h.check(t, 64<<20)
	want := fmt.Sprintf("unique %d %d true", int64(len(head))+total, len(head)+sniff.DefaultBodyCap)
	if got.n != 1 || got.last != want {
		t.Errorf("%d entries, last %q, want %q", got.n, got.last, want)
	}
}

func TestHeaderThatNeverEnds(t *testing.T) {
	got := entries{fmt: func(e *entry.Entry) string {
		return fmt.Sprintf("%s %d %d %d %v", e.Annotation, e.Response.Size, len(e.Response.Bytes), e.Response.HeaderLen, e.Response.HeadTruncated)
	}}
	eng := sniff.New(sniff.Config{Emit: got.emit})
	var h heap
	head := "HTTP/1.1 200 OK\r\nX-Endless: "
	const total = 200 << 20
	body := func(off int64, b []byte) int {
		for i := range b {
			b[i] = 'a'
		}
		return len(b)
	}
	hugeResponse(t, eng, head, body, total, &h)
	eng.Finish()
	h.check(t, 32<<20)
	want := fmt.Sprintf("unique %d %d -1 true", len(head)+total, sniff.DefaultHeaderCap)
	if got.n != 1 || got.last != want {
		t.Errorf("%d entries, last %q, want %q", got.n, got.last, want)
	}
}

func TestTinyOutOfOrderFlood(t *testing.T) {
	got := entries{fmt: func(e *entry.Entry) string {
		return fmt.Sprintf("%s %s %d %v", e.Annotation, e.Request.Bytes[:min(len(e.Request.Bytes), 12)], e.Request.Size, e.Gap)
	}}
	eng := sniff.New(sniff.Config{Emit: got.emit})
	var h heap
	h.sample()
	ts := t0
	pkt := func(src, dst netip.AddrPort, seq, ack uint32, flags decode.Flags, p []byte) {
		eng.Packet(layers.LinkTypeEthernet, ts, frame(src, dst, seq, ack, flags, p))
		ts = ts.Add(time.Microsecond)
	}
	pkt(cli4, srv4, 0, 0, decode.SYN, nil)
	pkt(srv4, cli4, 0, 1, decode.SYN|decode.ACK, nil)
	pkt(cli4, srv4, 1, 1, decode.ACK, nil)
	req := []byte("POST /flood HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")
	pkt(cli4, srv4, 1, 1, decode.ACK, req)
	// Byte 0 of the body never arrives; a million one-byte segments after
	// it do, last first (the worst order for the waiting list).
	base := uint32(1 + len(req))
	const n = 1000000
	one := []byte{'q'}
	for i := n - 1; i >= 1; i-- {
		pkt(cli4, srv4, base+uint32(i), 1, decode.ACK, one)
		if i%200000 == 0 {
			h.sample()
		}
	}
	pkt(cli4, srv4, base+n, 1, decode.FIN|decode.ACK, nil)
	pkt(srv4, cli4, 1, base+n+1, decode.FIN|decode.ACK, nil)
	pkt(cli4, srv4, base+n+1, 2, decode.ACK, nil)
	eng.Finish()
	h.check(t, 64<<20)
	want := fmt.Sprintf("unique POST /flood  %d true", len(req)+n)
	if got.n != 1 || got.last != want {
		t.Errorf("%d entries, last %q, want %q", got.n, got.last, want)
	}
}

// Many connections that each send a head that never ends: together they may
// not hold more than MaxKept bytes, while every entry keeps its true size.
func TestKeptBytesBoundedAcrossConnections(t *testing.T) {
	const maxKept = 1 << 20
	var sizes []int64
	eng := sniff.New(sniff.Config{MaxKept: maxKept, Emit: func(e *entry.Entry) { sizes = append(sizes, e.Request.Size) }})
	head := []byte("GET / HTTP/1.1\r\nX-Endless: ")
	filler := []byte(strings.Repeat("a", 8000))
	const conns = 200
	ts := t0
	var peak int64
	for i := 0; i < conns; i++ {
		cl := netip.AddrPortFrom(cli4.Addr(), uint16(20000+i))
		eng.Packet(layers.LinkTypeEthernet, ts, frame(cl, srv4, 0, 0, decode.SYN, nil))
		eng.Packet(layers.LinkTypeEthernet, ts, frame(cl, srv4, 1, 0, decode.ACK, head))
		seq := uint32(1 + len(head))
		for k := 0; k < 8; k++ {
			eng.Packet(layers.LinkTypeEthernet, ts, frame(cl, srv4, seq, 0, decode.ACK, filler))
			seq += uint32(len(filler))
			peak = max(peak, eng.KeptBytes())
		}
		ts = ts.Add(time.Millisecond)
	}
	eng.Finish()
	if peak > maxKept {
		t.Errorf("message buffers reached %d bytes, over MaxKept %d", peak, maxKept)
	}
	if len(sizes) != conns {
		t.Fatalf("%d entries, want %d", len(sizes), conns)
	}
	for _, s := range sizes {
		if s != int64(len(head)+8*len(filler)) {
			t.Fatalf("an entry's size is %d, want %d", s, len(head)+8*len(filler))
		}
	}
}

// worstTraffic yields traffic that presses on every budget of the engine's
// defaults at once, on a full connection table (DefaultMaxConns
// connections, all left open), a quarter of the connections each:
//   - a header that never ends (70 000 bytes and counting): kept bytes;
//   - 200 pipelined requests no server answers: waiting exchanges;
//   - 100 one-byte segments behind a one-byte gap: out-of-order bytes;
//   - a 64 KiB upload, kept when the format prints bodies: kept bytes.
//
// Frames are built one connection at a time and yielded with their
// timestamps, so that a caller can stream them into an engine or a file
// without holding them.
func worstTraffic(yield func(ts time.Time, frame []byte)) {
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	endless := []byte("GET /endless HTTP/1.1\r\nX-Endless: " + strings.Repeat("a", 35000))
	more := []byte(strings.Repeat("a", 35000))
	pipelined := []byte(strings.Repeat("GET /p HTTP/1.1\r\n\r\n", 200))
	upload := []byte("POST /up HTTP/1.1\r\nContent-Length: 65536\r\n\r\n")
	half := []byte(strings.Repeat("u", 32768))
	one := []byte{'o'}
	ts := t0
	for i := 0; i < sniff.DefaultMaxConns; i++ {
		c := pcaptest.New(layers.LinkTypeEthernet)
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)}), uint16(1024+i))
		f := c.Flow(cl, srv, ts)
		f.Step = time.Microsecond
		f.Handshake()
		switch i % 4 {
		case 0:
			f.ClientSend(endless)
			f.ClientSend(more)
		case 1:
			f.ClientSend(pipelined)
		case 2:
			for k := uint32(0); k < 100; k++ {
				f.Segment(true, 1+2*k, one, decode.PSH|decode.ACK)
			}
		case 3:
			f.ClientSend(upload)
			f.ClientSend(half)
			f.ClientSend(half)
		}
		for _, fr := range c.Frames() {
			yield(ts, fr)
			ts = ts.Add(time.Microsecond)
		}
	}
}

// TestEveryBudgetAtOnce: with every default bound and a format that keeps
// bodies, traffic that fills every budget at once keeps the heap within
// what the bounds add up to (about 150 MiB: the connections, 64 MiB of
// kept bytes, 32 MiB of early segments, the waiting exchanges), and every
// connection gets its entries.
func TestEveryBudgetAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var got entries
	eng := sniff.New(sniff.Config{Emit: got.emit, KeepBodies: true})
	var h heap
	n := 0
	worstTraffic(func(ts time.Time, fr []byte) {
		eng.Packet(layers.LinkTypeEthernet, ts, fr)
		if n++; n%50000 == 0 {
			h.sample()
		}
	})
	h.sample()
	st := eng.Stats()
	t.Logf("%d frames, kept %d MiB, %d entries so far, stats %+v", n, eng.KeptBytes()>>20, got.n, st)
	if kept := eng.KeptBytes(); kept > sniff.DefaultMaxKept {
		t.Errorf("kept %d bytes, over the %d budget", kept, sniff.DefaultMaxKept)
	}
	eng.Finish()
	h.check(t, 192<<20)
	// Each connection prints at least one entry; the pipelined ones 200.
	if want := sniff.DefaultMaxConns / 4 * (3 + 200); got.n != want {
		t.Errorf("%d entries, want %d", got.n, want)
	}
	if st.Connections != sniff.DefaultMaxConns || st.Evicted != 0 {
		t.Errorf("connections %d, evicted %d", st.Connections, st.Evicted)
	}
}
