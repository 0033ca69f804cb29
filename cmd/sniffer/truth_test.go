package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newLiveEnv builds the sniffer for a live test of its own (root and ip
// required, see requireRoot) and returns it with the test's directory.
func newLiveEnv(t *testing.T) (*liveEnv, string) {
	t.Helper()
	requireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &liveEnv{bin: buildSniffer(t, dir), self: self}, dir
}

// TestLiveSlowClose: one request per connection, each closed by the client
// after 2 s idle, three times. Live with --flush-after 1s the entries are
// printed before the close: their label says open, never start. The
// summary and verdict are computed from the connections' lives, so they
// are those of the same traffic read from a file: not reused, exit 1.
func TestLiveSlowClose(t *testing.T) {
	e, dir := newLiveEnv(t)
	srv, cli, _ := twoNamespaces(t)
	e.server(t, srv, "10.66.0.1:8080")
	pcap := filepath.Join(dir, "slow.pcap")
	sn := e.sniffer(t, srv, "-l", storyFormat, "--expect-reuse", "-w", pcap)
	finish(t, e.client(t, cli, "slowclose", "3", "http://10.66.0.1:8080/big/slow/"))
	// The last close's packets are on their way to the ring; the entries
	// are all printed already (at the flush).
	time.Sleep(300 * time.Millisecond)
	if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := sn.wait(10 * time.Second); st != 1 {
		t.Errorf("exit status %d, want 1 (not reused)", st)
	}
	wantLines(t, entries(sn), seq(3, func(i int) string { return "open /big/slow/" + strconv.Itoa(i) + " -" }), false)
	const sum = "10.66.0.2 -> 10.66.0.1:8080: 3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes, 2 not reused"
	liveErr := stderrText(sn)
	if !strings.Contains(liveErr, sum) || !strings.Contains(liveErr, "FAIL: connections not reused") {
		t.Errorf("live standard error:\n%s\nwant the summary line\n%s\nand a FAIL verdict", liveErr, sum)
	}
	// The same traffic from the file: the same summary and verdict.
	var stdout, stderr strings.Builder
	if st := run([]string{"-f", pcap, "-l", storyFormat, "--expect-reuse"}, nil, &stdout, &stderr); st != 1 {
		t.Errorf("file: exit status %d, want 1", st)
	}
	wantLines(t, strings.Split(strings.TrimSpace(stdout.String()), "\n"),
		seq(3, func(i int) string { return "unique /big/slow/" + strconv.Itoa(i) + " client" }), false)
	if !strings.Contains(stderr.String(), sum) {
		t.Errorf("file: standard error:\n%s\nwant\n%s", stderr.String(), sum)
	}
}

// stderrText returns what p wrote to its standard error.
func stderrText(p *proc) string {
	var b strings.Builder
	for _, l := range p.output(1) {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// helperTLSServer serves what helperServer serves, over TLS (HTTP/1.1
// only: ALPN offers http/1.1, so that a client that does not drain its
// bodies cannot multiplex them), with a certificate made up at start, on
// each address given, until its standard input closes. With -v12 it
// speaks TLS 1.2 at most. It prints "ready" once every address listens.
func helperTLSServer(args []string) int {
	maxVersion := uint16(tls.VersionTLS13)
	if len(args) > 0 && args[0] == "-v12" {
		maxVersion, args = tls.VersionTLS12, args[1:]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sniffer-test"},
		DNSNames: []string{"sniffer-test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"http/1.1"}, MaxVersion: maxVersion}
	h := helperHandler()
	for _, a := range args {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &http.Server{Handler: h, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
		go srv.Serve(tls.NewListener(ln, cfg))
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
