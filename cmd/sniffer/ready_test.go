package main

import (
	"regexp"
	"strconv"
	"strings"
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
// --expect-reuse judges the lone connection: exit 0, with a note.
func (e *liveEnv) testReady(t *testing.T) {
	t.Parallel()
	srv, cli, _ := twoNamespaces(t)
	e.server(t, srv, "10.66.0.1:8080")
	for round := 1; round <= 8; round++ {
		sn := startIn(t, srv, nil, e.bin, "-l", "%connection %connection.time %request.url", "--count", "1", "--expect-reuse")
		sn.waitFor(1, "sniffer: listening on ", 10*time.Second)
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
		if errs := sn.text(1); !strings.Contains(errs, "sniffer: reuse: ok: ") || !strings.Contains(errs, "note: a lone connection") {
			t.Errorf("round %d: verdict:\n%s", round, errs)
		}
	}
}
