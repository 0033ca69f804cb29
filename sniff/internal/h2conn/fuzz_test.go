package h2conn

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/sniffer/sniffer/sniff/entry"
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
	b, fields, hl := AppendHead(nil, nil, s, 0)
	if hl > len(b) || (hl > 0 && string(b[hl-4:hl]) != "\r\n\r\n") {
		h.t.Fatalf("header length %d of %q", hl, b)
	}
	checkFields(h.t, b, fields, &s.Request.Headers)
	n := len(b)
	b, fields, _ = AppendHead(b, fields[:0], s, 1)
	for i := range fields {
		if fields[i].Name.Off < int32(n) {
			h.t.Fatalf("field %d of the response at %d, before its head at %d", i, fields[i].Name.Off, n)
		}
	}
	checkFields(h.t, b, fields, &s.Response.Headers)
	for dir := range 2 {
		checkWithin(h.t, s.Side(dir), dir == 0)
		// Where Fields noted the first-line fields is what Get finds.
		for p, name := range []string{":method", ":path", ":authority", ":status"} {
			for _, f := range []*Fields{&s.Side(dir).Headers, &s.Side(dir).Trailers} {
				v, ok := f.Get(name)
				if gv, gok := f.pseudo(pseudo(p + 1)); gok != ok || string(gv) != string(v) {
					h.t.Fatalf("%s noted as %q (%v), Get gives %q (%v)", name, gv, gok, v, ok)
				}
			}
		}
	}
}

// checkWithin checks that AppendSideHeadWithin renders what AppendSideHead
// does when given exactly the room for it, and nothing with a byte less.
func checkWithin(t testing.TB, sd *Side, request bool) {
	t.Helper()
	head, fields := AppendSideHead([]byte("x"), nil, sd, request)
	n := len(head) - 1
	got, gotFields, ok := AppendSideHeadWithin(make([]byte, 1, len(head)), nil, sd, request, n)
	got[0] = 'x'
	if !ok || !bytes.Equal(got, head) || len(gotFields) != len(fields) {
		t.Fatalf("within %d: %v %q, want %q", n, ok, got, head)
	}
	if n == 0 {
		return
	}
	if _, _, ok := AppendSideHeadWithin(make([]byte, 1, len(head)), nil, sd, request, n-1); ok {
		t.Fatalf("a %d-byte head rendered within %d", n, n-1)
	}
	if _, _, ok := AppendSideHeadWithin(make([]byte, 1, len(head)-1), nil, sd, request, n); ok {
		t.Fatalf("a %d-byte head rendered in a capacity of %d", n, n-1)
	}
}

// checkFields checks that the fields AppendHead gave for a side read (as
// entry.Field.Split reads them, a line handed on unsplit included) the
// names and values that were decoded, in order, unknown names left out.
func checkFields(t testing.TB, b []byte, fields []entry.Field, hf *Fields) {
	t.Helper()
	j := 0
	for i := 0; i < hf.Len(); i++ {
		name, value, unknown := hf.At(i)
		if unknown && len(name) == 0 {
			continue
		}
		if j >= len(fields) {
			t.Fatalf("%d fields for %d decoded", len(fields), hf.Len())
		}
		gn, gv, ok := fields[j].Split(b)
		if !ok || !bytes.Equal(gn, name) || !bytes.Equal(gv, value) {
			t.Fatalf("field %d %+v reads %q: %q (%v), decoded %q: %q", j, fields[j], gn, gv, ok, name, value)
		}
		j++
	}
	if j != len(fields) {
		t.Fatalf("%d fields for %d decoded", len(fields), j)
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
// dynamic table kept in step): handed on one by one, and kept in Fields
// (where indexed fields take a path of their own).
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
		var d, kd blockDecoder
		d.table.reset(1 << 20)
		kd.table.reset(1 << 20)
		var kept Fields
		var side Side
		var truncated uint64
		for _, blk := range [][]byte{b1, b2} {
			want = want[:0]
			if _, err := ref.Write(blk); err != nil {
				return
			}
			if err := ref.Close(); err != nil {
				return
			}
			var got []hpack.HeaderField
			_, err := d.decode(blk, &sink{each: func(f *field) {
				got = append(got, hpack.HeaderField{Name: string(f.name), Value: string(f.value), Sensitive: f.sensitive})
			}})
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
			kept.reset()
			if _, err := kd.decode(blk, &sink{fields: &kept, side: &side, limit: 1 << 30, truncated: &truncated}); err != nil {
				t.Fatalf("x/net accepts %x, this decoder into Fields: %v", blk, err)
			}
			if kept.Len() != len(want) {
				t.Fatalf("%x: %d fields kept, x/net %d", blk, kept.Len(), len(want))
			}
			for i := range want {
				name, value, unknown := kept.At(i)
				if unknown || string(name) != want[i].Name || string(value) != want[i].Value {
					t.Fatalf("%x: field %d kept as %q: %q (unknown %v), x/net %v", blk, i, name, value, unknown, want[i])
				}
			}
		}
	})
}
