//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needShell skips a test without /bin/sh, or fails it with
// SNIFFER_REQUIRE_TOOLS=1.
func needShell(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		if os.Getenv("SNIFFER_REQUIRE_TOOLS") == "1" {
			t.Fatalf("SNIFFER_REQUIRE_TOOLS=1: %v", err)
		}
		t.Skipf("no /bin/sh: %v", err)
	}
}

// setQueue sets the queue bounds for one test.
func setQueue(t *testing.T, n int, wait time.Duration) {
	oldN, oldWait := execQueueLen, execWait
	execQueueLen, execWait = n, wait
	t.Cleanup(func() { execQueueLen, execWait = oldN, oldWait })
}

// TestExecOverflow: a live capture drops the entries past the queue bound
// while the command is busy, counts them, and runs the others in order.
// The first command holds the worker until the test releases it, through
// two FIFOs: no timing.
func TestExecOverflow(t *testing.T) {
	needShell(t)
	setQueue(t, 2, time.Minute)
	dir := t.TempDir()
	started, release, out := filepath.Join(dir, "started"), filepath.Join(dir, "release"), filepath.Join(dir, "out")
	for _, p := range []string{started, release} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := fmt.Sprintf(`cat >> %[1]s; if [ ! -e %[1]s.held ]; then : > %[1]s.held; echo go > %[2]s; read x < %[3]s; fi`, out, started, release)
	var stdout, stderr bytes.Buffer
	x, err := newExecutor(cmd, syncWriter(&stdout), syncWriter(&stderr), false)
	if err != nil {
		t.Fatal(err)
	}
	x.push([]byte("1\n"))
	if _, err := os.ReadFile(started); err != nil { // the first command runs
		t.Fatal(err)
	}
	for i := 2; i <= 6; i++ {
		x.push([]byte(fmt.Sprintf("%d\n", i)))
	}
	if err := os.WriteFile(release, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if x.close() {
		t.Fatal("the wait was cut short")
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "1\n2\n3\n" || x.dropped != 3 {
		t.Errorf("ran %q, dropped %d; want 1 2 3 run, 3 dropped", got, x.dropped)
	}
	var report bytes.Buffer
	if st := x.report(0, false, &report); st != 0 || !strings.Contains(report.String(), "sniffer: -e: 3 entries dropped") || strings.Count(report.String(), "\n") != 1 {
		t.Errorf("status %d, report %q", st, report.String())
	}
}

// TestExecBlock: reading a file, a full queue waits for room: every entry
// runs, in order.
func TestExecBlock(t *testing.T) {
	needShell(t)
	setQueue(t, 1, time.Minute)
	var stdout, stderr bytes.Buffer
	x, err := newExecutor("cat", syncWriter(&stdout), syncWriter(&stderr), true)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "entry %d\n", i)
		x.push([]byte(fmt.Sprintf("entry %d\n", i)))
	}
	x.close()
	if stdout.String() != want.String() || x.dropped != 0 || stderr.Len() != 0 {
		t.Errorf("dropped %d, stderr %q, output %q", x.dropped, stderr.String(), stdout.String())
	}
}

// TestExecFail: a command that cannot run stops the capture once, with one
// line, and exit status 4; later entries are not run.
func TestExecFail(t *testing.T) {
	needShell(t)
	setQueue(t, 4, time.Minute)
	var stdout, stderr bytes.Buffer
	x, err := newExecutor("no-such-command-for-sniffer", syncWriter(&stdout), syncWriter(&stderr), true)
	if err != nil {
		t.Fatal(err)
	}
	stops := 0
	x.setOnFail(func() { stops++ })
	for range 10 {
		x.push([]byte("e\n"))
	}
	x.close()
	if stops != 1 || !x.failed.Load() {
		t.Errorf("capture stopped %d times, failed %v", stops, x.failed.Load())
	}
	if n := strings.Count("\n"+stderr.String(), "\nsniffer: "); n != 1 {
		t.Errorf("%d lines from sniffer: %q", n, stderr.String())
	}
	if st := x.report(0, false, &bytes.Buffer{}); st != exitFailed {
		t.Errorf("exit status %d", st)
	}
	late := 0
	x.setOnFail(func() { late++ })
	if late != 1 {
		t.Error("a capture that starts after the failure is not stopped")
	}
}

// TestExecWaitBound: at exit, a command that does not end is killed after
// the bound, with its process group, and what was queued is reported.
func TestExecWaitBound(t *testing.T) {
	needShell(t)
	setQueue(t, 4, 50*time.Millisecond)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	if err := syscall.Mkfifo(pidFile, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	x, err := newExecutor(fmt.Sprintf("sleep 1000 & echo $! > %s; wait", pidFile), syncWriter(&stdout), syncWriter(&stderr), true)
	if err != nil {
		t.Fatal(err)
	}
	x.push([]byte("1\n"))
	x.push([]byte("2\n"))
	// The first command runs once it has written its child's pid.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if !x.close() {
		t.Fatal("the wait was not cut short")
	}
	var report bytes.Buffer
	if st := x.report(0, true, &report); st != 0 || !strings.Contains(report.String(), "1 queued entries not run") {
		t.Errorf("status %d, report %q", st, report.String())
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	// The sleep was in the command's process group: killed with it. A
	// killed child is reaped by init, so poll its state until it is gone
	// (or a zombie); 30 s is a bound for a stuck machine, not a measure.
	for i := 0; ; i++ {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if i == 3000 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the command's child %d outlived the bound", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
