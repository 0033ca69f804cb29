package tlsconn_test

import (
	"crypto/tls"
	"testing"

	"github.com/sniffer/sniffer/sniff/internal/tlsconn"
	"github.com/sniffer/sniffer/sniff/internal/tlshello"
	"github.com/sniffer/sniffer/sniff/internal/tlstest"
)

// sink keeps the hellos.
type sink struct {
	hello [2][]byte
	ended [2]bool
}

func (s *sink) Hello(dir int, b []byte, end bool) {
	s.hello[dir] = append(s.hello[dir], b...)
	if end {
		s.ended[dir] = true
	}
}

// track feeds a session's bytes to a Tracker, each event cut in pieces of
// at most step bytes (0: whole).
func track(t *testing.T, evs []tlstest.Event, step int) (*tlsconn.Tracker, *sink) {
	t.Helper()
	var tr tlsconn.Tracker
	s := &sink{}
	for _, e := range evs {
		dir := 1
		if e.FromClient {
			dir = 0
		}
		b := e.Data
		for len(b) > 0 {
			n := len(b)
			if step > 0 && n > step {
				n = step
			}
			tr.Feed(dir, b[:n], s)
			b = b[n:]
			if dir == 0 && s.ended[0] && !tr.ClientOffers13 {
				if h, ok := tlshello.Parse(s.hello[0]); ok && h.Version == tlshello.VersionTLS13 {
					tr.ClientOffers13 = true
				}
			}
			if dir == 1 && s.ended[1] && tr.Version == 0 {
				if h, ok := tlshello.ParseServer(s.hello[1]); ok {
					tr.SetServerVersion(h.Version)
				}
			}
		}
	}
	return &tr, s
}

func TestRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		rounds  int
		server  bool
	}{
		{"tls13-1", tls.VersionTLS13, 1, false},
		{"tls13-3", tls.VersionTLS13, 3, false},
		{"tls13-0", tls.VersionTLS13, 0, false},
		{"tls13-2-server-closes", tls.VersionTLS13, 2, true},
		{"tls12-1", tls.VersionTLS12, 1, false},
		{"tls12-3", tls.VersionTLS12, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := tlstest.Run(t, tlstest.Session{Version: tc.version, ServerName: "api.example.com", Rounds: tc.rounds, ServerCloses: tc.server})
			for _, step := range []int{0, 1, 7, 300} {
				tr, s := track(t, evs, step)
				if tr.RoundTrips != tc.rounds || tr.Lost {
					t.Errorf("step %d: %d round trips (lost %v), want %d", step, tr.RoundTrips, tr.Lost, tc.rounds)
				}
				if tr.Version != tc.version {
					t.Errorf("step %d: version %#x, want %#x", step, tr.Version, tc.version)
				}
				if !s.ended[0] || !s.ended[1] {
					t.Errorf("step %d: hellos not whole: %v", step, s.ended)
				}
				closer := 0
				if tc.server {
					closer = 1
				}
				if tr.Alerts[closer] != 1 {
					t.Errorf("step %d: alerts %v, want one close_notify from %d", step, tr.Alerts, closer)
				}
			}
		})
	}
}

// TestCloseNotifyLen measures the record a Go TLS 1.3 client sends when it
// closes: the length CloseNotifyLen must match.
func TestCloseNotifyLen(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, Rounds: 1})
	last := evs[len(evs)-1]
	if !last.FromClient {
		t.Fatalf("last event is not the client's close")
	}
	b := last.Data
	if len(b) != tlsconn.HeaderLen+tlsconn.CloseNotifyLen || b[0] != tlsconn.TypeApplicationData {
		t.Fatalf("close_notify record: type %d, %d bytes (%x); CloseNotifyLen is %d", b[0], len(b), b, tlsconn.CloseNotifyLen)
	}
	// TLS 1.2: a plain alert record.
	evs = tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS12, Rounds: 1})
	if b := evs[len(evs)-1].Data; b[0] != tlsconn.TypeAlert {
		t.Fatalf("TLS 1.2 close: record type %d", b[0])
	}
}

func TestGapLosesSync(t *testing.T) {
	evs := tlstest.Run(t, tlstest.Session{Version: tls.VersionTLS13, Rounds: 3})
	var tr tlsconn.Tracker
	tr.ClientOffers13 = true
	clientApp := 0
	for _, e := range evs {
		dir := 1
		if e.FromClient {
			dir = 0
		}
		tr.Feed(dir, e.Data, nil)
		if dir == 1 && tr.Version == 0 {
			tr.SetServerVersion(tlshello.VersionTLS13)
		}
		if dir == 0 && tr.RoundTrips == 1 && clientApp == 0 {
			clientApp++
			tr.Gap(1)
		}
	}
	if !tr.Lost || !tr.DirLost(1) || tr.RoundTrips != 1 {
		t.Fatalf("after a gap: lost %v, %d round trips; want lost, 1", tr.Lost, tr.RoundTrips)
	}
}

func TestNotTLS(t *testing.T) {
	var tr tlsconn.Tracker
	tr.Feed(0, []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00GET / HTTP/1.1\r\n"), nil)
	if !tr.Lost || !tr.DirLost(0) {
		t.Fatalf("garbage after a record: not lost")
	}
	tr.Feed(0, []byte("\x17\x03\x03\x00\x10"), nil) // ignored once lost
	if tr.RoundTrips != 0 {
		t.Fatalf("counted after loss")
	}
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"\x16", true}, {"\x16\x03", true}, {"\x16\x03\x01\x02\x00\x01", true},
		{"\x16\x02", false}, {"\x16\x03\x05", false}, {"\x16\x03\x01\x00\x00", false},
		{"\x16\x03\x01\x48\x01", false}, {"\x16\x03\x01\x02\x00\x02", false}, {"GET ", false}, {"", false},
	} {
		if got := tlsconn.Looks([]byte(tc.b)); got != tc.want {
			t.Errorf("Looks(%q) = %v", tc.b, got)
		}
	}
}

func FuzzTracker(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\x17\x03\x03\x00\x01x"), 3)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var tr tlsconn.Tracker
		s := &sink{}
		if cut <= 0 || cut > len(b) {
			cut = len(b)
		}
		for i := 0; len(b) > 0; i++ {
			n := min(cut, len(b))
			tr.Feed(i&1, b[:n], s)
			b = b[n:]
		}
		if len(s.hello[0]) > tlsconn.HeaderLen+tlsconn.MaxRecord || len(s.hello[1]) > tlsconn.HeaderLen+tlsconn.MaxRecord {
			t.Fatalf("hello longer than a record")
		}
		tlshello.Parse(s.hello[0])
		tlshello.ParseServer(s.hello[1])
	})
}

// rec is a record of type typ with an n-byte body.
func rec(typ byte, n int) []byte {
	b := make([]byte, tlsconn.HeaderLen+n)
	b[0], b[1], b[2], b[3], b[4] = typ, 3, 3, byte(n>>8), byte(n)
	return b
}

// TestRoundTripRules plays hand-made record sequences: the orders other
// stacks than Go's use.
func TestRoundTripRules(t *testing.T) {
	const (
		c = 0
		s = 1
	)
	type r struct {
		dir int
		typ byte
		n   int
	}
	hs13 := []r{{c, 22, 300}, {s, 22, 90}, {s, 20, 1}, {s, 23, 30}, {s, 23, 900}, {s, 23, 100}, {s, 23, 53}, {c, 20, 1}, {c, 23, 53}}
	for _, tc := range []struct {
		name  string
		v13   bool
		recs  []r
		wants int
	}{
		{"tickets after the client's Finished", true, append(hs13[:len(hs13):len(hs13)],
			r{s, 23, 200}, r{s, 23, 200}, r{c, 23, 100}, r{s, 23, 300}, r{c, 23, 100}, r{s, 23, 300}, r{c, 23, tlsconn.CloseNotifyLen}, r{s, 23, tlsconn.CloseNotifyLen}), 2},
		{"request before the tickets", true, append(hs13[:len(hs13):len(hs13)],
			r{c, 23, 100}, r{s, 23, 200}, r{s, 23, 200}, r{s, 23, 300}, r{c, 23, 100}, r{s, 23, 300}), 2},
		{"request in pieces, long response", true, append(hs13[:len(hs13):len(hs13)],
			r{c, 23, 100}, r{c, 23, 4000}, r{c, 23, 16000}, r{s, 23, 16401}, r{s, 23, 16401}, r{s, 23, 20}), 1},
		{"server closes", true, append(hs13[:len(hs13):len(hs13)],
			r{c, 23, 100}, r{s, 23, 300}, r{s, 23, tlsconn.CloseNotifyLen}), 1},
		{"tls12", false, []r{{c, 22, 300}, {s, 22, 2000}, {c, 22, 37}, {c, 20, 1}, {c, 22, 40}, {s, 22, 200}, {s, 20, 1}, {s, 22, 40},
			{c, 23, 100}, {s, 23, 300}, {c, 23, 100}, {s, 23, 300}, {c, 23, 100}, {s, 23, 300}, {c, 21, 26}}, 3},
		{"tls12 server speaks first", false, []r{{c, 22, 300}, {s, 22, 2000}, {c, 22, 37}, {c, 20, 1}, {c, 22, 40}, {s, 20, 1}, {s, 22, 40},
			{s, 23, 50}, {c, 23, 30}, {s, 23, 50}, {s, 21, 26}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr tlsconn.Tracker
			tr.ClientOffers13 = tc.v13
			for i, x := range tc.recs {
				tr.Feed(x.dir, rec(x.typ, x.n), nil)
				if i == 1 {
					if tc.v13 {
						tr.SetServerVersion(0x0304)
					} else {
						tr.SetServerVersion(0x0303)
					}
				}
			}
			if tr.RoundTrips != tc.wants || tr.Lost {
				t.Fatalf("%d round trips (lost %v), want %d", tr.RoundTrips, tr.Lost, tc.wants)
			}
		})
	}
}
