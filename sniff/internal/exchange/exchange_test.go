package exchange

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
)

// nop is a decoder that does nothing: the tests drive the exchanges.
type nop struct{ early []int }

func (*nop) Start(*Conn, *Exchange, []byte)             {}
func (*nop) Data(int, []byte, time.Time)                {}
func (*nop) Gap(int, int64, time.Time)                  {}
func (*nop) HalfClosed(int, time.Time)                  {}
func (*nop) Segment(time.Time)                          {}
func (*nop) Idle(time.Time)                             {}
func (d *nop) Early(x *Exchange)                        { d.early = append(d.early, x.X.Index) }
func (*nop) Closer(o entry.Originator) entry.Originator { return o }
func (*nop) End(bool, time.Time)                        {}
func (*nop) ConnEnd(*entry.ConnEnd)                     {}

// harness is one connection's exchanges and what they emitted, as
// "index:annotation" words.
type harness struct {
	sh  Shared
	tc  tcp.Conn
	c   Conn
	dec nop
	out []string
	t0  time.Time
}

func newHarness(concurrent bool) *harness {
	h := &harness{t0: time.Unix(1000, 0)}
	h.sh = Shared{HeaderCap: 1024, BodyCap: 1024, MaxKept: 1 << 20, MaxConns: 1 << 16, Table: new(tcp.Table),
		Emit: func(e *entry.Entry) { h.out = append(h.out, fmt.Sprintf("%d:%s", e.Index, e.Annotation)) }}
	h.tc.SynSeen = true
	h.c.Default = &h.dec
	h.c.Init(&h.sh, &h.tc)
	h.c.Concurrent = concurrent
	return h
}

// begin starts an exchange whose request came at second s.
func (h *harness) begin(s int) *Exchange {
	x := h.c.Begin()
	Account(&x.X.Request, 10, h.t0.Add(time.Duration(s)*time.Second))
	return x
}

// done completes x with a response at second s.
func (h *harness) done(x *Exchange, s int) {
	Account(&x.X.Response, 10, h.t0.Add(time.Duration(s)*time.Second))
	x.ReqDone, x.RespDone = true, true
}

func (h *harness) emitted() string { s := strings.Join(h.out, " "); h.out = nil; return s }

func TestConcurrentCompleteOutOfOrder(t *testing.T) {
	h := newHarness(true)
	x1, x2, x3 := h.begin(1), h.begin(2), h.begin(3)
	h.done(x2, 4)
	h.c.Advance(h.t0.Add(4 * time.Second))
	// x2 completed first, and x3 began after it: its label is final.
	if got := h.emitted(); got != "2:continue" {
		t.Fatalf("after the second completed: %q, want 2:continue", got)
	}
	h.done(x3, 5)
	h.c.Advance(h.t0.Add(5 * time.Second))
	// x3 is the last begun: it may still be the connection's last.
	if got := h.emitted(); got != "" {
		t.Fatalf("after the last begun completed: %q, want nothing", got)
	}
	h.done(x1, 6)
	h.c.Advance(h.t0.Add(6 * time.Second))
	if got := h.emitted(); got != "1:start" {
		t.Fatalf("after the first completed: %q, want 1:start", got)
	}
	h.c.EmitAll(h.t0.Add(7*time.Second), h.t0.Add(7*time.Second), entry.Client, true)
	if got := h.emitted(); got != "3:last" {
		t.Fatalf("at the close: %q, want 3:last", got)
	}
}

func TestConcurrentLongLivedHoldsNothingBack(t *testing.T) {
	h := newHarness(true)
	long := h.begin(1)
	for i := 2; i <= 5; i++ {
		x := h.begin(i)
		h.begin(i) // the next one begins, so x's label is final once done
		h.done(x, i)
		h.c.Advance(h.t0.Add(time.Duration(i) * time.Second))
	}
	if got := h.emitted(); got != "2:continue 4:continue 6:continue 8:continue" {
		t.Fatalf("with a long-lived first exchange: %q", got)
	}
	h.done(long, 9)
	h.c.EmitAll(time.Time{}, time.Time{}, entry.Truncated, false)
	if got := h.emitted(); got != "1:start 3:continue 5:continue 7:continue 9:continue" {
		t.Fatalf("at the end: %q", got)
	}
}

func TestInOrderWaitsForTheOldest(t *testing.T) {
	h := newHarness(false)
	x1, x2 := h.begin(1), h.begin(2)
	h.begin(3)
	h.done(x2, 4)
	h.c.Advance(h.t0.Add(4 * time.Second))
	if got := h.emitted(); got != "" {
		t.Fatalf("in order, the second done before the first: %q, want nothing", got)
	}
	h.done(x1, 5)
	h.c.Advance(h.t0.Add(5 * time.Second))
	if got := h.emitted(); got != "1:start 2:continue" {
		t.Fatalf("in order: %q", got)
	}
}

func TestConcurrentFlushIdle(t *testing.T) {
	h := newHarness(true)
	h.begin(1)
	x2 := h.begin(2)
	x3 := h.begin(3)
	h.done(x2, 4)
	h.done(x3, 4)
	h.c.FlushIdle(h.t0.Add(10 * time.Second))
	if got := h.emitted(); got != "2:open 3:open" {
		t.Fatalf("idle: %q, want the complete ones open", got)
	}
	h.c.EmitAll(time.Time{}, time.Time{}, entry.Truncated, false)
	if got := h.emitted(); got != "1:start" {
		t.Fatalf("at the end: %q", got)
	}
}

func TestQueueBoundCallsEarly(t *testing.T) {
	h := newHarness(false)
	for i := 0; i <= MaxQueue; i++ {
		h.begin(i)
	}
	if len(h.dec.early) != 1 || h.dec.early[0] != 1 || h.emitted() != "1:start" {
		t.Fatalf("past MaxQueue: Early got %v", h.dec.early)
	}
}
