package sniff_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/internal/tlstest"
	"github.com/sniffer/sniffer/sniff/logformat"
	"github.com/sniffer/sniffer/sniff/reuse"
)

// goClient runs Go's HTTP client against an httptest TLS server over
// loopback, n requests, and returns the connections it made. drain says
// whether it reads the response bodies (a client that does not, and closes
// them, does not reuse its connections).
func goClient(t *testing.T, h2 bool, n int, drain bool) []tlstest.Conn {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("hello ", 2000))
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	defer srv.Close()
	var d tlstest.Dialer
	base := srv.Client().Transport.(*http.Transport)
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: base.TLSClientConfig.Clone(), ForceAttemptHTTP2: h2}
	tr.TLSClientConfig.ServerName = "example.com"
	cl := &http.Client{Transport: tr}
	for i := 0; i < n; i++ {
		resp, err := cl.Get(srv.URL + fmt.Sprintf("/item/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if drain {
			io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	// The connections close in the background: wait until each has been
	// closed by the client or read to its end (no timing is asserted).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		done := true
		for _, c := range d.Conns() {
			if !c.Ended {
				done = false
			}
		}
		if done {
			break
		}
	}
	return d.Conns()
}

// playConns replays recorded connections one after the other.
func playConns(conns []tlstest.Conn) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	start := t0
	for i, rc := range conns {
		f := c.Flow(netip.AddrPortFrom(cli4.Addr(), uint16(42000+i)), srv443, start)
		f.Handshake()
		tlstest.Play(f, rc.Events, rc.ServerClosed)
		start = f.Now().Add(time.Millisecond)
	}
	return c
}

// verdictOf runs a capture through the engine and the reuse aggregator.
func verdictOf(t *testing.T, c *pcaptest.Capture, format string) (reuse.Verdict, string, string) {
	t.Helper()
	lf, err := logformat.Parse(format)
	if err != nil {
		t.Fatal(err)
	}
	agg := reuse.New()
	var out []byte
	eng := sniff.New(sniff.Config{Emit: func(e *entry.Entry) {
		out = lf.Append(out, e, &logformat.Options{NotFound: "-"})
		out = append(out, '\n')
		agg.Add(e)
	}, ConnEnd: agg.AddConn})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	var b strings.Builder
	agg.WriteSummary(&b, "")
	v, _ := agg.WriteVerdict(&b, "")
	return v, string(out), b.String()
}

// TestGoHTTPSClientReuse is the case: Go's HTTP client over TLS
// that does not reuse its connections fails the verdict; one that does
// passes.
func TestGoHTTPSClientReuse(t *testing.T) {
	const format = "%connection %tls.sni %tls.version %tls.alpn %tls.round-trips %close.originator [%request.line]"
	conns := goClient(t, false, 3, false)
	if len(conns) != 3 {
		t.Fatalf("%d connections for 3 requests without draining", len(conns))
	}
	v, out, sum := verdictOf(t, playConns(conns), format)
	if v != reuse.NotReused || out != strings.Repeat("unique example.com TLS_1.3 - 1 client [-]\n", 3) {
		t.Errorf("not reused: verdict %v\n%s%s", v, out, sum)
	}
	conns = goClient(t, false, 3, true)
	if len(conns) != 1 {
		t.Fatalf("%d connections for 3 requests drained", len(conns))
	}
	v, out, sum = verdictOf(t, playConns(conns), format)
	if v != reuse.OK || out != "unique example.com TLS_1.3 - 3 client [-]\n" {
		t.Errorf("reused: verdict %v\n%s%s", v, out, sum)
	}
}

// TestGoHTTP2RoundTrips measures what HTTP/2 shows: the client's answers to
// the server's SETTINGS count as round trips (a documented limit); the
// count is logged, and must be at least the requests.
func TestGoHTTP2RoundTrips(t *testing.T) {
	for _, n := range []int{1, 3} {
		conns := goClient(t, true, n, true)
		if len(conns) != 1 {
			t.Fatalf("%d connections", len(conns))
		}
		_, out, sum := verdictOf(t, playConns(conns), "%tls.alpn %tls.round-trips %close.originator")
		var alpn, orig string
		var rt int
		if _, err := fmt.Sscanf(out, "%s %d %s", &alpn, &rt, &orig); err != nil || alpn != "h2,http/1.1" || rt < n {
			t.Fatalf("%d requests over h2: %q (%v)\n%s", n, out, err, sum)
		}
		t.Logf("%d HTTP/2 requests: %d round trips counted", n, rt)
	}
}
