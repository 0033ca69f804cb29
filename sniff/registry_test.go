package sniff_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	xc "github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// turns is a decoder for the registry tests: each client Data begins an
// exchange, the server's next Data answers it. It records whether it
// started on an upgrade, and Start resets it.
type turns struct {
	c        *xc.Conn
	upgraded *xc.Exchange
	cur      *xc.Exchange
}

func (d *turns) Start(c *xc.Conn, up *xc.Exchange, first []byte) {
	*d = turns{c: c, upgraded: up}
}

func (d *turns) Data(dir int, b []byte, ts time.Time) {
	if dir == 0 {
		d.cur = d.c.Begin()
		d.c.KeepRaw(&d.cur.Req, &d.cur.X.Request, b)
		xc.Account(&d.cur.X.Request, len(b), ts)
		d.cur.ReqDone = true
		return
	}
	if d.cur == nil {
		return
	}
	d.c.KeepRaw(&d.cur.Resp, &d.cur.X.Response, b)
	xc.Account(&d.cur.X.Response, len(b), ts)
	d.cur.RespDone = true
	d.cur = nil
}

func (d *turns) Gap(int, int64, time.Time)                  {}
func (d *turns) HalfClosed(int, time.Time)                  {}
func (d *turns) Segment(ts time.Time)                       { d.c.Advance(ts) }
func (d *turns) Idle(now time.Time)                         { d.c.FlushIdle(now) }
func (d *turns) Early(*xc.Exchange)                         {}
func (d *turns) Closer(o entry.Originator) entry.Originator { return o }
func (d *turns) End(bool, time.Time)                        { d.cur = nil }

// ConnEnd marks the count as the decoder's: +100, and +1000 when it took
// over an upgraded HTTP/1 request.
func (d *turns) ConnEnd(ce *entry.ConnEnd) {
	ce.Exchanges = d.c.Begun() + 100
	if d.upgraded != nil {
		ce.Exchanges += 1000
	}
}

var turnsFactory = xc.Factory{
	Name:    "turns",
	Probe:   func(b []byte, pickup bool) bool { return bytes.HasPrefix(b, []byte("TURN ")) },
	Upgrade: "turns/1",
	New:     func() xc.Decoder { return new(turns) },
}

// runRegistry plays c through an engine whose registry is decoders, and
// returns its entries (request and response bytes, annotation) and the
// Exchanges of its connections' ends.
func runRegistry(t *testing.T, c *pcaptest.Capture, decoders []xc.Factory) (string, []int) {
	t.Helper()
	defer sniff.SetDecoders(decoders)()
	var out strings.Builder
	var ends []int
	e := sniff.New(sniff.Config{
		Emit: func(en *entry.Entry) {
			out.WriteString(en.Annotation.String() + " " + string(en.Request.Bytes) + "|" + string(en.Response.Bytes) + "\n")
		},
		ConnEnd: func(ce *entry.ConnEnd) { ends = append(ends, ce.Exchanges) },
	})
	for i, fr := range c.Frames() {
		e.Packet(c.LinkType(), t0.Add(time.Duration(i)*time.Millisecond), fr)
	}
	e.Finish()
	return out.String(), ends
}

func TestRegistryProbe(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	for _, w := range []string{"one", "two"} {
		f.ClientSend([]byte("TURN " + w))
		f.ServerSend([]byte("ok " + w))
	}
	f.Close(true)
	got, ends := runRegistry(t, c, []xc.Factory{turnsFactory})
	check(t, got, "start TURN one|ok one\nlast TURN two|ok two\n")
	if len(ends) != 1 || ends[0] != 102 {
		t.Errorf("connection ends: %v, want the decoder's count [102]", ends)
	}
	// Without the decoder registered, the same bytes are read by the
	// turn-based rules of the default decoder.
	got, ends = runRegistry(t, c, nil)
	check(t, got, "start TURN one|ok one\nlast TURN two|ok two\n")
	if len(ends) != 1 || ends[0] != 2 {
		t.Errorf("connection ends without the decoder: %v, want [2]", ends)
	}
}

func TestRegistryUpgrade(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("GET /u HTTP/1.1\r\nHost: hh\r\nConnection: upgrade\r\nUpgrade: Turns/1\r\n\r\n"))
	f.ServerSend([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: turns/1\r\nConnection: upgrade\r\n\r\n"))
	f.ClientSend([]byte("after"))
	f.ServerSend([]byte("answer"))
	f.Close(true)
	got, ends := runRegistry(t, c, []xc.Factory{turnsFactory})
	check(t, got, "start GET /u HTTP/1.1\r\nHost: hh\r\nConnection: upgrade\r\nUpgrade: Turns/1\r\n\r\n|"+
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: turns/1\r\nConnection: upgrade\r\n\r\n\n"+
		"last after|answer\n")
	if len(ends) != 1 || ends[0] != 1102 {
		t.Errorf("connection ends: %v, want the decoder's count after an upgrade [1102]", ends)
	}
	// Not registered: the rest of the connection is turn-based.
	got, ends = runRegistry(t, c, nil)
	if len(ends) != 1 || ends[0] != 2 {
		t.Errorf("connection ends without the decoder: %v, want [2]", ends)
	}
	check(t, got, "start GET /u HTTP/1.1\r\nHost: hh\r\nConnection: upgrade\r\nUpgrade: Turns/1\r\n\r\n|"+
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: turns/1\r\nConnection: upgrade\r\n\r\n\n"+
		"last after|answer\n")
}
