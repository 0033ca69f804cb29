package har

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/internal/harcheck"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// The tests run captures through the engine into a Writer and validate the
// file with harcheck (a table of the HAR 1.2 spec's required fields and
// their types, and the spec's rules on values: see its package comment).

var (
	client = netip.MustParseAddrPort("10.0.0.1:40000")
	server = netip.MustParseAddrPort("10.0.0.2:8080")
	t0     = time.Date(2026, 11, 23, 19, 27, 37, 0, time.UTC)
)

// run replays a capture into a Writer and returns the file.
func run(t testing.TB, data []byte) ([]byte, *Writer) {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, Options{Version: "test"})
	eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 64 << 10, IdleTimeout: -1, Emit: w.Add})
	pcaptest.Replay(t, data, eng.Packet)
	eng.Finish()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), w
}

func validate(t testing.TB, file []byte) *harcheck.Log {
	t.Helper()
	log, err := harcheck.Validate(file)
	if err != nil {
		t.Fatalf("invalid HAR: %v\n%s", err, file)
	}
	return log
}

// TestTimings: a connection with two exchanges, each phase of known
// length. The first entry starts at the SYN and has connect; the second
// starts at its request and has connect -1; time is the sum.
func TestTimings(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(client, server, t0)
	f.Step = time.Millisecond
	f.Handshake() // SYN t0, SYN-ACK +1ms, ACK +2ms
	f.Sleep(2 * time.Millisecond)
	f.ClientSend([]byte("GET /a?x=1&y=%20z HTTP/1.1\r\nHost: example.test:8080\r\nCookie: a=1; b=2\r\n\r\n")) // +5ms
	f.Sleep(10 * time.Millisecond)
	f.ServerSend([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: s=v; Path=/\r\nContent-Length: 4\r\n\r\nab")) // +16ms
	f.Sleep(3 * time.Millisecond)
	f.ServerSend([]byte("cd")) // +20ms
	f.Ack(true)
	f.Sleep(100 * time.Millisecond)
	f.ClientSend([]byte("POST /b HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 3\r\n\r\n")) // +122ms
	f.ClientSend([]byte("xyz"))                                                                      // +123ms
	f.ServerSend([]byte("HTTP/1.1 302 Found\r\nLocation: /c\r\nContent-Length: 0\r\n\r\n"))          // +124ms
	f.Close(true)

	file, w := run(t, c.Pcap())
	log := validate(t, file)
	if len(log.Entries) != 2 || w.Entries() != 2 || w.Skipped() != 0 {
		t.Fatalf("%d entries (%d written, %d skipped); want 2", len(log.Entries), w.Entries(), w.Skipped())
	}
	a, b := log.Entries[0], log.Entries[1]
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"a.startedDateTime", a.StartedDateTime, ms(0)},
		{"a.connect", a.Connect, 2.0},
		{"a.send", a.Send, 3.0},
		{"a.wait", a.Wait, 11.0},
		{"a.receive", a.Receive, 4.0},
		{"a.time", a.Time, 20.0},
		{"a.url", a.URL, "http://example.test:8080/a?x=1&y=%20z"},
		{"a.query", a.Query, [][2]string{{"x", "1"}, {"y", "%20z"}}},
		{"a.cookies", a.ReqCookies, [][2]string{{"a", "1"}, {"b", "2"}}},
		{"a.setcookies", a.RespCookies, [][2]string{{"s", "v"}}},
		{"a.status", a.Status, 200},
		{"a.mimeType", a.MimeType, "text/plain"},
		{"a.content.size", a.ContentSize, int64(4)},
		{"a.response.bodySize", a.RespBody, int64(4)},
		{"a.response.headersSize", a.RespHeadersSize, int64(len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: s=v; Path=/\r\nContent-Length: 4\r\n\r\n"))},
		{"a.request.bodySize", a.ReqBodySize, int64(0)},
		{"a.serverIPAddress", a.ServerIP, "10.0.0.2"},
		{"a.connection", a.Connection, "1"},
		{"a._annotation", a.Annotation, "start"},
		{"b.startedDateTime", b.StartedDateTime, ms(122)},
		{"b.connect", b.Connect, -1.0},
		{"b.send", b.Send, 1.0},
		{"b.wait", b.Wait, 1.0},
		{"b.receive", b.Receive, 0.0},
		{"b.time", b.Time, 2.0},
		{"b.method", b.Method, "POST"},
		{"b.request.bodySize", b.ReqBodySize, int64(3)},
		{"b.status", b.Status, 302},
		{"b.mimeType", b.MimeType, "x-unknown"},
		{"b.connection", b.Connection, "1"},
		{"b._annotation", b.Annotation, "last"},
	} {
		if !equal(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	if !bytes.Contains(file, []byte(`"redirectURL":"/c"`)) {
		t.Errorf("no redirectURL /c in\n%s", file)
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		return x.Equal(b.(time.Time))
	case [][2]string:
		y := b.([][2]string)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestOracleCaptures: every capture of the repository gives a valid HAR;
// entries of one connection share its id, entries of different ones do
// not, and connect is set on a connection's first entry only, when its
// handshake was captured.
func TestOracleCaptures(t *testing.T) {
	var paths []string
	for _, g := range []string{"../../testdata/oracle/*.pcap", "../reuse/testdata/*.pcap"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 10 {
		t.Fatalf("found %d captures; want the oracle's and reuse's", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// The engine's own view, to compare with.
			var want []entry.Entry
			eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 64 << 10, IdleTimeout: -1, Emit: func(e *entry.Entry) {
				if e.Request.HTTP {
					want = append(want, entry.Entry{Conn: e.Conn, Annotation: e.Annotation, SYN: e.SYN})
				}
			}})
			pcaptest.Replay(t, data, eng.Packet)
			eng.Finish()

			file, _ := run(t, data)
			log := validate(t, file)
			if len(log.Entries) != len(want) {
				t.Fatalf("%d entries; want %d", len(log.Entries), len(want))
			}
			seen := map[string]bool{}
			for i, e := range log.Entries {
				w := want[i]
				if e.Connection != itoa(w.Conn) || e.Annotation != w.Annotation.String() {
					t.Errorf("entry %d: connection %q %s; want %d %s", i, e.Connection, e.Annotation, w.Conn, w.Annotation)
				}
				first := !seen[e.Connection]
				seen[e.Connection] = true
				if hasConnect := e.Connect >= 0; hasConnect != (first && !w.SYN.IsZero()) {
					t.Errorf("entry %d (%s, first of its connection: %v): connect %v", i, e.Annotation, first, e.Connect)
				}
				if (e.Annotation == "unique" || e.Annotation == "start") != (first && e.Annotation != "continue" && e.Annotation != "last") {
					t.Errorf("entry %d: %s but first of its connection: %v", i, e.Annotation, first)
				}
			}
		})
	}
}

func itoa(n uint64) string { return string(appendUint(nil, n)) }

func appendUint(b []byte, n uint64) []byte {
	if n >= 10 {
		b = appendUint(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// TestReuseIDs: the leaky client's five requests are five connections
// with five ids and five connects; the fixed client's share one id and
// one connect.
func TestReuseIDs(t *testing.T) {
	for _, c := range []struct {
		file            string
		ids, connects   int
		entriesAtLeast  int
		firstAnnotation string
	}{
		{"leaky.pcap", 0, 0, 2, "unique"},
		{"fixed.pcap", 1, 1, 2, "start"},
	} {
		data, err := os.ReadFile("../reuse/testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		file, _ := run(t, data)
		log := validate(t, file)
		ids, connects := map[string]bool{}, 0
		for _, e := range log.Entries {
			ids[e.Connection] = true
			if e.Connect >= 0 {
				connects++
			}
		}
		n := len(log.Entries)
		if n < c.entriesAtLeast || log.Entries[0].Annotation != c.firstAnnotation {
			t.Fatalf("%s: %d entries, first %q", c.file, n, log.Entries[0].Annotation)
		}
		wantIDs, wantConnects := c.ids, c.connects
		if wantIDs == 0 { // one per entry
			wantIDs, wantConnects = n, n
		}
		if len(ids) != wantIDs || connects != wantConnects {
			t.Errorf("%s: %d entries, %d connection ids, %d with connect; want %d ids, %d connects", c.file, n, len(ids), connects, wantIDs, wantConnects)
		}
	}
}

// TestNotHTTP: an exchange that is not HTTP is left out and counted, and
// the log's comment says so; the file stays valid.
func TestNotHTTP(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(client, server, t0)
	f.Handshake()
	f.ClientSend([]byte("\x16\x03\x01\x00\x05hello"))
	f.ServerSend([]byte("\x16\x03\x03\x00\x02hi"))
	f.Close(true)
	g := c.Flow(netip.MustParseAddrPort("10.0.0.1:40001"), server, t0.Add(time.Second))
	g.Handshake()
	g.ClientSend([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	g.ServerSend([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	g.Close(true)
	file, w := run(t, c.Pcap())
	log := validate(t, file)
	if len(log.Entries) != 1 || w.Skipped() != 1 || log.Entries[0].URL != "http://h/" {
		t.Fatalf("entries %+v, skipped %d; want the GET alone, 1 skipped", log.Entries, w.Skipped())
	}
	if !strings.Contains(log.Comment, "1 exchanges that are not HTTP") {
		t.Errorf("comment %q", log.Comment)
	}
}

// TestNoResponse: a request without a response is an entry with status 0,
// sizes -1, _error, and wait and receive 0.
func TestNoResponse(t *testing.T) {
	data, err := os.ReadFile("../../testdata/oracle/noresp.pcap")
	if err != nil {
		t.Fatal(err)
	}
	file, _ := run(t, data)
	log := validate(t, file)
	n := 0
	for _, e := range log.Entries {
		if e.Error == "" {
			continue
		}
		n++
		if e.Status != 0 || e.RespBody != -1 || e.RespHeadersSize != -1 || e.Wait != 0 || e.Receive != 0 {
			t.Errorf("entry without response: %+v", e)
		}
	}
	if n == 0 {
		t.Errorf("no entry without a response in noresp.pcap:\n%s", file)
	}
}

// TestResponseNotHTTP: a server that answers something else than HTTP:
// status 0, sizes -1, _error says so, and wait and receive are its times.
func TestResponseNotHTTP(t *testing.T) {
	req, resp := "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "SSH-2.0-OpenSSH\r\n"
	e := &entry.Entry{Server: server, Conn: 1,
		Request:  entry.Message{Bytes: []byte(req), Size: int64(len(req)), HeaderLen: len(req), HTTP: true, First: t0, Last: t0},
		Response: entry.Message{Bytes: []byte(resp), Size: int64(len(resp)), HeaderLen: -1, First: t0.Add(2 * time.Millisecond), Last: t0.Add(5 * time.Millisecond)}}
	b, _ := AppendEntry(nil, e, nil)
	log := validate(t, wrap(b))
	en := log.Entries[0]
	if en.Status != 0 || en.RespBody != -1 || en.RespHeadersSize != -1 || en.Error != "the response is not HTTP" || en.Wait != 2 || en.Receive != 3 || en.Time != 5 {
		t.Errorf("%+v", en)
	}
}

// TestURL: the absolute URL from the Host header, the server address, or
// an absolute-form target; a hostile Host falls back to the address, and
// bytes a URL cannot hold are percent-encoded.
func TestURL(t *testing.T) {
	v6 := netip.MustParseAddrPort("[fd00::2]:8080")
	for _, c := range []struct {
		req    string
		server netip.AddrPort
		want   string
	}{
		{"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://a.test/x"},
		{"GET /x HTTP/1.0\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.0\r\n\r\n", v6, "http://[fd00::2]:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: [fd00::2]:81\r\n\r\n", v6, "http://[fd00::2]:81/x"},
		{"GET /x HTTP/1.1\r\nHost: evil.test/y?\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: a@b\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: a:99999x\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: \r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: 1.2.3.999\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: 1.2.3.4:81\r\n\r\n", server, "http://1.2.3.4:81/x"},
		{"GET /x HTTP/1.1\r\nHost: 1.2.3.a\r\n\r\n", server, "http://1.2.3.a/x"},
		{"GET /x HTTP/1.1\r\nHost: [fd00::zz]\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET /x HTTP/1.1\r\nHost: [fe80::1%eth0]\r\n\r\n", server, "http://10.0.0.2:8080/x"},
		{"GET http://proxy.test/p HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://proxy.test/p"},
		{"CONNECT c.test:443 HTTP/1.1\r\nHost: c.test:443\r\n\r\n", server, "http://c.test:443/"},
		{"OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://a.test"},
		{"GET rel HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://a.test/rel"},
		{"GET /a%zz%4%41%2 HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://a.test/a%25zz%254%41%252"},
		{"GET /\"<\x7f\xff>{|}\\^` HTTP/1.1\r\nHost: a.test\r\n\r\n", server, "http://a.test/%22%3C%7F%FF%3E%7B%7C%7D%5C%5E%60"},
	} {
		e := &entry.Entry{Client: client, Server: c.server, Conn: 7, Annotation: entry.Unique,
			Request: entry.Message{Bytes: []byte(c.req), Size: int64(len(c.req)), HeaderLen: len(c.req), HTTP: true, First: t0, Last: t0}}
		b, ok := AppendEntry(nil, e, nil)
		if !ok {
			t.Fatalf("%q: not written", c.req)
		}
		log := validate(t, wrap(b))
		if got := log.Entries[0].URL; got != c.want {
			t.Errorf("%q: url %q; want %q", c.req, got, c.want)
		}
	}
}

// TestValidIP: the IP literals a Host may hold, checked without netip
// (which allocates), agree with netip.ParseAddr.
func TestValidIP(t *testing.T) {
	for _, s := range []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4 ",
		"::", "::1", "fd00::2", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":1::", "1::", "1:", "::ffff:1.2.3.4",
		"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4", "12345::", "g::", "", ":", ":::", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7"} {
		a, err := netip.ParseAddr(s)
		want4, want6 := err == nil && a.Is4(), err == nil && a.Is6() && !a.Is4In6() || err == nil && a.Is4In6()
		if got := validIPv4([]byte(s)); got != want4 {
			t.Errorf("validIPv4(%q) = %v; netip says %v", s, got, want4)
		}
		if got := validIPv6([]byte(s)); got != want6 {
			t.Errorf("validIPv6(%q) = %v; netip says %v", s, got, want6)
		}
	}
}

// wrap makes a log of one rendered entry.
func wrap(entry []byte) []byte {
	return append(append([]byte(`{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[`), entry...), "]}}"...)
}

// TestContainerHook: the _container field comes from Options.Container,
// and only from it.
func TestContainerHook(t *testing.T) {
	e := &entry.Entry{Server: server, Request: entry.Message{Bytes: []byte("GET / HTTP/1.1\r\n\r\n"), HeaderLen: 18, HTTP: true, First: t0, Last: t0}}
	b, _ := AppendEntry(nil, e, &Options{})
	if bytes.Contains(b, []byte("_container")) {
		t.Errorf("_container without a hook: %s", b)
	}
	b, _ = AppendEntry(nil, e, &Options{Container: func(*entry.Entry) string { return "app\"1" }})
	if !bytes.Contains(b, []byte(`,"_container":"app\"1"`)) {
		t.Errorf("no _container: %s", b)
	}
	validate(t, wrap(b))
}

// TestEmptyAndClose: a log without entries is valid; Close twice writes
// the end once.
func TestEmptyAndClose(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Add(&entry.Entry{Request: entry.Message{HTTP: true, Bytes: []byte("GET / HTTP/1.1\r\n\r\n"), HeaderLen: 18}})
	log := validate(t, out.Bytes())
	if len(log.Entries) != 0 || strings.Count(out.String(), "]}}") != 1 {
		t.Errorf("%q", out.String())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(b), nil
}

// TestWriteError: a write error is kept and returned by Close.
func TestWriteError(t *testing.T) {
	w := NewWriter(&failWriter{}, Options{})
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close: %v; want disk full", err)
	}
}

// TestAddNoAlloc: Add does not allocate once its buffers have grown.
func TestAddNoAlloc(t *testing.T) {
	for _, host := range []string{"a.test", "127.0.0.1:8080", "[fd00::2]:8080", "bad host"} {
		req := "GET /a?b=c HTTP/1.1\r\nHost: " + host + "\r\nCookie: x=y\r\n\r\n"
		resp := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=b; Path=/\r\nContent-Length: 0\r\n\r\n"
		e := &entry.Entry{Client: client, Server: server, Conn: 3, SYN: t0, HandshakeDone: t0.Add(time.Millisecond),
			Request:  entry.Message{Bytes: []byte(req), Size: int64(len(req)), HeaderLen: len(req), HTTP: true, First: t0.Add(2 * time.Millisecond), Last: t0.Add(2 * time.Millisecond)},
			Response: entry.Message{Bytes: []byte(resp), Size: int64(len(resp)), HeaderLen: len(resp), HTTP: true, First: t0.Add(3 * time.Millisecond), Last: t0.Add(3 * time.Millisecond)}}
		var sink bytes.Buffer
		w := NewWriter(&sink, Options{})
		w.Add(e)
		allocs := testing.AllocsPerRun(100, func() {
			w.Add(e)
			if sink.Len() > 1<<20 {
				sink.Reset()
			}
		})
		if allocs != 0 {
			t.Errorf("Host %q: Add: %v allocations per entry; want 0", host, allocs)
		}
	}
}

// BenchmarkAdd: one typical entry (a request and a response with a few
// headers) rendered and buffered.
func BenchmarkAdd(b *testing.B) {
	req := "GET /items/1?x=y HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 23 Nov 2026 19:27:37 GMT\r\nContent-Length: 2\r\n\r\n"
	e := &entry.Entry{Client: client, Server: server, Conn: 3, SYN: t0, HandshakeDone: t0.Add(time.Millisecond),
		Request:  entry.Message{Bytes: []byte(req), Size: int64(len(req)), HeaderLen: len(req), HTTP: true, First: t0.Add(2 * time.Millisecond), Last: t0.Add(2 * time.Millisecond)},
		Response: entry.Message{Bytes: []byte(resp), Size: int64(len(resp)) + 2, HeaderLen: len(resp), HTTP: true, First: t0.Add(3 * time.Millisecond), Last: t0.Add(3 * time.Millisecond)}}
	w := NewWriter(io.Discard, Options{})
	b.ReportAllocs()
	for b.Loop() {
		w.Add(e)
	}
}
