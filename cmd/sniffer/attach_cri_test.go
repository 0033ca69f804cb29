package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestExtractCRIFlags(t *testing.T) {
	cf, rest, err := extractCRIFlags([]string{"--cri", "shop/web", "-p", "port 80", "--selector=app=web", "-selector", "tier=front", "--cri-endpoint=unix:///x.sock", "--json", "--cri=shop/web", "--cri", "api", "--cri", "default/api"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.pods, []string{"shop/web", "default/api"}) || cf.endpoint != "unix:///x.sock" || len(cf.selector) != 2 || cf.selector["app"] != "web" || cf.selector["tier"] != "front" || !cf.on() {
		t.Errorf("flags %+v", cf)
	}
	if !slices.Equal(rest, []string{"-p", "port 80", "--json"}) {
		t.Errorf("rest %q", rest)
	}
	if cf, rest, err := extractCRIFlags([]string{"app", "--follow"}); err != nil || cf.on() || len(rest) != 2 {
		t.Errorf("docker attach: %+v %q %v", cf, rest, err)
	}
	for _, bad := range [][]string{{"--cri"}, {"--selector", "app"}, {"--cri", "a/b/c"}} {
		var ue *usageError
		if _, _, err := extractCRIFlags(bad); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// TestCRIAttachUsage: the CRI flags' usage errors exit 2 before any
// runtime is asked.
func TestCRIAttachUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cri-endpoint", "unix:///x.sock"}, "needs --cri NAMESPACE/POD or --selector"},
		{[]string{"--cri", "shop/web", "app"}, "name no container"},
		{[]string{"--selector", "app"}, "want KEY=VALUE"},
		{[]string{"--cri", "shop/web", "-f", "x.pcap"}, "-f does not apply"},
	} {
		var stdout, stderr bytes.Buffer
		if st := runAttach(tc.args, &stdout, &stderr); st != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("attach %q: status %d, want 2 and %q:\n%s", tc.args, st, tc.want, stderr.String())
		}
	}
}
