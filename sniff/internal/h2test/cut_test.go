package h2test

import "testing"

// checkNeverWrong: every stream decoded from a cut capture is one tshark
// sees in the whole capture (same connection and id), and every field it
// has is tshark's: what the missing bytes or HPACK state hide is missing,
// never wrong.
func checkNeverWrong(t *testing.T, what string, got, full []Stream) (late, known int) {
	t.Helper()
	byKey := map[[2]int]Stream{}
	for _, s := range full {
		byKey[[2]int{s.ClientPort, int(s.ID)}] = s
	}
	for _, g := range got {
		w, ok := byKey[[2]int{g.ClientPort, int(g.ID)}]
		if !ok {
			t.Errorf("%s: stream %v is not in the capture", what, g)
			continue
		}
		if (g.Method != "" && g.Method != w.Method) || (g.Path != "" && g.Path != w.Path) ||
			(g.Status != 0 && g.Status != w.Status) || (g.GRPCStatus != -1 && g.GRPCStatus != w.GRPCStatus) {
			t.Errorf("%s: decoded %v, tshark %v", what, g, w)
		}
		if g.Late {
			late++
		}
		if g.Method != "" && g.Status != 0 {
			known++
		}
	}
	return late, known
}

// TestPickupAndGapsOnRealCaptures decodes real captures picked up at every
// few bytes of the client's and server's streams, and with a gap at every
// few bytes: no stream is invented, no field is wrong, streams after the
// pickup are labelled late, and some are still decoded whole (static
// table and literals, entries inserted after the pickup).
func TestPickupAndGapsOnRealCaptures(t *testing.T) {
	for _, sc := range []struct {
		name string
		run  func(testing.TB) (Capture, []Want)
	}{
		{"grpc-shared-channel", func(t testing.TB) (Capture, []Want) { return GRPC(t, true) }},
		{"nghttpd-multiplexed", Nghttpd},
		{"go-prior-knowledge-shared", func(t testing.TB) (Capture, []Want) { return GoPriorKnowledge(t, true) }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			c, _ := Run(t, sc.run)
			full := Tshark(t, c)
			var late, known, cuts int
			// Offsets past a direction's end cut nothing.
			for off := 0; off < 4000; off += 13 {
				for _, cut := range []Cut{
					{Skip: [2]int{off, off / 2}},
					{Skip: [2]int{off / 3, off}},
					{GapAt: [2]int{off, 0}, GapLen: [2]int{1 + off%50, 0}},
					{GapAt: [2]int{0, off}, GapLen: [2]int{0, 1 + off%70}},
				} {
					got, _ := DecodeCut(t, c, cut)
					l, k := checkNeverWrong(t, sc.name, got, full)
					late += l
					known += k
					cuts++
				}
			}
			if late == 0 || known == 0 {
				t.Errorf("%d cuts: %d late streams, %d decoded with method and status", cuts, late, known)
			}
			t.Logf("%d cuts: %d late streams, %d with method and status", cuts, late, known)
		})
	}
}
