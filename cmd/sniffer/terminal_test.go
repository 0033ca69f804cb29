package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty's slave: %v", err)
	}
	// Raw mode: no CRLF translation of the output.
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// runOnTerminal runs the command with its standard output on a terminal and
// returns what the terminal received.
func runOnTerminal(t *testing.T, args ...string) string {
	master, slave := openPTY(t)
	var stderr bytes.Buffer
	if code := run(args, nil, slave, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	slave.Close()
	var out bytes.Buffer
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(&out, master) // ends with EIO once the slave is closed
	return out.String()
}

// Captured bytes are untrusted: on a terminal, an escape sequence in a
// request header is printed escaped, not sent to the terminal.
func TestTerminalIsSafe(t *testing.T) {
	got := runOnTerminal(t, "-f", "../../testdata/escape.pcap", "-l", "%request.header.user-agent")
	if want := `evil\x1b[2J\x1b]0;pwned\x07` + "\n"; got != want {
		t.Errorf("on a terminal: %q, want %q", got, want)
	}
	// --raw-bytes prints them as they are, as asked.
	got = runOnTerminal(t, "-f", "../../testdata/escape.pcap", "--raw-bytes", "-l", "%request.header.user-agent")
	if want := "evil\x1b[2J\x1b]0;pwned\x07\n"; got != want {
		t.Errorf("with --raw-bytes: %q, want %q", got, want)
	}
}

// Through a pipe the output stays justniffer-compatible: bytes as captured.
func TestPipeIsVerbatim(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stderr bytes.Buffer
	if code := run([]string{"-f", "../../testdata/escape.pcap", "-l", "%request.header.user-agent"}, nil, w, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	w.Close()
	out, _ := io.ReadAll(r)
	if want := "evil\x1b[2J\x1b]0;pwned\x07\n"; string(out) != want {
		t.Errorf("through a pipe: %q, want %q", out, want)
	}
}

func TestRedact(t *testing.T) {
	var out, stderr bytes.Buffer
	run([]string{"-f", "../../testdata/escape.pcap", "--redact", "-r"}, nil, &out, &stderr)
	if strings.Contains(out.String(), "s3cr3t") || !strings.Contains(out.String(), "Cookie: [redacted]\r\n") {
		t.Errorf("--redact: %q", out.String())
	}
	out.Reset()
	run([]string{"-f", "../../testdata/escape.pcap", "--redact=user-agent", "-l", "%request.header.user-agent %request.header.cookie %request.size"}, nil, &out, &stderr)
	if got := out.String(); got != "[redacted] [redacted] 84\n" {
		t.Errorf("--redact=user-agent: %q", got)
	}
}
