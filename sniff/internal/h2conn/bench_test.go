package h2conn

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
)

type nopHandler struct{}

func (nopHandler) Begin(*Stream) {}
func (nopHandler) End(*Stream)   {}

// The header variants of the benchmarks: all fields repeated (indexed
// after the first stream), plus a value new in every request (a literal
// the encoder inserts into the table), or plus a sensitive value (a
// never-indexed literal).
var variants = []string{"indexed", "unique-value", "never-indexed"}

// steadyConversation is n gRPC-like exchanges on one connection, with
// the headers of variant.
func steadyConversation(tb testing.TB, n int, variant string) *conv {
	c := newConv(tb, true)
	for i := range n {
		id := uint32(2*i + 1)
		fields := []string{":method: POST", ":scheme: http", ":authority: svc:50051", ":path: /grpc.health.v1.Health/Check", "content-type: application/grpc", "te: trailers", "user-agent: grpc-go/1.85.0"}
		switch variant {
		case "unique-value":
			fields = append(fields, fmt.Sprintf("x-request-id: %08d", i))
		case "never-indexed":
			fields = append(fields, fmt.Sprintf("!authorization: Bearer %08d", i))
		}
		c.headers(0, id, false, 0, 0, fields...)
		c.data(0, id, true, 0, "\x00\x00\x00\x00\x05hello")
		c.headers(1, id, false, 0, 0, ":status: 200", "content-type: application/grpc")
		c.data(1, id, false, 0, "\x00\x00\x00\x00\x02\x08\x01")
		c.headers(1, id, true, 0, 0, "grpc-status: 0", "grpc-message: ")
	}
	return c
}

// BenchmarkStreams measures a connection of 1000 streams decoded again
// and again by one reused Conn: allocs/stream is what the steady path
// costs per stream.
func BenchmarkStreams(b *testing.B) {
	for _, name := range variants {
		b.Run(name, func(b *testing.B) {
			const n = 1000
			c := steadyConversation(b, n, name)
			d := New(nopHandler{}, Limits{}, StartPreface)
			ts := time.Unix(1, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				d.Reset(StartPreface)
				for _, ch := range c.chunks {
					d.Data(ch.dir, ch.data, ts)
				}
				d.Close(ts)
			}
			b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
				d.Reset(StartPreface)
				for _, ch := range c.chunks {
					d.Data(ch.dir, ch.data, ts)
				}
				d.Close(ts)
			}))/n, "allocs/stream")
		})
	}
}

// BenchmarkXNetHPACKReference decodes the header blocks of the same
// conversations with x/net's hpack.Decoder, one per direction, keeping
// the fields of each block in a reused slice: the reference the decoder's
// allocations per stream are compared with (BENCHMARKS.md).
func BenchmarkXNetHPACKReference(b *testing.B) {
	for _, name := range variants {
		b.Run(name, func(b *testing.B) {
			const n = 1000
			c := steadyConversation(b, n, name)
			var fields []hpack.HeaderField
			emit := func(f hpack.HeaderField) { fields = append(fields, f) }
			run := func() {
				for d := range 2 {
					dec := hpack.NewDecoder(4096, emit)
					for _, blk := range c.blocks[d] {
						fields = fields[:0]
						if _, err := dec.Write(blk); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				run()
			}
			b.ReportMetric(testing.AllocsPerRun(1, run)/n, "allocs/stream")
		})
	}
}

// TestSteadyStreamsDoNotAllocate: once a connection's buffers and table
// are warm, streams whose headers are all indexed cost no allocation.
func TestSteadyStreamsDoNotAllocate(t *testing.T) {
	c := steadyConversation(t, 200, "indexed")
	d := New(nopHandler{}, Limits{}, StartPreface)
	ts := time.Unix(1, 0)
	// Warm: the first streams insert into the table (an allocation per
	// entry) and grow the buffers.
	warm := 10 * 5
	for _, ch := range c.chunks[:3+warm] {
		d.Data(ch.dir, ch.data, ts)
	}
	rest := c.chunks[3+warm:]
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, ch := range rest {
		d.Data(ch.dir, ch.data, ts)
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Errorf("%d allocations for %d frames of %d streams on the steady path", n, len(rest), len(rest)/5)
	}
	if d.Stats().Streams != 200 {
		t.Errorf("%d streams", d.Stats().Streams)
	}
}
