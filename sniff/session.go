package sniff

import (
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/http1"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
	"github.com/sniffer/sniffer/sniff/internal/tlsdec"
	"github.com/sniffer/sniffer/sniff/reassembly"
)

// decoders are the application decoders a connection may switch to, tried
// in order on its client's first bytes (exchange.Factory.Probe) or chosen
// by an HTTP/1 upgrade (exchange.Factory.Upgrade). A connection none of
// them claims is read by internal/http1 (HTTP/1.x, or the turn-based rules
// for what is not HTTP). Adding a protocol is adding its factory here.
var decoders = []exchange.Factory{
	tlsdec.Factory,
}

// session is what the engine keeps of one TCP connection above the
// transport: its exchanges and its decoders. A connection slot keeps its
// session for its next connections.
type session struct {
	e    *Engine
	x    exchange.Conn
	h1   http1.Decoder
	recv [2]receiver
}

// receiver delivers one direction's reassembled bytes to its session.
type receiver struct {
	s   *session
	dir int
}

// Data is reassembly.Receiver's.
func (r *receiver) Data(b []byte, ts time.Time) {
	s := r.s
	if d := s.x.Dec; d != nil {
		d.Data(r.dir, b, ts)
		return
	}
	if r.dir == 0 {
		if s.h1.Fresh() && s.x.Probe(b) {
			s.x.Dec.Data(0, b, ts)
			return
		}
		s.h1.ClientData(b, ts)
		return
	}
	s.h1.ServerData(b, ts)
}

// Gap is reassembly.Receiver's.
func (r *receiver) Gap(n int64, ts time.Time) {
	s := r.s
	if d := s.x.Dec; d != nil {
		d.Gap(r.dir, n, ts)
		return
	}
	if r.dir == 0 {
		s.h1.ClientGap(n, ts)
	} else {
		s.h1.ServerGap(n, ts)
	}
}

func (s *session) Receiver(dir int) reassembly.Receiver { return &s.recv[dir] }

func (s *session) HalfClosed(dir int, ts time.Time) { s.x.Decoder().HalfClosed(dir, ts) }

func (s *session) Segment(ts time.Time) {
	if d := s.x.Dec; d != nil {
		d.Segment(ts)
		return
	}
	s.h1.Segment(ts)
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
		s.recv = [2]receiver{{s, 0}, {s, 1}}
		s.x.Default = &s.h1
		c.Up = s
	}
	s.e = (*Engine)(u)
	s.x.Init(&u.x, c)
	s.h1.Reset(&s.x, u.watch)
}

// Drop implements tcp.Upper.
func (u *upper) Drop(c *tcp.Conn) {
	if s, _ := c.Up.(*session); s != nil {
		s.x.DropSpares()
	}
}
