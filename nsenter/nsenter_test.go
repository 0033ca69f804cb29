package nsenter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/sniffer/sniffer/internal/require"
)

func TestMatch(t *testing.T) {
	list := []container.Summary{
		{ID: "abc123" + strings.Repeat("0", 58), Names: []string{"/app"}, State: "running"},
		{ID: "abc456" + strings.Repeat("1", 58), Names: []string{"/db"}, State: "running"},
		{ID: "def789" + strings.Repeat("2", 58), Names: []string{"/old"}, State: "exited"},
	}
	for _, tc := range []struct {
		ref, want string
		err       error
		msg       string
	}{
		{ref: "app", want: list[0].ID},
		{ref: "old", want: list[2].ID},
		{ref: list[1].ID, want: list[1].ID},
		{ref: "abc4", want: list[1].ID},
		{ref: "abc", err: ErrAmbiguous, msg: "abc1230000 (app), abc4561111 (db)"},
		{ref: "nope", err: ErrNotFound, msg: "running containers: app, db"},
	} {
		got, err := match(tc.ref, list)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg[:10]) {
				t.Errorf("match(%q): err %v, want %v mentioning %q", tc.ref, err, tc.err, tc.msg)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("match(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
}

func TestContextEndpoint(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("DOCKER_CONTEXT", "")
	if ep, err := contextEndpoint(); err != nil || ep.Host != "" {
		t.Fatalf("no config: %+v, %v; want the default", ep, err)
	}
	sum := sha256.Sum256([]byte("remote"))
	meta := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
	os.MkdirAll(meta, 0o755)
	os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2375","SkipTLSVerify":false}}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"remote"}`), 0o644)
	if ep, err := contextEndpoint(); err != nil || ep.Host != "tcp://10.1.2.3:2375" {
		t.Errorf("currentContext remote: %+v, %v", ep, err)
	}
	t.Setenv("DOCKER_CONTEXT", "default")
	if ep, err := contextEndpoint(); err != nil || ep.Host != "" {
		t.Errorf("DOCKER_CONTEXT=default: %+v, %v", ep, err)
	}
	t.Setenv("DOCKER_CONTEXT", "missing")
	if _, err := contextEndpoint(); err == nil || !strings.Contains(err.Error(), `"missing" does not exist`) {
		t.Errorf("DOCKER_CONTEXT=missing: %v", err)
	}
}

func TestConnectUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	_, err := Connect(context.Background())
	if !errors.Is(err, ErrEngine) || !strings.Contains(err.Error(), "cannot reach the engine at unix://") {
		t.Errorf("Connect to a missing socket: %v", err)
	}
}

func TestDoNoProcess(t *testing.T) {
	err := Do(1<<30, func() error { return nil })
	if !errors.Is(err, ErrNoProc) || !strings.Contains(err.Error(), "--pid host") {
		t.Errorf("Do on a missing PID: %v", err)
	}
}

func TestDoOwnNamespace(t *testing.T) {
	require.Root(t) // setns needs CAP_SYS_ADMIN
	want := errors.New("from fn")
	ran := false
	err := Do(os.Getpid(), func() error { ran = true; return want })
	if !ran || err != want {
		t.Errorf("Do(self): ran %v, err %v; want fn's error", ran, err)
	}
}
