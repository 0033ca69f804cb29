// Package h2test runs real HTTP/2 conversations on loopback — Go's
// x/net/http2 server and client (prior knowledge and Upgrade: h2c), curl,
// nghttp2's nghttpd and nghttp, gRPC's health service — while tcpdump
// captures them, and reads captures back with tshark's http2 dissector, so
// that tests can compare a decoder with tshark on traffic of real peers.
//
// Everything a function starts (servers, clients, tcpdump) is ended by
// the time it returns or by t.Cleanup, by its own process or listener.
package h2test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/require"
)

// Capture is a finished capture of one scenario.
type Capture struct {
	// Path is the pcap file.
	Path string
	// Port is the server's TCP port: the capture holds the connections to
	// it (and one UDP datagram used to know the capture complete).
	Port int
	// Upgrade is set when the connections start with HTTP/1.1 Upgrade: h2c.
	Upgrade bool
	// Dropped is the number of packets tcpdump says the kernel dropped: a
	// capture with drops cannot be compared (see Run).
	Dropped int
}

// Run runs scenario until its capture has no drops (at most 3 times: a
// loaded machine can overflow tcpdump's buffer), failing t if every
// capture had some.
func Run(t testing.TB, scenario func(testing.TB) (Capture, []Want)) (Capture, []Want) {
	t.Helper()
	for try := 1; ; try++ {
		c, w := scenario(t)
		if c.Dropped == 0 {
			return c, w
		}
		if try == 3 {
			t.Fatalf("tcpdump dropped packets in %d captures in a row (%d in the last)", try, c.Dropped)
		}
		t.Logf("tcpdump dropped %d packets: capturing again", c.Dropped)
	}
}

// capturing is a running tcpdump.
type capturing struct {
	t        testing.TB
	cmd      *exec.Cmd
	path     string
	sentinel *net.UDPConn
	marker   []byte
	done     chan error
	// log is tcpdump's standard error, once it has ended.
	log string
}

// startCapture starts tcpdump on lo for TCP port port (and a UDP port of
// its own, for the end marker), and returns once tcpdump says it is
// listening: from then on, packets are captured.
func startCapture(t testing.TB, port int) *capturing {
	t.Helper()
	require.Root(t)
	tcpdump := require.Tool(t, "tcpdump")
	sentinel, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { sentinel.Close() })
	mark := make([]byte, 16)
	rand.Read(mark)
	c := &capturing{
		t:        t,
		path:     filepath.Join(t.TempDir(), "h2.pcap"),
		sentinel: sentinel,
		marker:   []byte("h2test-end-" + hex.EncodeToString(mark)),
		done:     make(chan error, 1),
	}
	filter := "tcp port " + strconv.Itoa(port) + " or udp port " + strconv.Itoa(sentinel.LocalAddr().(*net.UDPAddr).Port)
	// Every ring slot holds a whole snap length: with the default 2 MiB
	// buffer and a 256 KiB snap length, a burst of loopback segments
	// overflows it. A loopback segment is at most 64 KiB, and 32 MiB of
	// buffer holds hundreds of them.
	c.cmd = exec.Command(tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "65600", "-B", "32768", "-w", c.path, filter)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatalf("tcpdump stderr: %v", err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	listening := make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !said && strings.Contains(sc.Text(), "listening on lo") {
				said = true
				listening <- ""
			}
		}
		if !said {
			listening <- log.String()
		}
		c.log = log.String()
		c.done <- c.cmd.Wait()
	}()
	if msg := <-listening; msg != "" {
		t.Fatalf("tcpdump did not start listening: %s", msg)
	}
	return c
}

// stop makes sure every packet sent so far is in the file — it sends the
// end marker until tcpdump has written it, packets being written in
// order — then stops tcpdump and returns the file and the number of
// packets tcpdump says the kernel dropped.
func (c *capturing) stop() (string, int) {
	c.t.Helper()
	to := c.sentinel.LocalAddr().(*net.UDPAddr)
	// Not a timed assertion: a capture that does not show the marker in
	// this long is broken.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.sentinel.WriteToUDP(c.marker, to); err != nil {
			c.t.Fatalf("send the end marker: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		b, err := os.ReadFile(c.path)
		if err == nil && bytes.Contains(b, c.marker) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("tcpdump never wrote the end marker to %s", c.path)
		}
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	if err := <-c.done; err != nil {
		c.t.Fatalf("tcpdump: %v: %s", err, c.log)
	}
	m := droppedLine.FindStringSubmatch(c.log)
	if m == nil {
		c.t.Fatalf("tcpdump did not say how many packets it dropped: %s", c.log)
	}
	n, _ := strconv.Atoi(m[1])
	return c.path, n
}

// capture stops c and describes its capture of port.
func (c *capturing) capture(port int, upgrade bool) Capture {
	c.t.Helper()
	path, dropped := c.stop()
	return Capture{Path: path, Port: port, Upgrade: upgrade, Dropped: dropped}
}

var droppedLine = regexp.MustCompile(`(?m)^(\d+) packets? dropped by kernel`)

// freePort returns a TCP port of 127.0.0.1 nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until something accepts on 127.0.0.1:port (a
// server started as a process), or fails t when proc ends first.
func waitListening(t testing.TB, port int, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the server exited before listening on %d", port)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startProcess starts a server process ended (by its pid) at cleanup; the
// channel closes when it exits.
func startProcess(t testing.TB, name string, args ...string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return exited
}

// run runs a client program to its end, failing t when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
