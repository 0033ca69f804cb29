package metrics

import (
	"bufio"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/internal/require"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/live"
)

var (
	client = netip.MustParseAddr("10.0.0.2")
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	request  = "GET / HTTP/1.1\r\nHost: app\r\n\r\n"
	response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
)

// conns plays n connections to server, each of reqs exchanges answered
// after delay, closed by the client (the server when serverClose).
func conns(c *pcaptest.Capture, server netip.AddrPort, n, reqs int, delay time.Duration, serverClose bool, start time.Time) {
	for i := range n {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, start.Add(time.Duration(i)*time.Second))
		f.Step = 0
		f.Handshake()
		for range reqs {
			f.Sleep(time.Millisecond)
			f.ClientSend([]byte(request))
			f.Ack(false)
			f.Sleep(delay)
			f.ServerSend([]byte(response))
			f.Ack(true)
		}
		f.Close(!serverClose)
	}
}

// play runs c through an engine into m, and copies the engine's counters.
func play(t *testing.T, m *Metrics, c *pcaptest.Capture) {
	t.Helper()
	eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 4096, IdleTimeout: -1, Emit: m.Entry, ConnEnd: m.Conn})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	m.SetEngine(eng.Stats(), eng.Conns())
}

// scrape serves m on a loopback port and returns one scrape of /metrics.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %v %v\n%s", resp.Status, err, b)
	}
	return string(b)
}

// value returns the value of series (name and labels, as exposed) in body.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in\n%s", series, body)
	return 0
}

type fakeSource struct{ st live.Stats }

func (f *fakeSource) Stats() (live.Stats, error) { return f.st, nil }

// TestCounts: 3 connections of one request answered after 10 ms, closed by
// the client, and 2 of four answered after 30 ms, closed by the server,
// on another server.
func TestCounts(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.3:8080"), netip.MustParseAddrPort("10.0.0.4:80")
	c := pcaptest.New(layers.LinkTypeEthernet)
	conns(c, a, 3, 1, 10*time.Millisecond, false, t0)
	conns(c, b, 2, 4, 30*time.Millisecond, true, t0.Add(time.Minute))
	m := New(0)
	play(t, m, c)
	src := &fakeSource{live.Stats{Packets: 1234, Dropped: 5}}
	m.SetSource(src)
	body := scrape(t, m)
	for _, w := range []struct {
		series string
		want   float64
	}{
		{`sniffer_requests_total{server="10.0.0.3:8080"}`, 3},
		{`sniffer_requests_total{server="10.0.0.4:80"}`, 8},
		{`sniffer_connections_opened_total{server="10.0.0.3:8080"}`, 3},
		{`sniffer_connections_opened_total{server="10.0.0.4:80"}`, 2},
		{`sniffer_connections_closed_total{originator="client",server="10.0.0.3:8080"}`, 3},
		{`sniffer_connections_closed_total{originator="server",server="10.0.0.3:8080"}`, 0},
		{`sniffer_connections_closed_total{originator="server",server="10.0.0.4:80"}`, 2},
		{`sniffer_connection_requests_count{server="10.0.0.4:80"}`, 2},
		{`sniffer_connection_requests_sum{server="10.0.0.4:80"}`, 8},
		{`sniffer_connection_requests_bucket{server="10.0.0.4:80",le="2"}`, 0},
		{`sniffer_connection_requests_bucket{server="10.0.0.4:80",le="4"}`, 2},
		{`sniffer_response_time_seconds_count{server="10.0.0.3:8080"}`, 3},
		{`sniffer_response_time_seconds_bucket{server="10.0.0.3:8080",le="0.0064"}`, 0},
		{`sniffer_response_time_seconds_bucket{server="10.0.0.3:8080",le="0.0128"}`, 3},
		{`sniffer_response_time_seconds_bucket{server="10.0.0.4:80",le="0.0256"}`, 0},
		{`sniffer_response_time_seconds_bucket{server="10.0.0.4:80",le="0.0512"}`, 8},
		{`sniffer_metrics_servers`, 2},
		{`sniffer_metrics_folded_total`, 0},
		{`sniffer_entries_total`, 11},
		{`sniffer_connections_tracked_total`, 5},
		{`sniffer_connections_open`, 0},
		{`sniffer_packets_captured_total`, float64(c.Len())},
		{`sniffer_packets_dropped_total`, 5},
		{`sniffer_connections_evicted_total`, 0},
		{`sniffer_packets_skipped_total{reason="not_ip"}`, 0},
	} {
		if got := value(t, body, w.series); got != w.want {
			t.Errorf("%s = %v, want %v", w.series, got, w.want)
		}
	}
	if got := value(t, body, `sniffer_response_time_seconds_sum{server="10.0.0.3:8080"}`); got < 0.0299 || got > 0.0301 {
		t.Errorf("response time sum %v, want 0.03", got)
	}
	// The source ends (attach: the container restarts), a new one starts.
	m.EndSource()
	src.st = live.Stats{Packets: 999}
	m.SetSource(&fakeSource{live.Stats{Packets: 10, Dropped: 1}})
	body = scrape(t, m)
	if got := value(t, body, "sniffer_packets_dropped_total"); got != 6 {
		t.Errorf("after a new source: %v packets dropped, want 6", got)
	}
	checkExposition(t, body)
}

// checkExposition runs promtool check metrics on body.
func checkExposition(t *testing.T, body string) {
	t.Helper()
	promtool := require.Tool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestCap: past the cap, servers share the "other" series, and what was
// folded is counted.
func TestCap(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 5 {
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)}), 80)
		conns(c, s, 1, 2, time.Millisecond, false, t0.Add(time.Duration(i)*time.Minute))
	}
	m := New(2)
	play(t, m, c)
	body := scrape(t, m)
	if got := value(t, body, `sniffer_metrics_servers`); got != 2 {
		t.Errorf("%v servers with their own series, want 2", got)
	}
	if got := value(t, body, `sniffer_requests_total{server="10.0.1.1:80"}`); got != 2 {
		t.Errorf("first server: %v requests", got)
	}
	if got := value(t, body, `sniffer_requests_total{server="other"}`); got != 6 {
		t.Errorf("other: %v requests, want 6", got)
	}
	// 3 servers folded: 2 entries and 1 connection end each.
	if got := value(t, body, `sniffer_metrics_folded_total`); got != 9 {
		t.Errorf("folded %v, want 9", got)
	}
	if strings.Contains(body, "10.0.1.3") {
		t.Error("a server past the cap has series of its own")
	}
	checkExposition(t, body)
}

// TestNoAlloc: recording an entry and a connection end of a known server
// allocates nothing.
func TestNoAlloc(t *testing.T) {
	m := New(0)
	e := &entry.Entry{Client: netip.MustParseAddrPort("10.0.0.2:40000"), Server: netip.MustParseAddrPort("10.0.0.3:8080"), Index: 2}
	e.Request.First, e.Request.Last = t0, t0
	e.Response.First, e.Response.Last = t0.Add(time.Millisecond), t0.Add(2*time.Millisecond)
	ce := &entry.ConnEnd{Client: e.Client, Server: e.Server, Exchanges: 3, Originator: entry.Client}
	m.Entry(e)
	m.Conn(ce)
	if n := testing.AllocsPerRun(100, func() { m.Entry(e); m.Conn(ce) }); n != 0 {
		t.Errorf("%v allocations per entry and connection end", n)
	}
	var st sniff.Stats
	if n := testing.AllocsPerRun(100, func() { m.SetEngine(st, 1) }); n != 0 {
		t.Errorf("SetEngine: %v allocations", n)
	}
	// A hostile originator value does not index out of range.
	ce.Originator = 200
	m.Conn(ce)
}

// TestAddressInUse: Listen on an address in use fails at once.
func TestAddressInUse(t *testing.T) {
	m := New(0)
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if s2, err := New(0).Listen(srv.Addr().String()); err == nil {
		s2.Close()
		t.Fatal("second Listen on the same address succeeded")
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q", err)
	}
	resp, err := http.Get("http://" + srv.Addr().String() + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/nope: %s", resp.Status)
	}
}

// TestConcurrentScrape: scrapes run while the engine's goroutine records
// (meaningful under -race).
func TestConcurrentScrape(t *testing.T) {
	m := New(4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := m.Registry().Gather(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	e := &entry.Entry{Index: 1}
	e.Request.First, e.Request.Last, e.Response.Last = t0, t0, t0.Add(time.Millisecond)
	var st sniff.Stats
	for i := range 2000 {
		e.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 8)}), 80)
		m.Entry(e)
		m.Conn(&entry.ConnEnd{Server: e.Server, Exchanges: 1, Originator: entry.Server})
		st.Packets++
		m.SetEngine(st, i)
	}
	<-done
	m.SetSource(&fakeSource{})
	m.EndSource()
}
