package h2test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// summary is a stream without its connection and id: what a scenario
// wants, as a sorted multiset.
func summary(ss []Stream) []string {
	var r []string
	for _, s := range ss {
		r = append(r, fmt.Sprintf("%s %s %d %d", s.Method, s.Path, s.Status, s.GRPCStatus))
	}
	slices.Sort(r)
	return r
}

func wantSummary(ws []Want) []string {
	var r []string
	for _, w := range ws {
		r = append(r, fmt.Sprintf("%s %s %d %d", w.Method, w.Path, w.Status, w.GRPCStatus))
	}
	slices.Sort(r)
	return r
}

// TestScenarios runs every scenario: tshark must see in its capture the
// exchanges the scenario made, on the expected number of connections, and
// h2conn, fed the capture's reassembled bytes, must find the same streams
// as tshark — connection, stream id, method, path, status, grpc-status.
func TestScenarios(t *testing.T) {
	for _, sc := range []struct {
		name  string
		run   func(testing.TB) (Capture, []Want)
		conns int
	}{
		{"go-prior-knowledge-shared", func(t testing.TB) (Capture, []Want) { return GoPriorKnowledge(t, true) }, 1},
		{"go-prior-knowledge-per-request", func(t testing.TB) (Capture, []Want) { return GoPriorKnowledge(t, false) }, 6},
		{"curl-upgrade", CurlUpgrade, 1},
		{"nghttp-upgrade", NghttpUpgrade, 1},
		{"nghttpd-multiplexed", Nghttpd, 1},
		{"grpc-shared-channel", func(t testing.TB) (Capture, []Want) { return GRPC(t, true) }, 1},
		{"grpc-channel-per-call", func(t testing.TB) (Capture, []Want) { return GRPC(t, false) }, 3},
	} {
		t.Run(sc.name, func(t *testing.T) {
			c, want := Run(t, sc.run)
			ts := Tshark(t, c)
			if got, w := summary(ts), wantSummary(want); !slices.Equal(got, w) {
				t.Errorf("tshark sees\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
			}
			if n := Connections(ts); n != sc.conns {
				t.Errorf("tshark sees %d connections, want %d", n, sc.conns)
			}
			ds, stats := Decode(t, c)
			if !slices.Equal(ds, ts) {
				t.Errorf("h2conn:\n%s\ntshark:\n%s", join(ds), join(ts))
			}
			for _, st := range stats {
				if st.HPACKErrors+st.Desyncs+st.Orphans+st.OversizedBlocks+st.SkippedBytes != 0 {
					t.Errorf("h2conn stats: %+v", st)
				}
			}
			t.Logf("%d streams on %d connections", len(ts), Connections(ts))
		})
	}
}

func join(ss []Stream) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}
