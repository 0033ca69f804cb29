package sniff_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/internal/tlstest"
	"github.com/sniffer/sniffer/sniff/jsonlog"
	"github.com/sniffer/sniffer/sniff/logformat"
	"github.com/sniffer/sniffer/sniff/reuse"
)

// tlsFormat shows what a TLS connection's entry says.
const tlsFormat = "%connection %session.requests [%request.line] [%response.line] %request.method %response.code " +
	"%tls.sni %tls.version %tls.alpn %tls.round-trips %request.size %response.size %close.originator"

var srv443 = netip.MustParseAddrPort("10.0.0.2:443")

// sizes returns the bytes each side sent.
func sizes(evs []tlstest.Event) (client, server int) {
	for _, e := range evs {
		if e.FromClient {
			client += len(e.Data)
		} else {
			server += len(e.Data)
		}
	}
	return client, server
}

func TestTLSConnectionIsOneEntry(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    tlstest.Session
		want string // after "unique 1 ", with %d %d for the sizes
	}{
		{"tls13-http1.1-one",
			tlstest.Session{Version: tls.VersionTLS13, ClientALPN: []string{"http/1.1"}, ServerALPN: []string{"http/1.1"}, Rounds: 1},
			"[-] [-] - - api.example.com TLS_1.3 http/1.1 1 %d %d client"},
		{"tls13-h2-three",
			tlstest.Session{Version: tls.VersionTLS13, ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"h2"}, Rounds: 3},
			"[-] [-] - - api.example.com TLS_1.3 h2,http/1.1 3 %d %d client"},
		{"tls13-server-closes",
			tlstest.Session{Version: tls.VersionTLS13, Rounds: 2, ServerCloses: true},
			"[-] [-] - - api.example.com TLS_1.3 - 2 %d %d server"},
		{"tls13-no-request",
			tlstest.Session{Version: tls.VersionTLS13, Rounds: 0},
			"[-] [-] - - api.example.com TLS_1.3 - 0 %d %d client"},
		{"tls12-negotiated-alpn",
			tlstest.Session{Version: tls.VersionTLS12, ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"http/1.1"}, Rounds: 1},
			"[-] [-] - - api.example.com TLS_1.2 http/1.1 1 %d %d client"},
		{"tls12-three-server-closes",
			tlstest.Session{Version: tls.VersionTLS12, Rounds: 3, ServerCloses: true},
			"[-] [-] - - api.example.com TLS_1.2 - 3 %d %d server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.ServerName = "api.example.com"
			evs := tlstest.Run(t, tc.s)
			c := pcaptest.New(layers.LinkTypeEthernet)
			f := c.Flow(cli4, srv443, t0)
			f.Handshake()
			tlstest.Play(f, evs, tc.s.ServerCloses)
			cs, ss := sizes(evs)
			want := "unique 1 " + fmt.Sprintf(tc.want, cs, ss) + "\n"
			check(t, play(t, c, tlsFormat, sniff.Config{}), want)
			// Bodies kept or not, the same: no ciphertext.
			check(t, play(t, c, tlsFormat+" [%request] [%response.body]", sniff.Config{}), strings.TrimSuffix(want, "\n")+" [-] [-]\n")
		})
	}
}

// TestTLSSegmented cuts every record across segments: the headers are read
// across segment boundaries.
func TestTLSSegmented(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", ClientALPN: []string{"h2"}, Rounds: 3})
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	f.Handshake()
	for _, e := range evs {
		for b := e.Data; len(b) > 0; {
			n := min(3, len(b))
			f.Send(e.FromClient, b[:n])
			b = b[n:]
		}
		f.Ack(!e.FromClient)
	}
	f.Close(true)
	cs, ss := sizes(evs)
	check(t, play(t, c, tlsFormat, sniff.Config{}), fmt.Sprintf("unique 1 [-] [-] - - api.example.com TLS_1.3 h2 3 %d %d client\n", cs, ss))
}

// TestTLSGap loses a server segment after the first response: the count is
// a lower bound, the entry has a gap.
func TestTLSGap(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", Rounds: 3})
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	f.Handshake()
	requests, lost := 0, false
	for _, e := range evs {
		// The requests: the client's writes of application data records
		// (its Finished goes with its change_cipher_spec, the
		// close_notify is 24 bytes).
		if e.FromClient && e.Data[0] == 23 && len(e.Data) != 24 {
			requests++
		}
		if !e.FromClient && requests == 2 && !lost {
			lost = true
			f.Advance(false, uint32(len(e.Data))) // never captured
			f.Ack(true)
			continue
		}
		f.Send(e.FromClient, e.Data)
		f.Ack(!e.FromClient)
	}
	f.Close(true)
	if !lost {
		t.Fatal("no server segment lost")
	}
	got := play(t, c, "%connection %tls.round-trips %request.size %response.size|%tls.version", sniff.Config{})
	cs, ss := sizes(evs)
	check(t, got, fmt.Sprintf("unique 2+ %d %d|TLS_1.3\n", cs, ss))
	var js []byte
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { js = jsonlog.Append(js, e, &jsonlog.Options{Location: time.UTC}) }})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	for _, want := range []string{`"gap":true`, `"round_trips":2,"round_trips_lower_bound":true`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON %s lacks %s", js, want)
		}
	}
	if s := eng.Stats(); s.TLSLostSync != 1 {
		t.Errorf("TLSLostSync = %d", s.TLSLostSync)
	}
}

func TestTLSJSON(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS12, ServerName: "api.example.com", ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"h2"}, Rounds: 2})
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	f.Handshake()
	tlstest.Play(f, evs, false)
	var js []byte
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { js = jsonlog.Append(js, e, &jsonlog.Options{Location: time.UTC, Bodies: true}) }})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	cs, ss := sizes(evs)
	for _, want := range []string{
		`"tls":{"version":"TLS_1.2","sni":"api.example.com","alpn":"h2","alpn_negotiated":true,"round_trips":2}`,
		fmt.Sprintf(`"request":{"size":%d,`, cs), fmt.Sprintf(`"response":{"size":%d,`, ss),
		`"connection":"unique"`, `"close_originator":"client"`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON %s\nlacks %s", js, want)
		}
	}
	for _, bad := range []string{`"line"`, `"body"`, `"method"`} {
		if strings.Contains(string(js), bad) {
			t.Errorf("JSON %s has %s", js, bad)
		}
	}
}

// reuseOf plays connections from one client to one server, each with the
// given round trips and closed by the client, one after the other, and
// returns the reuse verdict and summary.
func reuseOf(t *testing.T, rounds ...int) (reuse.Verdict, string) {
	t.Helper()
	c := pcaptest.New(layers.LinkTypeEthernet)
	start := t0
	for i, n := range rounds {
		evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", Rounds: n})
		client := netip.AddrPortFrom(cli4.Addr(), uint16(40000+i))
		f := c.Flow(client, srv443, start)
		f.Handshake()
		tlstest.Play(f, evs, false)
		start = f.Now().Add(time.Millisecond)
	}
	agg := reuse.New()
	eng := sniff.New(sniff.Config{Emit: agg.Add, ConnEnd: agg.AddConn})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	var b strings.Builder
	agg.WriteSummary(&b, "summary: ")
	v, _ := agg.WriteVerdict(&b, "reuse: ")
	return v, b.String()
}

func TestTLSReuseVerdict(t *testing.T) {
	v, out := reuseOf(t, 1, 1, 1)
	if v != reuse.NotReused {
		t.Errorf("a new TLS connection per request: %v\n%s", v, out)
	}
	want := "summary: 10.0.0.1 -> 10.0.0.2:443: 3 TLS connections, 3 round trips, 1.00 round trips/connection, 100% single-round-trip, 2 not reused\n" +
		"summary:   10.0.0.1 -> 10.0.0.2:443: response time none; new connection 50µs (p50, 3), reused none\n" +
		"reuse: FAIL: connections not reused: 10.0.0.1 -> 10.0.0.2:443: 2 TLS connections closed by the client after one round trip, then a new connection\n"
	check(t, out, want)
	v, out = reuseOf(t, 3)
	if v != reuse.OK {
		t.Errorf("one TLS connection for three requests: %v\n%s", v, out)
	}
	check(t, out, "summary: 10.0.0.1 -> 10.0.0.2:443: 1 TLS connection, 3 round trips, 3.00 round trips/connection, 0% single-round-trip\n"+
		"summary:   10.0.0.1 -> 10.0.0.2:443: response time none; new connection 50µs (p50, 1), reused none\n"+
		"reuse: ok: no connection offered keep-alive was closed by the client after one request before a new one, nor a TLS connection after one round trip\n")
	v, out = reuseOf(t, 3, 2)
	if v != reuse.OK {
		t.Errorf("two reused TLS connections: %v\n%s", v, out)
	}
}

// FuzzTLS plays a real TLS 1.3 session of three round trips cut into
// segments where the input says, some of them never captured, some with a
// byte changed: the engine must make one entry, count no more bytes than
// were sent and, without changed bytes, no more round trips than there
// were, and say so when it lost the framing.
func FuzzTLS(f *testing.F) {
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{3, 7, 0x81, 200, 1, 1, 1})
	f.Add([]byte{0x85, 0x85, 0x85, 0x85})
	f.Add([]byte{0, 0x41, 0x45, 0})
	var evs []tlstest.Event
	f.Fuzz(func(t *testing.T, ops []byte) {
		if evs == nil {
			evs = tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", ClientALPN: []string{"h2"}, Rounds: 3})
		}
		c := pcaptest.New(layers.LinkTypeEthernet)
		fl := c.Flow(cli4, srv443, t0)
		fl.Handshake()
		k := 0
		dropped, changed := false, false
		for _, e := range evs {
			for b := e.Data; len(b) > 0; {
				n := len(b)
				drop, change := false, false
				if k < len(ops) {
					op := ops[k]
					k++
					if op&0x3f != 0 {
						n = min(int(op&0x3f), n)
					}
					drop, change = op&0x80 != 0, op&0xc0 == 0x40
				}
				switch {
				case drop:
					fl.Advance(e.FromClient, uint32(n))
					dropped = true
				case change:
					seg := bytes.Clone(b[:n])
					seg[0] ^= 0x5a
					fl.Send(e.FromClient, seg)
					changed = true
				default:
					fl.Send(e.FromClient, b[:n])
				}
				b = b[n:]
			}
			fl.Ack(!e.FromClient)
		}
		fl.Close(true)
		cs, ss := sizes(evs)
		var got []entry.Entry
		var tlsInfo []entry.TLS
		eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) {
			got = append(got, *e)
			if e.TLS != nil {
				tlsInfo = append(tlsInfo, *e.TLS)
			}
		}})
		pcaptest.Replay(t, c.Pcap(), eng.Packet)
		eng.Finish()
		if len(got) != 1 || len(tlsInfo) != 1 {
			if !dropped && !changed || len(got) == 0 {
				t.Fatalf("%d entries, %d of TLS", len(got), len(tlsInfo))
			}
			return // the ClientHello's first bytes lost: not taken for TLS
		}
		e, in := got[0], tlsInfo[0]
		if e.Request.Size > int64(cs) || e.Response.Size > int64(ss) || len(e.Request.Bytes)+len(e.Response.Bytes) != 0 {
			t.Fatalf("sizes %d %d of %d %d, %d bytes kept", e.Request.Size, e.Response.Size, cs, ss, len(e.Request.Bytes)+len(e.Response.Bytes))
		}
		if changed {
			return // bytes that are not what was sent: any count, no panic
		}
		if in.RoundTrips > 3 || !dropped && (in.RoundTrips != 3 || in.LowerBound || e.Gap) || in.LowerBound && !e.Gap {
			t.Fatalf("dropped %v: %d round trips, lower bound %v, gap %v", dropped, in.RoundTrips, in.LowerBound, e.Gap)
		}
	})
}

// TestTLSSteadyStateDoesNotAllocate checks that TLS connections, once
// their handshakes are done, allocate nothing per packet: records are
// counted, not kept.
func TestTLSSteadyStateDoesNotAllocate(t *testing.T) {
	const conns, rounds = 20, 40
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", Rounds: rounds})
	c := pcaptest.New(layers.LinkTypeEthernet)
	flows := make([]*pcaptest.Flow, conns)
	for j := range flows {
		flows[j] = c.Flow(netip.AddrPortFrom(cli4.Addr(), uint16(41000+j)), srv443, t0)
		flows[j].Handshake()
	}
	handshake := c.Len()
	for i, e := range evs {
		for _, f := range flows {
			f.Send(e.FromClient, e.Data)
			f.Ack(!e.FromClient)
		}
		if i == 6 {
			handshake = c.Len() // the hellos and the first round trips
		}
	}
	steadyEnd := c.Len() - 2*conns // leave the close_notify out
	for _, f := range flows {
		f.Close(true)
	}
	frames := c.Frames()
	var entries int
	f, _ := logformat.Parse(tlsFormat)
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { out = f.Append(out[:0], e, opts); entries++ }})
	ts := t0
	for _, fr := range frames[:handshake] {
		eng.Packet(layers.LinkTypeEthernet, ts, fr)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, fr := range frames[handshake:steadyEnd] {
		eng.Packet(layers.LinkTypeEthernet, ts, fr)
	}
	runtime.ReadMemStats(&after)
	steady := steadyEnd - handshake
	if per := float64(after.Mallocs-before.Mallocs) / float64(steady); per > 0.001 {
		t.Fatalf("%.4f allocations per packet over %d packets", per, steady)
	}
	for _, fr := range frames[steadyEnd:] {
		eng.Packet(layers.LinkTypeEthernet, ts, fr)
	}
	eng.Finish()
	if entries != conns {
		t.Fatalf("%d entries, want %d", entries, conns)
	}
	if want := fmt.Sprintf(" %d ", rounds); !strings.Contains(string(out), want) {
		t.Fatalf("last entry %q: not %d round trips", out, rounds)
	}
}

// TestTLSPickedUp: a TLS connection whose handshake was not captured is
// still one entry, its round trips counted from the first request seen; one
// whose TCP handshake alone was missed still reads the hellos.
func TestTLSPickedUp(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", ClientALPN: []string{"h2"}, Rounds: 3})
	first := -1
	for i, e := range evs {
		if e.FromClient && e.Data[0] == 23 {
			first = i
			break
		}
	}
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	tlstest.Play(f, evs[first:], false)
	cs, ss := sizes(evs[first:])
	check(t, play(t, c, tlsFormat, sniff.Config{}), fmt.Sprintf("last 1 [-] [-] - - - - - 3 %d %d client\n", cs, ss))

	c = pcaptest.New(layers.LinkTypeEthernet)
	f = c.Flow(cli4, srv443, t0)
	tlstest.Play(f, evs, false) // no SYN: picked up at the ClientHello
	cs, ss = sizes(evs)
	check(t, play(t, c, tlsFormat, sniff.Config{}), fmt.Sprintf("last 1 [-] [-] - - api.example.com TLS_1.3 h2 3 %d %d client\n", cs, ss))
}

// TestTLSNotFlushedEarly: --flush-after prints idle HTTP exchanges early; a
// TLS connection's one entry waits for its end all the same.
func TestTLSNotFlushedEarly(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", Rounds: 2})
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	f.Handshake()
	for i, e := range evs {
		f.Send(e.FromClient, e.Data)
		f.Ack(!e.FromClient)
		if i == len(evs)-2 {
			f.Sleep(10 * time.Second) // idle, then the close_notify
			f.Ack(true)
		}
	}
	f.Close(true)
	check(t, play(t, c, "%connection %tls.round-trips %close.originator", sniff.Config{FlushAfter: time.Second}), "unique 2 client\n")
}

// TestTLSStartLost: the client's first record was never captured, and the
// bytes after the gap look like a ClientHello's. The connection is still
// taken for TLS, but its entry must say the gap and give its round trips
// as a lower bound: the decoder chosen after the gap is told of it.
func TestTLSStartLost(t *testing.T) {
	hello := []byte{22, 3, 1, 0, 4, 1, 0, 0, 0}
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv443, t0)
	f.Handshake()
	f.Advance(true, uint32(len(hello))) // never captured
	f.Send(true, hello)
	f.Ack(false)
	f.Send(false, []byte{22, 3, 3, 0, 4, 2, 0, 0, 0})
	f.Ack(true)
	f.Send(true, append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...))
	f.Ack(false)
	f.Send(false, append([]byte{23, 3, 3, 0, 64}, make([]byte, 64)...))
	f.Ack(true)
	f.Close(true)
	var got []entry.Entry
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) { got = append(got, *e) }})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	if len(got) != 1 || got[0].TLS == nil {
		t.Fatalf("%d entries, want one of TLS", len(got))
	}
	if e := got[0]; !e.Gap || !e.TLS.LowerBound {
		t.Errorf("gap %v, round trips %d lower bound %v: want the gap said", e.Gap, e.TLS.RoundTrips, e.TLS.LowerBound)
	}
}
