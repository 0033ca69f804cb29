package main

import (
	"io"
	"testing"
)

// TestNeedsNames: a sidecar looks peer names up only for outputs that
// print or judge by them.
func TestNeedsNames(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-l", "%request.line %container"}, false},
		{[]string{"-r"}, false},
		{[]string{"-l", "%source.name %request.line"}, true},
		{[]string{"-a", " %dest.name"}, true},
		{[]string{"--json"}, true},
		{[]string{"--summary"}, true},
		{[]string{"--expect-reuse"}, true},
	} {
		o, err := parseOptions(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		f, err := buildFormat(o)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPrinter(o, f, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.needsNames(); got != tc.want {
			t.Errorf("%q: needsNames %v, want %v", tc.args, got, tc.want)
		}
	}
}
