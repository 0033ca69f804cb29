package sniff_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sniffer/sniffer/internal/require"
	"github.com/sniffer/sniffer/sniff/internal/h2test"
)

// h2Format prints what the differential test compares, and the label.
const h2Format = "%source.port %stream.id %request.method %request.url %response.code %grpc.status %connection %response.message(none) %request.protocol %response.line"

// h2Entry is one line of h2Format.
type h2Entry struct {
	s                           h2test.Stream
	label, message, proto, line string
}

func parseH2(t *testing.T, out string) []h2Entry {
	t.Helper()
	var es []h2Entry
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, " ", 10)
		if len(f) >= 7 && f[1] == "-" && f[2] == "-" && (f[6] == "continue" || f[6] == "last") {
			// Not a stream: the tail of a connection after its reset,
			// tracked as a connection picked up in the middle, with no
			// HTTP/2 stream in it.
			t.Logf("entry of no stream: %q", l)
			continue
		}
		if len(f) != 10 {
			t.Fatalf("entry %q: want 10 fields", l)
		}
		port, _ := strconv.Atoi(f[0])
		id, _ := strconv.Atoi(f[1])
		code, _ := strconv.Atoi(f[4])
		g := -1
		if f[5] != "-" {
			g, _ = strconv.Atoi(f[5])
		}
		es = append(es, h2Entry{s: h2test.Stream{ClientPort: port, ID: uint32(id), Method: f[2], Path: f[3], Status: code, GRPCStatus: g},
			label: f[6], message: f[7], proto: f[8], line: f[9]})
	}
	return es
}

func sortStreams(ss []h2test.Stream) {
	slices.SortFunc(ss, func(a, b h2test.Stream) int {
		if a.ClientPort != b.ClientPort {
			return a.ClientPort - b.ClientPort
		}
		return int(a.ID) - int(b.ID)
	})
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sniffer builds the command (cmd/sniffer) once per test process: the
// tests of HTTP/2 run it as a user does (-e, --expect-reuse, --redact).
func sniffer(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sniffer-h2-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sniffer")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/sniffer").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ../cmd/sniffer: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// h2run runs the command on c's capture and returns its exit status,
// standard output and standard error.
func h2run(t *testing.T, c h2test.Capture, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(sniffer(t), append([]string{"-f", c.Path}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run sniffer: %v", err)
	}
	return code, stdout.String(), stderr.String()
}

func needShell(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		require.Missing(t, require.ToolsEnv, "no /bin/sh: %v", err)
	}
}

// TestH2AgainstTshark runs the real peers of h2test (x/net/http2 client
// and server, prior knowledge and Upgrade: h2c with curl and nghttp,
// nghttpd with nghttp multiplexing, gRPC health checks on a shared channel
// and a channel per call): the sniffer's entries, text and JSON, are one
// per stream and agree with tshark's http2 dissector on the stream's
// connection, id, method, path, status and grpc-status; the labels follow
// the streams' begin order per connection; --expect-reuse passes a client
// that multiplexes and fails one that opens a connection per request.
func TestH2AgainstTshark(t *testing.T) {
	for _, sc := range []struct {
		name  string
		run   func(testing.TB) (h2test.Capture, []h2test.Want)
		reuse int // --expect-reuse's exit status; -1: not checked
	}{
		{"go-prior-knowledge-shared", func(t testing.TB) (h2test.Capture, []h2test.Want) { return h2test.GoPriorKnowledge(t, true) }, 0},
		{"go-prior-knowledge-per-request", func(t testing.TB) (h2test.Capture, []h2test.Want) { return h2test.GoPriorKnowledge(t, false) }, 1},
		{"curl-upgrade", h2test.CurlUpgrade, 0},
		{"nghttp-upgrade", h2test.NghttpUpgrade, -1},
		{"nghttpd-multiplexed", h2test.Nghttpd, 0},
		{"grpc-shared-channel", func(t testing.TB) (h2test.Capture, []h2test.Want) { return h2test.GRPC(t, true) }, 0},
		{"grpc-channel-per-call", func(t testing.TB) (h2test.Capture, []h2test.Want) { return h2test.GRPC(t, false) }, 1},
	} {
		t.Run(sc.name, func(t *testing.T) {
			c, _ := h2test.Run(t, sc.run)
			want := h2test.Tshark(t, c)
			sortStreams(want)
			code, out, stderr := h2run(t, c, "-l", h2Format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			es := parseH2(t, out)
			var got []h2test.Stream
			conns := map[int][]h2Entry{}
			for _, e := range es {
				got = append(got, e.s)
				conns[e.s.ClientPort] = append(conns[e.s.ClientPort], e)
				if e.message != "none" {
					t.Errorf("%%response.message %q on an HTTP/2 response", e.message)
				}
				if e.s.ID != 1 || !c.Upgrade {
					if e.proto != "HTTP/2.0" {
						t.Errorf("%%request.protocol %q", e.proto)
					}
				}
				if want := "HTTP/2.0 " + strconv.Itoa(e.s.Status); e.line != want {
					t.Errorf("%%response.line %q, want %q", e.line, want)
				}
			}
			sortStreams(got)
			if !slices.Equal(got, want) {
				t.Errorf("sniffer:\n%s\ntshark:\n%s\noutput:\n%s", streamsText(got), streamsText(want), out)
			}
			// Labels: by begin order (stream id order for one client).
			for port, ces := range conns {
				slices.SortFunc(ces, func(a, b h2Entry) int { return int(a.s.ID) - int(b.s.ID) })
				for i, e := range ces {
					w := "continue"
					switch {
					case len(ces) == 1:
						w = "unique"
					case i == 0:
						w = "start"
					case i == len(ces)-1:
						w = "last"
					}
					if e.label != w {
						t.Errorf("connection %d stream %d: %s, want %s", port, e.s.ID, e.label, w)
					}
				}
			}
			// JSON: the same streams.
			code, out, stderr = h2run(t, c, "--json")
			if code != 0 {
				t.Fatalf("--json: exit %d: %s", code, stderr)
			}
			var jgot []h2test.Stream
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var o struct {
					StreamID uint32 `json:"stream_id"`
					Source   struct{ Port int }
					GRPC     *struct{ Status int }
					Request  struct {
						Method, URL       string
						HeadersIncomplete bool `json:"headers_incomplete"`
					}
					Response struct {
						Code              int
						HeadersIncomplete bool `json:"headers_incomplete"`
					}
				}
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("--json: %v: %s", err, l)
				}
				if o.StreamID == 0 && o.Request.Method == "" && o.Response.Code == 0 {
					continue // not a stream (see parseH2)
				}
				if o.Request.HeadersIncomplete || o.Response.HeadersIncomplete {
					t.Errorf("--json: headers_incomplete on a whole capture: %s", l)
				}
				s := h2test.Stream{ClientPort: o.Source.Port, ID: o.StreamID, Method: o.Request.Method, Path: o.Request.URL, Status: o.Response.Code, GRPCStatus: -1}
				if o.GRPC != nil {
					s.GRPCStatus = o.GRPC.Status
				}
				jgot = append(jgot, s)
			}
			sortStreams(jgot)
			if !slices.Equal(jgot, want) {
				t.Errorf("--json:\n%s\ntshark:\n%s", streamsText(jgot), streamsText(want))
			}
			if sc.reuse >= 0 {
				code, _, stderr := h2run(t, c, "--expect-reuse", "-l", "%connection")
				if code != sc.reuse {
					t.Errorf("--expect-reuse: exit %d, want %d: %s", code, sc.reuse, stderr)
				}
			}
		})
	}
}

func streamsText(ss []h2test.Stream) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "%v\n", s)
	}
	return b.String()
}

// TestH2Upgrade: the request upgraded with Upgrade: h2c is one entry, its
// HTTP/1.1 request with its HTTP/2 response (the 101 first, where
// %response prints it).
func TestH2Upgrade(t *testing.T) {
	c, _ := h2test.Run(t, h2test.CurlUpgrade)
	code, out, stderr := h2run(t, c, "-l", "%stream.id|%request.line|%response.line|%response.code|%request.header.host|%connection")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 entries:\n%s", out)
	}
	host := "127.0.0.1:" + strconv.Itoa(c.Port)
	if want := "1|GET /up HTTP/1.1|HTTP/2.0 200|200|" + host + "|start"; lines[0] != want {
		t.Errorf("upgraded entry %q, want %q", lines[0], want)
	}
	if want := "3|GET /404 HTTP/2.0|HTTP/2.0 404|404|" + host + "|last"; lines[1] != want {
		t.Errorf("second entry %q, want %q", lines[1], want)
	}
	_, out, _ = h2run(t, c, "-l", "%response")
	if !strings.HasPrefix(out, "HTTP/1.1 101 ") || !strings.Contains(out, "\r\n\r\nHTTP/2.0 200\r\n") {
		t.Errorf("%%response of the upgraded entry:\n%q", out)
	}
}

// TestH2Redact: --redact replaces authorization and cookie of HTTP/2
// requests in text, JSON and the entries given to -e.
func TestH2Redact(t *testing.T) {
	needShell(t)
	c, _ := h2test.Run(t, h2test.GoSecrets)
	secrets := []string{h2test.SecretAuthorization, h2test.SecretCookie}
	check := func(what, out string, n int) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: %q printed", what, s)
			}
		}
		if got := strings.Count(out, "[redacted]"); got < n {
			t.Errorf("%s: %d [redacted], want at least %d:\n%s", what, got, n, out)
		}
	}
	// Unredacted, the secrets are there (the test can fail).
	_, out, _ := h2run(t, c, "-l", "%request.header.authorization %request.header.cookie")
	if strings.Count(out, h2test.SecretAuthorization) != 2 || strings.Count(out, h2test.SecretCookie) != 2 {
		t.Fatalf("without --redact:\n%s", out)
	}
	_, out, _ = h2run(t, c, "--redact", "-l", "%request.header.authorization %request.header.cookie %request")
	check("text", out, 8)
	_, out, _ = h2run(t, c, "--redact", "--json")
	check("--json", out, 4)
	dump := filepath.Join(t.TempDir(), "e.out")
	code, _, stderr := h2run(t, c, "--redact", "-l", "%request", "-e", "cat >> "+dump)
	if code != 0 {
		t.Fatalf("-e: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	check("-e", string(b), 4)
}

// cutCapture writes a copy of c's capture without the packets drop
// selects (by index, and the TCP layer), for the pickup and gap tests.
func cutCapture(t *testing.T, c h2test.Capture, drop func(i int, tcp *layers.TCP) bool) string {
	t.Helper()
	f, err := os.Open(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	o, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && drop(i, tl) {
			dropped++
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if dropped == 0 {
		t.Fatal("cutCapture dropped nothing")
	}
	return path
}

// isHeaders reports whether a client segment starts with a HEADERS frame.
func isHeaders(tl *layers.TCP, port int) bool {
	return int(tl.DstPort) == port && len(tl.Payload) >= 9 && tl.Payload[3] == 1
}

// TestH2PickupAndGap: a connection picked up in the middle (its first
// packets cut, up to a request's HEADERS frame) and one with a capture
// gap (a request's HEADERS lost) still make an entry per stream seen,
// labelled as a connection seen late (continue first) for the pickup;
// header fields print no frame bytes (nothing but printable text in the
// heads), and JSON says headers_incomplete where the HPACK state was
// missing.
func TestH2PickupAndGap(t *testing.T) {
	c, _ := h2test.Run(t, func(t testing.TB) (h2test.Capture, []h2test.Want) { return h2test.GoPriorKnowledge(t, true) })
	full := h2test.Tshark(t, c)
	for _, cut := range []struct {
		name string
		drop func() func(int, *layers.TCP) bool
	}{
		{"pickup", func() func(int, *layers.TCP) bool {
			seen, cutting := 0, true
			return func(i int, tl *layers.TCP) bool {
				if cutting && isHeaders(tl, c.Port) {
					if seen++; seen == 2 { // keep from the second request on
						cutting = false
					}
				}
				return cutting
			}
		}},
		{"gap", func() func(int, *layers.TCP) bool {
			seen := 0
			return func(i int, tl *layers.TCP) bool {
				if isHeaders(tl, c.Port) {
					seen++
					return seen == 2 // the second request's HEADERS
				}
				return false
			}
		}},
	} {
		t.Run(cut.name, func(t *testing.T) {
			path := cutCapture(t, c, cut.drop())
			cc := c
			cc.Path = path
			code, out, stderr := h2run(t, cc, "-l", "%connection %stream.id %request.method %request.url %response.code%newline%request.header%newline%response.header")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, b := range []byte(out) {
				if b < 0x20 && b != '\n' && b != '\r' || b >= 0x7f {
					t.Fatalf("binary byte %#x in the output:\n%q", b, out)
				}
			}
			code, jout, stderr := h2run(t, cc, "--json")
			if code != 0 {
				t.Fatalf("--json: exit %d: %s", code, stderr)
			}
			byID := map[uint32]h2test.Stream{}
			for _, s := range full {
				byID[s.ID] = s
			}
			incomplete, n := 0, 0
			for _, l := range strings.Split(strings.TrimSpace(jout), "\n") {
				var o struct {
					Connection string
					StreamID   uint32 `json:"stream_id"`
					Dest       struct{ Port int }
					Request    struct {
						Method, URL       string
						HeadersIncomplete bool `json:"headers_incomplete"`
					}
					Response struct {
						Code              int
						HeadersIncomplete bool `json:"headers_incomplete"`
					}
				}
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
				n++
				if o.Dest.Port != c.Port {
					t.Errorf("stream %d: dest.port %d, want the server's %d", o.StreamID, o.Dest.Port, c.Port)
				}
				if n == 1 && cut.name == "pickup" && o.Connection != "continue" {
					t.Errorf("first entry of a picked-up connection: %s, want continue", o.Connection)
				}
				w, ok := byID[o.StreamID]
				if !ok {
					t.Errorf("stream %d is not in the capture: %s", o.StreamID, l)
					continue
				}
				if o.Request.Method != "" && o.Request.Method != w.Method || o.Request.URL != "" && o.Request.URL != w.Path ||
					o.Response.Code != 0 && o.Response.Code != w.Status {
					t.Errorf("stream %d: %s %s %d, tshark %v", o.StreamID, o.Request.Method, o.Request.URL, o.Response.Code, w)
				}
				if o.Request.HeadersIncomplete || o.Response.HeadersIncomplete {
					incomplete++
				}
			}
			if n < 2 {
				t.Errorf("%d entries:\n%s", n, jout)
			}
			if incomplete == 0 {
				t.Errorf("no entry says headers_incomplete:\n%s", jout)
			}
			t.Logf("%d entries, %d with headers_incomplete\n%s", n, incomplete, out)
		})
	}
}

// TestH2OverTLS: HTTP/2 over TLS (ALPN h2) is one TLS entry, with
// %tls.alpn h2 (TLS 1.2: the server's choice is visible), its round trips
// counted, and no HTTP field read from ciphertext.
func TestH2OverTLS(t *testing.T) {
	c, _ := h2test.Run(t, h2test.GoTLS)
	code, out, stderr := h2run(t, c, "-l", "%connection|%tls.alpn|%tls.version|%request.line|%stream.id|%tls.round-trips")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one entry:\n%s", out)
	}
	f := strings.Split(lines[0], "|")
	if len(f) != 6 || f[0] != "unique" || f[1] != "h2" || f[2] != "TLS_1.2" || f[3] != "-" || f[4] != "-" {
		t.Fatalf("entry %q, want unique|h2|TLS_1.2|-|-|N", lines[0])
	}
	if n, err := strconv.Atoi(f[5]); err != nil || n < 3 {
		t.Errorf("%%tls.round-trips %q, want at least the 3 requests", f[5])
	}
	_, out, _ = h2run(t, c, "--json")
	if !strings.Contains(out, `"alpn":"h2","alpn_negotiated":true`) {
		t.Errorf("--json: %s", out)
	}
}
