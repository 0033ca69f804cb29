package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/require"
)

// The end-to-end tests of "sniffer attach", the image and the compose
// example run against the real Docker engine. Without one they skip, unless
// SNIFFER_REQUIRE_DOCKER=1 (CI), where they fail. Everything they create
// (images, containers, networks) has a name unique to the run and is removed
// by t.Cleanup.

// entryFormat prints what the tests look at: the connection annotation and
// which client sent the request.
const entryFormat = "%connection %request.header.user-agent() %request.line %response.code %connection.id"

var (
	sniffBinOnce sync.Once
	sniffBinPath string
	sniffBinErr  error
)

// sniffBin builds the static sniffer binary once per test process, in a
// directory of its own (the context of Dockerfile.prebuilt).
func sniffBin(t *testing.T) string {
	t.Helper()
	sniffBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sniffer-e2e-bin-")
		if err != nil {
			sniffBinErr = err
			return
		}
		sniffBinPath = filepath.Join(dir, "sniffer")
		sniffBinErr = goBuild(sniffBinPath, ".", "-X main.version=e2e")
	})
	if sniffBinErr != nil {
		t.Fatalf("build sniffer: %v", sniffBinErr)
	}
	return sniffBinPath
}

// goBuild builds pkg statically into out.
func goBuild(out, pkg, ldflags string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w "+ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return &buildError{pkg, string(b), err}
	}
	return nil
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

// requireDocker skips (or, with SNIFFER_REQUIRE_DOCKER=1, fails) the test
// when no Docker engine answers or the test is not root; -short skips it
// unless SNIFFER_REQUIRE_DOCKER=1.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() && !require.Required(require.DockerEnv) {
		t.Skip("-short: no Docker end-to-end tests")
	}
	require.Docker(t)
}

// docker runs the docker CLI and returns its combined output, failing the
// test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(b), err
}

// syncBuffer is a bytes.Buffer safe for a command writing and a test
// reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond every 100 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// checkClients checks out shows both clients' requests: the leaky one's
// each on its own connection (unique), the fixed one's on a kept-alive one.
func checkClients(t *testing.T, out string) {
	t.Helper()
	leaky, fixedKept, leakyOpen := clientCounts(out)
	// A leaky entry that is not unique is alone on its connection when
	// the capture did not see that connection whole: still open when it
	// stopped ("start"), or opened before the capture of a restarted
	// container's new namespace was live (picked up: "continue", "last").
	// Two entries on one connection mean a reused connection.
	perConn := map[string][]string{}
	for _, l := range leakyOpen {
		f := strings.Fields(l)
		perConn[f[len(f)-1]] = append(perConn[f[len(f)-1]], l)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "leaky" && f[0] == "unique" {
			if open := perConn[f[len(f)-1]]; open != nil {
				perConn[f[len(f)-1]] = append(open, l)
			}
		}
	}
	for id, ls := range perConn {
		if len(ls) > 1 {
			t.Errorf("leaky client's requests share connection %s: %q", id, ls)
		}
	}
	if leaky < 2 || fixedKept < 2 {
		t.Errorf("want ≥2 unique entries of the leaky client and ≥2 start/continue of the fixed one, got %d and %d in:\n%s", leaky, fixedKept, out)
	}
}

// clientCounts counts, in the entries out (format entryFormat), the leaky
// client's unique entries, the fixed client's start and continue entries,
// and returns the leaky client's other entries.
func clientCounts(out string) (leaky, fixedKept int, leakyOpen []string) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		switch {
		case f[1] == "leaky" && f[0] == "unique":
			leaky++
		case f[1] == "leaky":
			leakyOpen = append(leakyOpen, l)
		case f[1] == "fixed" && (f[0] == "start" || f[0] == "continue"):
			fixedKept++
		}
	}
	return leaky, fixedKept, leakyOpen
}

// TestDocker builds the images, starts the keep-alive example's service and
// clients, and captures their traffic every way sniffer runs with Docker.
func TestDocker(t *testing.T) {
	requireDocker(t)
	bin := sniffBin(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })

	var rnd [4]byte
	rand.Read(rnd[:])
	id := "snifftest" + hex.EncodeToString(rnd[:])
	tag := id

	// Images: sniffer from Dockerfile.prebuilt, the example's programs from
	// examples/keepalive/Dockerfile, all FROM scratch.
	var images []string
	t.Cleanup(func() {
		for _, img := range images {
			dockerErr("rmi", "-f", img)
		}
	})
	sniffImage := "sniffer-example:" + tag // the compose file's name for it
	images = append(images, sniffImage)
	docker(t, "build", "-q", "-f", "../../Dockerfile.prebuilt", "-t", sniffImage, filepath.Dir(bin))
	exDir := t.TempDir()
	for _, p := range []string{"app", "leaky", "fixed", "hold"} {
		if err := goBuild(filepath.Join(exDir, "bin", p), "../../examples/keepalive/"+p, ""); err != nil {
			t.Fatal(err)
		}
		img := "sniffer-keepalive-" + p + ":" + tag
		images = append(images, img)
		docker(t, "build", "-q", "-f", "../../examples/keepalive/Dockerfile", "--build-arg", "BIN="+p, "-t", img, exDir)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(docker(t, "image", "inspect", "--format", "{{.Size}}", sniffImage)), 10, 64)
	if err != nil || size >= 15e6 {
		t.Errorf("image %s: size %d (%v), want under 15 MB", sniffImage, size, err)
	}
	t.Logf("image %s: %.1f MB", sniffImage, float64(size)/1e6)

	t.Run("compose", func(t *testing.T) { testCompose(t, tag) })

	// The service and its clients on a network of their own.
	app, net := id+"-app", id+"-net"
	var containers []string
	t.Cleanup(func() {
		if len(containers) > 0 {
			dockerErr(append([]string{"rm", "-f"}, containers...)...)
		}
		dockerErr("network", "rm", net)
	})
	docker(t, "network", "create", net)
	containers = append(containers, app)
	docker(t, "run", "-d", "--name", app, "--network", net, "--network-alias", "app", "sniffer-keepalive-app:"+tag)
	for _, c := range []string{"leaky", "fixed"} {
		containers = append(containers, id+"-"+c)
		docker(t, "run", "-d", "--name", id+"-"+c, "--network", net, "-e", "INTERVAL=200ms", "-e", "URL=http://app:8080/"+c, "sniffer-keepalive-"+c+":"+tag)
	}

	t.Run("sidecar", func(t *testing.T) {
		out := docker(t, "run", "--rm", "--net", "container:"+app, sniffImage,
			"-p", "port 8080", "--duration", "3s", "-l", entryFormat)
		checkClients(t, out)
		if !strings.Contains(out, "packets captured") {
			t.Errorf("no summary in:\n%s", out)
		}
	})
	t.Run("sidecar-names", func(t *testing.T) {
		// With the engine's socket mounted, the sidecar names its peers
		// (plain containers: their names).
		out := docker(t, "run", "--rm", "--net", "container:"+app, "-v", "/var/run/docker.sock:/var/run/docker.sock", sniffImage,
			"-p", "port 8080", "--duration", "3s", "-l", "%source.name %dest.name %request.header.user-agent() %container(host)")
		checkNames(t, out, "host", id+"-leaky", id+"-fixed", app)
	})
	t.Run("sidecar-cap-drop-all", func(t *testing.T) {
		out := docker(t, "run", "--rm", "--net", "container:"+app, "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--read-only",
			sniffImage, "--duration", "3s", "-l", entryFormat)
		checkClients(t, out)
	})
	t.Run("attach-host", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "attach", app, "--duration", "3s", "-l", entryFormat)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("sniffer attach: %v\n%s", err, stderr.String())
		}
		checkClients(t, stdout.String())
		if !strings.Contains(stderr.String(), "attached to "+app) {
			t.Errorf("stderr lacks the attach notice:\n%s", stderr.String())
		}
	})
	t.Run("attach-names", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "attach", app, "--duration", "3s", "-l", "%source.name %dest.name %request.header.user-agent() %container")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("sniffer attach: %v\n%s", err, stderr.String())
		}
		checkNames(t, stdout.String(), app, id+"-leaky", id+"-fixed", app)
	})
	t.Run("attach-host-id-prefix", func(t *testing.T) {
		full := strings.TrimSpace(docker(t, "inspect", "--format", "{{.Id}}", app))
		cmd := exec.Command(bin, "attach", full[:12], "--count", "1", "--duration", "5s")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "attached to "+app) {
			t.Errorf("attach by ID prefix: %v\n%s", err, out)
		}
	})
	t.Run("attach-metrics", func(t *testing.T) { testAttachMetrics(t, bin, app) })
	t.Run("attach-from-container", func(t *testing.T) {
		out := docker(t, "run", "--rm", "--pid", "host", "--cap-add", "SYS_ADMIN",
			"-v", "/var/run/docker.sock:/var/run/docker.sock",
			sniffImage, "attach", app, "--duration", "3s", "-l", entryFormat)
		checkClients(t, out)
	})
	t.Run("attach-from-container-without-pid-host", func(t *testing.T) {
		out, err := dockerErr("run", "--rm", "--cap-add", "SYS_ADMIN",
			"-v", "/var/run/docker.sock:/var/run/docker.sock", sniffImage, "attach", app)
		if err == nil || !strings.Contains(out, "--pid host") {
			t.Errorf("want an error suggesting --pid host, got %v:\n%s", err, out)
		}
	})
	t.Run("attach-restart-then-stop", func(t *testing.T) {
		var stdout, stderr syncBuffer
		cmd := exec.Command(bin, "attach", app, "-l", entryFormat)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		entries := func() int { return strings.Count(stdout.String(), "\n") }
		if !waitFor(10*time.Second, func() bool { return entries() >= 3 }) {
			t.Fatalf("no entries before the restart:\n%s", stderr.String())
		}
		docker(t, "restart", "-t", "1", app)
		if !waitFor(15*time.Second, func() bool { return strings.Contains(stderr.String(), "restarted") }) {
			t.Fatalf("no restart notice:\n%s", stderr.String())
		}
		n := entries()
		if !waitFor(10*time.Second, func() bool { return entries() >= n+3 }) {
			t.Fatalf("entries stopped after the restart (%d before):\n%s\n%s", n, stdout.String(), stderr.String())
		}
		// The fixed client reconnects after the restart at its own pace
		// and its first entry waits for its next request (keep-alive):
		// give it time before checking, the leaky client's entries alone
		// can make up the n+3.
		waitFor(10*time.Second, func() bool {
			leaky, fixedKept, _ := clientCounts(stdout.String())
			return leaky >= 2 && fixedKept >= 2
		})
		checkClients(t, stdout.String())

		// (5) docker stop: attach prints its summary and exits 0.
		docker(t, "stop", "-t", "1", app)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("attach exited with %v after docker stop:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("attach still running 20s after docker stop:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), "packets captured") {
			t.Errorf("no summary after docker stop:\n%s", stderr.String())
		}
	})
	t.Run("attach-errors", func(t *testing.T) {
		// app is stopped now: exit status 4 (the capture failed).
		for _, tc := range []struct{ name, want string }{
			{app, "not running"},
			{id + "-missing", "no such container"},
		} {
			out, err := exec.Command(bin, "attach", tc.name).CombinedOutput()
			if exitCode(err) != exitFailed || !strings.Contains(string(out), tc.want) {
				t.Errorf("attach %s: want exit status %d and %q, got %v:\n%s", tc.name, exitFailed, tc.want, err, out)
			}
		}
	})
	t.Run("attach-follow-stopped", func(t *testing.T) {
		// --follow on the stopped app says at once that it waits; when
		// --duration ends the wait, --expect-reuse judged nothing:
		// inconclusive, exit status 3, never ok.
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "attach", app, "--follow", "--duration", "2s", "--expect-reuse")
		cmd.Stderr = &stderr
		err := cmd.Run()
		lines := strings.Split(stderr.String(), "\n")
		if !strings.HasPrefix(lines[0], "sniffer: attach: "+app+" (") || !strings.HasSuffix(lines[0], ") is not running: waiting for it to start (--follow)") || strings.Count(stderr.String(), "waiting for it") != 1 {
			t.Errorf("stderr does not start with the waiting line (once):\n%s", stderr.String())
		}
		if exitCode(err) != exitInconclusive || !strings.Contains(stderr.String(), "sniffer: reuse: inconclusive: no HTTP or TLS exchange seen") {
			t.Errorf("exit %v, want %d with an inconclusive verdict:\n%s", err, exitInconclusive, stderr.String())
		}
	})
}

// checkNames checks the entries out (format "%source.name %dest.name
// %request.header.user-agent() %container"): both clients' requests, each
// named by its container, to the server named server, captured in
// container.
func checkNames(t *testing.T, out, container, leaky, fixed, server string) {
	t.Helper()
	n := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "sniffer: ") {
			continue // docker run mixes standard error in
		}
		f := strings.Fields(l)
		if len(f) == 4 && f[1] == server && f[3] == container && (f[2] == "leaky" && f[0] == leaky || f[2] == "fixed" && f[0] == fixed) {
			n[f[2]]++
			continue
		}
		t.Errorf("entry %q: want %s|%s %s leaky|fixed %s", l, leaky, fixed, server, container)
	}
	if n["leaky"] < 2 || n["fixed"] < 2 {
		t.Errorf("want ≥2 named entries of each client, got %v in:\n%s", n, out)
	}
}

// exitCode returns the exit status of a command's error (0 for nil, -1
// when it did not run to an exit).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// firstEntry is a verdict sidecar's first entry when it listened before
// its client started: a new connection with its handshake time.
var firstEntry = map[string]*regexp.Regexp{
	"verdict-leaky": regexp.MustCompile(`^unique \d+\.\d{6} GET /leaky HTTP/1.1 200$`),
	"verdict-fixed": regexp.MustCompile(`^start \d+\.\d{6} GET /fixed HTTP/1.1 200$`),
}

// testCompose brings the compose example up with docker-compose (v1, or
// Compose v2's "docker compose") and reads the sidecar's log.
func testCompose(t *testing.T, tag string) {
	var compose []string
	if _, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{"docker-compose"}
	} else if _, err := dockerErr("compose", "version"); err == nil {
		compose = []string{"docker", "compose"}
	} else {
		require.Missing(t, require.DockerEnv, "neither docker-compose nor docker compose is installed")
	}
	file, err := filepath.Abs("../../examples/keepalive/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args = append(append(compose[1:], "-p", tag, "-f", file), args...)
		cmd := exec.CommandContext(ctx, compose[0], args...)
		cmd.Env = append(os.Environ(), "TAG="+tag)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	t.Cleanup(func() { run("down", "--remove-orphans", "-t", "1") })
	if out, err := run("up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	var logs string
	waitFor(20*time.Second, func() bool {
		logs, _ = run("logs", "--no-color", "sniffer")
		return strings.Count(logs, "unique leaky") >= 3 && strings.Count(logs, "continue fixed") >= 2
	})
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if _, after, ok := strings.Cut(l, "| "); ok {
			lines = append(lines, after)
		}
	}
	out := strings.Join(lines, "\n")
	checkClients(t, out)
	if !strings.Contains(out, "start fixed") {
		t.Errorf("no start entry of the fixed client:\n%s", out)
	}

	// The CI-style verdicts: sniffer --expect-reuse --duration 8s in each
	// client's namespace fails on the leaky one, passes on the fixed one.
	// The clients waited for the sniffers' health checks, not for a
	// delay: each verdict saw its client's first connection from its
	// handshake (and the fixed client's only one).
	for svc, want := range map[string]string{"verdict-leaky": "1", "verdict-fixed": "0"} {
		id, err := run("ps", "-q", svc)
		if err != nil || strings.TrimSpace(id) == "" {
			t.Fatalf("compose ps %s: %v %q", svc, err, id)
		}
		code := strings.TrimSpace(docker(t, "wait", strings.TrimSpace(id)))
		logs, _ := run("logs", "--no-color", svc)
		if code != want || !strings.Contains(logs, "sniffer: summary: ") {
			t.Errorf("%s: exit %s, want %s; logs:\n%s", svc, code, want, logs)
		}
		var entries []string
		for _, l := range strings.Split(logs, "\n") {
			if _, after, ok := strings.Cut(l, "| "); ok && !strings.HasPrefix(after, "sniffer: ") {
				entries = append(entries, after)
			}
		}
		if len(entries) == 0 || !firstEntry[svc].MatchString(entries[0]) {
			t.Errorf("%s: first entry %q, want one matching %s (the client's first connection, handshake seen); logs:\n%s", svc, entries, firstEntry[svc], logs)
		}
		if svc == "verdict-fixed" && !strings.Contains(logs, ": 1 connection, ") {
			t.Errorf("%s: the fixed client used more than one connection:\n%s", svc, logs)
		}
	}
}
