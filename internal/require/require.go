// Package require lets tests state what they need from the machine — a
// tool in PATH, root, a Docker engine — in one line. What is missing skips
// the test, unless the matching SNIFFER_REQUIRE_* variable is 1 (CI sets
// them all): then it is a failure, so that a test cannot pass by not
// running. It is a package of the module's root internal directory so
// that every package (sniff/..., nsenter, cmd/sniffer) can use it.
package require

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The variables that turn a missing prerequisite into a failure.
const (
	// ToolsEnv covers external programs: tcpdump, tshark, ip...
	ToolsEnv = "SNIFFER_REQUIRE_TOOLS"
	// RootEnv covers root (namespaces, raw sockets, setns).
	RootEnv = "SNIFFER_REQUIRE_ROOT"
	// DockerEnv covers a Docker engine (and docker compose).
	DockerEnv = "SNIFFER_REQUIRE_DOCKER"
	// PodmanEnv covers rootful Podman (podman system service).
	PodmanEnv = "SNIFFER_REQUIRE_PODMAN"
	// CRIEnv covers containerd with its CRI plugin, started by the test,
	// and the CNI plugins it uses.
	CRIEnv = "SNIFFER_REQUIRE_CRI"
)

// Required reports whether env is set to 1: what it covers must be there.
func Required(env string) bool { return os.Getenv(env) == "1" }

// Missing reports a missing prerequisite: it fails t when env is 1, and
// skips it otherwise, saying which variable would make it a failure.
func Missing(t testing.TB, env, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if Required(env) {
		t.Fatalf("%s, and %s=1", why, env)
	}
	t.Skipf("%s (set %s=1 to make this a failure)", why, env)
}

// Tool returns the path of the program name, looked up in PATH, or
// reports it missing (ToolsEnv).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, ToolsEnv, "%s not found: %v", name, err)
	}
	return p
}

// HaveTool is Tool for a test that does more than compare with the tool:
// without it (and ToolsEnv not 1) the test goes on, and HaveTool logs that
// the comparison is left out and returns false. With ToolsEnv=1 a missing
// tool fails the test.
func HaveTool(t testing.TB, name string) (string, bool) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p, true
	}
	if Required(ToolsEnv) {
		t.Fatalf("%s not found (%v), and %s=1", name, err, ToolsEnv)
	}
	t.Logf("%s not found: the comparison with it is left out (set %s=1 to make this a failure)", name, ToolsEnv)
	return "", false
}

// ToolCondition is the testscript condition for a tool: whether name is
// in PATH, or an error when it is not and ToolsEnv is 1 (the script then
// fails instead of skipping).
func ToolCondition(name string) (bool, error) {
	if _, err := exec.LookPath(name); err != nil {
		if Required(ToolsEnv) {
			return false, fmt.Errorf("%s not found (%v), and %s=1", name, err, ToolsEnv)
		}
		return false, nil
	}
	return true, nil
}

// Root reports the test's need of root (RootEnv) unless it runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, RootEnv, "not root (euid %d)", os.Geteuid())
	}
}

// Docker reports the test's need of a Docker engine (DockerEnv) unless
// the docker CLI is installed, an engine answers it, and the test runs as
// root (to enter containers' namespaces).
func Docker(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		Missing(t, DockerEnv, "the docker CLI is not installed")
	}
	// Not a timed assertion: an engine that does not answer in this long
	// is not there.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		Missing(t, DockerEnv, "no Docker engine answers: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if os.Geteuid() != 0 {
		Missing(t, DockerEnv, "not root: attach needs CAP_SYS_ADMIN and CAP_NET_RAW")
	}
}

// Podman reports the test's need of rootful Podman (PodmanEnv) unless the
// podman CLI is installed and the test runs as root. The test starts the
// API service itself, on a socket of its own.
func Podman(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		Missing(t, PodmanEnv, "the podman CLI is not installed")
	}
	if os.Geteuid() != 0 {
		Missing(t, PodmanEnv, "not root: rootful podman and attach need root")
	}
}

// CRI reports the test's need of containerd with its CRI plugin (CRIEnv)
// unless containerd, ctr and the CNI plugins (bridge, host-local,
// loopback in cniDir) are installed and the test runs as root. The test
// starts containerd itself, with a configuration of its own.
func CRI(t testing.TB, cniDir string) {
	t.Helper()
	for _, name := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(name); err != nil {
			Missing(t, CRIEnv, "%s not found (Debian's containerd package): %v", name, err)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(cniDir + "/" + p); err != nil {
			Missing(t, CRIEnv, "CNI plugin %s missing (Debian's containernetworking-plugins): %v", p, err)
		}
	}
	if os.Geteuid() != 0 {
		Missing(t, CRIEnv, "not root: containerd and attach need root")
	}
}

// Output runs the program name (a path, or looked up in PATH) with args
// and returns its standard output. A program that cannot start, exits
// non-zero or prints nothing fails the test, with its standard error: a
// tool that did not do its part can never make a comparison pass.
func Output(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	if stdout.Len() == 0 {
		t.Fatalf("%s %s printed nothing\n%s", name, strings.Join(args, " "), stderr.Bytes())
	}
	return stdout.Bytes()
}
