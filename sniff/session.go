package sniff

import (
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/h2dec"
	"github.com/sniffer/sniffer/sniff/internal/http1"
	"github.com/sniffer/sniffer/sniff/internal/reassembly"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
	"github.com/sniffer/sniffer/sniff/internal/tlsdec"
)

// decoders are the application decoders a connection may switch to, tried
// in order on its client's first bytes (exchange.Factory.Probe) or chosen
// by an HTTP/1 upgrade (exchange.Factory.Upgrade). A connection none of
// them claims is read by internal/http1 (HTTP/1.x, or the turn-based rules
// for what is not HTTP). Adding a protocol is adding its factory here.
var decoders = []exchange.Factory{
	tlsdec.Factory,
	h2dec.Factory,
}

// session is what the engine keeps of one TCP connection above the
// transport: its exchanges and its decoders. A connection slot keeps its
// session for its next connections.
type session struct {
	e  *Engine
	x  exchange.Conn
	h1 http1.Decoder
}

// client and server deliver one direction's reassembled bytes to their
// session: to the decoder in charge, or by default to HTTP/1 (its client
// bytes probed first by the registered decoders).
type (
	client session
	server session
)

// Data is reassembly.Receiver's.
func (r *client) Data(b []byte, ts time.Time) {
	s := (*session)(r)
	if d := s.x.Dec; d != nil {
		d.Data(0, b, ts)
		return
	}
	if s.x.Begun() == 0 && s.h1.Fresh() && s.x.Probe(b) {
		s.x.Dec.Data(0, b, ts)
		return
	}
	s.h1.ClientData(b, ts)
}

// Gap is reassembly.Receiver's.
func (r *client) Gap(n int64, ts time.Time) {
	s := (*session)(r)
	if d := s.x.Dec; d != nil {
		d.Gap(0, n, ts)
		return
	}
	if s.x.Begun() == 0 && s.h1.Fresh() {
		s.x.EarlyGap(0, n, ts) // for the decoder a probe may choose
	}
	s.h1.ClientGap(n, ts)
}

// Data is reassembly.Receiver's.
func (r *server) Data(b []byte, ts time.Time) {
	s := (*session)(r)
	if d := s.x.Dec; d != nil {
		d.Data(1, b, ts)
		return
	}
	if s.x.Begun() == 0 && s.h1.Fresh() && s.x.ProbeServer(b) {
		s.x.Dec.Data(1, b, ts)
		return
	}
	s.h1.ServerData(b, ts)
}

// Gap is reassembly.Receiver's.
func (r *server) Gap(n int64, ts time.Time) {
	s := (*session)(r)
	if d := s.x.Dec; d != nil {
		d.Gap(1, n, ts)
		return
	}
	if s.x.Begun() == 0 && s.h1.Fresh() {
		s.x.EarlyGap(1, n, ts)
	}
	s.h1.ServerGap(n, ts)
}

func (s *session) Receiver(dir int) reassembly.Receiver {
	if dir == 0 {
		return (*client)(s)
	}
	return (*server)(s)
}

func (s *session) HalfClosed(dir int, ts time.Time) { s.x.Decoder().HalfClosed(dir, ts) }

func (s *session) Segment(ts time.Time) {
	if d := s.x.Dec; d != nil {
		d.Segment(ts)
		return
	}
	// http1.Decoder.Segment, inlined: most segments end here.
	s.h1.CheckPickup()
	s.x.Advance(ts)
}

func (s *session) Idle(now time.Time) { s.x.Decoder().Idle(now) }

func (s *session) Closer(origin entry.Originator) entry.Originator {
	return s.x.Decoder().Closer(origin)
}

// Ended emits what is left of the connection and hands its life to
// Config.ConnEnd.
func (s *session) Ended(at time.Time, origin entry.Originator, closed bool) {
	d := s.x.Decoder()
	d.End(closed, at)
	if closed {
		s.x.EmitAll(at, at, origin, true)
	} else {
		s.x.EmitAll(at, time.Time{}, origin, false)
	}
	if e := s.e; e.cfg.ConnEnd != nil {
		s.x.T.FillConnEnd(&e.ended, at, origin)
		d.ConnEnd(&e.ended)
		e.cfg.ConnEnd(&e.ended)
	}
	s.x.Release()
}

// upper is the Engine as the transport's tcp.Upper.
type upper Engine

// Open implements tcp.Upper.
func (u *upper) Open(c *tcp.Conn) {
	s, _ := c.Up.(*session)
	if s == nil {
		s = new(session)
		s.x.Default = &s.h1
		c.Up = s
	}
	s.e = (*Engine)(u)
	s.x.Init(&u.x, c)
	s.h1.Reset(&s.x)
}

// Drop implements tcp.Upper.
func (u *upper) Drop(c *tcp.Conn) {
	if s, _ := c.Up.(*session); s != nil {
		s.x.DropSpares()
	}
}
