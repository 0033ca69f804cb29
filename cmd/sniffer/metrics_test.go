package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/sniffer/sniffer/internal/require"
)

// TestMetricsUsage: --metrics with -f is a mistake in the command line:
// one line, exit status 2.
func TestMetricsUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	st := run([]string{"-f", "x.pcap", "--metrics", "127.0.0.1:0"}, nil, &stdout, &stderr)
	want := "sniffer: --metrics does not apply to -f: it serves the metrics of a live capture (live or attach) (see sniffer --help)\n"
	if st != 2 || stderr.String() != want {
		t.Errorf("status %d, stderr %q; want 2, %q", st, stderr.String(), want)
	}
}

// TestMetricsAddressInUse: --metrics on an address in use is one line and
// exit status 4 before any capture starts (no root needed: the capture
// is never opened), live and with attach (before Docker is asked).
func TestMetricsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, args := range [][]string{{"--metrics", addr}, {"attach", "nosuchcontainer", "--metrics", addr}} {
		var stdout, stderr bytes.Buffer
		st := run(args, nil, &stdout, &stderr)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if st != exitFailed || len(lines) != 1 || !strings.HasPrefix(lines[0], "sniffer: --metrics: listen tcp "+addr) ||
			!strings.HasSuffix(lines[0], "address already in use") {
			t.Errorf("%v: status %d, stderr %q; want 4 and one line: address already in use", args, st, stderr.String())
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: stdout %q", args, stdout.String())
		}
	}
}

// inNetns runs f on a thread in the network namespace ns: the sockets f
// creates stay there.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

// freePorts returns n distinct free TCP ports of 127.0.0.1 in ns.
func freePorts(t *testing.T, ns string, n int) []string {
	t.Helper()
	var ports []string
	err := inNetns(ns, func() error {
		for range n {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// nsClient is an HTTP client whose connections are made in ns.
func nsClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
}

// promQuery returns the value of the one series the instant query q
// selects in the Prometheus at base, and false while there is none.
func promQuery(hc *http.Client, base, q string) (float64, bool, error) {
	resp, err := hc.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, false, fmt.Errorf("%s: %v: %s", resp.Status, err, b)
	}
	if r.Status != "success" {
		return 0, false, fmt.Errorf("query %s: %s %s", q, r.Status, r.Error)
	}
	if len(r.Data.Result) != 1 {
		return 0, false, nil
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil, err
}

// TestMetricsPrometheus: a live sniffer with --metrics scraped by a real
// Prometheus (Debian's), started here in the server's namespace with its
// own storage and a 1 s scrape interval: once a client made five requests
// on one connection, Prometheus's API has them, with their response
// times, the connection closed by the client and the packets captured;
// promtool accepts the exposition.
func TestMetricsPrometheus(t *testing.T) {
	requireRoot(t)
	prom := require.Tool(t, "prometheus")
	promtool := require.Tool(t, "promtool")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &liveEnv{bin: buildSniffer(t, t.TempDir()), self: self}
	srv, cli, _ := twoNamespaces(t)
	ports := freePorts(t, srv, 2)
	metricsAddr, promAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sniffer\n    scrape_interval: 1s\n    static_configs:\n      - targets: [%q]\n", metricsAddr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	e.server(t, srv, "10.66.0.1:8080")
	// -p: not the scrapes and queries on loopback.
	sn := e.sniffer(t, srv, "--metrics", metricsAddr, "-p", "tcp port 8080", "-l", storyFormat)
	// startIn kills it (by its PID: ip netns exec execs it) when the test ends.
	startIn(t, srv, nil, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	finish(t, e.client(t, cli, "read", "5", "http://10.66.0.1:8080/big/read/"))

	hc := nsClient(srv)
	base := "http://" + promAddr
	want := []struct {
		query string
		ok    func(float64) bool
		says  string
	}{
		{`sniffer_requests_total{job="sniffer",server="10.66.0.1:8080"}`, func(v float64) bool { return v == 5 }, "5"},
		{`sniffer_response_time_seconds_count{server="10.66.0.1:8080"}`, func(v float64) bool { return v == 5 }, "5"},
		{`sniffer_connections_opened_total{server="10.66.0.1:8080"}`, func(v float64) bool { return v == 1 }, "1"},
		{`sniffer_connections_closed_total{server="10.66.0.1:8080",originator="client"}`, func(v float64) bool { return v == 1 }, "1"},
		{`sniffer_connection_requests_sum{server="10.66.0.1:8080"}`, func(v float64) bool { return v == 5 }, "5"},
		{`sniffer_packets_captured_total`, func(v float64) bool { return v > 10 }, "more than 10"},
		{`sniffer_packets_dropped_total`, func(v float64) bool { return v == 0 }, "0"},
		{`sniffer_metrics_folded_total`, func(v float64) bool { return v == 0 }, "0"},
	}
	for _, w := range want {
		// Bounded: Prometheus starts, then scrapes every second.
		var last string
		for i := 0; ; i++ {
			v, ok, err := promQuery(hc, base, w.query)
			if ok && w.ok(v) {
				break
			}
			last = fmt.Sprintf("value %v (found %v), error %v", v, ok, err)
			if i == 120 {
				t.Fatalf("Prometheus: %s: %s; want %s", w.query, last, w.says)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	resp, err := hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// SIGTERM: exit status 0 and the summary (the wait bounds a hang, the
	// test does not time the exit: the machine may be loaded).
	if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := sn.wait(30 * time.Second); st != 0 {
		t.Fatalf("sniffer exit status %d after SIGTERM; want 0", st)
	}
	got, sum := entries(sn), parseSummary(t, sn)
	if len(got) != 5 || sum.entries != 5 {
		t.Errorf("entries %q, summary %+v; want 5", got, sum)
	}
}

// testAttachMetrics: attach with --metrics serves the container's traffic
// (TestDocker's app, port 8080, which its clients keep calling) on the
// host's loopback while it captures in the container's namespace.
func testAttachMetrics(t *testing.T, bin, app string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "attach", app, "--metrics", addr, "-p", "port 8080")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	re := regexp.MustCompile(`(?m)^sniffer_requests_total\{server="[0-9.]+:8080"\} ([0-9.e+]+)$`)
	var body string
	ok := waitFor(15*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		m := re.FindStringSubmatch(body)
		return m != nil && m[1] != "0"
	})
	if !ok {
		t.Fatalf("no requests to :8080 in /metrics:\n%s\nsniffer stderr:\n%s", body, stderr.String())
	}
	if !strings.Contains(body, "sniffer_packets_captured_total ") || !strings.Contains(body, `sniffer_connections_closed_total{originator="client"`) {
		t.Errorf("/metrics lacks captured packets or closed connections:\n%s", body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if waitErr != nil {
		t.Errorf("attach exited with %v after SIGTERM:\n%s", waitErr, stderr.String())
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("/metrics still served after attach exited")
	}
}
