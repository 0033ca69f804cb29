package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/require"
)

// stackRequests is how many requests each client of the stack test makes.
const stackRequests = 5

// stackCompose is the stack test's compose file: the keep-alive example's
// service and its two clients, which wait DELAY before their first request
// (far longer than attach takes to capture in a container that started,
// see BENCHMARKS.md) and make COUNT numbered requests, then exit.
const stackCompose = `version: "2.4"
services:
  app:
    image: sniffer-stack-app:%[1]s
  leaky:
    image: sniffer-stack-leaky:%[1]s
    environment: {URL: "http://app:8080/leaky", DELAY: 2s, COUNT: "%[2]d", INTERVAL: 100ms}
  fixed:
    image: sniffer-stack-fixed:%[1]s
    environment: {URL: "http://app:8080/fixed", DELAY: 2s, COUNT: "%[2]d", INTERVAL: 100ms}
`

// stackEntry is the format of the stack test's entries.
const stackEntry = "%container|%source.name|%dest.name|%connection|%request.url|%response.code"

// TestDockerStack is sniffer attach --project on a compose stack brought up
// after it: every container is attached as it starts, every request is
// printed once (the clients' connections are seen in their namespace and
// in the app's), entries say where they were captured and name their
// peers, and the verdict is per client → server pair, by name.
func TestDockerStack(t *testing.T) {
	requireDocker(t)
	compose, ok := composeCommand()
	if !ok {
		require.Missing(t, require.DockerEnv, "neither docker-compose nor docker compose is installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sniffer") // not sniffBin's: TestDocker removes it
	if err := goBuild(bin, ".", "-X main.version=e2e"); err != nil {
		t.Fatal(err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	project := "sniffstack" + hex.EncodeToString(rnd[:])
	tag := project

	var images []string
	t.Cleanup(func() {
		for _, img := range images {
			dockerErr("rmi", "-f", img)
		}
	})
	for _, p := range []string{"app", "leaky", "fixed"} {
		if err := goBuild(filepath.Join(dir, "bin", p), "../../examples/keepalive/"+p, ""); err != nil {
			t.Fatal(err)
		}
		img := "sniffer-stack-" + p + ":" + tag
		images = append(images, img)
		docker(t, "build", "-q", "-f", "../../examples/keepalive/Dockerfile", "--build-arg", "BIN="+p, "-t", img, dir)
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(stackCompose, tag, stackRequests)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args = append(append(compose[1:], "-p", project, "-f", file), args...)
		b, err := exec.CommandContext(ctx, compose[0], args...).CombinedOutput()
		return string(b), err
	}
	t.Cleanup(func() { run("down", "-v", "--remove-orphans", "-t", "1") })

	// A selector that matches nothing says so, waits, and with
	// --duration ends judging nothing: exit status 3.
	none, err := exec.Command(bin, "attach", "--project", project, "--label", "x=y", "--duration", "1s", "--expect-reuse").CombinedOutput()
	if exitCode(err) != exitInconclusive || !strings.Contains(string(none), "nothing matches project "+project+", label x=y yet: waiting for a container to start") {
		t.Errorf("attach selecting nothing: %v, want exit %d and the waiting line:\n%s", err, exitInconclusive, none)
	}

	// attach first: nothing matches yet, it says so and waits.
	har := filepath.Join(dir, "stack.har")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "attach", "--project", project, "--expect-reuse", "--har", har, "--metrics", metricsAddr, "-l", stackEntry)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	waiting := "sniffer: attach: nothing matches project " + project + " yet: waiting for a container to start"
	if !waitFor(20*time.Second, func() bool { return strings.Contains(stderr.String(), waiting) }) {
		t.Fatalf("no waiting line:\n%s", stderr.String())
	}

	if out, err := run("up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	// The containers' names, by service.
	names := map[string]string{}
	ps := docker(t, "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", `{{.Names}} {{.Label "com.docker.compose.service"}}`)
	for _, l := range strings.Split(strings.TrimSpace(ps), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			names[f[1]] = f[0]
		}
	}
	if len(names) != 3 {
		t.Fatalf("want 3 containers of project %s, got:\n%s", project, ps)
	}
	// The clients exit after their requests: attach lets them go.
	if !waitFor(60*time.Second, func() bool { return strings.Count(stderr.String(), "stopped: let go") >= 2 }) {
		t.Fatalf("the clients were not let go:\n%s\n%s", stdout.String(), stderr.String())
	}
	// --metrics counts every request once too.
	appIP := strings.TrimSpace(docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", names["app"]))
	series := fmt.Sprintf("sniffer_requests_total{server=%q} %d\n", appIP+":8080", 2*stackRequests)
	var body string
	if !waitFor(10*time.Second, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, series)
	}) {
		t.Errorf("/metrics lacks %q:\n%s", series, body)
	}

	// A restart: the app is let go, then attached in its new namespace.
	docker(t, "restart", "-t", "1", names["app"])
	if !waitFor(30*time.Second, func() bool { return strings.Count(stderr.String(), "attached to "+names["app"]) == 2 }) {
		t.Errorf("the app was not attached again after its restart:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("attach still running 30s after SIGINT:\n%s", stderr.String())
	}
	out, errOut := stdout.String(), stderr.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)

	// Each container was attached once, as it started.
	delay := regexp.MustCompile(`sniffer: attached to (\S+) \([0-9a-f]{12}\), listening on .* \(([0-9.]+)(ms|µs|s) after its start event\)`)
	attached := map[string]bool{}
	for _, m := range delay.FindAllStringSubmatch(errOut, -1) {
		if attached[m[1]] && m[1] != names["app"] {
			t.Errorf("%s attached twice", m[1])
		}
		attached[m[1]] = true
	}
	if !strings.Contains(errOut, "sniffer: "+names["app"]+" (") || !strings.Contains(errOut, ") stopped: let go") {
		t.Errorf("the app was not let go at its restart:\n%s", errOut)
	}
	for svc, name := range names {
		if !attached[name] {
			t.Errorf("%s (service %s) not attached at its start", name, svc)
		}
	}

	// Every request once, from the client's namespace, named.
	seen := map[string]int{}
	labels := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 6 {
			t.Errorf("entry %q: want 6 fields", l)
			continue
		}
		client := f[1]
		want := []string{names[client], client, "app"}
		if client != "leaky" && client != "fixed" || f[0] != want[0] || f[2] != want[2] || f[5] != "200" {
			t.Errorf("entry %q: want container %s, source %s, dest app, code 200", l, want[0], client)
		}
		seen[f[4]]++
		labels[client] = append(labels[client], f[3])
	}
	for _, c := range []string{"leaky", "fixed"} {
		for i := 1; i <= stackRequests; i++ {
			u := "/" + c + "?n=" + strconv.Itoa(i)
			if seen[u] != 1 {
				t.Errorf("%s: printed %d times, want once", u, seen[u])
			}
		}
	}
	if len(seen) != 2*stackRequests {
		t.Errorf("want %d distinct requests, got %v", 2*stackRequests, seen)
	}
	// The leaky client's connections serve one request each; the fixed
	// client's one connection serves them all.
	wantLeaky := strings.Repeat("unique ", stackRequests)
	wantFixed := "start " + strings.Repeat("continue ", stackRequests-2) + "last "
	if got := strings.Join(labels["leaky"], " ") + " "; got != wantLeaky {
		t.Errorf("leaky's labels: %q, want %q", got, wantLeaky)
	}
	if got := strings.Join(labels["fixed"], " ") + " "; got != wantFixed {
		t.Errorf("fixed's labels: %q, want %q", got, wantFixed)
	}
	if !strings.Contains(errOut, fmt.Sprintf("sniffer: %d entries seen in two watched namespaces printed once", 2*stackRequests)) {
		t.Errorf("want every entry seen twice and printed once:\n%s", errOut)
	}

	// The verdict, per pair, by name: exit 1 for the leaky client's.
	if exitCode(err) != exitNotReused {
		t.Errorf("exit %v, want %d (not reused)", err, exitNotReused)
	}
	for _, want := range []string{
		fmt.Sprintf("sniffer: summary: leaky -> app:8080: %d connections, %d requests,", stackRequests, stackRequests),
		fmt.Sprintf("sniffer: summary: fixed -> app:8080: 1 connection, %d requests,", stackRequests),
		fmt.Sprintf("sniffer: reuse: FAIL: connections not reused: leaky -> app:8080: %d connections offered keep-alive closed by the client after one request, then a new connection\n", stackRequests-1),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(errOut, "not reused: fixed") || strings.Contains(errOut, "; fixed") {
		t.Errorf("the fixed client failed the verdict:\n%s", errOut)
	}

	// HAR: each entry says where it was captured.
	b, err := os.ReadFile(har)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"leaky", "fixed"} {
		if n := strings.Count(string(b), `"_container":"`+names[c]+`"`); n != stackRequests {
			t.Errorf("HAR: %d entries with _container %s, want %d", n, names[c], stackRequests)
		}
	}
	// Named containers that do not run: an error without --follow.
	stopped, err := exec.Command(bin, "attach", names["leaky"], names["fixed"]).CombinedOutput()
	if exitCode(err) != exitFailed || !strings.Contains(string(stopped), "container is not running: none of "+names["leaky"]+", "+names["fixed"]) {
		t.Errorf("attach of two stopped containers: %v, want exit %d:\n%s", err, exitFailed, stopped)
	}

	var ds []string
	for _, m := range delay.FindAllStringSubmatch(errOut, -1) {
		ds = append(ds, m[2]+m[3])
	}
	sort.Strings(ds)
	t.Logf("attach delays after the start events: %v", ds)
}

// composeCommand returns docker-compose (v1), or Compose v2's docker
// compose, whichever is installed.
func composeCommand() ([]string, bool) {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, true
	}
	if _, err := dockerErr("compose", "version"); err == nil {
		return []string{"docker", "compose"}, true
	}
	return nil, false
}
