package live

import (
	"context"
	"net"
	"testing"
	"time"
)

// synCounter counts the SYNs (without ACK) and the frames ending in a
// payload.
type synCounter struct {
	payload    []byte
	syns, data int
}

func (h *synCounter) Packet(_ time.Time, frame []byte) {
	if len(frame) < 20 || frame[0]>>4 != 4 || frame[9] != 6 {
		return
	}
	ihl := int(frame[0]&0x0f) * 4
	if len(frame) < ihl+20 {
		return
	}
	if flags := frame[ihl+13]; flags&0x02 != 0 && flags&0x10 == 0 {
		h.syns++
	}
	if len(frame) >= len(h.payload) && string(frame[len(frame)-len(h.payload):]) == string(h.payload) {
		h.data++
	}
}

func (h *synCounter) Tick(time.Time) {}

// TestCapturedFromOpen: once Open has returned, the capture listens: a
// connection made after it, and before Run is even called, is captured
// from its SYN. (The command prints "listening on" right after Open.)
func TestCapturedFromOpen(t *testing.T) {
	inPrivateNetns(t)
	for round := range 5 {
		src, err := Open(Config{})
		if err != nil {
			t.Fatal(err)
		}
		// Sockets are made here, on the thread in the namespace.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		h := &synCounter{payload: []byte("first bytes after Open")}
		if _, err := c.Write(h.payload); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(h.payload))
		if _, err := s.Read(buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Close()
		ln.Close()
		// Run only now, with its context already done: the drain hands
		// over what the ring holds.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := src.Run(ctx, h); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if h.syns != 1 || h.data != 1 {
			t.Fatalf("round %d: %d SYNs and %d data segments captured; want 1 and 1", round, h.syns, h.data)
		}
	}
}
