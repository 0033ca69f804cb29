package sniff_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// loadCapture returns the frames of a capture: the file named by
// SNIFFER_BENCH_PCAP (for instance one written by bench/mkcapture.sh from
// nginx and wrk), or a synthetic one shaped like it: conns keep-alive
// connections of reqs requests each, interleaved.
func loadCapture(b *testing.B, conns, reqs int) (frames [][]byte, ts []time.Time, link layers.LinkType) {
	data := syntheticCapture(conns, reqs)
	if path := os.Getenv("SNIFFER_BENCH_PCAP"); path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
	r, err := capfile.NewReader(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), p.Data...))
		ts = append(ts, p.Timestamp)
		link = p.LinkType
	}
	return frames, ts, link
}

// syntheticCapture plays conns connections, each with reqs GETs answered by
// small responses, the connections' packets interleaved round-robin.
func syntheticCapture(conns, reqs int) []byte {
	c := pcaptest.New(layers.LinkTypeEthernet)
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	flows := make([]*pcaptest.Flow, conns)
	start := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	for i := range flows {
		cl := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
		flows[i] = c.Flow(cl, srv, start.Add(time.Duration(i)*time.Microsecond))
		flows[i].Handshake()
	}
	body := bytes.Repeat([]byte("x"), 612) // nginx's default index.html size
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: %d\r\nLast-Modified: Mon, 23 Nov 2026 18:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6560a1a0-264\"\r\nAccept-Ranges: bytes\r\n\r\n%s", len(body), body))
	req := []byte("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	for r := 0; r < reqs; r++ {
		for _, f := range flows {
			f.ClientSend(req)
			f.ServerSend(resp)
			f.Ack(true)
		}
	}
	for _, f := range flows {
		f.Close(true)
	}
	return c.Pcap()
}

// BenchmarkEngine runs a capture through the whole engine (decode, TCP,
// HTTP, entries) and renders each entry with the default format into a
// reused buffer, as the command does. It reports packets per second and
// allocations per packet.
func BenchmarkEngine(b *testing.B) {
	frames, ts, link := loadCapture(b, 200, 50)
	f, err := logformat.Parse(logformat.Default)
	if err != nil {
		b.Fatal(err)
	}
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	var out []byte
	entries := 0
	cfg := sniff.Config{Emit: func(e *entry.Entry) {
		out = f.Append(out[:0], e, opts)
		entries++
	}}
	var bytesIn int64
	for _, fr := range frames {
		bytesIn += int64(len(fr))
	}
	b.SetBytes(bytesIn)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eng := sniff.New(cfg)
		for j, fr := range frames {
			eng.Packet(link, ts[j], fr)
		}
		eng.Finish()
	}
	b.StopTimer()
	pkts := float64(len(frames)) * float64(b.N)
	b.ReportMetric(pkts/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
}

// TestSteadyStateDoesNotAllocate checks that once connections are open,
// in-order keep-alive traffic allocates nothing per packet.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	data := syntheticCapture(20, 60)
	r, err := capfile.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var ts []time.Time
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		frames = append(frames, append([]byte(nil), p.Data...))
		ts = append(ts, p.Timestamp)
	}
	f, _ := logformat.Parse(logformat.Default)
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { out = f.Append(out[:0], e, opts) }})
	// Warm up: the handshakes and the first ten exchanges of every
	// connection.
	warm := 3*20 + 10*3*20
	for i := 0; i < warm; i++ {
		eng.Packet(layers.LinkTypeEthernet, ts[i], frames[i])
	}
	i := warm
	steady := len(frames) - 4*20 - warm // leave the closes out
	// Counted by hand: testing.AllocsPerRun rounds down to whole
	// allocations per call. The strftime library keeps a sync.Pool, which
	// misses (and allocates) when the goroutine moves to another P or a
	// collection empties it: once in about 1 000 runs that made 7
	// allocations, none of them the engine's per packet. One P and no
	// collection while counting keep the count the engine's.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for k := 0; k < steady; k++ {
		eng.Packet(layers.LinkTypeEthernet, ts[i], frames[i])
		i++
	}
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / float64(steady)
	if per > 0.001 {
		t.Fatalf("%.4f allocations per packet over %d packets", per, steady)
	}
}

// TestGenerateMemoryCaptures writes the captures bench/memory.sh measures
// the command's RSS on, into the directory named by SNIFFER_WRITE_CAPTURES
// (it does nothing without it): synflood.pcap, 100 000 SYNs from distinct
// clients; idle10k.pcap, 10 000 keep-alive connections that each serve one
// exchange and stay open.
func TestGenerateMemoryCaptures(t *testing.T) {
	dir := os.Getenv("SNIFFER_WRITE_CAPTURES")
	if dir == "" {
		return
	}
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	syn := pcaptest.New(layers.LinkTypeEthernet)
	ts := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	for i := 0; i < 100000; i++ {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		syn.TCP(ts.Add(time.Duration(i)*time.Microsecond), cl, srv, uint32(i)*7919, 0, decode.SYN, nil)
	}
	syn.WriteFile(t, filepath.Join(dir, "synflood.pcap"))
	idle := pcaptest.New(layers.LinkTypeEthernet)
	for i := 0; i < 10000; i++ {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(1024+i))
		f := idle.Flow(cl, srv, ts.Add(time.Duration(i)*time.Millisecond))
		f.Handshake()
		f.ClientSend(get("/keep"))
		f.ServerSend(ok("alive"))
		f.Ack(true)
	}
	idle.WriteFile(t, filepath.Join(dir, "idle10k.pcap"))

	// worst.pcap: every budget at once (worstTraffic), streamed to the file.
	wf, err := os.Create(filepath.Join(dir, "worst.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	bw := bufio.NewWriterSize(wf, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	worstTraffic(func(ts time.Time, fr []byte) {
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(fr), Length: len(fr)}
		if err == nil {
			err = w.WritePacket(ci, fr)
		}
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
}
