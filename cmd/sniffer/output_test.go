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
