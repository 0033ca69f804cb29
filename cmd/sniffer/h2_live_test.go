package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// helperH2Server serves helperHandler over h2c (prior knowledge and
// Upgrade) on addr, until its standard input closes.
func helperH2Server(args []string) int {
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go (&http.Server{Handler: h2c.NewHandler(helperHandler(), &http2.Server{})}).Serve(ln)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// helperH2Client makes N GETs of URL0, URL1, ... with an x/net/http2
// client speaking h2c with prior knowledge: with "shared", one Transport
// (one connection), else a Transport (a connection) per request. After
// the first two it prints "paused" and waits for a line on its standard
// input; after the last it closes its connections, prints "closed" and
// waits for its standard input to close.
func helperH2Client(args []string) int {
	mode, base := args[0], args[2]
	n, _ := strconv.Atoi(args[1])
	newTransport := func() *http2.Transport {
		return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	shared := newTransport()
	in := bufio.NewReader(os.Stdin)
	for i := 1; i <= n; i++ {
		tr := shared
		if mode != "shared" {
			tr = newTransport()
		}
		req, _ := http.NewRequest("GET", base+strconv.Itoa(i), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if tr != shared {
			tr.CloseIdleConnections()
		}
		if i == 2 {
			fmt.Println("paused")
			in.ReadString('\n')
		}
	}
	shared.CloseIdleConnections()
	fmt.Println("closed")
	io.Copy(io.Discard, in)
	return 0
}

// TestLiveH2: x/net/http2 clients and an h2c server in network
// namespaces, the sniffer live beside the server: a client sharing one
// connection gets one entry per stream, labelled start, continue…, last,
// the first printed while the connection is still open (once the next
// stream began); a client with a connection per request gets unique
// entries; --expect-reuse says 0 and 1.
func TestLiveH2(t *testing.T) {
	e, _ := newLiveEnv(t)
	const format = "%connection %stream.id %request.url %response.code %request.protocol"
	for _, tc := range []struct {
		mode   string
		status int
		want   []string
		first  string // printed while the client is paused
	}{
		{"shared", exitOK, []string{"start 1 /h2/1 200 HTTP/2.0", "continue 3 /h2/2 200 HTTP/2.0", "continue 5 /h2/3 200 HTTP/2.0", "last 7 /h2/4 200 HTTP/2.0"}, "start 1 /h2/1 200"},
		{"per", exitNotReused, []string{"unique 1 /h2/1 200 HTTP/2.0", "unique 1 /h2/2 200 HTTP/2.0", "unique 1 /h2/3 200 HTTP/2.0", "unique 1 /h2/4 200 HTTP/2.0"}, "unique 1 /h2/2 200"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv, cli, _ := twoNamespaces(t)
			startIn(t, srv, []string{helperEnv + "=h2server"}, e.self, "10.66.0.1:8080").waitFor(0, "ready", 10*time.Second)
			sn := e.sniffer(t, srv, "-l", format, "--expect-reuse")
			c := startIn(t, cli, []string{helperEnv + "=h2client"}, e.self, tc.mode, "4", "http://10.66.0.1:8080/h2/")
			c.waitFor(0, "paused", 15*time.Second)
			// Promptly: this entry is printed while the client waits.
			sn.waitFor(0, tc.first, 10*time.Second)
			c.stdin.Write([]byte("\n"))
			finish(t, c)
			time.Sleep(300 * time.Millisecond) // the last close's packets on their way
			if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if st := sn.wait(10 * time.Second); st != tc.status {
				t.Errorf("exit status %d, want %d; standard error:\n%s", st, tc.status, stderrText(sn))
			}
			wantLines(t, entries(sn), tc.want, tc.mode != "shared")
		})
	}
}

// helperGRPCServer serves gRPC's health service (service "svc" serving)
// on addr, until its standard input closes.
func helperGRPCServer(args []string) int {
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	srv.Stop()
	return 0
}

// helperGRPCClient makes three health checks of addr ("svc" twice, then
// the unknown "nope": NOT_FOUND), on one channel ("shared") or a channel
// per call, prints "closed" once its channels are closed and waits for its
// standard input to close.
func helperGRPCClient(args []string) int {
	mode, addr := args[0], args[1]
	dial := func() *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return cc
	}
	var shared *grpc.ClientConn
	if mode == "shared" {
		shared = dial()
	}
	for _, svc := range []string{"svc", "svc", "nope"} {
		cc := shared
		if cc == nil {
			cc = dial()
		}
		_, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if (err != nil) != (svc == "nope") {
			fmt.Fprintln(os.Stderr, "check", svc, err)
			return 1
		}
		if cc != shared {
			cc.Close()
		}
	}
	if shared != nil {
		shared.Close()
	}
	fmt.Println("closed")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestLiveGRPC: gRPC health checks in network namespaces, the sniffer
// live beside the server: a shared channel is one connection of three
// streams (start, continue, last), --expect-reuse 0; a channel per call is
// three unique entries, --expect-reuse 1; the NOT_FOUND call has
// %grpc.status 5.
func TestLiveGRPC(t *testing.T) {
	e, _ := newLiveEnv(t)
	const format = "%connection %request.url %grpc.status %grpc.message"
	const path = "/grpc.health.v1.Health/Check"
	for _, tc := range []struct {
		mode   string
		status int
		want   []string
	}{
		{"shared", exitOK, []string{"start " + path + " 0 -", "continue " + path + " 0 -", "last " + path + " 5 unknown service"}},
		{"per", exitNotReused, []string{"unique " + path + " 0 -", "unique " + path + " 0 -", "unique " + path + " 5 unknown service"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv, cli, _ := twoNamespaces(t)
			startIn(t, srv, []string{helperEnv + "=grpcserver"}, e.self, "10.66.0.1:8081").waitFor(0, "ready", 10*time.Second)
			sn := e.sniffer(t, srv, "-l", format, "--expect-reuse")
			finish(t, startIn(t, cli, []string{helperEnv + "=grpcclient"}, e.self, tc.mode, "10.66.0.1:8081"))
			time.Sleep(300 * time.Millisecond) // the last close's packets on their way
			if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if st := sn.wait(10 * time.Second); st != tc.status {
				t.Errorf("exit status %d, want %d; standard error:\n%s", st, tc.status, stderrText(sn))
			}
			// A channel per call: each entry is printed when its
			// connection closes, and grpc-go closes a channel's
			// connection in the background, so the three may close in any
			// order.
			wantLines(t, entries(sn), tc.want, tc.mode == "per")
		})
	}
}
