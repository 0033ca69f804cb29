package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteToTerminal: -w - refuses a terminal on standard output, in one
// line, with exit status 2.
func TestWriteToTerminal(t *testing.T) {
	m, s := openPTY(t)
	defer m.Close()
	defer s.Close()
	var stderr bytes.Buffer
	code := run([]string{"-f", "../../testdata/oracle/keepalive3.pcap", "-w", "-"}, nil, s, &stderr)
	if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "refusing to write a binary pcap to a terminal") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestExpectReuseStatus: --expect-reuse exits 0 when connections were
// reused, 1 when not, 3 when inconclusive (more pairs than
// --max-summary-pairs), and says so on standard error.
func TestExpectReuseStatus(t *testing.T) {
	const caps = "../../sniff/reuse/testdata/"
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-f", caps + "fixed.pcap"}, 0, "sniffer: reuse: ok: "},
		{[]string{"-f", caps + "leaky.pcap"}, 1, "sniffer: reuse: FAIL: "},
		{[]string{"-f", caps + "clients.pcap"}, 0, "sniffer: reuse: ok: "},
		{[]string{"-f", caps + "clients.pcap", "--max-summary-pairs", "3"}, 0, "sniffer: reuse: ok: "},
		{[]string{"-f", caps + "clients.pcap", "--max-summary-pairs", "2"}, 3,
			"sniffer: summary: table full: 2 client -> server pairs tracked, 1 connection (2 entries) of other pairs not tracked\n" +
				"sniffer: reuse: inconclusive: 1 connection not checked (table full: 2 client -> server pairs tracked); "},
		{[]string{"-f", caps + "leaky.pcap", "--max-summary-pairs", "0"}, 2, "--max-summary-pairs must be positive"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(c.args, "--expect-reuse"), nil, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d, stderr with %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
	// --summary alone reports the full table but does not judge.
	var stdout, stderr bytes.Buffer
	code := run([]string{"-f", caps + "clients.pcap", "--summary", "--max-summary-pairs", "1"}, nil, &stdout, &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "table full: 1 client -> server pair tracked, 2 connections (4 entries)") || strings.Contains(stderr.String(), "reuse:") {
		t.Errorf("--summary: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestHelpExitStatus: --help documents the exit statuses.
func TestHelpExitStatus(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := strings.Join(strings.Fields(stdout.String()), " ")
	for _, want := range []string{"--max-summary-pairs", "1 --expect-reuse: connections not reused", "3 --expect-reuse is inconclusive: nothing could be judged",
		"4 the input could not be read (file not found, not a capture, config file), the capture failed"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
