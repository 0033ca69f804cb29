package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sniffer/sniffer/internal/harcheck"
)

// The --har tests run the command and validate the file with harcheck,
// which checks it against a table of the HAR 1.2 spec's objects, their
// required and optional fields and the JSON type of each (and the spec's
// rules on values: timings, time as their sum, sizes, absolute URLs): see
// its package comment.

// jsonEntry is what TestHARCaptures reads of a --json line.
type jsonEntry struct {
	Connection   string `json:"connection"`
	ConnectionID uint64 `json:"connection_id"`
	ConnTS       string `json:"connection_timestamp"`
	Request      struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
}

// TestHARCaptures runs sniffer --json --har over every capture of the
// repository (the oracle's and the reuse verdicts'): the HAR is valid, it
// has the entries whose request is HTTP and no others, in the same order,
// with the connection ids of the JSON; entries of one connection share
// their id and unique ones have their own; connect is set on a
// connection's first entry alone (when its handshake was captured) and is
// -1 on the others.
func TestHARCaptures(t *testing.T) {
	var paths []string
	for _, g := range []string{"../../testdata/oracle/*.pcap", "../../sniff/reuse/testdata/*.pcap"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 10 {
		t.Fatalf("found %d captures; want the oracle's and reuse's", len(paths))
	}
	dir := t.TempDir()
	for _, p := range paths {
		name := filepath.Base(p)
		harFile := filepath.Join(dir, name+".har")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-f", p, "--json", "--har", harFile}, nil, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d: %s", name, code, stderr.String())
			continue
		}
		data, err := os.ReadFile(harFile)
		if err != nil {
			t.Fatal(err)
		}
		log, err := harcheck.Validate(data)
		if err != nil {
			t.Errorf("%s: invalid HAR: %v", name, err)
			continue
		}
		var want []jsonEntry
		skipped := 0
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if line == "" {
				continue
			}
			var j jsonEntry
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				t.Fatalf("%s: %v: %s", name, err, line)
			}
			if j.Request.Method == "" {
				skipped++
				continue
			}
			want = append(want, j)
		}
		if len(log.Entries) != len(want) {
			t.Errorf("%s: %d HAR entries; want %d (the HTTP entries of --json)", name, len(log.Entries), len(want))
			continue
		}
		if skipped > 0 && !strings.Contains(stderr.String(), strconv.Itoa(skipped)+" exchanges that are not HTTP left out") {
			t.Errorf("%s: %d entries not HTTP, stderr: %s", name, skipped, stderr.String())
		}
		count := map[string]int{}
		for _, e := range log.Entries {
			count[e.Connection]++
		}
		seen := map[string]bool{}
		for i, e := range log.Entries {
			w := want[i]
			if e.Connection != strconv.FormatUint(w.ConnectionID, 10) || e.ConnectionID != e.Connection || e.Annotation != w.Connection || !strings.HasSuffix(e.URL, w.Request.URL) {
				t.Errorf("%s entry %d: connection %q %s %s; want %d %s %s", name, i, e.Connection, e.Annotation, e.URL, w.ConnectionID, w.Connection, w.Request.URL)
			}
			first := !seen[e.Connection]
			seen[e.Connection] = true
			if (e.Connect >= 0) != (first && w.ConnTS != "") {
				t.Errorf("%s entry %d (%s, first of connection %s: %v, handshake %q): connect %v", name, i, e.Annotation, e.Connection, first, w.ConnTS, e.Connect)
			}
			if e.Annotation == "unique" && count[e.Connection] != 1 {
				t.Errorf("%s entry %d: unique, but connection %s has %d entries", name, i, e.Connection, count[e.Connection])
			}
			if (e.Annotation == "continue" || e.Annotation == "last") && first && w.ConnTS != "" {
				t.Errorf("%s entry %d: %s on a connection whose first entry it is", name, i, e.Annotation)
			}
		}
	}
}

// TestHARReuse: the leaky client's requests each have a connection id and
// a connect of their own; the fixed client's share one id and one connect.
func TestHARReuse(t *testing.T) {
	for _, c := range []struct {
		file       string
		sharedConn bool
	}{{"leaky.pcap", false}, {"fixed.pcap", true}} {
		harFile := filepath.Join(t.TempDir(), "x.har")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-f", "../../sniff/reuse/testdata/" + c.file, "--har", harFile}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, stderr.String())
		}
		data, _ := os.ReadFile(harFile)
		log, err := harcheck.Validate(data)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		ids, connects := map[string]bool{}, 0
		for _, e := range log.Entries {
			ids[e.Connection] = true
			if e.Connect >= 0 {
				connects++
			}
		}
		n := len(log.Entries)
		wantIDs := n
		if c.sharedConn {
			wantIDs = 1
		}
		if n < 2 || len(ids) != wantIDs || connects != wantIDs {
			t.Errorf("%s: %d entries, %d connection ids, %d connects; want %d and %d", c.file, n, len(ids), connects, wantIDs, wantIDs)
		}
	}
}

// testHARSignal: live, with --har, SIGINT ends the capture with a valid
// HAR holding every exchange: five connections, five ids, five connects.
func (e *liveEnv) testHARSignal(t *testing.T) {
	t.Parallel()
	srv, cli, _ := twoNamespaces(t)
	e.server(t, srv, "10.66.0.1:8080")
	harFile := filepath.Join(t.TempDir(), "live.har")
	sn := e.sniffer(t, srv, "-l", storyFormat, "--har", harFile)
	finish(t, e.client(t, cli, "unread", "5", "http://10.66.0.1:8080/big/har/"))
	sn.waitFor(0, "/big/har/5", 5*time.Second)
	if err := sn.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := sn.wait(5 * time.Second); st != 0 {
		t.Fatalf("sniffer exit status %d after SIGINT; want 0", st)
	}
	data, err := os.ReadFile(harFile)
	if err != nil {
		t.Fatal(err)
	}
	log, err := harcheck.Validate(data)
	if err != nil {
		t.Fatalf("HAR after SIGINT: %v\n%s", err, data)
	}
	ids, connects := map[string]bool{}, 0
	for _, en := range log.Entries {
		ids[en.Connection] = true
		if en.Connect >= 0 {
			connects++
		}
		if !strings.HasPrefix(en.URL, "http://10.66.0.1:8080/big/har/") || en.Status != 200 || en.ServerIP != "10.66.0.1" {
			t.Errorf("entry %+v", en)
		}
	}
	if len(log.Entries) != 5 || len(ids) != 5 || connects != 5 {
		t.Errorf("%d entries, %d ids, %d connects; want 5 of each", len(log.Entries), len(ids), connects)
	}
}

// TestHARFileInterrupt: reading standard input with --har (tcpdump -w - |
// sniffer -f - --har x.har, ended by Ctrl-C), a SIGINT does not kill
// sniffer: it ends the input as it ends (here the pipe's close) and the
// HAR is complete and valid. The signal is sent once sniffer has read
// everything in the pipe, so after it set up its handling.
func TestHARFileInterrupt(t *testing.T) {
	bin, err := exec.LookPath("sniffer") // this test binary, through testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../testdata/oracle/keepalive3.pcap")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	harFile := filepath.Join(t.TempDir(), "x.har")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-f", "-", "--har", harFile, "-l", "%request.url")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer cmd.Process.Kill()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ) // FIONREAD
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sniffer did not read its input: %d bytes left", n)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sniffer after SIGINT: %v; stderr:\n%s", err, stderr.String())
	}
	har, err := os.ReadFile(harFile)
	if err != nil {
		t.Fatal(err)
	}
	log, err := harcheck.Validate(har)
	if err != nil {
		t.Fatalf("HAR after SIGINT: %v\n%s", err, har)
	}
	if len(log.Entries) != 3 || stdout.String() != "/one\n/two\n/three\n" {
		t.Errorf("%d HAR entries, stdout %q; want the 3 of keepalive3.pcap", len(log.Entries), stdout.String())
	}
}
