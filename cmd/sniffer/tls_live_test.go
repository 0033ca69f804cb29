package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLiveTLS: Go clients over TLS against real TLS servers (TLS 1.3, and
// TLS 1.2), in network namespaces. A client that does not drain its bodies
// opens a connection per request: one entry per TLS connection, one round
// trip each, never ciphertext in the HTTP fields, and --expect-reuse exits
// 1. One that drains them reuses one connection for all its requests: one
// entry of three round trips, exit 0. The same traffic read back from the
// file (-w) gives the same verdict.
func TestLiveTLS(t *testing.T) {
	e, dir := newLiveEnv(t)
	const format = "%connection %request.line %tls.version %tls.round-trips %close.originator"
	for _, tc := range []struct {
		name, version string
		server        []string
		mode          string
		status        int
		want          []string
	}{
		{"unread-1.3", "TLS_1.3", nil, "unread", exitNotReused, []string{"unique - TLS_1.3 1 client", "unique - TLS_1.3 1 client", "unique - TLS_1.3 1 client"}},
		{"read-1.3", "TLS_1.3", nil, "read", exitOK, []string{"unique - TLS_1.3 3 client"}},
		{"unread-1.2", "TLS_1.2", []string{"-v12"}, "unread", exitNotReused, []string{"unique - TLS_1.2 1 client", "unique - TLS_1.2 1 client", "unique - TLS_1.2 1 client"}},
		{"read-1.2", "TLS_1.2", []string{"-v12"}, "read", exitOK, []string{"unique - TLS_1.2 3 client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli, _ := twoNamespaces(t)
			startIn(t, srv, []string{helperEnv + "=tlsserver"}, append(append([]string{e.self}, tc.server...), "10.66.0.1:8443")...).waitFor(0, "ready", 10*time.Second)
			pcap := filepath.Join(dir, tc.name+".pcap")
			sn := e.sniffer(t, srv, "-l", format, "--expect-reuse", "-w", pcap)
			finish(t, e.client(t, cli, "-tls", tc.mode, "3", "https://10.66.0.1:8443/big/tls/"))
			time.Sleep(300 * time.Millisecond) // the last close's packets on their way
			if err := sn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if st := sn.wait(10 * time.Second); st != tc.status {
				t.Errorf("exit status %d, want %d; standard error:\n%s", st, tc.status, stderrText(sn))
			}
			wantLines(t, entries(sn), tc.want, false)
			var stdout, stderr strings.Builder
			if st := run([]string{"-f", pcap, "-l", format, "--expect-reuse"}, nil, &stdout, &stderr); st != tc.status {
				t.Errorf("file: exit status %d, want %d; standard error:\n%s", st, tc.status, stderr.String())
			}
			wantLines(t, strings.Split(strings.TrimSpace(stdout.String()), "\n"), tc.want, false)
		})
	}
}
