package h2conn

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func req(path string) []string {
	return []string{":method: GET", ":scheme: http", ":authority: example.com", ":path: " + path, "user-agent: test/1.0", "accept: */*"}
}

// TestMultiplexed: three streams interleaved, responses out of order, in
// every piece size: one entry per stream with its own method, path,
// status, body and sizes.
func TestMultiplexed(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/a")...)
	c.headers(0, 3, false, 0, 0, ":method: POST", ":scheme: http", ":authority: example.com", ":path: /b", "content-type: text/plain")
	size3 := len(c.chunks[len(c.chunks)-1].data)
	c.headers(0, 5, true, 0, 0, req("/c")...)
	c.data(0, 3, false, 0, "hello ")
	c.headers(1, 5, false, 0, 0, ":status: 404", "content-type: text/plain")
	c.data(0, 3, true, 0, "world")
	c.headers(1, 3, false, 0, 0, ":status: 201")
	resp3 := len(c.chunks[len(c.chunks)-1].data)
	c.data(1, 5, true, 0, "not found")
	c.headers(1, 1, false, 0, 0, ":status: 200", "content-length: 2")
	c.data(1, 3, true, 0, "created")
	c.data(1, 1, true, 0, "ok")
	for _, piece := range []int{0, 1, 2, 7, 9, 10, 100} {
		r, d := c.run(t, StartPreface, Limits{}, piece)
		if !reflect.DeepEqual(r.begun, []uint32{1, 3, 5}) {
			t.Fatalf("piece %d: begun %v", piece, r.begun)
		}
		if ids := []uint32{r.ended[0].id, r.ended[1].id, r.ended[2].id}; !reflect.DeepEqual(ids, []uint32{5, 3, 1}) {
			t.Errorf("piece %d: ended in order %v, want 5 3 1", piece, ids)
		}
		m := byID(r)
		want := map[uint32][5]string{
			1: {"GET", "/a", "200", "", "ok"},
			3: {"POST", "/b", "201", "hello world", "created"},
			5: {"GET", "/c", "404", "", "not found"},
		}
		for id, w := range want {
			g := m[id]
			if got := [5]string{g.method, g.path, g.status, g.reqBody, g.respBody}; got != w || g.end != EndStream || g.late || g.reqIncomplete || g.respInc {
				t.Errorf("piece %d: stream %d: %v end %v late %v, want %v", piece, id, got, g.end, g.late, w)
			}
		}
		// Stream 3's request: a HEADERS frame and two DATA frames.
		if g := m[3]; g.reqSize != int64(size3+9+6+9+5) || g.respSize != int64(resp3+9+7) {
			t.Errorf("stream 3 sizes %d %d, want %d %d", g.reqSize, g.respSize, size3+29, resp3+16)
		}
		if st := d.Stats(); st.Frames[0][FrameSettings] != 1 || st.Frames[1][FrameSettings] != 1 || st.Frames[0][FrameHeaders] != 3 || st.Streams != 3 {
			t.Errorf("stats %+v", st)
		}
	}
}

// TestSizes: %request.size/%response.size count every frame of the stream
// each way, 9-byte headers and padding included.
func TestSizes(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, false, 3, 0, req("/")...)
	reqHead := len(c.chunks[len(c.chunks)-1].data)
	c.data(0, 1, true, 5, "abc")
	reqData := len(c.chunks[len(c.chunks)-1].data)
	c.headers(1, 1, false, 0, 0, ":status: 200")
	respHead := len(c.chunks[len(c.chunks)-1].data)
	c.data(1, 1, false, 0, "0123456789")
	c.data(1, 1, true, 0, "")
	r, _ := c.run(t, StartPreface, Limits{}, 3)
	g := r.ended[0]
	if g.reqSize != int64(reqHead+reqData) || g.respSize != int64(respHead+9+10+9) {
		t.Errorf("sizes %d %d, want %d %d", g.reqSize, g.respSize, reqHead+reqData, respHead+28)
	}
	if g.reqBody != "abc" || g.respBody != "0123456789" {
		t.Errorf("bodies %q %q (padding must not be body)", g.reqBody, g.respBody)
	}
}

// TestContinuationPaddingTrailers: a header block split over CONTINUATION
// frames, padded HEADERS, and response trailers.
func TestContinuationPaddingTrailers(t *testing.T) {
	c := newConv(t, true)
	fields := append(req("/long"), "x-long: "+strings.Repeat("v", 300))
	c.headers(0, 1, true, 7, 50, fields...)
	c.headers(1, 1, false, 4, 10, ":status: 200", "content-type: application/grpc")
	c.data(1, 1, false, 2, "body")
	c.headers(1, 1, true, 0, 5, "grpc-status: 3", "grpc-message: bad%20arg%3A%20x")
	r, _ := c.run(t, StartPreface, Limits{}, 0)
	g := r.ended[0]
	if g.path != "/long" || !strings.Contains(g.headers, "x-long="+strings.Repeat("v", 300)) {
		t.Errorf("request %q", g.headers)
	}
	if g.trailers != "grpc-status=3;grpc-message=bad%20arg%3A%20x;" || g.grpcStatus != 3 || g.grpcMessage != "bad arg: x" {
		t.Errorf("trailers %q grpc %d %q", g.trailers, g.grpcStatus, g.grpcMessage)
	}
	if !strings.HasPrefix(g.head, "GET /long HTTP/2.0\r\n:method: GET\r\n") || !strings.Contains(g.head, "|HTTP/2.0 200\r\n:status: 200\r\ncontent-type: application/grpc\r\n\r\nbodygrpc-status: 3\r\n") {
		t.Errorf("rendered %q", g.head)
	}
}

// TestTrailersOnly: a gRPC error answered with a single HEADERS carrying
// END_STREAM (Trailers-Only).
func TestTrailersOnly(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, false, 0, 0, ":method: POST", ":scheme: http", ":authority: x", ":path: /grpc.health.v1.Health/Check", "content-type: application/grpc", "te: trailers")
	c.data(0, 1, true, 0, "\x00\x00\x00\x00\x00")
	c.headers(1, 1, true, 0, 0, ":status: 200", "content-type: application/grpc", "grpc-status: 5", "grpc-message: unknown service")
	r, _ := c.run(t, StartPreface, Limits{}, 0)
	if g := r.ended[0]; g.grpcStatus != 5 || g.grpcMessage != "unknown service" || g.status != "200" || g.trailers != "" {
		t.Errorf("%+v", g)
	}
}

// TestRSTStream: a reset ends the stream with its code; the other stream
// goes on.
func TestRSTStream(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/1")...)
	c.headers(0, 3, true, 0, 0, req("/3")...)
	if err := c.fr[0].WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	c.flush(0)
	c.headers(1, 3, true, 0, 0, ":status: 204")
	r, _ := c.run(t, StartPreface, Limits{}, 0)
	m := byID(r)
	if g := m[1]; g.end != EndReset || g.resetCode != uint32(http2.ErrCodeCancel) {
		t.Errorf("stream 1 %+v", g)
	}
	if g := m[3]; g.end != EndStream || g.status != "204" {
		t.Errorf("stream 3 %+v", g)
	}
	if r.ended[0].id != 1 {
		t.Errorf("reset stream should end first")
	}
}

// TestGoAwayAndClose: streams above a GOAWAY's last id end with it; an
// open one ends at Close.
func TestGoAwayAndClose(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/1")...)
	c.headers(0, 3, true, 0, 0, req("/3")...)
	if err := c.fr[1].WriteGoAway(1, http2.ErrCodeNo, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	c.flush(1)
	c.headers(1, 1, false, 0, 0, ":status: 200")
	r, d := c.run(t, StartPreface, Limits{}, 0)
	m := byID(r)
	if m[3].end != EndGoAway || m[1].end != EndClose || m[1].status != "200" {
		t.Errorf("%+v", r.ended)
	}
	if st := d.Stats(); !st.GoAway || st.GoAwayLastID != 1 || st.GoAwayDir != 1 {
		t.Errorf("%+v", st)
	}
}

// TestTableSizeChange: the server lowers SETTINGS_HEADER_TABLE_SIZE, the
// client's encoder follows with a size update; entries indexed before and
// after decode right.
func TestTableSizeChange(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, append(req("/1"), "x-a: "+strings.Repeat("a", 100))...)
	c.settings(1, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 256})
	c.enc[0].SetMaxDynamicTableSizeLimit(256)
	c.enc[0].SetMaxDynamicTableSize(256)
	c.headers(0, 3, true, 0, 0, append(req("/3"), "x-b: b")...)
	c.headers(0, 5, true, 0, 0, append(req("/5"), "x-b: b")...)
	c.enc[0].SetMaxDynamicTableSize(0)
	c.headers(0, 7, true, 0, 0, append(req("/7"), "x-b: b")...)
	for _, id := range []uint32{1, 3, 5, 7} {
		c.headers(1, id, true, 0, 0, ":status: 200")
	}
	r, d := c.run(t, StartPreface, Limits{}, 0)
	for _, g := range r.ended {
		if g.status != "200" || g.reqIncomplete || g.authority != "example.com" || !strings.Contains(g.headers, "user-agent=test/1.0") {
			t.Errorf("%+v", g)
		}
	}
	if st := d.Stats(); st.HPACKErrors != 0 {
		t.Errorf("%+v", st)
	}
}

// TestTableSizeGames: a size update above what SETTINGS allowed is
// counted, and the table kept stays under Limits.MaxTableSize whatever
// the encoder claims.
func TestTableSizeGames(t *testing.T) {
	c := newConv(t, true)
	c.enc[0].SetMaxDynamicTableSizeLimit(1 << 30)
	c.enc[0].SetMaxDynamicTableSize(1 << 30)
	fields := req("/")
	for i := range 300 {
		fields = append(fields, "x-"+strings.Repeat("k", 10)+string(rune('a'+i%26))+": "+strings.Repeat("v", 1000))
	}
	c.headers(0, 1, true, 0, 4000, fields...)
	c.headers(1, 1, true, 0, 0, ":status: 200")
	r, d := c.run(t, StartPreface, Limits{MaxTableSize: 8 << 10, MaxHeaderBlock: 1 << 20, MaxHeaderList: 1 << 20}, 0)
	if st := d.Stats(); st.HPACKErrors != 1 {
		t.Errorf("size update above the allowed: %+v", st)
	}
	if d.half[0].dec.table.size > 8<<10 {
		t.Errorf("table %d bytes", d.half[0].dec.table.size)
	}
	if len(r.ended) != 1 || !r.ended[0].reqIncomplete {
		t.Errorf("%+v", r.ended)
	}
}

// TestPickup: picked up after the client's encoder indexed fields: static
// and literal fields decode, dynamic references are unknown (headers
// incomplete), later insertions are known again.
func TestPickup(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, append(req("/1"), "x-token: secret")...)
	c.headers(1, 1, true, 0, 0, ":status: 200", "server: s")
	skip := len(c.chunks)
	c.headers(0, 3, true, 0, 0, append(req("/3"), "x-token: secret", "x-new: fresh")...)
	c.headers(1, 3, true, 0, 0, ":status: 200", "server: s")
	c.headers(0, 5, true, 0, 0, ":method: GET", ":scheme: http", ":path: /5", "x-new: fresh")
	c.headers(1, 5, true, 0, 0, ":status: 404")
	c.chunks = c.chunks[skip:]
	r, _ := c.run(t, StartMidstream, Limits{}, 0)
	m := byID(r)
	if g := m[3]; !g.late || !g.reqIncomplete || g.method != "GET" || g.path != "/3" || g.authority != "" || strings.Contains(g.headers, "secret") || !strings.Contains(g.headers, "x-new=fresh") {
		t.Errorf("stream 3: %+v", g)
	}
	if g := m[3]; g.status != "200" || !g.respInc {
		t.Errorf("stream 3 response: %+v", g)
	}
	// Stream 5 uses only the static table, literals and x-new (indexed
	// after the pickup).
	if g := m[5]; !g.late || g.reqIncomplete || g.path != "/5" || g.headers != ":method=GET;:scheme=http;:path=/5;x-new=fresh;" || g.status != "404" || g.respInc {
		t.Errorf("stream 5: %+v", g)
	}
	for _, g := range r.ended {
		if strings.ContainsAny(g.head, "\x00\x01\x82") {
			t.Errorf("frame bytes in a head: %q", g.head)
		}
	}
}

// TestPickupMidFrame: picked up in the middle of a frame: bytes are
// skipped to the next frame boundary.
func TestPickupMidFrame(t *testing.T) {
	c := newConv(t, true)
	c.data(1, 1, false, 0, strings.Repeat("z", 500))
	c.headers(0, 3, true, 0, 0, ":method: GET", ":scheme: http", ":path: /3")
	c.headers(1, 3, true, 0, 0, ":status: 200")
	var all []byte
	for _, ch := range c.chunks[3:] {
		all = append(all, ch.data...)
	}
	_ = all
	c.chunks[3].data = c.chunks[3].data[100:]
	c.chunks = c.chunks[3:]
	r, d := c.run(t, StartMidstream, Limits{}, 0)
	if len(r.ended) != 1 || r.ended[0].path != "/3" || r.ended[0].status != "200" {
		t.Errorf("%+v", r.ended)
	}
	if st := d.Stats(); st.SkippedBytes != 409 {
		t.Errorf("skipped %d, want 409", st.SkippedBytes)
	}
}

// TestGap: a gap in the client's direction loses its HPACK state for
// good: later requests' dynamic references are unknown, static ones are
// decoded, the responses (other direction) are intact.
func TestGap(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/1")...)
	c.headers(1, 1, true, 0, 0, ":status: 200", "server: s")
	c.headers(0, 3, true, 0, 0, append(req("/3"), "x-lost: 1")...)
	lost := len(c.chunks) - 1
	c.headers(1, 3, true, 0, 0, ":status: 200", "server: s")
	c.headers(0, 5, true, 0, 0, append(req("/5"), "x-lost: 1")...)
	c.headers(1, 5, true, 0, 0, ":status: 500", "server: s")
	r := &rec{}
	d := New(r, Limits{}, StartPreface)
	var ts = c.chunks[0]
	_ = ts
	for i, ch := range c.chunks {
		if i == lost {
			d.Gap(0, int64(len(ch.data)), zeroTime)
			continue
		}
		d.Data(ch.dir, ch.data, zeroTime)
	}
	d.Close(zeroTime)
	m := byID(r)
	if len(r.ended) != 3 || m[1].late || m[1].reqIncomplete {
		t.Fatalf("%+v", r.ended)
	}
	// Stream 3's request was lost: it began with its response.
	if g := m[3]; g.method != "" || g.status != "200" || !g.late || g.respInc {
		t.Errorf("stream 3 %+v", g)
	}
	if g := m[5]; g.path != "/5" || g.method != "GET" || !g.reqIncomplete || strings.Contains(g.headers, "x-lost") || g.status != "500" || g.respInc {
		t.Errorf("stream 5 %+v", g)
	}
}

// TestUpgrade: after Upgrade: h2c, stream 1 exists with its request ended,
// and its response is on stream 1.
func TestUpgrade(t *testing.T) {
	c := newConv(t, true)
	c.headers(1, 1, false, 0, 0, ":status: 200", "content-type: text/html")
	c.data(1, 1, true, 0, "<html>")
	c.headers(0, 3, true, 0, 0, req("/next")...)
	c.headers(1, 3, true, 0, 0, ":status: 304")
	r, _ := c.run(t, StartUpgrade, Limits{}, 0)
	m := byID(r)
	if !reflect.DeepEqual(r.begun, []uint32{1, 3}) || m[1].status != "200" || m[1].respBody != "<html>" || m[1].method != "" || m[1].end != EndStream || m[3].status != "304" {
		t.Errorf("%v %+v", r.begun, r.ended)
	}
}

// TestInformational: a 100 Continue before the final response is counted,
// not taken as the response's head.
func TestInformational(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, false, 0, 0, ":method: PUT", ":scheme: http", ":path: /u", "expect: 100-continue")
	c.headers(1, 1, false, 0, 0, ":status: 100")
	c.data(0, 1, true, 0, "x")
	c.headers(1, 1, true, 0, 0, ":status: 201")
	r, _ := c.run(t, StartPreface, Limits{}, 0)
	if g := r.ended[0]; g.status != "201" || g.trailers != "" {
		t.Errorf("%+v", g)
	}
}

// TestHostile: a CONTINUATION flood, a huge header list, 2^31-1 stream
// ids, and a MaxStreams overflow: bounded memory, counted, no panic.
func TestHostile(t *testing.T) {
	t.Run("continuation flood", func(t *testing.T) {
		c := newConv(t, true)
		b := c.block(0, req("/")...)
		if err := c.fr[0].WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndStream: true}); err != nil {
			t.Fatal(err)
		}
		c.flush(0)
		junk := make([]byte, 16000)
		for range 200 {
			if err := c.fr[0].WriteContinuation(1, false, junk); err != nil {
				t.Fatal(err)
			}
			c.flush(0)
		}
		r, d := c.run(t, StartPreface, Limits{MaxHeaderBlock: 32 << 10}, 0)
		if cap(d.half[0].block) > 64<<10 || cap(d.half[0].payload) > 64<<10 {
			t.Errorf("block buffer %d, payload %d", cap(d.half[0].block), cap(d.half[0].payload))
		}
		if len(r.ended) != 0 || d.Stats().Frames[0][FrameContinuation] != 200 {
			t.Errorf("%+v %+v", r.ended, d.Stats())
		}
	})
	t.Run("huge header list", func(t *testing.T) {
		c := newConv(t, true)
		fields := req("/")
		for range 2000 {
			fields = append(fields, "x-h: "+strings.Repeat("h", 50))
		}
		c.headers(0, 1, true, 0, 16000, fields...)
		c.headers(1, 1, true, 0, 0, ":status: 200")
		r, d := c.run(t, StartPreface, Limits{MaxHeaderList: 4096}, 0)
		if len(r.ended) != 1 || r.ended[0].path != "/" || d.Stats().Truncated != 1 {
			t.Errorf("%+v %+v", r.ended, d.Stats())
		}
	})
	t.Run("max stream id", func(t *testing.T) {
		c := newConv(t, true)
		c.headers(0, 1<<31-1, true, 0, 0, req("/max")...)
		c.headers(1, 1<<31-1, true, 0, 0, ":status: 200")
		// The reserved bit set on the wire is dropped.
		b := c.block(0, req("/r")...)
		f := make([]byte, 9+len(b))
		f[2] = byte(len(b))
		f[3], f[4] = FrameHeaders, flagEndHeaders|flagEndStream
		binary.BigEndian.PutUint32(f[5:], 0xffffffff)
		copy(f[9:], b)
		c.raw(0, f)
		r, _ := c.run(t, StartPreface, Limits{}, 0)
		if len(r.ended) != 1 || r.ended[0].id != 1<<31-1 || r.ended[0].path != "/max" || r.ended[0].status != "200" {
			t.Errorf("%+v", r.ended)
		}
	})
	t.Run("streams over MaxStreams", func(t *testing.T) {
		c := newConv(t, true)
		for i := range 50 {
			c.headers(0, uint32(2*i+1), true, 0, 0, req("/")...)
		}
		r, d := c.run(t, StartPreface, Limits{MaxStreams: 8}, 0)
		if len(r.ended) != 50 || d.Stats().Evicted != 42 || len(d.free) > 9 {
			t.Errorf("%d ended, %+v, free %d", len(r.ended), d.Stats(), len(d.free))
		}
	})
}

// TestProbe: the starts of real directions look like HTTP/2; HTTP/1, TLS
// and text do not.
func TestProbe(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/")...)
	c.headers(1, 1, false, 0, 0, ":status: 200")
	c.data(1, 1, true, 0, "body")
	var client, server []byte
	for _, ch := range c.chunks {
		if ch.dir == 0 {
			client = append(client, ch.data...)
		} else {
			server = append(server, ch.data...)
		}
	}
	for name, b := range map[string][]byte{
		"preface":           client[:10],
		"client after it":   client[len(Preface):],
		"server":            server,
		"server, one frame": c.chunks[2].data,
		"server, cut":       server[:len(server)-2],
	} {
		if !Probe(b) {
			t.Errorf("%s: %x not taken for HTTP/2", name, b)
		}
	}
	for name, b := range map[string][]byte{
		"HTTP/1 request":   []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"HTTP/1 response":  []byte("HTTP/1.1 200 OK\r\n\r\n"),
		"TLS hello":        {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03},
		"server mid-frame": server[3:],
		"empty":            nil,
	} {
		if Probe(b) {
			t.Errorf("%s: %x taken for HTTP/2", name, b)
		}
	}
}

// TestPushPromise: a pushed stream begins with the PUSH_PROMISE's request
// and ends with its response; the HPACK state of the server's direction
// stays in step.
func TestPushPromise(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, true, 0, 0, req("/page")...)
	blk := c.block(1, ":method: GET", ":scheme: http", ":authority: example.com", ":path: /style.css")
	if err := c.fr[1].WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: blk, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	c.flush(1)
	c.headers(1, 1, true, 0, 0, ":status: 200", "content-type: text/html")
	c.headers(1, 2, false, 0, 0, ":status: 200", "content-type: text/css")
	c.data(1, 2, true, 0, "p{}")
	// DATA of a stream never begun: counted, no stream.
	c.data(1, 9, true, 0, "x")
	r, d := c.run(t, StartPreface, Limits{}, 0)
	m := byID(r)
	if !reflect.DeepEqual(r.begun, []uint32{1, 2}) || m[2].path != "/style.css" || m[2].respBody != "p{}" || m[2].end != EndStream || m[1].status != "200" {
		t.Errorf("%v %+v", r.begun, r.ended)
	}
	if st := d.Stats(); st.Orphans != 1 || st.HPACKErrors != 0 {
		t.Errorf("%+v", st)
	}
}

// TestSkippedFrames: PING, WINDOW_UPDATE, PRIORITY, SETTINGS ACK and an
// unknown type are skipped and counted by type; PRIORITY and
// WINDOW_UPDATE of a stream count in its size.
func TestSkippedFrames(t *testing.T) {
	c := newConv(t, true)
	c.headers(0, 1, false, 0, 0, req("/")...)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.fr[0].WritePing(false, [8]byte{1}))
	must(c.fr[1].WritePing(true, [8]byte{1}))
	must(c.fr[0].WriteWindowUpdate(0, 1000))
	must(c.fr[0].WriteWindowUpdate(1, 1000))
	must(c.fr[0].WritePriority(1, http2.PriorityParam{Weight: 7}))
	must(c.fr[1].WriteSettingsAck())
	must(c.fr[0].WriteRawFrame(0x20, 0xff, 1, []byte("unknown")))
	c.flush(0)
	c.flush(1)
	c.data(0, 1, true, 0, "")
	c.headers(1, 1, true, 0, 0, ":status: 200")
	r, d := c.run(t, StartPreface, Limits{}, 5)
	st := d.Stats()
	if st.Frames[0][FramePing] != 1 || st.Frames[1][FramePing] != 1 || st.Frames[0][FrameWindowUpdate] != 2 ||
		st.Frames[0][FramePriority] != 1 || st.Frames[1][FrameSettings] != 2 || st.Frames[0][FrameUnknown] != 1 || st.Desyncs != 0 {
		t.Errorf("%+v", st)
	}
	if len(r.ended) != 1 || r.ended[0].status != "200" || r.ended[0].end != EndStream {
		t.Fatalf("%+v", r.ended)
	}
	// HEADERS, WINDOW_UPDATE (9+4), PRIORITY (9+5), the unknown frame of
	// stream 1 (9+7: skipped, counted, its bytes the stream's), DATA (9).
	if g := r.ended[0]; g.reqSize != int64(len(c.chunks[3].data))+13+14+16+9 {
		t.Errorf("request size %d", g.reqSize)
	}
}
