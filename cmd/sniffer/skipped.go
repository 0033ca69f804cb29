package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sniffer/sniffer/sniff"
)

// reportSkipped writes one stderr line counting the packets that made no
// sense and were skipped (outside the receive window, RSTs that the
// watched stack would drop, malformed frames), when there were any: they
// are traffic that was on the wire and is not in the entries.
func reportSkipped(w io.Writer, s sniff.Stats) {
	var parts []string
	add := func(n uint64, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(s.OutOfWindow, "segment or ACK outside the receive window", "segments or ACKs outside the receive window")
	add(s.IgnoredRST, "RST outside the window", "RSTs outside the window")
	add(s.ChallengedRST, "RST in the window but not exact (challenged)", "RSTs in the window but not exact (challenged)")
	add(s.Resynced, "resynchronisation after more than a window lost", "resynchronisations after more than a window lost")
	add(s.Malformed, "malformed frame", "malformed frames")
	if len(parts) > 0 {
		fmt.Fprintf(w, "sniffer: skipped: %s\n", strings.Join(parts, ", "))
	}
}
