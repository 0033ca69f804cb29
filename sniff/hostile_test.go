package sniff_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// playStats renders a built capture with format and returns the engine's
// counters too.
func playStats(t *testing.T, c *pcaptest.Capture, format string, cfg sniff.Config) (string, sniff.Stats) {
	t.Helper()
	f, err := logformat.Parse(format)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	cfg.KeepBodies = f.NeedsBodies()
	cfg.Emit = func(e *entry.Entry) {
		out = f.Append(out, e, opts)
		out = append(out, '\n')
	}
	eng := sniff.New(cfg)
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	return string(out), eng.Stats()
}

// exchangeA starts a capture whose SYNs carry the window scale shift, with
// one connection that carried GET /a and its response (not acknowledged).
func exchangeA(shift int) (*pcaptest.Capture, *pcaptest.Flow) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(shift)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	f.ServerSend(ok("a"))
	return c, f
}

// rawClient writes a client segment of f at an arbitrary sequence number,
// acknowledging what the server sent.
func rawClient(f *pcaptest.Flow, seq uint32, flags decode.Flags, b []byte) {
	f.Segment(true, seq-f.ClientISN-1, b, flags)
}

// A segment 2^31 past the next expected byte panicked (the distance, as an
// int32, does not negate); it and one past the window are counted and
// skipped, and the connection goes on.
func TestSegmentOutsideTheWindow(t *testing.T) {
	for _, shift := range []int{-1, 7} {
		c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(shift)
		f := c.Flow(cli4, srv4, t0)
		f.Handshake()
		f.ClientSend(get("/a"))
		f.ServerSend(ok("a"))
		f.Ack(true)
		next := f.Next(true)
		for _, off := range []uint32{1 << 31, 1<<31 + 1, 1<<31 - 1, 65535 << 14, uint32(65535) << max(shift, 0), 1<<32 - 1<<30 - 1} {
			rawClient(f, next+off, decode.PSH|decode.ACK, get("/evil"))
		}
		// An acknowledgment far ahead declares no gap either.
		f.Segment(false, f.Next(false)-f.ServerISN-1, nil, decode.ACK)
		rawClient(f, next, decode.ACK, nil)
		f.Segment(true, next-f.ClientISN-1, nil, decode.ACK) // in window: taken
		f.ClientSend(get("/b"))
		f.ServerSend(ok("b"))
		f.Close(true)
		got, st := playStats(t, c, brief, sniff.Config{})
		check(t, got, "start 1 GET /a HTTP/1.1|200|29 39|-\nlast 2 GET /b HTTP/1.1|200|29 39|client\n")
		if st.OutOfWindow != 6 || st.GapBytes != 0 {
			t.Errorf("shift %d: %d out of window, %d gap bytes; want 6 and 0", shift, st.OutOfWindow, st.GapBytes)
		}
	}
}

// An acknowledgment more than a window ahead does not declare gigabytes
// lost.
func TestAckOutsideTheWindow(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	c.TCP(f.Now(), srv4, cli4, f.Next(false), f.Next(true)+1<<31-1, decode.ACK, nil)
	f.ServerSend(ok("a"))
	f.Close(true)
	got, st := playStats(t, c, brief+" %request.size", sniff.Config{})
	check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|client 29\n")
	if st.OutOfWindow != 1 || st.GapBytes != 0 {
		t.Errorf("%d out of window, %d gap bytes; want 1 and 0", st.OutOfWindow, st.GapBytes)
	}
}

// RFC 5961 §3.2: only a RST exactly at the next sequence number resets; one
// elsewhere in the window draws a challenge ACK and the connection goes on;
// one outside the window is dropped.
func TestResetSequenceChecks(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		c, f := exchangeA(7)
		f.Reset(false)
		got, _ := playStats(t, c, brief, sniff.Config{})
		check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|server\n")
	})
	t.Run("in window, then data", func(t *testing.T) {
		c, f := exchangeA(7)
		f.Ack(true)
		// A blind RST, 1000 bytes into the window, and the challenge ACK.
		f.Segment(false, f.Next(false)-f.ServerISN-1+1000, nil, decode.RST|decode.ACK)
		f.Ack(true)
		f.ClientSend(get("/b"))
		f.ServerSend(ok("b"))
		f.Close(true)
		got, st := playStats(t, c, brief, sniff.Config{})
		check(t, got, "start 1 GET /a HTTP/1.1|200|29 39|-\nlast 2 GET /b HTTP/1.1|200|29 39|client\n")
		if st.ChallengedRST != 1 {
			t.Errorf("%d challenged RSTs, want 1", st.ChallengedRST)
		}
	})
	t.Run("in window, then nothing", func(t *testing.T) {
		c, f := exchangeA(7)
		f.Ack(true)
		f.Segment(false, f.Next(false)-f.ServerISN-1+1000, nil, decode.RST|decode.ACK)
		f.Ack(true) // the challenge ACK, unanswered
		got, _ := playStats(t, c, brief+" %close.time", sniff.Config{})
		check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|server 0.000020\n")
	})
	t.Run("in window, then nothing, live", func(t *testing.T) {
		// Live, the connection closes resetLinger after the RST, not
		// when the capture ends.
		c, f := exchangeA(7)
		f.Ack(true)
		f.Segment(false, f.Next(false)-f.ServerISN-1+1000, nil, decode.RST|decode.ACK)
		var out []string
		eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { out = append(out, e.Annotation.String()+" "+e.Originator.String()) }})
		pcaptest.Replay(t, c.Pcap(), eng.Packet)
		eng.Tick(f.Now().Add(time.Second))
		if len(out) != 0 {
			t.Fatalf("closed before the linger: %v", out)
		}
		eng.Tick(f.Now().Add(3 * time.Second))
		if len(out) != 1 || out[0] != "unique server" || eng.Conns() != 0 {
			t.Fatalf("after the linger: %v, %d connections", out, eng.Conns())
		}
	})
	t.Run("outside the window", func(t *testing.T) {
		c, f := exchangeA(0)
		f.Ack(true)
		f.Segment(false, f.Next(false)-f.ServerISN-1+200000, nil, decode.RST|decode.ACK)
		f.Segment(false, f.Next(false)-f.ServerISN-1-200000, nil, decode.RST)
		f.ClientSend(get("/b"))
		f.ServerSend(ok("b"))
		got, st := playStats(t, c, brief, sniff.Config{})
		check(t, got, "start 1 GET /a HTTP/1.1|200|29 39|-\ncontinue 2 GET /b HTTP/1.1|200|29 39|truncated\n")
		if st.IgnoredRST != 2 {
			t.Errorf("%d ignored RSTs, want 2", st.IgnoredRST)
		}
	})
	t.Run("after a FIN", func(t *testing.T) {
		// The RST that follows a FIN is one past the FIN.
		c, f := exchangeA(7)
		f.Fin(true)
		f.Reset(true)
		got, _ := playStats(t, c, brief, sniff.Config{})
		check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|client\n")
	})
	t.Run("after lost segments, at the peer's ACK", func(t *testing.T) {
		// The capture missed the server's last bytes; the client's ACK
		// says where the server's stream is, and the RST is there.
		c, f := exchangeA(7)
		f.Advance(false, 500)
		f.Ack(true)
		f.Reset(false)
		got, _ := playStats(t, c, brief, sniff.Config{})
		check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|server\n")
	})
}

// A RST|ACK answering a SYN is a refused connection when its ACK covers
// the SYN; otherwise the SYN-SENT stack drops it.
func TestResetAnsweringSYN(t *testing.T) {
	refused := func(ack uint32, flags decode.Flags) string {
		c := pcaptest.New(layers.LinkTypeEthernet)
		c.TCP(t0, cli4, srv4, 1000, 0, decode.SYN, nil)
		c.TCP(t0.Add(time.Millisecond), srv4, cli4, 0, ack, flags, nil)
		got, _ := playStats(t, c, "%connection %close.originator", sniff.Config{})
		return got
	}
	check(t, refused(1001, decode.RST|decode.ACK), "unique server\n")
	check(t, refused(1000, decode.RST|decode.ACK), "start truncated\n")
	check(t, refused(77777, decode.RST|decode.ACK), "start truncated\n")
	check(t, refused(1001, decode.RST), "start truncated\n")
}

// The snap length cut a request inside a header line: the cut bytes are a
// gap at once, the header cut short is not printed as whole, and the next
// request on the connection is read.
func TestSnapCutInsideHead(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	c.Snap(14 + 20 + 20 + 40)
	f.ClientSend([]byte("GET /cut HTTP/1.1\r\nHost: hh\r\nUser-Agent: a-long-user-agent-string\r\n\r\n"))
	c.Snap(0)
	f.ServerSend(ok("1"))
	f.ClientSend(get("/whole"))
	f.ServerSend(ok("2"))
	f.Close(true)
	got, st := playStats(t, c, "%request.line|%request.header.host|%request.header.user-agent|%request.truncated|%request.size|%response.code", sniff.Config{})
	check(t, got, "GET /cut HTTP/1.1|hh|-|header|69|200\nGET /whole HTTP/1.1|hh|-|-|33|200\n")
	if st.GapBytes != 29 {
		t.Errorf("%d gap bytes, want 29", st.GapBytes)
	}
}

// A response and its FIN in one segment cut by the snap length: the FIN's
// sequence number comes from the segment's length on the wire, so the
// close is complete with the client's ACK of it.
func TestSnapCutSegmentWithFIN(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	resp := []byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\n" + string(make([]byte, 100)))
	c.Snap(14 + 20 + 20 + 60)
	c.TCP(f.Now(), srv4, cli4, f.Next(false), f.Next(true), decode.FIN|decode.PSH|decode.ACK, resp)
	c.Snap(0)
	f.Advance(false, uint32(len(resp))+1)
	f.Ack(true)
	f.Fin(true)
	f.Ack(false)
	got, st := playStats(t, c, brief+" %response.size", sniff.Config{})
	check(t, got, "unique 1 GET /a HTTP/1.1|200|29 159|server 159\n")
	if st.GapBytes != uint64(len(resp)-60) {
		t.Errorf("%d gap bytes, want %d", st.GapBytes, len(resp)-60)
	}
}

// TCP Fast Open: the request rides on the SYN.
func TestFastOpenDataOnSYN(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	f := c.Flow(cli4, srv4, t0)
	req := get("/tfo")
	c.TCP(t0, cli4, srv4, f.ClientISN, 0, decode.SYN, req)
	c.TCP(t0.Add(time.Millisecond), cli4, srv4, f.ClientISN, 0, decode.SYN, req) // retransmitted
	c.TCP(t0.Add(2*time.Millisecond), srv4, cli4, f.ServerISN, f.ClientISN+1+uint32(len(req)), decode.SYN|decode.ACK, nil)
	f.Sleep(3 * time.Millisecond)
	f.Advance(true, uint32(len(req)))
	f.Ack(true)
	f.ServerSend(ok("fast"))
	f.Close(true)
	got, _ := playStats(t, c, brief, sniff.Config{})
	check(t, got, "unique 1 GET /tfo HTTP/1.1|200|31 42|client\n")
}

// Both FINs seen, the final ACK not, and the ports reused by a new SYN: the
// old connection was closed by whoever sent the first FIN, not timed out.
func TestPortReuseAfterCleanClose(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/first"))
	f.ServerSend(ok("1"))
	f.Fin(false)
	f.Ack(true)
	f.Fin(true) // the server's final ACK is not captured
	g := c.Flow(cli4, srv4, f.Now().Add(time.Second))
	g.ClientISN = 99999
	g.Handshake()
	g.ClientSend(get("/second"))
	g.ServerSend(ok("2"))
	g.Close(true)
	got, _ := playStats(t, c, brief, sniff.Config{})
	check(t, got, "unique 1 GET /first HTTP/1.1|200|33 39|server\nunique 1 GET /second HTTP/1.1|200|34 39|client\n")
}

// FINs captured in the other order than they were sent (the two directions
// on different CPUs): the FIN that acknowledges the other was sent second,
// whatever the capture's order.
func TestFINOrderFromAcks(t *testing.T) {
	c, f := exchangeA(7)
	cfin := f.Next(true)
	// The server's FIN, acknowledging the client's, is captured first.
	c.TCP(f.Now(), srv4, cli4, f.Next(false), cfin+1, decode.FIN|decode.ACK, nil)
	c.TCP(f.Now().Add(time.Microsecond), cli4, srv4, cfin, f.Next(false), decode.FIN|decode.ACK, nil)
	c.TCP(f.Now().Add(2*time.Microsecond), cli4, srv4, cfin+1, f.Next(false)+1, decode.ACK, nil)
	got, _ := playStats(t, c, brief, sniff.Config{})
	check(t, got, "unique 1 GET /a HTTP/1.1|200|29 39|client\n")
}
