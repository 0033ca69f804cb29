package reuse

import (
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/internal/tlstest"
)

// tlsEnd is the life of a TLS connection from client port port, started at
// t0+i seconds.
func tlsEnd(id uint64, port uint16, i int, rounds int, origin entry.Originator) *entry.ConnEnd {
	start := t0.Add(time.Duration(i) * time.Second)
	return &entry.ConnEnd{Conn: id, Client: netip.AddrPortFrom(client, port), Server: server, Opened: true,
		Start: start, End: start.Add(time.Millisecond), Exchanges: rounds, TLS: true, Originator: origin}
}

// addTLS gives a the entry and the life of each connection.
func addTLS(a *Aggregator, ends ...*entry.ConnEnd) {
	for _, c := range ends {
		a.Add(&entry.Entry{Client: c.Client, Server: c.Server, Conn: c.Conn, Index: 1, TLS: &entry.TLS{RoundTrips: c.Exchanges}})
		a.AddConn(c)
	}
}

func TestTLSVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		ends []*entry.ConnEnd
		want Verdict
		line string
	}{
		{"one-per-request", []*entry.ConnEnd{tlsEnd(1, 40000, 0, 1, entry.Client), tlsEnd(2, 40001, 1, 1, entry.Client), tlsEnd(3, 40002, 2, 1, entry.Client)},
			NotReused, "3 TLS connections, 3 round trips, 1.00 round trips/connection, 100% single-round-trip, 2 not reused"},
		{"reused", []*entry.ConnEnd{tlsEnd(1, 40000, 0, 4, entry.Client), tlsEnd(2, 40001, 1, 2, entry.Client)},
			OK, "2 TLS connections, 6 round trips, 3.00 round trips/connection, 0% single-round-trip"},
		{"server-closes", []*entry.ConnEnd{tlsEnd(1, 40000, 0, 1, entry.Server), tlsEnd(2, 40001, 1, 1, entry.Server)},
			OK, "2 TLS connections, 2 round trips, 1.00 round trips/connection, 100% single-round-trip"},
		{"truncated", []*entry.ConnEnd{tlsEnd(1, 40000, 0, 1, entry.Client), tlsEnd(2, 40001, 1, 1, entry.Truncated)},
			NotReused, "2 TLS connections, 2 round trips, 1.00 round trips/connection, 100% single-round-trip, 1 not reused"},
		{"last-alone", []*entry.ConnEnd{tlsEnd(1, 40000, 0, 3, entry.Client), tlsEnd(2, 40001, 1, 1, entry.Client)},
			OK, "2 TLS connections, 4 round trips, 2.00 round trips/connection, 50% single-round-trip"},
		{"lower-bound", func() []*entry.ConnEnd {
			a := tlsEnd(1, 40000, 0, 1, entry.Client)
			a.LowerBound = true
			return []*entry.ConnEnd{a, tlsEnd(2, 40001, 1, 1, entry.Client)}
		}(),
			OK, "2 TLS connections, 2 round trips, 1.00 round trips/connection, 50% single-round-trip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New()
			addTLS(a, tc.ends...)
			var b strings.Builder
			a.WriteSummary(&b, "")
			if want := "10.0.0.2 -> 10.0.0.3:8080: " + tc.line + "\n"; b.String() != want {
				t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
			}
			if v := a.Verdict(); v != tc.want {
				t.Errorf("verdict %v, want %v", v, tc.want)
			}
		})
	}
}

// TestTLSMixed: a pair with HTTP and TLS connections shows both, and the
// verdict names each kind of leak.
func TestTLSMixed(t *testing.T) {
	a := New()
	// Two leaky HTTP connections (the capture of TestLeaky), then TLS.
	for _, e := range leakyEnds(2) {
		a.Add(e.entry)
		a.AddConn(e.end)
	}
	addTLS(a, tlsEnd(10, 41000, 10, 1, entry.Client), tlsEnd(11, 41001, 11, 1, entry.Client))
	var b strings.Builder
	a.WriteSummary(&b, "")
	v, _ := a.WriteVerdict(&b, "")
	want := "10.0.0.2 -> 10.0.0.3:8080: 2 connections, 2 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes; " +
		"2 TLS connections, 2 round trips, 1.00 round trips/connection, 100% single-round-trip, 3 not reused\n" +
		"FAIL: connections not reused: 10.0.0.2 -> 10.0.0.3:8080: 2 connections offered keep-alive closed by the client after one request, then a new connection, " +
		"1 TLS connection closed by the client after one round trip, then a new connection\n"
	if b.String() != want || v != NotReused {
		t.Errorf("got (%v):\n%s\nwant:\n%s", v, b.String(), want)
	}
}

type connLife struct {
	entry *entry.Entry
	end   *entry.ConnEnd
}

// leakyEnds is n HTTP connections offered keep-alive, one request each,
// closed by the client.
func leakyEnds(n int) []connLife {
	var out []connLife
	for i := range n {
		start := t0.Add(time.Duration(i) * time.Second)
		cl := netip.AddrPortFrom(client, uint16(40000+i))
		e := &entry.Entry{Client: cl, Server: server, Conn: uint64(i + 1), Index: 1,
			Response: entry.Message{Bytes: []byte(response), HTTP: true, HeaderLen: strings.Index(response, "\r\n\r\n") + 4}}
		out = append(out, connLife{e, &entry.ConnEnd{Conn: uint64(i + 1), Client: cl, Server: server, Opened: true,
			Start: start, End: start.Add(time.Millisecond), Exchanges: 1, Originator: entry.Client}})
	}
	return out
}

// tlsCapture is connections from client to server:443 with the given round
// trips each, real TLS sessions (Go's crypto/tls), closed by the client,
// one after the other.
func tlsCapture(t *testing.T, s tlstest.Session, rounds ...int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	srv := netip.AddrPortFrom(server.Addr(), 443)
	start := t0
	for i, n := range rounds {
		s.Rounds = n
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), srv, start)
		f.Handshake()
		tlstest.Play(f, tlstest.Run(t, s), false)
		start = f.Now().Add(time.Second)
	}
	return c
}

// TestWriteTLSTestdata writes the TLS captures the command's scripts use
// (go test ./sniff/reuse -run WriteTLSTestdata -update): tls-leaky.pcap,
// a client that opens a TLS 1.3 connection per request, and tls-fixed.pcap,
// a TLS 1.2 client that reuses one. TLS bytes differ at every run (keys,
// signatures): the committed captures are checked by what they give.
func TestWriteTLSTestdata(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    func() *pcaptest.Capture
		want Verdict
	}{
		{"tls-leaky.pcap", func() *pcaptest.Capture {
			return tlsCapture(t, tlstest.Session{Version: tls.VersionTLS13, ServerName: "api.example.com", ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"http/1.1"}}, 1, 1, 1)
		}, NotReused},
		{"tls-fixed.pcap", func() *pcaptest.Capture {
			return tlsCapture(t, tlstest.Session{Version: tls.VersionTLS12, ServerName: "api.example.com", ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"http/1.1"}}, 3)
		}, OK},
	} {
		path := filepath.Join("testdata", tc.name)
		if *update {
			tc.c().WriteFile(t, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		a := New()
		eng := sniff.New(sniff.Config{Emit: a.Add, ConnEnd: a.AddConn})
		pcaptest.Replay(t, b, eng.Packet)
		eng.Finish()
		if v := a.Verdict(); v != tc.want {
			t.Errorf("%s: verdict %v, want %v", path, v, tc.want)
		}
	}
}
