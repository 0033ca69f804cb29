package main

// Helpers for the live-capture tests (live_test.go): network namespaces,
// veth pairs, the sniffer binary, and the test binary re-executed inside a
// namespace as an HTTP server or client.

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/require"
)

// helperEnv makes the test binary act as a helper (see init) instead of
// running tests.
const helperEnv = "SNIFFER_TEST_HELPER"

// bodySize is the size of the server's /big responses: more than the
// 4 KiB Go's HTTP client buffers, so that a body closed unread cannot have
// been read to its end and the connection cannot be reused.
const bodySize = 64 << 10

func init() {
	switch os.Getenv(helperEnv) {
	case "":
		return
	case "server":
		os.Exit(helperServer(os.Args[1:]))
	case "client":
		os.Exit(helperClient(os.Args[1:]))
	case "tlsserver":
		os.Exit(helperTLSServer(os.Args[1:]))
	case "h2server":
		os.Exit(helperH2Server(os.Args[1:]))
	case "h2client":
		os.Exit(helperH2Client(os.Args[1:]))
	case "grpcserver":
		os.Exit(helperGRPCServer(os.Args[1:]))
	case "grpcclient":
		os.Exit(helperGRPCClient(os.Args[1:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// requireRoot skips the test, or fails it when SNIFFER_REQUIRE_ROOT=1 or
// (for the tools) SNIFFER_REQUIRE_TOOLS=1, if it cannot create network
// namespaces or run ip and the given tools.
func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	require.Root(t)
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil && require.Required(require.RootEnv) {
			t.Fatalf("live capture test needs %s: %v, and %s=1", tool, err, require.RootEnv)
		}
		require.Tool(t, tool)
	}
}

// randomID returns 8 random hex digits.
func randomID(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// ip runs the ip command.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns creates a network namespace with loopback up and deletes it
// when the test ends (however it ends).
func newNetns(t *testing.T) string {
	t.Helper()
	ns := "sniffer-test-" + randomID(t)
	ip(t, "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	ip(t, "-n", ns, "link", "set", "lo", "up")
	return ns
}

// vethPair connects two namespaces with a veth pair (no end ever exists in
// the test's own namespace), gives each end the addresses given (CIDR;
// IPv6 ones without duplicate address detection) and brings them up. It
// returns the two ends' names.
func vethPair(t *testing.T, nsA, nsB string, addrsA, addrsB []string) (string, string) {
	t.Helper()
	id := randomID(t)
	a, b := "snf"+id+"a", "snf"+id+"b" // 12 characters: the limit is 15
	ip(t, "-n", nsA, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nsB)
	for _, e := range []struct {
		ns, dev string
		addrs   []string
	}{{nsA, a, addrsA}, {nsB, b, addrsB}} {
		for _, addr := range e.addrs {
			args := []string{"-n", e.ns, "addr", "add", addr, "dev", e.dev}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			ip(t, args...)
		}
		ip(t, "-n", e.ns, "link", "set", e.dev, "up")
	}
	return a, b
}

// buildSniffer builds the sniffer binary, statically (CGO_ENABLED=0, as it
// ships), into dir.
func buildSniffer(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "sniffer")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// line is a line of a process's output and when the test read it.
type line struct {
	text string
	at   time.Time
}

// proc is a process started in a namespace, its output read line by line
// as it comes.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	mu      sync.Mutex
	lines   [2][]line     // stdout, stderr
	more    chan struct{} // closed and replaced when a line arrives
	readers sync.WaitGroup
	exited  chan struct{}
	err     error // of Wait, once exited is closed
}

// startIn starts argv in namespace ns (through "ip netns exec", which
// execs it: the process is argv's). env is added to the environment. It is
// killed when the test ends, if still running.
func startIn(t *testing.T, ns string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(argv[0]), more: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	p.cmd.Env = append(os.Environ(), env...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	outs := [2]io.ReadCloser{}
	if outs[0], err = p.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if outs[1], err = p.cmd.StderrPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(argv, " "), err)
	}
	for i, r := range outs {
		p.readers.Add(1)
		go func() {
			defer p.readers.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				p.mu.Lock()
				p.lines[i] = append(p.lines[i], line{sc.Text(), time.Now()})
				close(p.more)
				p.more = make(chan struct{})
				p.mu.Unlock()
			}
		}()
	}
	go func() {
		p.readers.Wait() // Wait closes the pipes: read them to the end first
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, p.text(0), p.name, p.text(1))
		}
	})
	return p
}

// text returns the output of stream i (0 stdout, 1 stderr) so far.
func (p *proc) text(i int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines[i] {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// output returns the lines of stream i so far.
func (p *proc) output(i int) []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]line(nil), p.lines[i]...)
}

// waitFor waits until a line of stream i contains s and returns it; it
// fails the test after timeout or if the process exits first.
func (p *proc) waitFor(i int, s string, timeout time.Duration) line {
	p.t.Helper()
	deadline := time.After(timeout)
	for n := 0; ; {
		p.mu.Lock()
		lines, more := p.lines[i], p.more
		p.mu.Unlock()
		for ; n < len(lines); n++ {
			if strings.Contains(lines[n].text, s) {
				return lines[n]
			}
		}
		select {
		case <-more:
		case <-p.exited:
			// Take the lines that came with the exit.
			p.mu.Lock()
			lines = p.lines[i]
			p.mu.Unlock()
			for ; n < len(lines); n++ {
				if strings.Contains(lines[n].text, s) {
					return lines[n]
				}
			}
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, s)
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %v", p.name, s, timeout)
		}
	}
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("%s killed by %v", p.name, ws.Signal())
		}
		return ee.ExitCode()
	}
	p.t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// helperServer serves HTTP on each address given until its standard input
// closes (see helperHandler). It prints
// "ready" once every address listens.
func helperServer(addrs []string) int {
	h := helperHandler()
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go (&http.Server{Handler: h}).Serve(ln)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// helperHandler is what the helper servers serve: /big/... answers
// bodySize bytes, anything else "ok\n".
func helperHandler() http.Handler {
	big := []byte(strings.Repeat("x", bodySize))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/big/") {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
			return
		}
		io.WriteString(w, "ok\n")
	})
}

// helperClient makes requests with one Go http.Client (and its
// connection pool):
//
//	unread N URL...     each URL N times, closing the body without reading it
//	read N URL...       each URL N times, reading the body to its end first
//	slowclose N URL...  each URL N times, each request on a connection of its
//	                    own, read to its end, closed after 2 s idle
//
// then prints "done". With -tls it speaks HTTP/1.1 over TLS to a server
// whose certificate it does not check (helperTLSServer's, made up at its
// start). With -idle it then waits for a line on standard input
// before closing its idle connections; otherwise it closes them at once.
// Then it prints "closed" and waits for its standard input to close.
// The request number (1..N) is appended to each URL.
func helperClient(args []string) int {
	idle, insecure := false, false
	for len(args) > 0 && (args[0] == "-idle" || args[0] == "-tls") {
		idle, insecure = idle || args[0] == "-idle", insecure || args[0] == "-tls"
		args = args[1:]
	}
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: client [-idle] unread|read N URL...")
		return 2
	}
	mode := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// No proxy, whatever the environment says: traffic stays in the
	// namespace.
	newTransport := func() *http.Transport {
		tr := &http.Transport{Proxy: nil, DisableCompression: true}
		if insecure {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test's own server
		}
		return tr
	}
	tr := newTransport()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if mode == "slowclose" {
		for _, u := range args[2:] {
			for i := 1; i <= n; i++ {
				tr := newTransport()
				c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				resp, err := c.Get(u + strconv.Itoa(i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				time.Sleep(2 * time.Second) // idle past --flush-after
				tr.CloseIdleConnections()
			}
		}
	}
	for _, u := range args[2:] {
		if mode == "slowclose" {
			break
		}
		for i := 1; i <= n; i++ {
			resp, err := client.Get(u + strconv.Itoa(i))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if mode == "read" {
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
			resp.Body.Close()
		}
	}
	fmt.Println("done")
	in := bufio.NewReader(os.Stdin)
	if idle {
		in.ReadString('\n')
	}
	tr.CloseIdleConnections()
	fmt.Println("closed")
	io.Copy(io.Discard, in)
	return 0
}
