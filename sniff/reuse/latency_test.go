package reuse

import (
	"bytes"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// near reports whether got is within the Sketch's error of want (a little
// more for the float rounding of the bucket bounds).
func near(got, want time.Duration) bool {
	if want < time.Microsecond {
		return got >= 0 && got < time.Microsecond
	}
	return math.Abs(float64(got-want)) <= (SketchRelativeError+1e-9)*float64(want)+1
}

// exact returns the nearest-rank q-quantile of sorted.
func exact(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(1, rank)-1]
}

// TestSketchError: the quantiles of spread-out durations (sub-µs to
// minutes) are within the stated error of the exact ones; the max is
// exact; negative durations are ignored.
func TestSketchError(t *testing.T) {
	var s Sketch
	if s.Quantile(0.5) != 0 || s.Count() != 0 {
		t.Fatal("empty sketch is not empty")
	}
	var ds []time.Duration
	x := uint64(88172645463325252) // xorshift: deterministic, spread
	for range 5000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		// log-uniform from 100ns to about 10 minutes
		d := time.Duration(100 * math.Exp2(float64(x&(1<<32-1))/float64(1<<32)*32.5))
		ds = append(ds, d)
		s.Add(d)
	}
	s.Add(-time.Second)
	slices.Sort(ds)
	if ds[0] >= time.Microsecond || ds[len(ds)-1] < time.Minute {
		t.Fatalf("durations from %v to %v: not spread out", ds[0], ds[len(ds)-1])
	}
	if s.Count() != uint64(len(ds)) {
		t.Errorf("Count() = %d, want %d", s.Count(), len(ds))
	}
	if s.Max() != ds[len(ds)-1] {
		t.Errorf("Max() = %v, want %v", s.Max(), ds[len(ds)-1])
	}
	for _, q := range []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1} {
		got, want := s.Quantile(q), exact(ds, q)
		if !near(got, want) {
			t.Errorf("Quantile(%v) = %v, want %v ± %.1f%%", q, got, want, 100*SketchRelativeError)
		}
	}
}

// TestSketchSmall: few samples, equal samples, sub-microsecond samples.
func TestSketchSmall(t *testing.T) {
	var s Sketch
	s.Add(3 * time.Millisecond)
	if got := s.Quantile(0.5); got != 3*time.Millisecond {
		t.Errorf("one sample: p50 %v, want it exactly (clamped to min and max)", got)
	}
	var z Sketch
	z.Add(0)
	z.Add(0)
	z.Add(500 * time.Nanosecond)
	if got := z.Quantile(0.5); got != 0 {
		t.Errorf("p50 of 0, 0, 500ns = %v", got)
	}
	if got := z.Quantile(1); got != 500*time.Nanosecond {
		t.Errorf("p100 of 0, 0, 500ns = %v", got)
	}
	var h Sketch
	h.Add(100 * time.Hour) // past the last bucket
	h.Add(time.Millisecond)
	if h.Quantile(1) != 100*time.Hour || !near(h.Quantile(0.5), time.Millisecond) {
		t.Errorf("p100 %v, p50 %v", h.Quantile(1), h.Quantile(0.5))
	}
}

func TestSketchSize(t *testing.T) {
	if n := len(Sketch{}.counts); n != sketchBuckets {
		t.Fatal(n)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"}, {999, "999ns"}, {20 * time.Microsecond, "20µs"}, {1234 * time.Microsecond, "1.23ms"},
		{1200 * time.Microsecond, "1.2ms"}, {45600 * time.Microsecond, "45.6ms"}, {456 * time.Millisecond, "456ms"},
		{2 * time.Second, "2s"}, {2500 * time.Second, "2500s"},
	} {
		if got := formatDuration(c.d); got != c.want {
			t.Errorf("formatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestLatency plays connections with known times: three new connections
// whose server answers after 10, 20 and 30 ms (the handshake takes 3 ms,
// the request goes 2 ms after it), the first then reused four times for exchanges
// whose request and response both take two segments.
func TestLatency(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	req1, req2 := request[:10], request[10:]
	for i := 1; i <= 3; i++ {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Step = time.Millisecond // SYN, SYN-ACK, ACK 1 ms apart
		f.Handshake()
		f.Step = 0
		f.Sleep(2 * time.Millisecond) // the request 5 ms after the SYN
		f.ClientSend([]byte(request))
		f.Ack(false)
		f.Sleep(time.Duration(i) * 10 * time.Millisecond)
		f.ServerSend([]byte(response))
		f.Ack(true)
		if i == 1 {
			for range 4 {
				f.Sleep(5 * time.Millisecond)
				f.ClientSend([]byte(req1))
				f.Sleep(3 * time.Millisecond)
				f.ClientSend([]byte(req2))
				f.Ack(false)
				f.Sleep(time.Millisecond) // first response byte 4 ms after the first request byte
				f.ServerSend([]byte(response[:7]))
				f.Sleep(5 * time.Millisecond) // last response byte 6 ms after the last request byte
				f.ServerSend([]byte(response[7:]))
				f.Ack(true)
			}
		}
		f.Sleep(time.Millisecond)
		f.Close(true)
	}
	// A connection picked up in the middle: its first exchange is neither
	// on a new connection nor known to be on a reused one.
	f := c.Flow(netip.AddrPortFrom(client, 41000), server, t0.Add(10*time.Second))
	f.Step = 0
	for range 2 {
		f.ClientSend([]byte(request))
		f.Sleep(7 * time.Millisecond)
		f.ServerSend([]byte(response))
		f.Sleep(time.Second)
	}
	a := run(t, c)
	ps := a.Pairs()
	if len(ps) != 1 {
		t.Fatalf("%d pairs", len(ps))
	}
	p := ps[0]
	ms := time.Millisecond
	check := func(name string, s *Sketch, n uint64, q float64, want time.Duration) {
		t.Helper()
		if s.Count() != n {
			t.Errorf("%s: %d samples, want %d", name, s.Count(), n)
		}
		if got := s.Quantile(q); !near(got, want) {
			t.Errorf("%s: quantile %v = %v, want %v", name, q, got, want)
		}
	}
	// Response times: 10, 20, 30 ms, 6 ms ×4, 7 ms ×2.
	check("response time", &p.ResponseTime, 9, 0.5, 7*ms)
	check("response time", &p.ResponseTime, 9, 0.95, 30*ms)
	check("response time", &p.ResponseTime, 9, 0.2, 6*ms)
	if p.ResponseTime.Max() != 30*ms {
		t.Errorf("max response time %v", p.ResponseTime.Max())
	}
	check("new connection", &p.NewConn, 3, 0.5, 25*ms)
	check("new connection", &p.NewConn, 3, 1, 35*ms)
	// Reused: 4 ms ×4 on the first connection, 7 ms on the second
	// exchange of the one picked up in the middle.
	check("reused", &p.Reused, 5, 0.5, 4*ms)
	check("reused", &p.Reused, 5, 1, 7*ms)

	var b bytes.Buffer
	if err := a.WriteSummary(&b, "sniffer: summary: "); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^sniffer: summary:   10\.0\.0\.2 -> 10\.0\.0\.3:8080: response time p50 (\S+) p95 (\S+) max (\S+); new connection (\S+) \(p50, 3\), reused (\S+) \(p50, 5\)$`)
	m := re.FindStringSubmatch(b.String())
	if m == nil {
		t.Fatalf("no latency line in\n%s", b.String())
	}
	for i, want := range []time.Duration{7 * ms, 30 * ms, 30 * ms, 25 * ms, 4 * ms} {
		got, err := time.ParseDuration(m[i+1])
		// Printed with three significant digits: 0.5% more.
		if err != nil || math.Abs(float64(got-want)) > (SketchRelativeError+0.005)*float64(want) {
			t.Errorf("printed %q (%v), want %v", m[i+1], err, want)
		}
	}
}

// TestLatencyAddNoAlloc: measuring an entry's latency allocates nothing.
func TestLatencyNoAlloc(t *testing.T) {
	var s Sketch
	if n := testing.AllocsPerRun(100, func() { s.Add(1234 * time.Microsecond) }); n != 0 {
		t.Errorf("Sketch.Add: %v allocations", n)
	}
}

// FuzzSketch: whatever durations come (negative, huge), the sketch counts
// the others, its max is theirs, and its quantiles rise with q and stay
// between the smallest and the largest.
func FuzzSketch(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sketch
		var n uint64
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for ; len(b) >= 8; b = b[8:] {
			d := time.Duration(int64(b[0]) | int64(b[1])<<8 | int64(b[2])<<16 | int64(b[3])<<24 |
				int64(b[4])<<32 | int64(b[5])<<40 | int64(b[6])<<48 | int64(b[7])<<56)
			s.Add(d)
			if d >= 0 {
				n++
				lo, hi = min(lo, d), max(hi, d)
			}
		}
		if s.Count() != n {
			t.Fatalf("Count() = %d, want %d", s.Count(), n)
		}
		if n == 0 {
			if s.Quantile(0.5) != 0 || s.Max() != 0 {
				t.Fatal("empty sketch reports durations")
			}
			return
		}
		if s.Max() != hi {
			t.Fatalf("Max() = %v, want %v", s.Max(), hi)
		}
		prev := time.Duration(0)
		for _, q := range []float64{0.0001, 0.25, 0.5, 0.95, 1} {
			v := s.Quantile(q)
			if v < lo || v > hi || v < prev {
				t.Fatalf("Quantile(%v) = %v: outside [%v, %v] or below the previous %v", q, v, lo, hi, prev)
			}
			prev = v
		}
		if s.Quantile(1) != hi {
			t.Fatalf("Quantile(1) = %v, want the max %v", s.Quantile(1), hi)
		}
	})
}
