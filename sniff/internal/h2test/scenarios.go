package h2test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sniffer/sniffer/internal/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Want is an exchange a scenario makes: what tshark and a decoder must
// find in its capture.
type Want struct {
	Method, Path string
	Status       int
	// GRPCStatus is the grpc-status, -1 when the exchange is not gRPC.
	GRPCStatus int
}

// handler answers the Go servers' requests: /404 is a 404, a POST gets
// the size of its body back, anything else 200 with a short body.
func handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/404":
			http.NotFound(w, r)
		case r.Method == http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d bytes\n", len(b))
		default:
			fmt.Fprintf(w, "hello %s\n", r.URL.Path)
		}
	})
}

// goServer serves handler over h2c (prior knowledge and Upgrade: h2c,
// with x/net's h2c handler) on a loopback port, until stop is called.
func goServer(t testing.TB) (port int, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: h2c.NewHandler(handler(), &http2.Server{})}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Close()
			<-done
		})
	}
	t.Cleanup(stop)
	return l.Addr().(*net.TCPAddr).Port, stop
}

// priorKnowledge is an x/net/http2 client speaking h2c with prior
// knowledge.
func priorKnowledge() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func do(t testing.TB, tr *http2.Transport, method, url, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("request %s %s: %v", method, url, err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// GoPriorKnowledge captures an x/net/http2 client talking to an x/net
// h2c server with prior knowledge: GET /a, three concurrent GETs, a GET
// of /404 and a POST with a body. With shared, one Transport makes them
// all (one connection, concurrent streams); else each request has a
// Transport, so a connection, of its own.
func GoPriorKnowledge(t testing.TB, shared bool) (Capture, []Want) {
	t.Helper()
	port, stopServer := goServer(t)
	c := startCapture(t, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	tr := priorKnowledge()
	transport := func() *http2.Transport {
		if shared {
			return tr
		}
		return priorKnowledge()
	}
	var want []Want
	check := func(method, path string, got, status int) {
		if got != status {
			t.Errorf("%s %s: status %d, want %d", method, path, got, status)
		}
		want = append(want, Want{method, path, status, -1})
	}
	tr1 := transport()
	check("GET", "/a", do(t, tr1, "GET", base+"/a", ""), 200)
	if !shared {
		tr1.CloseIdleConnections()
	}
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tri := transport()
			codes[i] = do(t, tri, "GET", base+"/c"+strconv.Itoa(i), "")
			if !shared {
				tri.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
	for i, code := range codes {
		check("GET", "/c"+strconv.Itoa(i), code, 200)
	}
	for _, r := range []struct{ method, path, body string }{{"GET", "/404", ""}, {"POST", "/post", strings.Repeat("p", 3000)}} {
		tri := transport()
		status := 200
		if r.path == "/404" {
			status = 404
		}
		check(r.method, r.path, do(t, tri, r.method, base+r.path, r.body), status)
		if !shared {
			tri.CloseIdleConnections()
		}
	}
	tr.CloseIdleConnections()
	stopServer()
	return c.capture(port, false), want
}

// CurlUpgrade captures curl --http2 against the Go h2c server: curl sends
// its first request as HTTP/1.1 with Upgrade: h2c, gets 101 and the
// response on stream 1, and sends the second request (a 404) on the same
// connection as stream 3.
func CurlUpgrade(t testing.TB) (Capture, []Want) {
	t.Helper()
	curl := require.Tool(t, "curl")
	port, stopServer := goServer(t)
	c := startCapture(t, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	out := run(t, curl, "-s", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_version} %{http_code}\n", "--http2", base+"/up", base+"/404")
	if out != "2 200\n2 404\n" {
		t.Errorf("curl: %q, want HTTP/2 200 then 404", out)
	}
	stopServer()
	return c.capture(port, true), []Want{{"GET", "/up", 200, -1}, {"GET", "/404", 404, -1}}
}

// NghttpUpgrade captures nghttp -u (HTTP/1.1 Upgrade: h2c) against the Go
// h2c server.
func NghttpUpgrade(t testing.TB) (Capture, []Want) {
	t.Helper()
	nghttp := require.Tool(t, "nghttp")
	port, stopServer := goServer(t)
	c := startCapture(t, port)
	out := run(t, nghttp, "-u", "-n", "-s", "http://127.0.0.1:"+strconv.Itoa(port)+"/nghttp-up")
	if !strings.Contains(out, " 200 ") {
		t.Errorf("nghttp -u: %s", out)
	}
	stopServer()
	return c.capture(port, true), []Want{{"GET", "/nghttp-up", 200, -1}}
}

// Nghttpd captures nghttp -m 3 asking nghttpd --no-tls for /index.html
// and /missing (a 404), three times each, multiplexed on one connection.
func Nghttpd(t testing.TB) (Capture, []Want) {
	t.Helper()
	nghttpd := require.Tool(t, "nghttpd")
	nghttp := require.Tool(t, "nghttp")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>index</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	exited := startProcess(t, nghttpd, "--no-tls", "-a", "127.0.0.1", "-d", dir, strconv.Itoa(port))
	waitListening(t, port, exited)
	c := startCapture(t, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	out := run(t, nghttp, "-n", "-s", "-m", "3", base+"/index.html", base+"/missing")
	if strings.Count(out, " 200 ") != 3 || strings.Count(out, " 404 ") != 3 {
		t.Errorf("nghttp: %s", out)
	}
	capture := c.capture(port, false)
	var want []Want
	for range 3 {
		want = append(want, Want{"GET", "/index.html", 200, -1}, Want{"GET", "/missing", 404, -1})
	}
	return capture, want
}

// GRPC captures three health checks — the server's overall status, a
// registered service, and an unknown service (NOT_FOUND, grpc-status 5) —
// made on one shared client connection (shared) or on a new client
// connection per call.
func GRPC(t testing.TB, shared bool) (Capture, []Want) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	var once sync.Once
	stopServer := func() { once.Do(func() { srv.Stop(); <-done }) }
	t.Cleanup(stopServer)

	c := startCapture(t, port)
	dial := func() *grpc.ClientConn {
		cc, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("grpc client: %v", err)
		}
		return cc
	}
	var cc *grpc.ClientConn
	if shared {
		cc = dial()
	}
	const path = "/grpc.health.v1.Health/Check"
	var want []Want
	for _, svc := range []string{"", "svc", "nope"} {
		conn := cc
		if !shared {
			conn = dial()
		}
		_, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		code := 0
		if svc == "nope" {
			code = 5
			if err == nil || !strings.Contains(err.Error(), "NotFound") {
				t.Errorf("Check(%q): %v, want NotFound", svc, err)
			}
		} else if err != nil {
			t.Errorf("Check(%q): %v", svc, err)
		}
		want = append(want, Want{"POST", path, 200, code})
		if !shared {
			conn.Close()
		}
	}
	if shared {
		cc.Close()
	}
	stopServer()
	return c.capture(port, false), want
}

// Secrets are the credentials GoSecrets sends: tests of redaction look for
// them in what a decoder prints.
const (
	SecretAuthorization = "Bearer h2-secret-token"
	SecretCookie        = "session=h2-secret-cookie"
)

// GoSecrets captures an x/net/http2 client (prior knowledge, one
// connection) sending GET /private twice with an Authorization and a
// Cookie header (SecretAuthorization, SecretCookie) to the Go h2c
// server: the second request's headers are HPACK dynamic table
// references to the first's.
func GoSecrets(t testing.TB) (Capture, []Want) {
	t.Helper()
	port, stopServer := goServer(t)
	c := startCapture(t, port)
	tr := priorKnowledge()
	var want []Want
	for range 2 {
		req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/private", nil)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		req.Header.Set("Authorization", SecretAuthorization)
		req.Header.Set("Cookie", SecretCookie)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET /private: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want = append(want, Want{"GET", "/private", resp.StatusCode, -1})
	}
	tr.CloseIdleConnections()
	stopServer()
	return c.capture(port, false), want
}

// GoTLS captures Go's client making three requests over HTTP/2 over TLS
// (ALPN h2) on one connection to an httptest TLS server limited to TLS 1.2,
// so that the server's ALPN choice is visible in its ServerHello. The
// Wants are the requests, which a decoder of TLS cannot see.
func GoTLS(t testing.TB) (Capture, []Want) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler())
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c := startCapture(t, port)
	cl := srv.Client()
	var want []Want
	for i := range 3 {
		path := "/tls" + strconv.Itoa(i)
		resp, err := cl.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("GET %s: %s, want HTTP/2", path, resp.Proto)
		}
		want = append(want, Want{"GET", path, resp.StatusCode, -1})
	}
	cl.CloseIdleConnections()
	srv.Close()
	return c.capture(port, false), want
}
