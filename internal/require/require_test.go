package require

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeT records how a helper ended the test: failed, skipped, or not.
type fakeT struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Logf(format string, args ...any) { f.msg = sprintf(format, args...) }

// try runs fn with a fakeT, as the testing package would run a test.
func try(fn func(t testing.TB)) *fakeT {
	f := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// emptyPath makes PATH a directory holding only the given scripts.
func emptyPath(t *testing.T, scripts map[string]string) {
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
}

func TestToolMissing(t *testing.T) {
	emptyPath(t, nil)
	t.Setenv(ToolsEnv, "")
	if f := try(func(t testing.TB) { Tool(t, "tshark") }); !f.skipped || f.failed || !strings.Contains(f.msg, "tshark not found") || !strings.Contains(f.msg, ToolsEnv+"=1") {
		t.Errorf("without %s: %+v, want a skip naming tshark and the variable", ToolsEnv, f)
	}
	t.Setenv(ToolsEnv, "1")
	if f := try(func(t testing.TB) { Tool(t, "tshark") }); !f.failed || f.skipped {
		t.Errorf("with %s=1: %+v, want a failure", ToolsEnv, f)
	}
	if f := try(func(t testing.TB) { HaveTool(t, "tshark") }); !f.failed {
		t.Errorf("HaveTool with %s=1: %+v, want a failure", ToolsEnv, f)
	}
	if ok, err := ToolCondition("tshark"); ok || err == nil {
		t.Errorf("ToolCondition with %s=1: %v, %v; want false and an error", ToolsEnv, ok, err)
	}
	t.Setenv(ToolsEnv, "0")
	var have bool
	f := try(func(t testing.TB) { _, have = HaveTool(t, "tshark") })
	if f.failed || f.skipped || have || !strings.Contains(f.msg, "left out") {
		t.Errorf("HaveTool without %s: %+v, have %v; want it logged, false", ToolsEnv, f, have)
	}
	if ok, err := ToolCondition("tshark"); ok || err != nil {
		t.Errorf("ToolCondition without %s: %v, %v; want false, nil", ToolsEnv, ok, err)
	}
}

func TestToolFound(t *testing.T) {
	emptyPath(t, map[string]string{"tshark": "exit 0"})
	t.Setenv(ToolsEnv, "1")
	var p string
	if f := try(func(t testing.TB) { p = Tool(t, "tshark") }); f.failed || f.skipped || filepath.Base(p) != "tshark" {
		t.Errorf("Tool: %+v, %q", f, p)
	}
	if ok, err := ToolCondition("tshark"); !ok || err != nil {
		t.Errorf("ToolCondition: %v, %v", ok, err)
	}
}

// TestOutput: a tool that fails or prints nothing fails the test.
func TestOutput(t *testing.T) {
	emptyPath(t, map[string]string{"good": "echo out", "bad": "echo oops >&2; exit 3", "mute": "exit 0"})
	var out []byte
	if f := try(func(t testing.TB) { out = Output(t, "good") }); f.failed || string(out) != "out\n" {
		t.Errorf("good: %+v, %q", f, out)
	}
	if f := try(func(t testing.TB) { Output(t, "bad", "-x") }); !f.failed || !strings.Contains(f.msg, "bad -x: exit status 3\noops") {
		t.Errorf("bad: %+v, want a failure with its stderr", f)
	}
	if f := try(func(t testing.TB) { Output(t, "mute") }); !f.failed || !strings.Contains(f.msg, "printed nothing") {
		t.Errorf("mute: %+v, want a failure", f)
	}
	if f := try(func(t testing.TB) { Output(t, "absent") }); !f.failed {
		t.Errorf("absent: %+v, want a failure", f)
	}
}

func TestRoot(t *testing.T) {
	for _, v := range []string{"", "1"} {
		t.Setenv(RootEnv, v)
		f := try(Root)
		switch {
		case os.Geteuid() == 0 && (f.failed || f.skipped):
			t.Errorf("root, %s=%q: %+v", RootEnv, v, f)
		case os.Geteuid() != 0 && v == "1" && !f.failed:
			t.Errorf("not root, %s=1: %+v, want a failure", RootEnv, f)
		case os.Geteuid() != 0 && v == "" && !f.skipped:
			t.Errorf("not root, %s unset: %+v, want a skip", RootEnv, f)
		}
	}
}

func TestDockerMissing(t *testing.T) {
	emptyPath(t, nil)
	t.Setenv(DockerEnv, "1")
	if f := try(Docker); !f.failed || !strings.Contains(f.msg, "docker CLI is not installed") {
		t.Errorf("with %s=1 and no docker: %+v, want a failure", DockerEnv, f)
	}
	// A docker CLI whose engine does not answer.
	emptyPath(t, map[string]string{"docker": "echo 'Cannot connect to the Docker daemon' >&2; exit 1"})
	t.Setenv(DockerEnv, "")
	if f := try(Docker); !f.skipped || !strings.Contains(f.msg, "no Docker engine answers") {
		t.Errorf("without %s, engine down: %+v, want a skip", DockerEnv, f)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
