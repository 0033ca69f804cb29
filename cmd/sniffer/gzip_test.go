package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// TestGzipCapture: a gzipped capture prints the same entries as the plain
// one, from a file and from standard input; a gzip that is cut short is
// read up to the cut with a warning.
func TestGzipCapture(t *testing.T) {
	plain, err := os.ReadFile("../../testdata/oracle/keepalive3.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(plain)
	w.Close()
	path := filepath.Join(t.TempDir(), "keepalive3.pcap.gz")
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	format := []string{"-l", "%connection %request.url %response.code"}
	var want, stderr bytes.Buffer
	if code := run(append([]string{"-f", "../../testdata/oracle/keepalive3.pcap"}, format...), nil, &want, &stderr); code != 0 || want.Len() == 0 {
		t.Fatalf("plain: exit %d, %q", code, stderr.String())
	}
	for name, c := range map[string]struct {
		file  string
		stdin []byte
	}{"file": {path, nil}, "stdin": {"-", z.Bytes()}} {
		var got, stderr bytes.Buffer
		if code := run(append([]string{"-f", c.file}, format...), bytes.NewReader(c.stdin), &got, &stderr); code != 0 || got.String() != want.String() || stderr.Len() != 0 {
			t.Errorf("%s: exit %d, entries\n%s\nwant\n%s\nstderr %q", name, code, got.String(), want.String(), stderr.String())
		}
	}
	var got bytes.Buffer
	stderr.Reset()
	cut := z.Bytes()[:z.Len()*2/3]
	if code := run(append([]string{"-f", "-"}, format...), bytes.NewReader(cut), &got, &stderr); code != 0 || !bytes.Contains(stderr.Bytes(), []byte("warning: standard input: ")) || !bytes.HasPrefix(want.Bytes(), got.Bytes()[:min(got.Len(), 10)]) {
		t.Errorf("cut gzip: exit %d, entries %q, stderr %q", code, got.String(), stderr.String())
	}
}
