package nsenter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePodRef(t *testing.T) {
	for _, tc := range []struct{ in, ns, name string }{
		{"shop/web", "shop", "web"},
		{"web", "default", "web"},
	} {
		ns, name, err := ParsePodRef(tc.in)
		if err != nil || ns != tc.ns || name != tc.name {
			t.Errorf("ParsePodRef(%q) = %q, %q, %v", tc.in, ns, name, err)
		}
	}
	for _, bad := range []string{"", "/web", "shop/", "a/b/c"} {
		if _, _, err := ParsePodRef(bad); err == nil {
			t.Errorf("ParsePodRef(%q): no error", bad)
		}
	}
}

func TestParseSelector(t *testing.T) {
	sel := map[string]string{}
	for _, s := range []string{"app=web", "tier=", "a=b=c"} {
		if err := ParseSelector(sel, s); err != nil {
			t.Fatal(err)
		}
	}
	if sel["app"] != "web" || sel["tier"] != "" || sel["a"] != "b=c" {
		t.Errorf("selector %v", sel)
	}
	for _, bad := range []string{"app", "=web"} {
		if err := ParseSelector(map[string]string{}, bad); err == nil {
			t.Errorf("ParseSelector(%q): no error", bad)
		}
	}
	labels := map[string]string{"app": "web", "tier": "", "a": "b=c", "extra": "x"}
	if !labelsMatch(labels, sel) || !labelsMatch(labels, nil) {
		t.Error("labels do not match their own selector")
	}
	if labelsMatch(map[string]string{"app": "web"}, sel) || labelsMatch(labels, map[string]string{"app": "db"}) {
		t.Error("a missing or different label matches")
	}
}

// TestNetnsFromInfo: the runtime spec's path when it is visible, else the
// sandbox process's /proc entry; nothing from info that is not JSON.
func TestNetnsFromInfo(t *testing.T) {
	visible := filepath.Join(t.TempDir(), "cni-1")
	if err := os.WriteFile(visible, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	info := func(path string) map[string]string {
		return map[string]string{"info": `{"pid":42,"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"` + path + `"}]}}}`}
	}
	if p, pid := netnsFromInfo(info(visible)); p != visible || pid != 42 {
		t.Errorf("visible path: %q, %d", p, pid)
	}
	if p, _ := netnsFromInfo(info("/nonexistent/netns/cni-2")); p != "/proc/42/ns/net" {
		t.Errorf("hidden path: %q, want /proc/42/ns/net", p)
	}
	for _, in := range []map[string]string{nil, {"info": "{"}, {"info": `{"pid":0}`}} {
		if p, pid := netnsFromInfo(in); p != "" || pid != 0 {
			t.Errorf("%v: %q, %d, want nothing", in, p, pid)
		}
	}
}

// TestConnectCRIUnreachable: an endpoint that does not answer is named,
// with what to mount.
func TestConnectCRIUnreachable(t *testing.T) {
	dir := t.TempDir()
	for _, ep := range []string{"unix://" + filepath.Join(dir, "none.sock"), filepath.Join(dir, "none.sock")} {
		_, err := ConnectCRI(context.Background(), ep)
		if !errors.Is(err, ErrCRI) || !strings.Contains(err.Error(), "unix://"+filepath.Join(dir, "none.sock")) || !strings.Contains(err.Error(), "mount the socket") {
			t.Errorf("%s: %v", ep, err)
		}
	}
	// A file that is no socket: the dial fails on the version call.
	notSock := filepath.Join(dir, "file.sock")
	os.WriteFile(notSock, nil, 0o644)
	if _, err := ConnectCRI(context.Background(), notSock); !errors.Is(err, ErrCRI) || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("not a socket: %v", err)
	}
	if _, err := ConnectCRI(context.Background(), "tcp://127.0.0.1:1"); !errors.Is(err, ErrCRI) || !strings.Contains(err.Error(), "only unix://") {
		t.Errorf("tcp: %v", err)
	}
}
