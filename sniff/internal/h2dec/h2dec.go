// Package h2dec is the engine's HTTP/2 decoder (cleartext h2c: prior
// knowledge, an HTTP/1.1 Upgrade: h2c, or a connection picked up in the
// middle): each stream is one exchange, decoded by h2conn and rendered at
// its end as an HTTP/1-style message (h2conn.AppendHead), so that the log
// format's fields read it as they read HTTP/1.
//
// Streams are concurrent: the exchange layer emits each as soon as it is
// complete and its label is known (exchange.Conn.Concurrent), labelled in
// the order the streams began. What an entry holds:
//
//   - the request: "GET /path HTTP/2.0", every header field as a line
//     (pseudo-headers included), the body kept (within the caps), the
//     trailers if any as lines after the body; Size counts the stream's
//     frame bytes (9-byte frame headers and padding included), First and
//     Last its first and last frame;
//   - the response: "HTTP/2.0 200" and the same; 1xx responses are counted
//     by h2conn, not kept;
//   - Entry.StreamID, and for gRPC the grpc-status and grpc-message of the
//     trailers (or of a Trailers-Only response);
//   - Message.HeadersIncomplete when a header block could not be wholly
//     decoded (HPACK state lost to a pickup or a gap, a block over the
//     bounds, a malformed block), or when a late stream's side has no
//     header block at all (its headers came before the pickup).
//
// A stream reset (RST_STREAM), refused by a GOAWAY, evicted (more than
// h2conn's MaxStreams open at once) or still open at the connection's end
// is an entry with what was seen: a side without a header block prints the
// not-found value in every field of HTTP (a request reset before its
// response has no response code).
//
// On an upgrade, stream 1 is the upgraded HTTP/1.1 exchange: its request
// is the HTTP/1.1 request, its response the 101 head followed by the
// HTTP/2 response, where Message.Head points.
package h2dec

import (
	"bytes"
	"encoding/base64"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/h2conn"
)

// Factory registers the decoder (exchange.Factory).
var Factory = exchange.Factory{
	Name:        "h2c",
	Probe:       probe,
	ServerProbe: serverProbe,
	Upgrade:     "h2c",
	New:         func() exchange.Decoder { return new(Decoder) },
}

// probe recognises the client preface (or, split across segments, its
// first bytes) and, on a connection picked up in the middle, plausible
// HTTP/2 frames.
func probe(b []byte, pickup bool) bool {
	if len(b) == 0 {
		return false
	}
	n := min(len(b), len(h2conn.Preface))
	if string(b[:n]) == h2conn.Preface[:n] {
		return true
	}
	return pickup && h2conn.Probe(b)
}

// serverProbe recognises a server that spoke first with HTTP/2 frames:
// its SETTINGS (sent without waiting for the client's preface), or on a
// pickup any plausible frames.
func serverProbe(b []byte, pickup bool) bool {
	if pickup {
		return h2conn.Probe(b)
	}
	if len(b) < h2conn.FrameHeaderLen {
		return false
	}
	h := h2conn.ParseFrameHeader(b)
	return h.Type == h2conn.FrameSettings && h.StreamID == 0 && h.Length%6 == 0 && h.Length <= 16384 && h2conn.Probe(b)
}

// maxGRPCMessage bounds the grpc-message kept per entry.
const maxGRPCMessage = 1024

// link ties a stream to its exchange.
type link struct {
	id uint32
	x  *exchange.Exchange
}

// Decoder is what an HTTP/2 connection keeps (exchange.Decoder). A
// connection slot keeps it, its h2conn.Conn and its buffers for its next
// HTTP/2 connection.
type Decoder struct {
	c   *exchange.Conn
	h   *h2conn.Conn
	lim h2conn.Limits
	// up is the upgraded exchange (stream 1), nil when not an upgrade.
	up *exchange.Exchange
	// upHead and upHeaderLen are the 101 head of up's response, restored
	// if no HTTP/2 response came.
	upHead, upHeaderLen int
	// links are the streams begun whose exchange still waits.
	links []link
	// tmp and fields are where a side is rendered before it is kept.
	tmp      []byte
	fields   []entry.Field
	settings [512]byte
	// oriented says whether the ends of the connection are known: a
	// picked-up connection's ends are the transport's guess until a
	// stream shows which side sent requests; rev says they were the
	// other way round (exchange.Conn.Reversed).
	oriented, rev bool
	// Dropped counts the streams whose exchange was printed early (the
	// queue bound): their end is let go.
	Dropped uint64
}

// Start implements exchange.Decoder.
func (d *Decoder) Start(c *exchange.Conn, up *exchange.Exchange, first []byte) {
	d.c = c
	d.up = nil
	d.oriented, d.rev = !c.T.Pickup, false
	clear(d.links)
	d.links = d.links[:0]
	c.Concurrent = true
	lim := h2conn.Limits{MaxBody: -1}
	if c.S.KeepBodies {
		lim.MaxBody = max(c.S.BodyCap, 1)
	}
	if d.h == nil || lim != d.lim {
		d.lim = lim
		d.h = h2conn.New((*handler)(d), lim, h2conn.StartPreface)
	}
	switch {
	case up != nil:
		d.up = up
		m := &up.X.Response
		d.upHead, d.upHeaderLen = m.Head, m.HeaderLen
		up.RespDone = false
		up.Resp.NewHead = true
		up.Resp.InHead = true
		d.h.Reset(h2conn.StartUpgrade) // begins stream 1: Begin links it to up
		if s := settingsHeader(&up.X.Request); s != nil {
			if n, err := base64.RawURLEncoding.Decode(d.settings[:], trimPad(s)); err == nil {
				d.h.ApplySettings(0, d.settings[:n])
			}
		}
	case c.MidStream() && (len(first) == 0 || !bytes.HasPrefix(first, []byte(h2conn.Preface[:min(len(first), len(h2conn.Preface))]))):
		d.h.Reset(h2conn.StartMidstream)
	default:
		d.h.Reset(h2conn.StartPreface)
	}
}

// settingsHeader returns the value of the HTTP2-Settings header of the
// upgraded request, nil if none (or longer than what is decoded).
func settingsHeader(m *entry.Message) []byte {
	if !m.HTTP || m.HeaderLen < 0 || m.Head+m.HeaderLen > len(m.Bytes) {
		return nil
	}
	for _, f := range m.Fields {
		if name, value, ok := f.Split(m.Bytes); ok && bytes.EqualFold(name, []byte("http2-settings")) {
			if len(value) > 4*len((*Decoder)(nil).settings)/3 {
				return nil
			}
			return value
		}
	}
	head := m.Bytes[m.Head : m.Head+m.HeaderLen]
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			i = len(head)
		}
		line := head[:i]
		head = head[min(i+1, len(head)):]
		name, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("http2-settings")) {
			v = bytes.TrimSpace(v)
			if len(v) > 4*len((*Decoder)(nil).settings)/3 {
				return nil
			}
			return v
		}
	}
	return nil
}

func trimPad(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '=' {
		b = b[:len(b)-1]
	}
	return b
}

// Data implements exchange.Decoder.
func (d *Decoder) Data(dir int, b []byte, ts time.Time) { d.h.Data(dir, b, ts) }

// Gap implements exchange.Decoder: h2conn realigns on frame boundaries;
// the HPACK state of that direction is lost, the streams begun after it are
// late and their headers may be incomplete.
func (d *Decoder) Gap(dir int, n int64, ts time.Time) { d.h.Gap(dir, n, ts) }

// HalfClosed implements exchange.Decoder.
func (d *Decoder) HalfClosed(dir int, ts time.Time) {}

// Segment implements exchange.Decoder.
func (d *Decoder) Segment(ts time.Time) { d.c.Advance(ts) }

// Idle implements exchange.Decoder: complete streams are printed (open).
func (d *Decoder) Idle(now time.Time) { d.c.FlushIdle(now) }

// Early implements exchange.Decoder: the stream's exchange is printed as
// it is; what comes of the stream later is let go.
func (d *Decoder) Early(x *exchange.Exchange) {
	if x == d.up {
		d.up = nil // recycled once printed
	}
	for i := range d.links {
		if d.links[i].x == x {
			d.links[i].x = nil
			return
		}
	}
}

// Closer implements exchange.Decoder.
func (d *Decoder) Closer(origin entry.Originator) entry.Originator { return origin }

// End implements exchange.Decoder: the streams still open end (with what
// was seen of them).
func (d *Decoder) End(closed bool, ts time.Time) {
	d.h.Close(ts)
	d.up = nil
}

// ConnEnd implements exchange.Decoder: the connection's exchanges are its
// streams.
func (d *Decoder) ConnEnd(ce *entry.ConnEnd) {
	ce.Exchanges = int(d.h.Stats().Streams)
	if d.rev {
		ce.Client, ce.Server = ce.Server, ce.Client
	}
}

// orient decides, on a picked-up connection, which end is the client from
// the first stream whose pseudo-headers show it: :method or :path sent by
// the client, :status by the server.
func (d *Decoder) orient(s *h2conn.Stream) {
	if d.oriented {
		return
	}
	_, reqStatus := s.Request.Headers.Get(":status")
	_, respMethod := s.Response.Headers.Get(":method")
	_, reqMethod := s.Request.Headers.Get(":method")
	_, respStatus := s.Response.Headers.Get(":status")
	switch {
	case reqStatus || respMethod:
		d.oriented, d.rev = true, true
		d.c.Reversed = true
	case reqMethod || respStatus:
		d.oriented = true
	}
}

// handler is the Decoder as h2conn's Handler.
type handler Decoder

// Begin implements h2conn.Handler: a stream begins an exchange (stream 1
// of an upgrade is the upgraded exchange).
func (h *handler) Begin(s *h2conn.Stream) {
	d := (*Decoder)(h)
	var x *exchange.Exchange
	if s.Upgraded && d.up != nil {
		x = d.up
	} else {
		x = d.c.Begin()
	}
	x.Meta = uint64(s.ID)
	x.X.StreamID = s.ID
	d.links = append(d.links, link{s.ID, x})
}

// End implements h2conn.Handler: the stream's exchange is filled and
// complete.
func (h *handler) End(s *h2conn.Stream) {
	d := (*Decoder)(h)
	var x *exchange.Exchange
	for i := range d.links {
		if d.links[i].id == s.ID {
			x = d.links[i].x
			n := copy(d.links[i:], d.links[i+1:])
			d.links[i+n] = link{}
			d.links = d.links[:i+n]
			break
		}
	}
	if x == nil {
		d.Dropped++
		return
	}
	if s.Upgraded && x == d.up {
		d.up = nil
		d.fill(x, &x.Resp, &x.X.Response, s, 1)
		if !s.Response.HasHeaders() {
			m := &x.X.Response
			m.Head, m.HeaderLen = d.upHead, d.upHeaderLen
		}
	} else {
		d.orient(s)
		r := 0
		if d.rev {
			r = 1
		}
		d.fill(x, &x.Req, &x.X.Request, s, r)
		d.fill(x, &x.Resp, &x.X.Response, s, r^1)
	}
	if s.Late && !x.X.Request.HTTP && !s.Upgraded {
		x.X.Request.HeadersIncomplete = true
	}
	if s.Late && !x.X.Response.HTTP && x.X.Response.Size > 0 {
		x.X.Response.HeadersIncomplete = true
	}
	if s.Request.Gap || s.Response.Gap {
		x.X.Gap = true
	}
	status, msg := s.GRPCStatus, s.GRPCMessage
	if d.rev {
		status, msg = reversedGRPC(&s.Request)
	}
	if status >= 0 {
		x.X.GRPC = true
		x.X.GRPCStatus = status
		d.keepGRPCMessage(x, msg)
	}
	x.ReqDone, x.RespDone = true, true
}

// fill renders side dir of s into message m of x, within the caps.
func (d *Decoder) fill(x *exchange.Exchange, sd *exchange.Side, m *entry.Message, s *h2conn.Stream, dir int) {
	src := s.Side(dir)
	base := len(sd.Buf)
	m.Fields = m.Fields[:0]
	m.HasFields = false
	if src.HasHeaders() {
		m.HasFields = true
		m.HTTP = true
		m.Head = base
		req := m == &x.X.Request
		sd.InHead = true
		sd.NewHead = false
		var direct bool
		if sd.Buf, m.Fields, direct = h2conn.AppendSideHeadWithin(sd.Buf, m.Fields, src, req, d.c.S.HeaderCap); direct {
			// The head fitted in the buffer as it was, all of it within
			// the head's cap, where Keep would have copied it whole: it
			// was rendered there instead, and Keep of nothing does the
			// rest of what Keep does.
			d.c.Keep(sd, m, nil)
			m.HeaderLen = len(sd.Buf) - base
		} else {
			d.tmp, d.fields = h2conn.AppendSideHead(d.tmp[:0], d.fields[:0], src, req)
			d.c.Keep(sd, m, d.tmp)
			kept := len(sd.Buf) - base
			if kept == len(d.tmp) {
				m.HeaderLen = kept
			} else {
				m.HeaderLen = -1
			}
			// The fields of lines kept (their values whole), located in
			// the side's buffer.
			for _, f := range d.fields {
				if int(f.Value.Off+f.Value.Len) > kept {
					continue
				}
				f.Name.Off += int32(base)
				f.Value.Off += int32(base)
				m.Fields = append(m.Fields, f)
			}
		}
		sd.InHead = false
		sd.HeadEnd = len(sd.Buf)
		if d.tmp = h2conn.AppendSideRest(d.tmp[:0], src); len(d.tmp) > 0 {
			d.c.Keep(sd, m, d.tmp)
		}
		if src.BodySize > int64(len(src.Body)) {
			m.BytesTruncated = true
		}
	}
	if src.HeadersIncomplete || src.Truncated {
		m.HeadersIncomplete = true
	}
	m.Size += src.Size
	if m.First.IsZero() {
		m.First = src.First
	}
	if !src.Last.IsZero() {
		m.Last = src.Last
	}
}

// keepGRPCMessage keeps the decoded grpc-message in the response side's
// buffer, after the message's bytes (within the kept-bytes budget), where
// it stays until the entry is printed.
func (d *Decoder) keepGRPCMessage(x *exchange.Exchange, msg []byte) {
	x.X.GRPCMessage = nil
	if len(msg) == 0 {
		return
	}
	m := &x.X.Response
	bytes0, trunc := m.Bytes, m.BytesTruncated
	n := len(x.Resp.Buf)
	d.c.AppendKept(&x.Resp, m, msg, maxGRPCMessage)
	x.X.GRPCMessage = x.Resp.Buf[n:len(x.Resp.Buf):len(x.Resp.Buf)]
	m.Bytes = x.Resp.Buf[:n:n]
	if bytes0 == nil {
		m.Bytes = bytes0
	}
	m.BytesTruncated = trunc
}

// reversedGRPC reads the grpc-status and grpc-message of a response that
// h2conn took for a request (a reversed connection): from its trailers,
// or its headers (Trailers-Only). The message is as sent (not
// percent-decoded). status is -1 when there is none.
func reversedGRPC(sd *h2conn.Side) (status int, msg []byte) {
	f := &sd.Trailers
	v, ok := f.Get("grpc-status")
	if !ok {
		f = &sd.Headers
		if v, ok = f.Get("grpc-status"); !ok {
			return -1, nil
		}
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' || n > 1<<20 {
			return -1, nil
		}
		n = n*10 + int(c-'0')
	}
	if len(v) == 0 {
		return -1, nil
	}
	msg, _ = f.Get("grpc-message")
	return n, msg
}
