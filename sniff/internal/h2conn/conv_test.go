package h2conn

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// conv builds the two byte streams of a conversation with x/net/http2's
// Framer and hpack.Encoder, one encoder per direction as real peers have.
type conv struct {
	t    testing.TB
	buf  [2]bytes.Buffer
	fr   [2]*http2.Framer
	enc  [2]*hpack.Encoder
	hbuf [2]bytes.Buffer
	// chunks records the writes in order, to replay them interleaved.
	chunks []chunk
	// blocks are the header blocks encoded, per direction.
	blocks [2][][]byte
}

type chunk struct {
	dir  int
	data []byte
}

func newConv(t testing.TB, preface bool) *conv {
	c := &conv{t: t}
	for d := range 2 {
		c.fr[d] = http2.NewFramer(&c.buf[d], nil)
		c.enc[d] = hpack.NewEncoder(&c.hbuf[d])
	}
	if preface {
		c.buf[0].WriteString(Preface)
		c.flush(0)
		c.settings(0)
		c.settings(1)
	}
	return c
}

// flush moves what direction d wrote into a chunk.
func (c *conv) flush(d int) {
	if c.buf[d].Len() > 0 {
		c.chunks = append(c.chunks, chunk{d, bytes.Clone(c.buf[d].Bytes())})
		c.buf[d].Reset()
	}
}

func (c *conv) settings(d int, s ...http2.Setting) {
	if err := c.fr[d].WriteSettings(s...); err != nil {
		c.t.Fatal(err)
	}
	c.flush(d)
}

// block encodes fields ("name: value" or ":name: value") with d's encoder.
func (c *conv) block(d int, fields ...string) []byte {
	c.hbuf[d].Reset()
	for _, f := range fields {
		i := strings.Index(f[1:], ":") + 1
		name, value := f[:i], strings.TrimPrefix(f[i+1:], " ")
		// A name starting with ! is sensitive: never indexed.
		sensitive := strings.HasPrefix(name, "!")
		name = strings.TrimPrefix(name, "!")
		if err := c.enc[d].WriteField(hpack.HeaderField{Name: name, Value: value, Sensitive: sensitive}); err != nil {
			c.t.Fatal(err)
		}
	}
	b := bytes.Clone(c.hbuf[d].Bytes())
	c.blocks[d] = append(c.blocks[d], b)
	return b
}

// headers writes a HEADERS frame (split into CONTINUATIONs of at most
// split bytes when split > 0).
func (c *conv) headers(d int, id uint32, end bool, pad uint8, split int, fields ...string) {
	b := c.block(d, fields...)
	first, rest := b, []byte(nil)
	if split > 0 && len(b) > split {
		first, rest = b[:split], b[split:]
	}
	err := c.fr[d].WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: rest == nil, PadLength: pad})
	if err != nil {
		c.t.Fatal(err)
	}
	for len(rest) > 0 {
		n := min(split, len(rest))
		if err := c.fr[d].WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
			c.t.Fatal(err)
		}
		rest = rest[n:]
	}
	c.flush(d)
}

func (c *conv) data(d int, id uint32, end bool, pad int, p string) {
	var err error
	if pad > 0 {
		err = c.fr[d].WriteDataPadded(id, end, []byte(p), make([]byte, pad))
	} else {
		err = c.fr[d].WriteData(id, end, []byte(p))
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.flush(d)
}

func (c *conv) raw(d int, b []byte) { c.chunks = append(c.chunks, chunk{d, b}) }

// got is a stream as the test handler copied it.
type got struct {
	id                     uint32
	method, path, status   string
	authority              string
	reqBody, respBody      string
	reqSize, respSize      int64
	trailers               string
	grpcStatus             int
	grpcMessage            string
	end                    EndReason
	resetCode              uint32
	reqIncomplete, respInc bool
	late                   bool
	head                   string
	headers                string
}

type rec struct {
	begun []uint32
	ended []got
	open  map[uint32]bool
}

func (r *rec) Begin(s *Stream) {
	if r.open == nil {
		r.open = map[uint32]bool{}
	}
	if r.open[s.ID] {
		panic(fmt.Sprintf("stream %d begun twice", s.ID))
	}
	r.open[s.ID] = true
	r.begun = append(r.begun, s.ID)
}

func fieldsString(f *Fields) string {
	var sb strings.Builder
	for i := range f.Len() {
		n, v, u := f.At(i)
		if u {
			fmt.Fprintf(&sb, "?%s=%s;", n, v)
			continue
		}
		fmt.Fprintf(&sb, "%s=%s;", n, v)
	}
	return sb.String()
}

func (r *rec) End(s *Stream) {
	if !r.open[s.ID] {
		panic(fmt.Sprintf("stream %d ended, not begun", s.ID))
	}
	delete(r.open, s.ID)
	g := got{id: s.ID, end: s.End, resetCode: s.ResetCode, grpcStatus: s.GRPCStatus, grpcMessage: string(s.GRPCMessage), late: s.Late}
	m, _ := s.Request.Pseudo(":method")
	p, _ := s.Request.Pseudo(":path")
	a, _ := s.Request.Pseudo(":authority")
	st, _ := s.Response.Pseudo(":status")
	g.method, g.path, g.authority, g.status = string(m), string(p), string(a), string(st)
	g.reqBody, g.respBody = string(s.Request.Body), string(s.Response.Body)
	g.reqSize, g.respSize = s.Request.Size, s.Response.Size
	g.trailers = fieldsString(&s.Response.Trailers)
	g.headers = fieldsString(&s.Request.Headers)
	g.reqIncomplete, g.respInc = s.Request.HeadersIncomplete, s.Response.HeadersIncomplete
	b, _, _ := AppendHead(nil, nil, s, 0)
	b2, _, _ := AppendHead(nil, nil, s, 1)
	g.head = string(b) + "|" + string(b2)
	r.ended = append(r.ended, g)
}

// run feeds the chunks to a decoder, each chunk cut in pieces of at most
// piece bytes (0: whole).
func (c *conv) run(t testing.TB, start Start, lim Limits, piece int) (*rec, *Conn) {
	r := &rec{}
	d := New(r, lim, start)
	ts := time.Unix(1e9, 0)
	for _, ch := range c.chunks {
		b := ch.data
		for len(b) > 0 {
			n := len(b)
			if piece > 0 {
				n = min(n, piece)
			}
			d.Data(ch.dir, b[:n], ts)
			b = b[n:]
			ts = ts.Add(time.Millisecond)
		}
	}
	d.Close(ts)
	if len(r.open) != 0 {
		t.Errorf("streams never ended: %v", r.open)
	}
	return r, d
}

func byID(r *rec) map[uint32]got {
	m := map[uint32]got{}
	for _, g := range r.ended {
		m[g.id] = g
	}
	return m
}

var zeroTime time.Time
