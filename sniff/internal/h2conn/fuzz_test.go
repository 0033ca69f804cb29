package h2conn

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
)

// countHandler checks Begin/End pairing.
type countHandler struct {
	t    testing.TB
	open map[*Stream]uint32
}

func (h *countHandler) Begin(s *Stream) {
	if _, ok := h.open[s]; ok {
		h.t.Fatalf("stream %d begun while open", s.ID)
	}
	h.open[s] = s.ID
}

func (h *countHandler) End(s *Stream) {
	if id, ok := h.open[s]; !ok || id != s.ID {
		h.t.Fatalf("stream %d ended, not begun", s.ID)
	}
	delete(h.open, s)
	b, spans, hl := AppendHead(nil, nil, s, 0)
	if hl > len(b) || (hl > 0 && string(b[hl-4:hl]) != "\r\n\r\n") {
		h.t.Fatalf("header length %d of %q", hl, b)
	}
	b, spans, _ = AppendHead(b, spans, s, 1)
	for _, sp := range spans {
		if sp.NameStart > sp.NameEnd || sp.NameEnd > sp.ValueStart || sp.ValueEnd > len(b) {
			h.t.Fatalf("bad span %+v in %d bytes", sp, len(b))
		}
	}
}

func seedConversation(f *testing.F) {
	c := newConv(f, true)
	c.headers(0, 1, true, 0, 0, req("/a")...)
	c.headers(0, 3, false, 2, 8, ":method: POST", ":scheme: http", ":path: /b", "x: y")
	c.data(0, 3, true, 3, "body")
	c.headers(1, 3, false, 0, 0, ":status: 200")
	c.data(1, 3, false, 0, "resp")
	c.headers(1, 3, true, 0, 0, "grpc-status: 0")
	c.headers(1, 1, true, 0, 0, ":status: 404")
	var a, b []byte
	for _, ch := range c.chunks {
		if ch.dir == 0 {
			a = append(a, ch.data...)
		} else {
			b = append(b, ch.data...)
		}
	}
	f.Add(a, b, uint8(7), uint8(0))
	f.Add(a[len(Preface):], b, uint8(13), uint8(2))
	f.Add(a, b, uint8(1), uint8(1))
}

// FuzzConn feeds arbitrary bytes both ways, in arbitrary pieces and with
// an optional gap, from every start: no panic, buffers under their caps,
// and every begun stream ends by Close.
func FuzzConn(f *testing.F) {
	seedConversation(f)
	lim := Limits{MaxStreams: 4, MaxHeaderBlock: 1024, MaxHeaderList: 1024, MaxTableSize: 512, MaxBody: 64}
	f.Fuzz(func(t *testing.T, a, b []byte, piece, mode uint8) {
		h := &countHandler{t: t, open: map[*Stream]uint32{}}
		d := New(h, lim, Start(mode%3))
		n := int(piece%32) + 1
		ts := time.Unix(0, 0)
		for i := 0; len(a) > 0 || len(b) > 0; i++ {
			if len(a) > 0 {
				k := min(n, len(a))
				if mode&0x80 != 0 && i == 3 {
					d.Gap(0, int64(k), ts)
				} else {
					d.Data(0, a[:k], ts)
				}
				a = a[k:]
			}
			if len(b) > 0 {
				k := min(n+1, len(b))
				d.Data(1, b[:k], ts)
				b = b[k:]
			}
			checkCaps(t, d, lim)
		}
		d.Close(ts)
		if len(h.open) != 0 || d.Open() != 0 {
			t.Fatalf("%d streams never ended", len(h.open))
		}
	})
}

func checkCaps(t *testing.T, d *Conn, lim Limits) {
	t.Helper()
	lim = lim.withDefaults()
	for i := range d.half {
		h := &d.half[i]
		if len(h.block) > lim.MaxHeaderBlock+256 || len(h.payload) > lim.MaxHeaderBlock+256 || len(h.scan) > scanCap {
			t.Fatalf("buffers: block %d payload %d scan %d", len(h.block), len(h.payload), len(h.scan))
		}
		if h.dec.table.size > uint32(lim.MaxTableSize) {
			t.Fatalf("table %d", h.dec.table.size)
		}
	}
	if len(d.open) > lim.MaxStreams {
		t.Fatalf("%d streams open", len(d.open))
	}
	for _, s := range d.open {
		if len(s.Request.Body) > lim.MaxBody || len(s.Response.Body) > lim.MaxBody ||
			s.Request.Headers.size > lim.MaxHeaderList || s.Response.Headers.size > lim.MaxHeaderList {
			t.Fatalf("stream %d over its caps", s.ID)
		}
	}
}

// FuzzFrameReader checks the frame header functions on arbitrary bytes:
// Chain never reads past b, Probe and Plausible agree.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte(Preface))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := Chain(b, MaxFrameLen)
		if ok && n > 0 && !Plausible(b, MaxFrameLen) {
			t.Fatal("chain of plausible frames starts with an implausible one")
		}
		if Probe(b) && !bytes.HasPrefix([]byte(Preface), b[:min(len(b), len(Preface))]) && !Plausible(b, probeMaxLen) {
			t.Fatal("probe accepts an implausible first frame")
		}
	})
}

// FuzzHPACKAgainstXNet: on every block x/net's hpack.Decoder accepts, this
// decoder gives the same fields, and the same after a second block (the
// dynamic table kept in step).
func FuzzHPACKAgainstXNet(f *testing.F) {
	var buf bytes.Buffer
	e := hpack.NewEncoder(&buf)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: "x-a", Value: "b"}, {Name: "x-a", Value: "b", Sensitive: true}, {Name: "cookie", Value: "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}} {
		_ = e.WriteField(hf)
	}
	f.Add(buf.Bytes(), buf.Bytes()[:5])
	f.Add([]byte{0x3f, 0xe1, 0x1f, 0x82}, []byte{0x40, 0x01, 'a', 0x01, 'b', 0xbe})
	f.Fuzz(func(t *testing.T, b1, b2 []byte) {
		var want []hpack.HeaderField
		ref := hpack.NewDecoder(4096, func(hf hpack.HeaderField) { want = append(want, hf) })
		ref.SetMaxStringLength(1 << 20)
		var d blockDecoder
		d.table.reset(1 << 20)
		for _, blk := range [][]byte{b1, b2} {
			want = want[:0]
			if _, err := ref.Write(blk); err != nil {
				return
			}
			if err := ref.Close(); err != nil {
				return
			}
			var got []hpack.HeaderField
			_, err := d.decode(blk, func(f *field) {
				got = append(got, hpack.HeaderField{Name: string(f.name), Value: string(f.value), Sensitive: f.sensitive})
			})
			if err != nil {
				t.Fatalf("x/net accepts %x, this decoder: %v", blk, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%x: %d fields, x/net %d", blk, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%x: field %d %v, x/net %v", blk, i, got[i], want[i])
				}
			}
		}
	})
}
