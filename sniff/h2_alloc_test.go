package sniff_test

import (
	"bytes"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/h2conn"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/logformat"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var srv80 = netip.MustParseAddrPort("10.0.0.2:80")

// h2Turn is one segment of a synthetic HTTP/2 conversation.
type h2Turn struct {
	fromClient bool
	data       []byte
}

// h2Conversation makes the segments of an h2c connection (prior
// knowledge) carrying rounds rounds of concurrent streams: each round, the
// client sends the HEADERS of concurrent requests in one segment, the
// server answers each with HEADERS and a DATA frame, in reverse order. The
// encoders keep their dynamic tables, as real peers do; every fourth
// response carries gRPC trailers. setup is the number of turns before the
// first round.
func h2Conversation(rounds, concurrent int) (turns []h2Turn, setup int) {
	var cb, sb, hb bytes.Buffer
	cf, sf := http2.NewFramer(&cb, nil), http2.NewFramer(&sb, nil)
	cenc, senc := hpack.NewEncoder(&hb), hpack.NewEncoder(&hb)
	flush := func(fromClient bool, b *bytes.Buffer) {
		turns = append(turns, h2Turn{fromClient, bytes.Clone(b.Bytes())})
		b.Reset()
	}
	block := func(enc *hpack.Encoder, fields ...string) []byte {
		hb.Reset()
		for i := 0; i < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	cb.WriteString(h2conn.Preface)
	cf.WriteSettings()
	flush(true, &cb)
	sf.WriteSettings()
	sf.WriteSettingsAck()
	flush(false, &sb)
	cf.WriteSettingsAck()
	flush(true, &cb)
	setup = len(turns)
	id := uint32(1)
	for r := range rounds {
		ids := make([]uint32, concurrent)
		for i := range ids {
			ids[i] = id
			id += 2
			cf.WriteHeaders(http2.HeadersFrameParam{StreamID: ids[i], EndStream: true, EndHeaders: true,
				BlockFragment: block(cenc, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/item/"+strconv.Itoa(i), "user-agent", "bench/1.0")})
		}
		flush(true, &cb)
		for i := len(ids) - 1; i >= 0; i-- {
			grpc := (r+i)%4 == 0
			sf.WriteHeaders(http2.HeadersFrameParam{StreamID: ids[i], EndHeaders: true,
				BlockFragment: block(senc, ":status", "200", "content-type", "text/plain", "server", "bench")})
			sf.WriteData(ids[i], !grpc, []byte("hello, world\n"))
			if grpc {
				sf.WriteHeaders(http2.HeadersFrameParam{StreamID: ids[i], EndStream: true, EndHeaders: true,
					BlockFragment: block(senc, "grpc-status", "0", "grpc-message", "ok")})
			}
		}
		flush(false, &sb)
	}
	return turns, setup
}

// h2Frames plays the conversation on conns connections, turn by turn
// across them, and returns the frames and the index of the first frame of
// the steady part (after setup+warm turns) and of the close.
func h2Frames(conns, rounds, concurrent, warm int) (frames [][]byte, steady, closing int) {
	turns, setup := h2Conversation(rounds, concurrent)
	c := pcaptest.New(layers.LinkTypeEthernet)
	flows := make([]*pcaptest.Flow, conns)
	for j := range flows {
		flows[j] = c.Flow(netip.AddrPortFrom(cli4.Addr(), uint16(42000+j)), srv80, t0)
		flows[j].Handshake()
	}
	steady = -1
	for i, tr := range turns {
		if i == setup+warm {
			steady = c.Len()
		}
		for _, f := range flows {
			f.Send(tr.fromClient, tr.data)
			f.Ack(!tr.fromClient)
		}
	}
	closing = c.Len()
	for _, f := range flows {
		f.Close(true)
	}
	return c.Frames(), steady, closing
}

const h2AllocFormat = "%connection %stream.id %request.line %response.code %request.header.host %grpc.status %request.size %response.size"

// TestH2SteadyStateDoesNotAllocate: once its buffers have grown, an
// HTTP/2 connection's streams — concurrent, answered out of order, some
// with trailers — allocate nothing per stream or per packet, from the
// frames to the printed entry.
func TestH2SteadyStateDoesNotAllocate(t *testing.T) {
	const conns, rounds, concurrent, warm = 8, 60, 10, 20
	frames, steady, closing := h2Frames(conns, rounds, concurrent, warm)
	f, err := logformat.Parse(h2AllocFormat)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	entries, withHost := 0, 0
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) {
		out = f.Append(out[:0], e, opts)
		entries++
		if bytes.Contains(out, []byte(" example.com ")) {
			withHost++
		}
	}})
	for _, fr := range frames[:steady] {
		eng.Packet(layers.LinkTypeEthernet, t0, fr)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	before0 := entries
	runtime.ReadMemStats(&before)
	for _, fr := range frames[steady:closing] {
		eng.Packet(layers.LinkTypeEthernet, t0, fr)
	}
	runtime.ReadMemStats(&after)
	streams := entries - before0
	if streams < conns*concurrent*(rounds-warm-2) {
		t.Fatalf("%d entries in the steady part, want about %d", streams, conns*concurrent*(rounds-warm))
	}
	if per := float64(after.Mallocs-before.Mallocs) / float64(streams); per > 0.001 {
		t.Fatalf("%.4f allocations per stream over %d streams", per, streams)
	}
	for _, fr := range frames[closing:] {
		eng.Packet(layers.LinkTypeEthernet, t0, fr)
	}
	eng.Finish()
	if want := conns * rounds * concurrent; entries != want || withHost != want {
		t.Fatalf("%d entries (%d with the host from :authority), want %d", entries, withHost, want)
	}
}

// BenchmarkH2Streams measures the engine on HTTP/2 streams, 10 concurrent
// per connection, printed with a log format: one op is one stream.
func BenchmarkH2Streams(b *testing.B) {
	const conns, rounds, concurrent = 4, 50, 10
	frames, _, _ := h2Frames(conns, rounds, concurrent, 0)
	f, _ := logformat.Parse(h2AllocFormat)
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	var bytesIn int64
	for _, fr := range frames {
		bytesIn += int64(len(fr))
	}
	b.ReportAllocs()
	b.SetBytes(bytesIn / (conns * rounds * concurrent))
	b.ResetTimer()
	entries := 0
	for n := 0; n < b.N; n += conns * rounds * concurrent {
		eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { out = f.Append(out[:0], e, opts); entries++ }})
		for _, fr := range frames {
			eng.Packet(layers.LinkTypeEthernet, t0, fr)
		}
		eng.Finish()
	}
	if entries == 0 {
		b.Fatal("no entries")
	}
}

// FuzzH2Engine plays a synthetic HTTP/2 conversation cut into segments,
// with segments dropped (gaps) or changed as ops say: the engine never
// panics, makes at most one entry per stream begun (and one for a
// connection whose streams were all lost), and prints no frame byte where
// a request line should be.
func FuzzH2Engine(f *testing.F) {
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{3, 7, 0x81, 200, 1, 1, 1})
	f.Add([]byte{0x85, 0x85, 0x85, 0x85})
	f.Add([]byte{0, 0x41, 0x45, 0, 0x90, 0x4a})
	turns, _ := h2Conversation(3, 3)
	fm, _ := logformat.Parse("%request.line")
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := pcaptest.New(layers.LinkTypeEthernet)
		fl := c.Flow(cli4, srv80, t0)
		if len(ops) == 0 || ops[0]&1 == 0 {
			fl.Handshake()
		}
		k := 0
		for _, tr := range turns {
			for b := tr.data; len(b) > 0; {
				n := len(b)
				drop, change := false, false
				if k < len(ops) {
					op := ops[k]
					k++
					if op&0x3f != 0 {
						n = min(int(op&0x3f), n)
					}
					drop, change = op&0x80 != 0, op&0xc0 == 0x40
				}
				switch {
				case drop:
					fl.Advance(tr.fromClient, uint32(n))
				case change:
					seg := bytes.Clone(b[:n])
					seg[0] ^= 0x5a
					fl.Send(tr.fromClient, seg)
				default:
					fl.Send(tr.fromClient, b[:n])
				}
				b = b[n:]
			}
			fl.Ack(!tr.fromClient)
		}
		fl.Close(true)
		var out []byte
		entries := 0
		eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) {
			entries++
			if e.StreamID == 0 {
				return // not read as HTTP/2 (a changed preface)
			}
			out = fm.Append(out[:0], e, nil)
			for _, c := range out {
				if c < 0x20 && c != '\t' {
					t.Fatalf("control byte in the request line of stream %d: %q", e.StreamID, out)
				}
			}
		}})
		for _, fr := range c.Frames() {
			eng.Packet(layers.LinkTypeEthernet, t0, fr)
		}
		eng.Finish()
		if max := 9 + 2*len(turns); entries > max {
			t.Fatalf("%d entries, want at most %d", entries, max)
		}
	})
}

// TestH2PickupReversedEnds: a connection picked up in the middle whose
// server has the higher port (the transport's guess, the lower port, is
// wrong) and whose first frames do not show the ends: the decoder turns
// the connection round from the first stream's pseudo-headers, and the
// entries read each side as what it is (a request line from the client's
// bytes, a status line from the server's), not by the direction first
// guessed.
func TestH2PickupReversedEnds(t *testing.T) {
	turns, setup := h2Conversation(3, 2)
	c := pcaptest.New(layers.LinkTypeEthernet)
	client, server := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:50000")
	fl := c.Flow(client, server, t0)
	// No handshake, no preface, and the first round (which filled the
	// dynamic tables) not captured: picked up at round two.
	for _, tr := range turns[setup+2:] {
		fl.Send(tr.fromClient, tr.data)
		fl.Ack(!tr.fromClient)
	}
	fl.Close(true)
	f, err := logformat.Parse("%source.port|%dest.port|%stream.id|%request.method|%request.url|%request.protocol|%response.line|%response.code")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { lines = append(lines, string(f.Append(nil, e, opts))) }})
	for _, fr := range c.Frames() {
		eng.Packet(layers.LinkTypeEthernet, t0, fr)
	}
	eng.Finish()
	if len(lines) != 4 {
		t.Fatalf("%d entries, want 4 (two rounds of two streams):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		p := strings.Split(l, "|")
		if p[0] != "1000" || p[1] != "50000" {
			t.Errorf("%q: ends %s -> %s, want the client 1000 and the server 50000", l, p[0], p[1])
		}
		// :path repeats the first round's, indexed in the dynamic table
		// that was never seen: not found, never a wrong one.
		if p[3] != "GET" || p[4] != "-" && !strings.HasPrefix(p[4], "/item/") || p[5] != "HTTP/2.0" {
			t.Errorf("%q: request %s %s %s, want GET /item/N (or -) HTTP/2.0", l, p[3], p[4], p[5])
		}
		if p[6] != "HTTP/2.0 200" || p[7] != "200" {
			t.Errorf("%q: response %q %q, want HTTP/2.0 200 and 200", l, p[6], p[7])
		}
	}
}
