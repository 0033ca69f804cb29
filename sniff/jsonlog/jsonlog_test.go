package jsonlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/logformat"
)

const oracle = "../../testdata/oracle"

// entries runs a capture through the engine and renders each entry with
// Append and with the log format text (for cross-checks).
func entries(t testing.TB, path string, bodies bool, format *logformat.Format) (objs []string, texts []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{Location: time.UTC, Bodies: bodies}
	eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 64 << 10, BodyCap: 1 << 20, KeepBodies: bodies, IdleTimeout: -1,
		Emit: func(e *entry.Entry) {
			objs = append(objs, string(Append(nil, e, o)))
			if format != nil {
				texts = append(texts, string(format.Append(nil, e, &logformat.Options{NotFound: "\x00", Location: time.UTC})))
			}
		}})
	pcaptest.Replay(t, data, eng.Packet)
	eng.Finish()
	return objs, texts
}

// sameJSON compares two JSON texts as values.
func sameJSON(t *testing.T, name, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: output does not parse: %v\n%s", name, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", name, err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, gb, wb)
	}
}

// The entries of keepalive3.pcap, every field (values from
// keepalive3.full.txt, justniffer's).
var keepalive3Want = []string{
	`{"connection":"start","connection_final":true,"connection_id":1,"session_requests":1,"streams":1,
	  "source":{"ip":"127.0.0.1","port":60920},"dest":{"ip":"127.0.0.1","port":18080},
	  "connection_time":0.000035,"connection_timestamp":"2026-11-23T19:27:37.482003Z",
	  "idle_time_0":0.000520,"idle_time_1":0.000208,"session_time":0.000815,
	  "request":{"size":82,"timestamp":"2026-11-23T19:27:37.482558Z","time":0.000000,
	    "line":"GET /one HTTP/1.1","method":"GET","url":"/one","protocol":"HTTP/1.1",
	    "headers":[{"name":"Host","value":"127.0.0.1:18080"},{"name":"User-Agent","value":"curl/7.88.1"},{"name":"Accept","value":"*/*"}]},
	  "response":{"size":149,"timestamp":"2026-11-23T19:27:37.482818Z","time":0.000260,"time_begin":0.000241,"time_end":0.000019,
	    "line":"HTTP/1.1 200 OK","protocol":"HTTP/1.1","code":200,"message":"OK",
	    "headers":[{"name":"Server","value":"BaseHTTP/0.6 Python/3.11.7"},{"name":"Date","value":"Mon, 23 Nov 2026 19:27:37 GMT"},
	      {"name":"Content-Type","value":"text/plain"},{"name":"Content-Length","value":"11"}]}}`,
	`{"connection":"continue","connection_final":true,"connection_id":1,"session_requests":2,"streams":1,
	  "source":{"ip":"127.0.0.1","port":60920},"dest":{"ip":"127.0.0.1","port":18080},
	  "idle_time_1":0.000277,"session_time":0.045290,
	  "request":{"size":82,"timestamp":"2026-11-23T19:27:37.483026Z","time":0.000000,
	    "line":"GET /two HTTP/1.1","method":"GET","url":"/two","protocol":"HTTP/1.1",
	    "headers":[{"name":"Host","value":"127.0.0.1:18080"},{"name":"User-Agent","value":"curl/7.88.1"},{"name":"Accept","value":"*/*"}]},
	  "response":{"size":149,"timestamp":"2026-11-23T19:27:37.527293Z","time":0.044267,"time_begin":0.000188,"time_end":0.044079,
	    "line":"HTTP/1.1 200 OK","protocol":"HTTP/1.1","code":200,"message":"OK",
	    "headers":[{"name":"Server","value":"BaseHTTP/0.6 Python/3.11.7"},{"name":"Date","value":"Mon, 23 Nov 2026 19:27:37 GMT"},
	      {"name":"Content-Type","value":"text/plain"},{"name":"Content-Length","value":"11"}]}}`,
	`{"connection":"last","connection_final":true,"connection_id":1,"session_requests":3,"streams":1,
	  "source":{"ip":"127.0.0.1","port":60920},"dest":{"ip":"127.0.0.1","port":18080},
	  "idle_time_1":0.001073,"close_time":0.001073,"close_timestamp":"2026-11-23T19:27:37.576404Z","close_originator":"client",
	  "session_time":0.094401,
	  "request":{"size":84,"timestamp":"2026-11-23T19:27:37.527570Z","time":0.000000,
	    "line":"GET /three HTTP/1.1","method":"GET","url":"/three","protocol":"HTTP/1.1",
	    "headers":[{"name":"Host","value":"127.0.0.1:18080"},{"name":"User-Agent","value":"curl/7.88.1"},{"name":"Accept","value":"*/*"}]},
	  "response":{"size":151,"timestamp":"2026-11-23T19:27:37.575331Z","time":0.047761,"time_begin":0.000387,"time_end":0.047374,
	    "line":"HTTP/1.1 200 OK","protocol":"HTTP/1.1","code":200,"message":"OK",
	    "headers":[{"name":"Server","value":"BaseHTTP/0.6 Python/3.11.7"},{"name":"Date","value":"Mon, 23 Nov 2026 19:27:37 GMT"},
	      {"name":"Content-Type","value":"text/plain"},{"name":"Content-Length","value":"13"}]}}`,
}

func TestKeepalive3(t *testing.T) {
	got, _ := entries(t, filepath.Join(oracle, "keepalive3.pcap"), false, nil)
	if len(got) != len(keepalive3Want) {
		t.Fatalf("%d entries, want %d:\n%s", len(got), len(keepalive3Want), strings.Join(got, "\n"))
	}
	for i := range got {
		sameJSON(t, "entry "+strconv.Itoa(i+1), got[i], keepalive3Want[i])
	}
}

// TestPostExpect100Bodies: the 100 Continue and the 201 make one entry
// (justniffer prints two; the times are those of its second entry), with
// the bodies.
func TestPostExpect100Bodies(t *testing.T) {
	got, _ := entries(t, filepath.Join(oracle, "post-expect100.pcap"), true, nil)
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	want := `{"connection":"unique","connection_final":true,"connection_id":1,"session_requests":1,"streams":1,
	  "source":{"ip":"127.0.0.1","port":43200},"dest":{"ip":"127.0.0.1","port":18080},
	  "connection_time":0.000032,"connection_timestamp":"2026-11-23T19:27:52.984415Z",
	  "idle_time_0":0.000056,"idle_time_1":0.000625,"close_time":0.000625,
	  "close_timestamp":"2026-11-23T19:27:53.027894Z","close_originator":"client","session_time":0.043479,
	  "request":{"size":3156,"timestamp":"2026-11-23T19:27:52.985193Z","time":0.000690,
	    "line":"POST /upload HTTP/1.1","method":"POST","url":"/upload","protocol":"HTTP/1.1",
	    "headers":[{"name":"Host","value":"127.0.0.1:18080"},{"name":"User-Agent","value":"curl/7.88.1"},{"name":"Accept","value":"*/*"},
	      {"name":"Expect","value":"100-continue"},{"name":"Content-Type","value":"text/plain"},{"name":"Content-Length","value":"3000"}],
	    "body":"` + strings.Repeat("B", 3000) + `","body_encoding":"utf8"},
	  "response":{"size":183,"timestamp":"2026-11-23T19:27:53.027269Z","time":0.042076,"time_begin":0.000248,"time_end":0.041828,
	    "line":"HTTP/1.1 201 Created","protocol":"HTTP/1.1","code":201,"message":"Created",
	    "headers":[{"name":"Server","value":"BaseHTTP/0.6 Python/3.11.7"},{"name":"Date","value":"Mon, 23 Nov 2026 19:27:52 GMT"},
	      {"name":"Content-Type","value":"text/plain"},{"name":"Content-Length","value":"15"}],
	    "body":"got 3000 bytes\n","body_encoding":"utf8"}}`
	sameJSON(t, "post-expect100", got[0], want)
}

// TestAgreesWithLogFormat checks, on every oracle capture, that each JSON
// value is what the corresponding keyword prints.
func TestAgreesWithLogFormat(t *testing.T) {
	keys := []struct{ kw, path string }{
		{"%connection", "connection"}, {"%session.requests", "session_requests"}, {"%streams", "streams"},
		{"%source.ip", "source.ip"}, {"%source.port", "source.port"}, {"%dest.ip", "dest.ip"}, {"%dest.port", "dest.port"},
		{"%connection.time", "connection_time"}, {"%idle.time.0", "idle_time_0"}, {"%idle.time.1", "idle_time_1"},
		{"%close.time", "close_time"}, {"%close.originator", "close_originator"}, {"%session.time", "session_time"},
		{"%connection.timestamp(%Y-%m-%dT%H:%M:%S.%fZ)", "connection_timestamp"},
		{"%close.timestamp(%Y-%m-%dT%H:%M:%S.%fZ)", "close_timestamp"},
		{"%request.timestamp(%Y-%m-%dT%H:%M:%S.%fZ)", "request.timestamp"},
		{"%response.timestamp(%Y-%m-%dT%H:%M:%S.%fZ)", "response.timestamp"},
		{"%request.size", "request.size"}, {"%response.size", "response.size"},
		{"%request.time", "request.time"}, {"%response.time", "response.time"},
		{"%response.time.begin", "response.time_begin"}, {"%response.time.end", "response.time_end"},
		{"%request.method", "request.method"}, {"%request.url", "request.url"}, {"%request.protocol", "request.protocol"},
		{"%response.protocol", "response.protocol"}, {"%response.code", "response.code"}, {"%response.message", "response.message"},
		{"%request.header.host", "request.headers.Host"}, {"%response.header.content-length", "response.headers.Content-Length"},
		{"%request.body", "request.body"}, {"%response.body", "response.body"},
		{"%container", "container"}, {"%source.name", "source.name"}, {"%dest.name", "dest.name"},
	}
	var kws []string
	for _, k := range keys {
		kws = append(kws, k.kw)
	}
	format, err := logformat.Parse(strings.Join(kws, "\x01"))
	if err != nil {
		t.Fatal(err)
	}
	caps, _ := filepath.Glob(filepath.Join(oracle, "*.pcap"))
	if len(caps) < 5 {
		t.Fatalf("oracle captures: %v", caps)
	}
	n := 0
	for _, c := range caps {
		objs, texts := entries(t, c, true, format)
		for i := range objs {
			n++
			var obj map[string]any
			d := json.NewDecoder(strings.NewReader(objs[i]))
			d.UseNumber()
			if err := d.Decode(&obj); err != nil {
				t.Fatalf("%s: %v\n%s", c, err, objs[i])
			}
			vals := strings.Split(texts[i], "\x01")
			for j, k := range keys {
				want := vals[j]
				got, ok := lookup(obj, k.path)
				if want == "\x00" {
					want = ""
				}
				if k.path == "request.body" || k.path == "response.body" {
					if !ok {
						got = "" // no body
					}
				} else if !ok && want != "" {
					t.Errorf("%s entry %d: %s missing, %s prints %q", filepath.Base(c), i+1, k.path, k.kw, want)
					continue
				}
				if got != want {
					t.Errorf("%s entry %d: %s = %q, %s prints %q", filepath.Base(c), i+1, k.path, got, k.kw, want)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d entries", n)
	}
}

// lookup returns the value at a dotted path as the log format would print
// it; "headers.NAME" finds a header by name.
func lookup(obj map[string]any, path string) (string, bool) {
	parts := strings.Split(path, ".")
	var v any = obj
	for i, p := range parts {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if p == "headers" {
			hs, _ := m["headers"].([]any)
			for _, h := range hs {
				h := h.(map[string]any)
				if strings.EqualFold(h["name"].(string), parts[i+1]) {
					return h["value"].(string), true
				}
			}
			return "", false
		}
		if v, ok = m[p]; !ok {
			return "", false
		}
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// TestTimeZone: timestamps are in the given zone, with its offset.
func TestTimeZone(t *testing.T) {
	loc := time.FixedZone("X", 2*3600+30*60)
	e := &entry.Entry{SYN: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	got := string(Append(nil, e, &Options{Location: loc}))
	if !strings.Contains(got, `"connection_timestamp":"2026-01-02T05:34:05.000006+02:30"`) {
		t.Errorf("got %s", got)
	}
}

// TestBase64Body: a body that is not UTF-8 is base64; truncation is said.
func TestBase64Body(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
	b := []byte(head + "\xff\x00\x01\x02")
	e := &entry.Entry{Response: entry.Message{Bytes: b, Size: 100, HeaderLen: len(head), HTTP: true, BytesTruncated: true}}
	var obj struct {
		Response struct {
			Body          string `json:"body"`
			BodyEncoding  string `json:"body_encoding"`
			BodyTruncated bool   `json:"body_truncated"`
			Code          int    `json:"code"`
		} `json:"response"`
	}
	out := Append(nil, e, &Options{Bodies: true})
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if obj.Response.BodyEncoding != "base64" || obj.Response.Body != "/wABAg==" || !obj.Response.BodyTruncated || obj.Response.Code != 200 {
		t.Errorf("got %s", out)
	}
	if out := Append(nil, e, nil); bytes.Contains(out, []byte("body")) {
		t.Errorf("body without Bodies: %s", out)
	}
}

// TestAllocs: rendering into a buffer with room does not allocate.
func TestAllocs(t *testing.T) {
	objs := 0
	var buf []byte
	o := &Options{Location: time.UTC}
	var es []entry.Entry
	f, _ := os.ReadFile(filepath.Join(oracle, "keepalive3.pcap"))
	eng := sniff.New(sniff.Config{MaxConns: 8, HeaderCap: 4096, IdleTimeout: -1, Emit: func(e *entry.Entry) {
		c := *e
		c.Request.Bytes = bytes.Clone(e.Request.Bytes)
		c.Response.Bytes = bytes.Clone(e.Response.Bytes)
		es = append(es, c)
	}})
	pcaptest.Replay(t, f, eng.Packet)
	eng.Finish()
	buf = make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range es {
			buf = Append(buf[:0], &es[i], o)
			objs++
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per run", allocs)
	}
}

// randomEntry makes an entry of random bytes and offsets, consistent the
// way the engine's are (Head and HeaderLen within Bytes).
func randomEntry(r *rand.Rand, data []byte) *entry.Entry {
	msg := func() entry.Message {
		var m entry.Message
		if len(data) > 0 {
			a, b := r.IntN(len(data)+1), r.IntN(len(data)+1)
			m.Bytes = data[min(a, b):max(a, b)]
		}
		m.Size = int64(len(m.Bytes) + r.IntN(3))
		m.Head = r.IntN(len(m.Bytes) + 1)
		m.HeaderLen = r.IntN(len(m.Bytes)-m.Head+2) - 1
		m.HTTP = r.IntN(4) != 0
		m.BytesTruncated = r.IntN(2) == 0
		if r.IntN(3) != 0 {
			m.First = time.Unix(r.Int64N(4e9)-1e9, r.Int64N(1e9))
			m.Last = m.First.Add(time.Duration(r.Int64N(2e9) - 1e8))
		}
		return m
	}
	tm := func() time.Time {
		if r.IntN(2) == 0 {
			return time.Time{}
		}
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9))
	}
	ips := []string{"10.0.0.1", "::1", "fe80::1%eth0", "192.168.0.255"}
	e := &entry.Entry{
		Annotation: entry.Annotation(r.IntN(5)), Index: r.IntN(100), Streams: r.IntN(100),
		SYN: tm(), HandshakeDone: tm(), ConnStart: tm(), Flushed: tm(), Close: tm(),
		Originator: entry.Originator(r.IntN(6)), Gap: r.IntN(2) == 0,
		Request: msg(), Response: msg(),
	}
	if r.IntN(5) != 0 {
		e.Client = netip.AddrPortFrom(netip.MustParseAddr(ips[r.IntN(len(ips))]), uint16(r.IntN(65536)))
		e.Server = netip.AddrPortFrom(netip.MustParseAddr(ips[r.IntN(len(ips))]), uint16(r.IntN(65536)))
	}
	return e
}

// FuzzAppend: whatever the entry, the output is one valid JSON object.
func FuzzAppend(f *testing.F) {
	f.Add(uint64(1), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"))
	f.Add(uint64(2), []byte("HTTP/1.1 200 OK\r\nA: \xff\xfe\"\\\x00\u2028\r\n\r\n\x80"))
	f.Add(uint64(3), []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"))
	for _, c := range []string{"keepalive3", "pipeline", "big-response"} {
		b, err := os.ReadFile(filepath.Join(oracle, c+".pcap"))
		if err == nil {
			f.Add(uint64(len(b)), b[24:min(len(b), 2000)])
		}
	}
	f.Fuzz(func(t *testing.T, seed uint64, data []byte) {
		r := rand.New(rand.NewPCG(seed, 7))
		for range 8 {
			e := randomEntry(r, data)
			out := Append(nil, e, &Options{Bodies: r.IntN(2) == 0, Location: time.UTC})
			if bytes.IndexByte(out, '\n') >= 0 {
				t.Fatalf("newline in output: %q", out)
			}
			var obj map[string]any
			if err := json.Unmarshal(out, &obj); err != nil {
				t.Fatalf("does not parse: %v\n%q", err, out)
			}
			if obj["connection"] == nil || obj["request"] == nil || obj["response"] == nil {
				t.Fatalf("missing fields: %s", out)
			}
		}
	})
}

// TestRandomEntries runs the fuzz body over many seeds in a normal test run.
func TestRandomEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	data := make([]byte, 512)
	for i := range 2000 {
		for j := range data {
			switch r.IntN(4) {
			case 0:
				data[j] = byte(r.IntN(256))
			case 1:
				data[j] = "\r\n:"[r.IntN(3)]
			default:
				data[j] = byte('A' + r.IntN(26))
			}
		}
		if i%3 == 0 {
			copy(data, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n")
		}
		e := randomEntry(r, data[:r.IntN(len(data))])
		out := Append(nil, e, &Options{Bodies: i%2 == 0, Location: time.Local})
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
	}
}

// BenchmarkAppend renders the keepalive3 entries.
func BenchmarkAppend(b *testing.B) {
	f, _ := os.ReadFile(filepath.Join(oracle, "keepalive3.pcap"))
	var es []entry.Entry
	eng := sniff.New(sniff.Config{MaxConns: 8, HeaderCap: 4096, IdleTimeout: -1, Emit: func(e *entry.Entry) {
		c := *e
		c.Request.Bytes = bytes.Clone(e.Request.Bytes)
		c.Response.Bytes = bytes.Clone(e.Response.Bytes)
		es = append(es, c)
	}})
	pcaptest.Replay(b, f, eng.Packet)
	eng.Finish()
	buf := make([]byte, 0, 8192)
	o := &Options{Location: time.UTC}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = Append(buf[:0], &es[i%len(es)], o)
	}
}

// TestHeaderTruncated: a head cut at the header cap says so, with or
// without bodies, and lists only its complete header lines.
func TestHeaderTruncated(t *testing.T) {
	b := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-Cut: abc")
	e := &entry.Entry{Request: entry.Message{Bytes: b, Size: 500, HeaderLen: -1, HTTP: true, BytesTruncated: true, HeadTruncated: true}}
	for _, o := range []*Options{nil, {Bodies: true}} {
		var obj struct {
			Request struct {
				HeaderTruncated bool `json:"header_truncated"`
				Headers         []struct{ Name, Value string }
			} `json:"request"`
			Response map[string]any `json:"response"`
		}
		out := Append(nil, e, o)
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !obj.Request.HeaderTruncated || len(obj.Request.Headers) != 1 || obj.Request.Headers[0].Name != "Host" {
			t.Errorf("got %s", out)
		}
		if _, ok := obj.Response["header_truncated"]; ok {
			t.Errorf("response not cut, but says so: %s", out)
		}
	}
}

// TestNames: the container and the peers' names, when known, are the
// container field and the name of source and dest; omitted otherwise.
func TestNames(t *testing.T) {
	e := &entry.Entry{
		Client:    netip.MustParseAddrPort("172.18.0.3:40000"),
		Server:    netip.MustParseAddrPort("172.18.0.2:8080"),
		Container: "proj_web_1", SourceName: "web", DestName: "a\"pi",
	}
	var obj map[string]any
	if err := json.Unmarshal(Append(nil, e, nil), &obj); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"container": "proj_web_1", "source.name": "web", "dest.name": `a"pi`, "source.ip": "172.18.0.3"} {
		if got, ok := lookup(obj, path); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, ok, want)
		}
	}
	e.Container, e.SourceName, e.DestName = "", "", ""
	b := Append(nil, e, nil)
	if bytes.Contains(b, []byte(`"container"`)) || bytes.Contains(b, []byte(`"name"`)) {
		t.Errorf("unknown names printed: %s", b)
	}
}
