package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/nsenter"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/entry"
)

// newTestStack returns a stack whose printer prints format, with the
// options args, and the buffers it writes to.
func newTestStack(t *testing.T, format string, args ...string) (*stack, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o, err := parseOptions(append([]string{"-l", format}, args...), &stdout)
	if err != nil {
		t.Fatal(err)
	}
	cfg, out, status := setup(o, &stdout, &stderr)
	if out == nil {
		t.Fatalf("setup: status %d: %s", status, stderr.String())
	}
	out.stop = func() {}
	return newStack(o, cfg, out, nil, &stderr), &stdout, &stderr
}

// replay feeds the capture file name to c's engine, as its capture would.
func replay(t *testing.T, c *nsCapture, name string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := capfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		c.s.mu.Lock()
		c.eng.Packet(p.LinkType, p.Timestamp, p.Data)
		c.s.mu.Unlock()
	}
}

// TestStackDedupe: a connection seen in the client's namespace and in the
// server's, both captured, is printed once, from the client's, and
// counted once by the verdict.
func TestStackDedupe(t *testing.T) {
	s, stdout, stderr := newTestStack(t, "%container %connection.id %request.url", "--expect-reuse")
	client := s.add(nsenter.Target{ID: "c", Name: "web_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, nil)
	server := s.add(nsenter.Target{ID: "s", Name: "api_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}}, nil)
	client.live, server.live = time.Time{}, time.Time{} // before the capture's packets
	replay(t, server, "../../sniff/reuse/testdata/leaky.pcap")
	replay(t, client, "../../sniff/reuse/testdata/leaky.pcap")
	s.shutdown()
	if err := s.out.close(); err != nil {
		t.Fatal(err)
	}
	status := s.out.finish(0, stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 5 entries, got:\n%s", stdout.String())
	}
	for i, l := range lines {
		if f := strings.Fields(l); len(f) != 3 || f[0] != "web_1" || f[1] != strconv.Itoa(i+1) {
			t.Errorf("entry %d %q: want it from web_1, connection %d", i+1, l, i+1)
		}
	}
	if s.skipped != 5 {
		t.Errorf("skipped %d entries, want 5 (the server's view)", s.skipped)
	}
	if status != exitNotReused || !strings.Contains(stderr.String(), "10.0.0.2 -> 10.0.0.3:8080: 5 connections, 5 requests,") {
		t.Errorf("exit %d, want %d with the connections counted once:\n%s", status, exitNotReused, stderr.String())
	}
}

// TestStackClientStoppedFirst: connections that began after the client's
// capture stopped (a shutdown stops the captures one after the other) are
// printed from the server's namespace, which saw them, not skipped as the
// client's.
func TestStackClientStoppedFirst(t *testing.T) {
	s, stdout, _ := newTestStack(t, "%container %request.url")
	client := s.add(nsenter.Target{ID: "c", Name: "web_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, nil)
	server := s.add(nsenter.Target{ID: "s", Name: "api_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}}, nil)
	before := time.Unix(1, 0) // before the capture's packets
	client.live, server.live, client.stopped = time.Time{}, time.Time{}, before
	s.clock = func() time.Time { return before } // the shutdown notes the same stop
	replay(t, server, "../../sniff/reuse/testdata/leaky.pcap")
	s.shutdown()
	if err := s.out.close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(stdout.String(), "api_1 "); got != 5 || s.skipped != 0 {
		t.Errorf("%d entries from api_1, %d skipped: want 5 and 0:\n%s", got, s.skipped, stdout.String())
	}
}

// TestStackClientStoppedMidExchange: an exchange whose connection began
// while the client's capture was live but whose response came after it
// stopped is printed from the server's namespace, which saw it whole (the
// client's saw the request at most); those the client's capture saw whole
// are left to it.
func TestStackClientStoppedMidExchange(t *testing.T) {
	s, stdout, _ := newTestStack(t, "%container %request.url")
	client := s.add(nsenter.Target{ID: "c", Name: "web_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, nil)
	server := s.add(nsenter.Target{ID: "s", Name: "api_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}}, nil)
	// leaky.pcap: a connection a second, from 1767323045; the third's
	// request at .000030 and its response at .000050.
	cut := time.Unix(1767323047, 40_000)
	client.live, server.live, client.stopped = time.Time{}, time.Time{}, cut
	s.clock = func() time.Time { return cut }
	replay(t, server, "../../sniff/reuse/testdata/leaky.pcap")
	s.shutdown()
	if err := s.out.close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(stdout.String(), "api_1 "); got != 3 || s.skipped != 2 {
		t.Errorf("%d entries from api_1, %d skipped: want 3 (the third, cut in the client's capture, and the two begun after) and 2:\n%s", got, s.skipped, stdout.String())
	}
}

// TestStackLateClient: a connection that began before its client's capture
// was live is printed from the server's namespace, which saw it whole; the
// client's copy, which missed its start, is left out.
func TestStackLateClient(t *testing.T) {
	s, stdout, stderr := newTestStack(t, "%container %request.url", "--expect-reuse")
	client := s.add(nsenter.Target{ID: "c", Name: "web_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, nil)
	server := s.add(nsenter.Target{ID: "s", Name: "api_1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}}, nil)
	server.live = time.Time{}
	replay(t, server, "../../sniff/reuse/testdata/fixed.pcap")
	// The client's capture missed the SYN: its engine picks the
	// connection up in the middle (here: from the second packet on).
	f, err := os.Open("../../sniff/reuse/testdata/fixed.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := capfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		p, err := r.Next()
		if err != nil {
			break
		}
		if i < 3 {
			continue // the handshake
		}
		s.mu.Lock()
		client.eng.Packet(p.LinkType, p.Timestamp, p.Data)
		s.mu.Unlock()
	}
	s.shutdown()
	s.out.close()
	status := s.out.finish(0, stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 5 entries, got:\n%s", stdout.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "api_1 ") {
			t.Errorf("entry %q: want it from api_1", l)
		}
	}
	if status != exitOK || !strings.Contains(stderr.String(), "10.0.0.2 -> 10.0.0.3:8080: 1 connection, 5 requests,") {
		t.Errorf("exit %d, want 0 with one connection:\n%s", status, stderr.String())
	}
}

// TestStackMerge: entries of several namespaces come out in the order of
// their timestamps when they arrive within the reorder bound, each
// connection's end after its entries; an entry older than the bound and
// than every held one is printed at once.
func TestStackMerge(t *testing.T) {
	s, stdout, _ := newTestStack(t, "%container %request.url")
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := base
	s.clock = func() time.Time { return now }
	a := s.add(nsenter.Target{ID: "a", Name: "a"}, nil)
	b := s.add(nsenter.Target{ID: "b", Name: "b"}, nil)
	var ends []uint64
	s.connEnd = func(c *entry.ConnEnd) {
		ends = append(ends, c.Conn)
		s.out.flush() // the entries before it
		stdout.WriteString("end\n")
	}
	emit := func(c *nsCapture, conn uint64, url string, at time.Duration) {
		e := &entry.Entry{Conn: conn, Index: 1, Client: netip.MustParseAddrPort("10.0.0.9:1000"), Server: netip.MustParseAddrPort("10.0.0.8:80")}
		e.Request.Bytes = []byte("GET " + url + " HTTP/1.1\r\n\r\n")
		e.Request.HeaderLen, e.Request.HTTP = len(e.Request.Bytes), true
		e.Request.Last = base.Add(at)
		c.emit(e)
	}
	s.mu.Lock()
	now = base.Add(150 * time.Millisecond)
	emit(a, 1, "/a1", 100*time.Millisecond)
	emit(b, 1, "/b1", 50*time.Millisecond) // later, but earlier: within the bound
	b.connEnd(&entry.ConnEnd{Conn: 1, End: base.Add(60 * time.Millisecond)})
	s.release(now, false)
	if stdout.Len() != 0 {
		t.Errorf("printed before the bound: %q", stdout.String())
	}
	now = base.Add(400 * time.Millisecond)
	s.release(now, false)
	emit(a, 2, "/a2", 300*time.Millisecond)
	now = base.Add(1000 * time.Millisecond)
	emit(b, 2, "/b2", 250*time.Millisecond) // older than the bound and than /a2: at once
	s.release(now, true)
	s.mu.Unlock()
	s.out.close()
	want := "b /b1\nend\na /a1\nb /b2\na /a2\n"
	if got := stdout.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Each namespace numbers its connections from 1: the output's
	// numbers are distinct.
	if len(ends) != 1 || ends[0] != 2 {
		t.Errorf("connection ends %v, want [2] (b's first connection, numbered after a's)", ends)
	}
}

// TestAttachSelectorErrors: a selector that cannot be right is a usage
// error (exit status 2) before the engine is asked.
func TestAttachSelectorErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--label", "novalue"}, `--label "novalue": want KEY=VALUE`},
		{[]string{"--label"}, "--label needs a value"},
		{[]string{"--project="}, "--project needs a name"},
		{[]string{"--label", "a=1", "--label", "a=2"}, `label a cannot be both "1" and "2"`},
		{[]string{"-l", "%container"}, "name the container first, or select containers with --project or --label"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"attach"}, tc.args...), nil, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("attach %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestAddStats: every counter of the engines is summed.
func TestAddStats(t *testing.T) {
	var sum sniff.Stats
	addStats(&sum, sniff.Stats{Packets: 2, Malformed: 1, TLSLostSync: 3})
	addStats(&sum, sniff.Stats{Packets: 5, OutOfWindow: 4, TLSLostSync: 1})
	if want := (sniff.Stats{Packets: 7, Malformed: 1, OutOfWindow: 4, TLSLostSync: 4}); sum != want {
		t.Errorf("got %+v, want %+v", sum, want)
	}
}

// TestHeldHeap: the merge heap pops by time, then by arrival, whatever the
// order of the pushes.
func TestHeldHeap(t *testing.T) {
	var h heldHeap
	base := time.Unix(1000, 0)
	keys := []int{5, 3, 9, 3, 1, 7, 7, 0, 4, 8, 2, 6, 9, 1}
	for i, k := range keys {
		h.push(held{key: base.Add(time.Duration(k) * time.Millisecond), seq: uint64(i)})
	}
	var prev held
	for i := range keys {
		x := h.pop()
		if i > 0 && (x.key.Before(prev.key) || x.key.Equal(prev.key) && x.seq < prev.seq) {
			t.Fatalf("pop %d: %v/%d after %v/%d", i, x.key, x.seq, prev.key, prev.seq)
		}
		prev = x
	}
	if len(h) != 0 {
		t.Errorf("%d left", len(h))
	}
}

// TestStackEmitDoesNotAllocate: once warm, an entry held for the merge and
// printed reuses its storage.
func TestStackEmitDoesNotAllocate(t *testing.T) {
	s, _, _ := newTestStack(t, "%container %source.name %request.url")
	base := time.Unix(1000, 0)
	now := base
	s.clock = func() time.Time { return now }
	c := s.add(nsenter.Target{ID: "a", Name: "a"}, nil)
	e := &entry.Entry{Conn: 1, Index: 1, Client: netip.MustParseAddrPort("10.0.0.9:1000"), Server: netip.MustParseAddrPort("10.0.0.8:80")}
	e.Request.Bytes = []byte("GET /x HTTP/1.1\r\n\r\n")
	e.Request.HeaderLen, e.Request.HTTP = len(e.Request.Bytes), true
	step := func() {
		now = now.Add(time.Millisecond)
		e.Request.Last = now
		c.emit(e)
		s.release(now.Add(time.Second), false)
		s.out.w.Reset(io.Discard)
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per entry, want 0", n)
	}
}

// TestHeldEntryCopiesEverySlice fills every slice and pointer of an entry
// (found by reflection, so that a field added later is covered), copies it
// as the merge heap does, scribbles over the original's storage as the
// engine does when it reuses it, and checks that the copy did not change.
func TestHeldEntryCopiesEverySlice(t *testing.T) {
	var e entry.Entry
	fill(reflect.ValueOf(&e).Elem(), 1)
	var h heldEntry
	h.copy(&e)
	want := reflect.ValueOf(h.e).Interface()
	snapshot := deepClone(reflect.ValueOf(want)).Interface()
	fill(reflect.ValueOf(&e).Elem(), 2) // in place: the same backing arrays
	if !reflect.DeepEqual(snapshot, h.e) {
		t.Fatalf("the held copy shares storage with the engine's entry:\n got %+v\nwant %+v", h.e, snapshot)
	}
}

// fill sets every field reachable from v: slices get three elements (in
// place when they already have them), pointers a value, numbers and
// strings b.
func fill(v reflect.Value, b byte) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) || v.Type() == reflect.TypeOf(netip.AddrPort{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), b)
			}
		}
	case reflect.Slice:
		if v.Len() < 3 {
			v.Set(reflect.MakeSlice(v.Type(), 3, 3))
		}
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), b)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), b)
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), b)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(uint64(b))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(b))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString(string(rune('a' + b)))
	}
}

// deepClone returns a copy of v sharing no slice or pointer storage.
func deepClone(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				c.Field(i).Set(deepClone(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepClone(v.Index(i)))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepClone(v.Elem()))
		return c
	}
	return v
}
