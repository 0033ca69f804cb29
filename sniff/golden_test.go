package sniff_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// The formats justniffer's outputs in testdata/oracle were made with.
const (
	seedFormat = "%newline---%newline%connection - %connection.time%newline%newline%request%newline%newline%response"
	fullFormat = "%connection|req#=%session.requests|%source.ip:%source.port>%dest.ip:%dest.port|%request.line|%response.code|%response.message|conn.time=%connection.time|idle0=%idle.time.0|req.time=%request.time|resp.time=%response.time|begin=%response.time.begin|end=%response.time.end|idle1=%idle.time.1|close.time=%close.time|orig=%close.originator|sess.time=%session.time|req.size=%request.size|resp.size=%response.size|streams=%streams|req.ts=%request.timestamp|req.ts2=%request.timestamp2|resp.ts=%response.timestamp|conn.ts=%connection.timestamp|close.ts=%close.timestamp|host=%request.header.host|clen=%response.header.content-length|hv=%request.header.value(X-None)|"
)

var formats = map[string]string{
	"default": logformat.Default,
	"seed":    seedFormat,
	"full":    fullFormat,
}

// runCapture runs a capture file through the engine and renders every entry
// with format, the way the command does (UTC, a newline after each entry).
func runCapture(t testing.TB, data []byte, format string, cfg sniff.Config) string {
	t.Helper()
	return runCaptureIndex(t, data, format, cfg, true)
}

// runCaptureIndex is runCapture with the header fields the engine framed
// (as the command does) or, index false, with them dropped, so that the
// look-ups find them in the kept bytes (entry.ScanFields).
func runCaptureIndex(t testing.TB, data []byte, format string, cfg sniff.Config, index bool) string {
	t.Helper()
	f, err := logformat.Parse(format)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	cfg.KeepBodies = f.NeedsBodies()
	cfg.Emit = func(e *entry.Entry) {
		if !index {
			e.Request.HasFields, e.Response.HasFields = false, false
		}
		out = f.Append(out, e, opts)
		out = append(out, '\n')
	}
	eng := sniff.New(cfg)
	pcaptest.Replay(t, data, eng.Packet)
	eng.Finish()
	return string(out)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deviations are the oracle outputs where justniffer is wrong; sniffer's
// output for them is in testdata/expected and each has its own test below.
var deviations = map[string]bool{
	"pipeline.default":       true,
	"pipeline.seed":          true,
	"pipeline.full":          true,
	"post-expect100.default": true,
	"post-expect100.seed":    true,
	"post-expect100.full":    true,
	"refused.full":           true,
}

// TestOracle checks sniffer's output against justniffer's on every oracle
// capture, in the three formats, byte for byte; where justniffer is wrong,
// against sniffer's own expected output.
func TestOracle(t *testing.T) {
	pcaps, _ := filepath.Glob("../testdata/oracle/*.pcap")
	if len(pcaps) < 9 {
		t.Fatalf("found %d oracle captures", len(pcaps))
	}
	for _, pcap := range pcaps {
		name := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
		data := readFile(t, pcap)
		for fname, format := range formats {
			t.Run(name+"."+fname, func(t *testing.T) {
				want := "../testdata/oracle/" + name + "." + fname + ".txt"
				if deviations[name+"."+fname] {
					want = "../testdata/expected/" + name + "." + fname + ".txt"
				}
				got := runCapture(t, data, format, sniff.Config{})
				if *update && deviations[name+"."+fname] {
					os.WriteFile(want, []byte(got), 0o644)
				}
				if exp := string(readFile(t, want)); got != exp {
					t.Errorf("output differs from %s\n%s", want, diff(exp, got))
				}
			})
		}
	}
}

// diff shows the first differing line.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			short := func(s string) string {
				if len(s) > 600 {
					return s[:600] + "…"
				}
				return s
			}
			return "line " + itoa(i+1) + ":\nwant: " + short(w) + "\ngot:  " + short(g)
		}
	}
	return "(same lines)"
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return string(b[n:])
}
