package main

import (
	"fmt"
	"io"
	"os"
)

const readyUsage = `Usage:
  sniffer ready FILE

Exits 0 when FILE exists, 1 otherwise. FILE is the one --ready-file names:
sniffer writes it once the capture listens (the socket bound, the filter
attached, the ring mapped, the network namespace entered for attach), so
that a packet sent after it exists is captured; it is removed at start and
at exit. It is a health check a FROM scratch image can run:

  healthcheck:
    test: ["CMD", "/sniffer", "ready", "/run/sniffer/ready"]

(with a tmpfs at /run/sniffer when the container is read-only).
`

// runReady is "sniffer ready FILE": the health check of --ready-file.
func runReady(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		io.WriteString(stdout, readyUsage)
		return exitOK
	}
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintln(stderr, "sniffer: ready: name the file: sniffer ready FILE (see sniffer ready --help)")
		return exitUsage
	}
	if _, err := os.Stat(args[0]); err != nil {
		fmt.Fprintf(stderr, "sniffer: not ready: %v\n", err)
		return 1
	}
	return exitOK
}

// readyFile is --ready-file: the file that says the capture listens.
type readyFile string

// clear removes a file a previous run may have left, so that it never
// claims a readiness this run does not have yet. A file that is not there
// is no error.
func (f readyFile) clear() error {
	if f == "" {
		return nil
	}
	if err := os.Remove(string(f)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}

// set writes the file, with the line that was printed: call it once the
// capture listens.
func (f readyFile) set(line string) error {
	if f == "" {
		return nil
	}
	if err := os.WriteFile(string(f), []byte(line+"\n"), 0o644); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}
