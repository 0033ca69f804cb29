package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigLongLine: a config line longer than bufio.Scanner's 64 KiB
// default is read; one past maxConfigLine is a one-line error, exit 2.
func TestConfigLongLine(t *testing.T) {
	dir := t.TempDir()
	long := "%request.url " + strings.Repeat("x", 200<<10)
	path := filepath.Join(dir, "long.conf")
	if err := os.WriteFile(path, []byte("# a long format\nlog-format = \""+long+"\"\nnot-found = none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"-c", path}, io.Discard)
	if err != nil {
		t.Fatalf("a %d-byte line: %v", len(long), err)
	}
	if o.logFormat != long || o.notFound != "none" {
		t.Errorf("log-format %d bytes (want %d), not-found %q", len(o.logFormat), len(long), o.notFound)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", path, "-f", "../../testdata/oracle/keepalive3.pcap"}, nil, &stdout, &stderr); code != 0 || strings.Count(stdout.String(), "\n") != 3 {
		t.Errorf("run with the long format: exit %d, %d lines, stderr %.200q", code, strings.Count(stdout.String(), "\n"), stderr.String())
	}

	tooLong := filepath.Join(dir, "too-long.conf")
	if err := os.WriteFile(tooLong, []byte("raw\nlog-format = "+strings.Repeat("y", maxConfigLine+1)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = parseOptions([]string{"-c", tooLong}, io.Discard)
	var ue *usageError
	if !errors.As(err, &ue) || err.Error() != tooLong+":2: line longer than 1024 KiB" {
		t.Errorf("a line past the bound: %v", err)
	}
	stderr.Reset()
	if code := run([]string{"-c", tooLong, "-f", "-"}, nil, io.Discard, &stderr); code != exitUsage || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("run: exit %d, stderr %q", code, stderr.String())
	}
}

// TestDurationUnit: a bare number is refused with the unit to add; with
// units, and 0, it is accepted; the defaults are unchanged.
func TestDurationUnit(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil || o.idleTimeout != 5*time.Minute || o.flushAfter != time.Second || o.duration != 0 {
		t.Fatalf("defaults: %v %v %v %v", err, o.idleTimeout, o.flushAfter, o.duration)
	}
	o, err = parseOptions([]string{"--duration", "1m30s", "--flush-after", "0"}, io.Discard)
	if err != nil || o.duration != 90*time.Second || o.flushAfter != 0 {
		t.Fatalf("1m30s: %v %v", err, o)
	}
	for arg, want := range map[string]string{"5": "add a unit: 5s", "0.5": "add a unit: 0.5s", "-3": "add a unit: -3s", "5 s": "not a duration"} {
		_, err := parseOptions([]string{"--duration", arg}, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("--duration %q: %v, want a usage error with %q", arg, err, want)
		}
	}
	// In a config file too.
	path := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(path, []byte("duration = 10\n"), 0o644)
	if _, err := parseOptions([]string{"-c", path}, io.Discard); err == nil || !strings.Contains(err.Error(), "d.conf:1: duration: add a unit: 10s") {
		t.Errorf("config: %v", err)
	}
}

// TestCounts: the counts line a live capture ends with says 1 entry, 1
// connection, and 2 entries, 2 connections.
func TestCounts(t *testing.T) {
	var b bytes.Buffer
	writeCounts(&b, 1, 0, 1, 1)
	writeCounts(&b, 2, 1, 2, 2)
	writeCounts(&b, 0, 0, 0, 0)
	want := "sniffer: 1 packet captured, 0 packets dropped by kernel, 1 entry, 1 connection\n" +
		"sniffer: 2 packets captured, 1 packet dropped by kernel, 2 entries, 2 connections\n" +
		"sniffer: 0 packets captured, 0 packets dropped by kernel, 0 entries, 0 connections\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if !summaryRE.MatchString(strings.Split(want, "\n")[0]) || !summaryRE.MatchString(strings.Split(want, "\n")[1]) {
		t.Error("the live tests' summaryRE does not match the counts line")
	}
}
