package reuse

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.pcap")

var (
	client = netip.MustParseAddr("10.0.0.2")
	server = netip.MustParseAddrPort("10.0.0.3:8080")
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	request  = "GET /leaky HTTP/1.1\r\nHost: app:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
	response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	closeRsp = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
)

// exchange plays one request and its response on f.
func exchange(f *pcaptest.Flow, resp string) {
	f.ClientSend([]byte(request))
	f.Ack(false)
	f.ServerSend([]byte(resp))
	f.Ack(true)
}

// leaky is the leaky client: n connections, one request each, closed by
// the client after a response that offered keep-alive.
func leaky(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range n {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Close(true)
	}
	return c
}

// fixed is the fixed client: one connection, n requests, closed by the
// client at the end.
func fixed(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(netip.AddrPortFrom(client, 40000), server, t0)
	f.Handshake()
	for range n {
		exchange(f, response)
		f.Sleep(time.Second)
	}
	f.Close(true)
	return c
}

// clients is n fixed clients, 10.0.0.10 and on, each with one connection
// of two requests: nothing leaks, but with fewer than n pairs tracked the
// verdict is inconclusive.
func clients(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range n {
		cli := netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})
		f := c.Flow(netip.AddrPortFrom(cli, 40000), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		exchange(f, response)
		f.Close(true)
	}
	return c
}

// run plays a capture through the engine into an Aggregator.
func run(t *testing.T, c *pcaptest.Capture) *Aggregator {
	t.Helper()
	a := New()
	eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 4096, IdleTimeout: -1, Emit: a.Add, ConnEnd: a.AddConn})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	return a
}

func summary(t *testing.T, a *Aggregator) (string, bool) {
	s, v := summaryVerdict(t, a)
	return s, v == OK
}

// summaryVerdict returns the summary and verdict lines, and the verdict.
func summaryVerdict(t *testing.T, a *Aggregator) (string, Verdict) {
	t.Helper()
	var b bytes.Buffer
	if err := a.WriteSummary(&b, ""); err != nil {
		t.Fatal(err)
	}
	v, err := a.WriteVerdict(&b, "reuse: ")
	if err != nil {
		t.Fatal(err)
	}
	if v != a.Verdict() {
		t.Errorf("WriteVerdict returned %v, Verdict() %v", v, a.Verdict())
	}
	return b.String(), v
}

func TestLeaky(t *testing.T) {
	a := run(t, leaky(5))
	got, ok := summary(t, a)
	want := "10.0.0.2 -> 10.0.0.3:8080: 5 connections, 5 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes, 4 not reused\n" +
		"  10.0.0.2 -> 10.0.0.3:8080: response time p50 20µs p95 20µs max 20µs; new connection 50µs (p50, 5), reused none\n" +
		"reuse: FAIL: connections not reused: 10.0.0.2 -> 10.0.0.3:8080: 4 connections offered keep-alive closed by the client after one request, then a new connection\n"
	if got != want || ok {
		t.Errorf("got (ok %v)\n%s\nwant\n%s", ok, got, want)
	}
	if a.Leaked() != 4 {
		t.Errorf("Leaked() = %d", a.Leaked())
	}
}

func TestFixed(t *testing.T) {
	got, ok := summary(t, run(t, fixed(5)))
	want := "10.0.0.2 -> 10.0.0.3:8080: 1 connection, 5 requests, 5.00 requests/connection, 0% single-request, keep-alive offered: yes\n" +
		"  10.0.0.2 -> 10.0.0.3:8080: response time p50 20µs p95 20µs max 20µs; new connection 50µs (p50, 1), reused 20µs (p50, 4)\n" +
		"reuse: ok: no connection offered keep-alive was closed by the client after one request before a new one\n"
	if got != want || !ok {
		t.Errorf("got (ok %v)\n%s\nwant\n%s", ok, got, want)
	}
}

// TestOneConnection: a single connection of one request is no leak: no
// connection followed it.
func TestOneConnection(t *testing.T) {
	if _, ok := summary(t, run(t, leaky(1))); !ok {
		t.Error("verdict failed")
	}
}

// TestServerClose: the server said Connection: close; the client had to
// open new connections.
func TestServerClose(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, closeRsp)
		f.Close(i%2 == 0)
	}
	got, ok := summary(t, run(t, c))
	if !ok || !strings.Contains(got, "3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: no\n") {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestServerClosed: keep-alive was offered but the server closed each
// connection (its idle timeout): not the client's doing.
func TestServerClosed(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Close(false)
	}
	if got, ok := summary(t, run(t, c)); !ok {
		t.Errorf("verdict failed:\n%s", got)
	}
}

// TestTruncated: connections still open when the capture ends (their entry
// is truncated) are not closed by the client, whatever follows them.
func TestTruncated(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	var flows []*pcaptest.Flow
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		flows = append(flows, f)
	}
	got, ok := summary(t, run(t, c))
	if !ok || !strings.Contains(got, "3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes\n") {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestClientReset: a RST from the client after one request is a close by
// the client.
func TestClientReset(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 2 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Reset(true)
	}
	a := run(t, c)
	if got, ok := summary(t, a); ok || a.Leaked() != 1 {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestClients: the capture of three fixed clients, with the table bounded
// at two pairs and at three.
func TestClients(t *testing.T) {
	for max, want := range map[int]Verdict{2: Inconclusive, 3: OK} {
		a := NewMax(max)
		eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 4096, IdleTimeout: -1, Emit: a.Add, ConnEnd: a.AddConn})
		pcaptest.Replay(t, clients(3).Pcap(), eng.Packet)
		eng.Finish()
		got, v := summaryVerdict(t, a)
		if v != want || len(a.Pairs()) != min(max, 3) {
			t.Errorf("max %d: %d pairs, got (%v)\n%s\nwant %v", max, len(a.Pairs()), v, got, want)
		}
	}
}

// TestPairs: clients and servers are told apart, HTTP/1.0 needs
// keep-alive, entries without a response count as requests.
func TestPairs(t *testing.T) {
	a := New()
	mk := func(cli string, port uint16, srv string, ann entry.Annotation, idx int, orig entry.Originator, resp string, at int) {
		head := resp
		e := &entry.Entry{
			Client: netip.AddrPortFrom(netip.MustParseAddr(cli), port), Server: netip.MustParseAddrPort(srv),
			Annotation: ann, Index: idx, Originator: orig,
			ConnStart: t0.Add(time.Duration(at) * time.Second),
		}
		if resp != "" {
			e.Response = entry.Message{Bytes: []byte(resp), Size: int64(len(resp)), HeaderLen: len(head), HTTP: true}
		}
		addEntry(a, e)
	}
	const v10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
	const v10ka = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
	mk("10.0.0.9", 1, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10, 0)
	mk("10.0.0.9", 2, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10, 1)
	mk("10.0.0.8", 1, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10ka, 0)
	mk("10.0.0.8", 2, "10.0.0.3:80", entry.Start, 1, entry.None, v10ka, 1)
	mk("10.0.0.8", 2, "10.0.0.3:80", entry.Last, 2, entry.Client, "", 1)
	mk("10.0.0.8", 3, "10.0.0.4:80", entry.Unique, 0, entry.Client, "", 2)
	var b bytes.Buffer
	a.WriteSummary(&b, "s: ")
	want := "s: 10.0.0.8 -> 10.0.0.3:80: 2 connections, 3 requests, 1.50 requests/connection, 50% single-request, keep-alive offered: yes, 1 not reused\n" +
		"s: 10.0.0.8 -> 10.0.0.4:80: 1 connection, 0 requests, 0.00 requests/connection, 0% single-request, keep-alive offered: unknown\n" +
		"s: 10.0.0.9 -> 10.0.0.3:80: 2 connections, 2 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: no\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteTestdata writes the leaky and fixed captures the command's
// scripts use (go test ./sniff/reuse -run WriteTestdata -update), and
// checks that the committed ones are current.
func TestWriteTestdata(t *testing.T) {
	for name, c := range map[string]*pcaptest.Capture{"leaky.pcap": leaky(5), "fixed.pcap": fixed(5), "clients.pcap": clients(3)} {
		path := filepath.Join("testdata", name)
		if *update {
			os.MkdirAll("testdata", 0o755)
			c.WriteFile(t, path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(b, c.Pcap()) {
			t.Errorf("%s is stale: go test ./sniff/reuse -run WriteTestdata -update", path)
		}
	}
}

// addConn adds the entry of a single-request connection from cli:port to
// srv started at second at: closed by the client after a keep-alive offer
// when leak is set, else closed by the server.
func addConn(a *Aggregator, cli netip.Addr, port uint16, srv netip.AddrPort, at int, leak bool) {
	orig := entry.Server
	if leak {
		orig = entry.Client
	}
	addEntry(a, &entry.Entry{
		Client: netip.AddrPortFrom(cli, port), Server: srv,
		Annotation: entry.Unique, Index: 1, Originator: orig,
		ConnStart: t0.Add(time.Duration(at) * time.Second),
		Response:  entry.Message{Bytes: []byte(response), Size: int64(len(response)), HeaderLen: len(response) - 5, HTTP: true},
	})
}

// TestBound: past MaxPairs no pair is added; the entries of other pairs
// are counted, the summary says so, the verdict is inconclusive (exit 3
// for the command), not ok; the pairs already tracked still are.
func TestBound(t *testing.T) {
	a := NewMax(2)
	if a.MaxPairs() != 2 {
		t.Fatalf("MaxPairs() = %d", a.MaxPairs())
	}
	srv := netip.MustParseAddrPort("10.0.0.3:80")
	for i := range 5 {
		cli := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		addConn(a, cli, 1000, srv, 2*i, false)
		addConn(a, cli, 1001, srv, 2*i+1, false)
	}
	// The first pair, tracked, gets a further connection; an untracked
	// pair's entry that is not a connection's first is counted too.
	addConn(a, netip.AddrFrom4([4]byte{10, 1, 0, 0}), 1002, srv, 20, false)
	addEntry(a, &entry.Entry{Client: netip.MustParseAddrPort("10.1.0.4:1001"), Server: srv, Annotation: entry.Last, Index: 2, Originator: entry.Client})
	if n := len(a.Pairs()); n != 2 {
		t.Errorf("%d pairs tracked, want 2", n)
	}
	if c, e := a.Untracked(); c != 6 || e != 7 {
		t.Errorf("Untracked() = %d connections, %d entries; want 6, 7", c, e)
	}
	got, v := summaryVerdict(t, a)
	want := "10.1.0.0 -> 10.0.0.3:80: 3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes\n" +
		"10.1.0.1 -> 10.0.0.3:80: 2 connections, 2 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes\n" +
		"table full: 2 client -> server pairs tracked, 6 connections (7 entries) of other pairs not tracked\n" +
		"reuse: inconclusive: 6 connections not checked (table full: 2 client -> server pairs tracked); no tracked connection offered keep-alive was closed by the client after one request before a new one\n"
	if got != want || v != Inconclusive {
		t.Errorf("got (%v)\n%s\nwant (inconclusive)\n%s", v, got, want)
	}
}

// TestBoundLeakFails: a leak among the tracked pairs fails the verdict
// even when the table overflowed.
func TestBoundLeakFails(t *testing.T) {
	a := NewMax(1)
	srv := netip.MustParseAddrPort("10.0.0.3:80")
	addConn(a, client, 1, srv, 0, true)
	addConn(a, client, 2, srv, 1, true)
	addConn(a, netip.MustParseAddr("10.0.0.7"), 1, srv, 2, false)
	got, v := summaryVerdict(t, a)
	want := "reuse: FAIL: connections not reused: 10.0.0.2 -> 10.0.0.3:80: 1 connection offered keep-alive closed by the client after one request, then a new connection (and 1 connection not checked: table full)\n"
	if v != NotReused || !strings.HasSuffix(got, want) || !strings.Contains(got, "table full: 1 client -> server pair tracked, 1 connection (1 entry) of other pairs not tracked\n") {
		t.Errorf("got (%v)\n%s\nwant (not reused) ending\n%s", v, got, want)
	}
}

// TestDefaultBound: New tracks DefaultMaxPairs pairs, not one more, and
// one client past them makes the verdict inconclusive.
func TestDefaultBound(t *testing.T) {
	a := New()
	if a.MaxPairs() != DefaultMaxPairs || NewMax(0).MaxPairs() != DefaultMaxPairs {
		t.Fatalf("MaxPairs() = %d, NewMax(0).MaxPairs() = %d", a.MaxPairs(), NewMax(0).MaxPairs())
	}
	for i := range DefaultMaxPairs {
		addConn(a, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 1, server, i, false)
	}
	if v := a.Verdict(); v != OK {
		t.Fatalf("at the bound: verdict %v, want ok", v)
	}
	addConn(a, netip.MustParseAddr("10.3.0.0"), 1, server, 0, false)
	if n := len(a.pairs); n != DefaultMaxPairs {
		t.Errorf("%d pairs in the table, want %d", n, DefaultMaxPairs)
	}
	if c, e := a.Untracked(); c != 1 || e != 1 {
		t.Errorf("Untracked() = %d, %d; want 1, 1", c, e)
	}
	if v := a.Verdict(); v != Inconclusive {
		t.Errorf("past the bound: verdict %v, want inconclusive", v)
	}
}

// TestSameStart: many candidates that started at the same instant are all
// leaks once a later connection starts (the pending count), none before.
func TestSameStart(t *testing.T) {
	a := New()
	for i := range 1000 {
		addConn(a, client, uint16(i+1), server, 5, true)
	}
	if a.Leaked() != 0 {
		t.Fatalf("Leaked() = %d before a later connection", a.Leaked())
	}
	addConn(a, client, 2000, server, 4, true) // earlier: followed already
	if a.Leaked() != 1 {
		t.Fatalf("Leaked() = %d after an earlier candidate, want 1", a.Leaked())
	}
	addConn(a, client, 2001, server, 6, false)
	if a.Leaked() != 1001 {
		t.Errorf("Leaked() = %d, want 1001", a.Leaked())
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{OK: "ok", NotReused: "not reused", Inconclusive: "inconclusive", 7: "Verdict(7)"} {
		if v.String() != want {
			t.Errorf("%d: %q, want %q", int(v), v.String(), want)
		}
	}
}

// TestAddAllocs: counting an entry and the end of its connection, of a pair
// already in the table or of one the full table leaves out, allocates
// nothing.
func TestAddAllocs(t *testing.T) {
	a := NewMax(1)
	e := &entry.Entry{
		Client: netip.AddrPortFrom(client, 1), Server: server, Conn: 1,
		Annotation: entry.Unique, Index: 1, Originator: entry.Client, ConnStart: t0,
		Response: entry.Message{Bytes: []byte(response), Size: int64(len(response)), HeaderLen: len(response) - 5, HTTP: true},
	}
	ce := &entry.ConnEnd{Conn: 1, Client: e.Client, Server: server, Opened: true, Start: t0, Exchanges: 1, Originator: entry.Client}
	other := *e
	other.Client = netip.MustParseAddrPort("10.9.9.9:1")
	otherEnd := *ce
	otherEnd.Client = other.Client
	a.Add(e)
	a.AddConn(ce)
	n := testing.AllocsPerRun(100, func() {
		ce.Start = ce.Start.Add(time.Second)
		a.Add(e)
		a.AddConn(ce)
		a.Add(&other)
		a.AddConn(&otherEnd)
	})
	if n != 0 {
		t.Errorf("%v allocations per Add and AddConn", n)
	}
	if c, _ := a.Untracked(); c != 101 || a.Leaked() != 101 { // AllocsPerRun runs fn once more to warm up
		t.Errorf("untracked %d, leaked %d; want 101, 101", c, a.Leaked())
	}
}

// legacy is what addEntry needs to turn entries into connection ends.
type legacy struct {
	ids  map[string]uint64
	n    map[string]int
	next uint64
}

var legacies = map[*Aggregator]*legacy{}

// addEntry gives a an entry built by hand and, when the entry is the final
// one of a connection whose first entry (start or unique) it was given,
// the end of that connection as the engine would report it: for tests of
// the aggregator alone.
func addEntry(a *Aggregator, e *entry.Entry) {
	l := legacies[a]
	if l == nil {
		l = &legacy{ids: map[string]uint64{}, n: map[string]int{}}
		legacies[a] = l
	}
	k := e.Client.String() + ">" + e.Server.String()
	if e.Annotation == entry.Start || e.Annotation == entry.Unique {
		l.next++
		l.ids[k] = l.next
		l.n[k] = 0
	}
	id, open := l.ids[k]
	e.Conn = id
	a.Add(e)
	if !open {
		return
	}
	if e.Index >= 1 {
		l.n[k]++
	}
	if e.Annotation.Final() || e.Originator != entry.None {
		a.AddConn(&entry.ConnEnd{Conn: id, Client: e.Client, Server: e.Server, Opened: true, Start: e.ConnStart,
			Exchanges: l.n[k], Originator: e.Originator})
		delete(l.ids, k)
	}
}

// FuzzAggregator adds entries (and the ends of their connections, see
// addEntry) built from arbitrary bytes (addresses,
// annotation, index, originator, start, response head) to a small table:
// no panic, the table stays within its bound, and the figures stay
// consistent.
func FuzzAggregator(f *testing.F) {
	f.Add([]byte("\x01\x02\x00\x01\x02\x05HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("\x00\x00\x03\x02\x00\x00HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n\x07\x01\x00\x01\x01\x09"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4
		clear(legacies)
		a := NewMax(max)
		total := 0
		for len(data) >= 6 {
			h := data[:6]
			data = data[6:]
			n := min(len(data), int(h[5]&0x3f))
			resp := data[:n]
			data = data[n:]
			e := &entry.Entry{
				Client:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, h[0] & 7}), uint16(h[1])),
				Server:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, h[0] >> 5}), 80),
				Annotation: entry.Annotation(h[2] % 5),
				Index:      int(h[3]%4) - 1,
				Originator: entry.Originator(h[4] % 6),
				ConnStart:  t0.Add(time.Duration(h[4]>>3) * time.Second),
			}
			if len(resp) > 0 {
				e.Response = entry.Message{Bytes: resp, Size: int64(len(resp)), HeaderLen: len(resp), HTTP: true}
			}
			addEntry(a, e)
			total++
		}
		ps := a.Pairs()
		if len(ps) > max {
			t.Fatalf("%d pairs, bound %d", len(ps), max)
		}
		conns, entries := a.Untracked()
		for _, p := range ps {
			if p.Single > p.Connections || p.Leaked > p.Connections || p.pending > p.Connections || p.Offered+p.NotOffered > total {
				t.Fatalf("inconsistent pair %+v", p)
			}
		}
		if conns > entries || entries > total {
			t.Fatalf("untracked %d connections, %d entries of %d", conns, entries, total)
		}
		var b bytes.Buffer
		if err := a.WriteSummary(&b, ""); err != nil {
			t.Fatal(err)
		}
		v, err := a.WriteVerdict(&b, "")
		if err != nil {
			t.Fatal(err)
		}
		if (v == OK) != (a.Leaked() == 0 && entries+conns == 0 && a.Judged() > 0) {
			t.Fatalf("verdict %v with %d leaked, %d untracked entries, %d judged", v, a.Leaked(), entries, a.Judged())
		}
		if (a.Reason() == "") != (a.Judged() > 0) {
			t.Fatalf("reason %q with %d judged", a.Reason(), a.Judged())
		}
	})
}

// slowClose is the leaky client closing each connection only after it was
// idle for idle: n connections, one request each.
func slowClose(n int, idle time.Duration) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	at := t0
	for i := range n {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, at)
		f.Handshake()
		exchange(f, response)
		f.Sleep(idle)
		f.Close(true)
		at = f.Now().Add(10 * time.Millisecond)
	}
	return c
}

// live plays a capture as a live capture sees it: the engine's timer ticks
// every 100 ms of capture time between packets, so --flush-after prints
// idle connections' entries early.
func live(t *testing.T, c *pcaptest.Capture, a *Aggregator, flushAfter time.Duration, emit func(*entry.Entry)) {
	t.Helper()
	eng := sniff.New(sniff.Config{FlushAfter: flushAfter, HeaderCap: 4096, ConnEnd: a.AddConn, Emit: func(e *entry.Entry) {
		a.Add(e)
		emit(e)
	}})
	var last time.Time
	pcaptest.Replay(t, c.Pcap(), func(link layers.LinkType, ts time.Time, frame []byte) {
		for !last.IsZero() && ts.Sub(last) > 100*time.Millisecond {
			last = last.Add(100 * time.Millisecond)
			eng.Tick(last)
		}
		last = ts
		eng.Packet(link, ts, frame)
	})
	eng.Finish()
}

// TestSlowCloseLive: one request per connection, each closed by the client
// after 1.5 s idle, three times. Live with --flush-after 1s the entries are
// printed before the close, so they cannot say start or unique: they say
// open. The summary and verdict come from the connections' lives, and are
// the file's: not reused.
func TestSlowCloseLive(t *testing.T) {
	c := slowClose(3, 1500*time.Millisecond)
	file := run(t, c)
	wantSum := "10.0.0.2 -> 10.0.0.3:8080: 3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes, 2 not reused\n"
	fileSum, v := summaryVerdict(t, file)
	if !strings.HasPrefix(fileSum, wantSum) || v != NotReused {
		t.Fatalf("file: (%v)\n%s", v, fileSum)
	}
	a := New()
	var labels []string
	live(t, c, a, time.Second, func(e *entry.Entry) {
		labels = append(labels, e.Annotation.String()+" "+e.Originator.String())
	})
	if want := []string{"open ", "open ", "open "}; !slices.Equal(labels, want) {
		t.Errorf("live labels %q, want %q", labels, want)
	}
	liveSum, v := summaryVerdict(t, a)
	if liveSum != fileSum || v != NotReused {
		t.Errorf("live: (%v)\n%s\nfile:\n%s", v, liveSum, fileSum)
	}
	// Without the early print, live is the file.
	a = New()
	labels = nil
	live(t, c, a, 0, func(e *entry.Entry) { labels = append(labels, e.Annotation.String()) })
	if want := []string{"unique", "unique", "unique"}; !slices.Equal(labels, want) {
		t.Errorf("--flush-after 0: labels %q, want %q", labels, want)
	}
}

// TestEvictionIsInconclusive: more concurrent connections than the table
// holds: no request is printed twice, and the verdict cannot be ok.
func TestEvictionIsInconclusive(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	var flows []*pcaptest.Flow
	for i := range 8 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(41000+i)), server, t0)
		f.Handshake()
		flows = append(flows, f)
	}
	for round := range 5 {
		for _, f := range flows {
			f.ClientSend([]byte(request))
		}
		for _, f := range flows {
			f.ServerSend([]byte(response))
			f.Ack(true)
		}
		_ = round
	}
	for _, f := range flows {
		f.Close(true)
	}
	a := New()
	var requests, responses int
	eng := sniff.New(sniff.Config{MaxConns: 2, HeaderCap: 4096, ConnEnd: a.AddConn, Emit: func(e *entry.Entry) {
		a.Add(e)
		if e.Request.Size > 0 {
			requests++
		}
		if e.Response.Size > 0 && e.Request.Size == 0 {
			responses++ // a response printed without its request
		}
	}})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	if requests > 40 || responses != 0 {
		t.Errorf("%d entries with a request (40 sent), %d with a response alone", requests, responses)
	}
	sum, v := summaryVerdict(t, a)
	if v != Inconclusive || !strings.Contains(sum, "evicted from the connection table") {
		t.Errorf("(%v)\n%s", v, sum)
	}
}

// TestNothingJudged: without a connection that carried an HTTP response
// the verdict is inconclusive, never ok, with the reason.
func TestNothingJudged(t *testing.T) {
	// A TLS ClientHello's first bytes (record header, handshake type 1).
	hello := "\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + strings.Repeat("\x00", 32) + "\x00\x00\x02\x13\x01\x01\x00"
	conns := func(n int, req, resp string) *pcaptest.Capture {
		c := pcaptest.New(layers.LinkTypeEthernet)
		for i := range n {
			f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
			f.Handshake()
			f.ClientSend([]byte(req))
			f.Ack(false)
			if resp != "" {
				f.ServerSend([]byte(resp))
				f.Ack(true)
			}
			f.Close(true)
		}
		return c
	}
	for name, c := range map[string]struct {
		a    *Aggregator
		want string
	}{
		"nothing":     {New(), "reuse: inconclusive: no HTTP or TLS exchange seen (check the filter, the interface and the network namespace)\n"},
		"tls":         {run(t, conns(3, hello, "\x16\x03\x03\x00\x02\x02\x00")), "reuse: inconclusive: no HTTP response or TLS round trip seen (3 connections, 3 entries)\n"},
		"redis":       {run(t, conns(2, "PING\r\n", "+PONG\r\n")), "reuse: inconclusive: no HTTP response or TLS round trip seen (2 connections, 2 entries)\n"},
		"no-response": {run(t, conns(2, request, "")), "reuse: inconclusive: no HTTP response or TLS round trip seen (2 connections, 2 entries)\n"},
	} {
		got, v := summaryVerdict(t, c.a)
		if v != Inconclusive || !strings.HasSuffix(got, c.want) || c.a.Judged() != 0 || c.a.Reason() == "" {
			t.Errorf("%s: got (%v, %d judged)\n%s\nwant (inconclusive) ending\n%s", name, v, c.a.Judged(), got, c.want)
		}
	}
	// One judged connection among them is enough.
	c := conns(2, "PING\r\n", "+PONG\r\n")
	f := c.Flow(netip.AddrPortFrom(client, 41000), server, t0.Add(time.Minute))
	f.Handshake()
	exchange(f, response)
	exchange(f, response)
	f.Close(true)
	a := run(t, c)
	if got, v := summaryVerdict(t, a); v != OK || a.Judged() != 1 || a.Reason() != "" || strings.Contains(got, "note:") {
		t.Errorf("with an HTTP connection: got (%v, %d judged, reason %q)\n%s", v, a.Judged(), a.Reason(), got)
	}
}

// TestOKNotes: a lone connection of one request, and a server that never
// offers keep-alive, are ok, with a note saying what was not tested.
func TestOKNotes(t *testing.T) {
	got, v := summaryVerdict(t, run(t, leaky(1)))
	if v != OK || !strings.HasSuffix(got, "before a new one; note: a lone connection of one request per client -> server pair: reuse was not put to the test\n") {
		t.Errorf("lone connection: got (%v)\n%s", v, got)
	}
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, closeRsp)
		f.Close(false)
	}
	got, v = summaryVerdict(t, run(t, c))
	if v != OK || !strings.HasSuffix(got, "before a new one; note: the server never offered keep-alive\n") {
		t.Errorf("no keep-alive: got (%v)\n%s", v, got)
	}
}

// TestNames: with the entries' peer names, the summary and the verdict name
// the pair (the server's port kept); a name that is not printable is
// quoted.
func TestNames(t *testing.T) {
	for _, tc := range []struct{ client, server, label string }{
		{"web", "api", "web -> api:8080"},
		{"", "api", "10.0.0.2 -> api:8080"},
		{"web", "", "web -> 10.0.0.3:8080"},
		{"we\x1bb", "a pi", `"we\x1bb" -> "a pi":8080`},
	} {
		a := New()
		name := func(e *entry.Entry) { e.SourceName, e.DestName = tc.client, tc.server; a.Add(e) }
		eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 4096, IdleTimeout: -1, Emit: name, ConnEnd: a.AddConn})
		pcaptest.Replay(t, leaky(3).Pcap(), eng.Packet)
		eng.Finish()
		got, _ := summaryVerdict(t, a)
		want := tc.label + ": 3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes, 2 not reused\n" +
			"  " + tc.label + ": response time p50 20µs p95 20µs max 20µs; new connection 50µs (p50, 3), reused none\n" +
			"reuse: FAIL: connections not reused: " + tc.label + ": 2 connections offered keep-alive closed by the client after one request, then a new connection\n"
		if got != want {
			t.Errorf("names %q %q: got\n%s\nwant\n%s", tc.client, tc.server, got, want)
		}
	}
}
