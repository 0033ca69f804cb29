package reuse

import (
	"math"
	"strconv"
	"time"
)

// The Sketch's buckets: SketchPerOctave buckets per doubling from 1 µs to
// 2^sketchOctaves µs (about 71 minutes), plus one for durations under
// 1 µs (the last bucket also takes everything longer).
const (
	// SketchPerOctave is the number of buckets per doubling of duration.
	SketchPerOctave = 8
	sketchOctaves   = 32
	sketchBuckets   = SketchPerOctave*sketchOctaves + 1
)

// SketchRelativeError is the bound of a Sketch quantile's relative error
// for durations from 1 µs to about 71 minutes: a quantile is reported as
// the geometric middle of its bucket, which spans a factor of
// 2^(1/SketchPerOctave), so it is off by at most 2^(1/(2·SketchPerOctave))−1,
// 4.4%.
var SketchRelativeError = math.Exp2(1.0/(2*SketchPerOctave)) - 1

// Sketch is an approximate distribution of durations in a fixed array of
// log-spaced buckets: constant memory (about 1 KiB) whatever the number of
// samples, no allocation. Quantiles are within SketchRelativeError of the
// exact nearest-rank quantile for durations from 1 µs to about 71 minutes;
// under 1 µs they are off by less than 1 µs. Estimates are kept between
// the smallest and largest duration seen, which are exact (so is the
// 1-quantile; past 71 minutes, the estimate is the max). The zero value
// is an empty Sketch.
type Sketch struct {
	counts   [sketchBuckets]uint32 // saturate rather than wrap
	n        uint64
	min, max time.Duration
}

// bucket returns the index of the bucket of d (not negative).
func bucket(d time.Duration) int {
	if d < time.Microsecond {
		return 0
	}
	i := 1 + int(math.Floor(SketchPerOctave*math.Log2(float64(d)/float64(time.Microsecond))))
	return min(i, sketchBuckets-1)
}

// Add records one duration; negative durations (clocks that went back)
// are ignored.
func (s *Sketch) Add(d time.Duration) {
	if d < 0 {
		return
	}
	if s.n == 0 || d < s.min {
		s.min = d
	}
	if d > s.max {
		s.max = d
	}
	s.n++
	if i := bucket(d); s.counts[i] < math.MaxUint32 {
		s.counts[i]++
	}
}

// Count returns the number of durations recorded.
func (s *Sketch) Count() uint64 { return s.n }

// Max returns the largest duration recorded (0 when empty).
func (s *Sketch) Max() time.Duration { return s.max }

// Quantile returns an estimate of the nearest-rank q-quantile (0 < q ≤ 1)
// of the durations recorded: the smallest v such that at least ⌈q·n⌉ of
// them are ≤ v, within SketchRelativeError. It returns 0 when empty.
func (s *Sketch) Quantile(q float64) time.Duration {
	if s.n == 0 {
		return 0
	}
	var total uint64
	for _, c := range s.counts {
		total += uint64(c)
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(1, min(rank, total))
	if rank == total {
		return s.max // exact
	}
	var cum uint64
	for i, c := range s.counts {
		cum += uint64(c)
		if cum < rank {
			continue
		}
		var v time.Duration
		switch {
		case i == sketchBuckets-1:
			return s.max // past the last bound
		case i > 0:
			// Geometric middle of [2^((i-1)/k), 2^(i/k)) µs.
			v = time.Duration(float64(time.Microsecond) * math.Exp2((float64(i)-0.5)/SketchPerOctave))
		}
		return min(max(v, s.min), s.max)
	}
	return s.max
}

// formatDuration prints d with three significant digits at most, in ns,
// µs, ms or s: "1.23ms", "450µs", "12s".
func formatDuration(d time.Duration) string {
	var x float64
	var unit string
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		x, unit = float64(d)/float64(time.Microsecond), "µs"
	case d < time.Second:
		x, unit = float64(d)/float64(time.Millisecond), "ms"
	default:
		x, unit = d.Seconds(), "s"
	}
	prec := 0
	switch {
	case x < 10:
		prec = 2
	case x < 100:
		prec = 1
	}
	b := strconv.AppendFloat(nil, x, 'f', prec, 64)
	if prec > 0 {
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
		if b[len(b)-1] == '.' {
			b = b[:len(b)-1]
		}
	}
	return string(b) + unit
}
