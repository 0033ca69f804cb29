package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyEntry is a first request whose handshake was captured: the
// connection's annotation (start or unique) and the SYN -> ACK time.
var readyEntry = regexp.MustCompile(`^(start|unique) \d+\.\d{6} /big/ready\d+/1$`)

// testReady: "listening on" means that a packet sent after it is captured.
// A client started the instant the line appears has its handshake seen:
// its first request is a new connection (start or unique) with a
// handshake time, not one picked up mid-stream (no %connection.time).
// Each round starts a new sniffer; --count 1 ends it after that entry and
// --expect-reuse judges the lone connection: exit 0, with a note. In even
// rounds the client waits for --ready-file instead, the way a Docker
// health check does (sniffer ready FILE until it exits 0); the file is
// gone once the sniffer exited.
func (e *liveEnv) testReady(t *testing.T) {
	t.Parallel()
	srv, cli, _ := twoNamespaces(t)
	e.server(t, srv, "10.66.0.1:8080")
	ready := filepath.Join(t.TempDir(), "ready")
	for round := 1; round <= 8; round++ {
		sn := startIn(t, srv, nil, e.bin, "-l", "%connection %connection.time %request.url", "--count", "1", "--expect-reuse", "--ready-file", ready)
		if round%2 == 1 {
			sn.waitFor(1, "sniffer: listening on ", 10*time.Second)
		} else {
			waitReady(t, e.bin, ready, sn)
		}
		c := e.client(t, cli, "unread", "1", "http://10.66.0.1:8080/big/ready"+strconv.Itoa(round)+"/")
		c.waitFor(0, "done", 15*time.Second)
		// Not a timed assertion: a sniffer that never exits is a hang.
		if st := sn.wait(15 * time.Second); st != exitOK {
			t.Errorf("round %d: sniffer exit status %d, want 0", round, st)
		}
		finish(t, c)
		out := strings.TrimSpace(sn.text(0))
		if !readyEntry.MatchString(out) {
			t.Fatalf("round %d: entry %q; want the first request as a new connection with its handshake time (%s)", round, out, readyEntry)
		}
		if _, err := os.Stat(ready); !os.IsNotExist(err) {
			t.Errorf("round %d: the ready file is still there after exit (%v)", round, err)
		}
		if errs := sn.text(1); !strings.Contains(errs, "sniffer: reuse: ok: ") || !strings.Contains(errs, "note: a lone connection") {
			t.Errorf("round %d: verdict:\n%s", round, errs)
		}
	}
}

// waitReady runs "sniffer ready FILE" until it exits 0, as a health check
// does, failing the test if the sniffer exits first or it takes more than
// 10 seconds (a hang, not a timed assertion).
func waitReady(t *testing.T, bin, file string, sn *proc) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; {
		err := exec.Command(bin, "ready", file).Run()
		if err == nil {
			return
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("sniffer ready: %v", err)
		}
		select {
		case <-sn.exited:
			t.Fatalf("the sniffer exited before it was ready:\n%s", sn.text(1))
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("not ready after 10s:\n%s", sn.text(1))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReadyCommand: sniffer ready FILE is 0 when FILE exists, 1 (one line)
// when it does not, 2 without a file.
func TestReadyCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ready")
	var stdout, stderr strings.Builder
	if code := run([]string{"ready", file}, nil, &stdout, &stderr); code != 1 || !strings.HasPrefix(stderr.String(), "sniffer: not ready: ") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr.String())
	}
	if err := (readyFile(file)).set("sniffer: listening on lo"); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"ready", file}, nil, &stdout, &stderr); code != 0 {
		t.Errorf("file there: exit %d", code)
	}
	if err := readyFile(file).clear(); err != nil {
		t.Fatal(err)
	}
	if err := readyFile(file).clear(); err != nil {
		t.Errorf("clearing twice: %v", err)
	}
	if code := run([]string{"ready", file}, nil, &stdout, &stderr); code != 1 {
		t.Errorf("after clear: exit %d", code)
	}
	if code := run([]string{"ready"}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("no file: exit %d", code)
	}
	stdout.Reset()
	if code := run([]string{"ready", "--help"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "healthcheck:") {
		t.Errorf("--help: exit %d, %q", code, stdout.String())
	}
}

// testNothingJudged: live, --expect-reuse with nothing to judge is
// inconclusive (exit status 3), never ok: a filter that passes none of the
// traffic, and no traffic at all.
func (e *liveEnv) testNothingJudged(t *testing.T) {
	t.Parallel()
	srv, cli, _ := twoNamespaces(t)
	e.server(t, srv, "10.66.0.1:8080")
	sn := e.sniffer(t, srv, "--expect-reuse", "-p", "tcp port 9")
	finish(t, e.client(t, cli, "unread", "3", "http://10.66.0.1:8080/big/wrong-filter/"))
	if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := sn.wait(10 * time.Second); st != exitInconclusive {
		t.Errorf("wrong filter: exit status %d, want %d", st, exitInconclusive)
	}
	if errs := sn.text(1); !strings.Contains(errs, "sniffer: reuse: inconclusive: no HTTP or TLS exchange seen") || strings.Contains(errs, "reuse: ok") {
		t.Errorf("wrong filter: stderr:\n%s", errs)
	}

	// No traffic: --duration ends the capture.
	quiet := e.sniffer(t, newNetns(t), "--expect-reuse", "--duration", "200ms")
	if st := quiet.wait(10 * time.Second); st != exitInconclusive {
		t.Errorf("no traffic: exit status %d, want %d:\n%s", st, exitInconclusive, quiet.text(1))
	}
}
