package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/internal/require"
)

// podmanUlimits are the flags "podman run" needs on this kind of machine:
// without them runc cannot apply podman's default limits.
var podmanUlimits = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// podman runs the podman CLI and returns its combined output, failing the
// test on error.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podmanErr(args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func podmanErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
	return string(b), err
}

// tarOf writes a tar holding the one file bin, as /prog, mode 0755: the
// root file system of an image made with "podman import" or "ctr import".
func tarOf(t *testing.T, bin, out string) {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "prog", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startPodmanService starts "podman system service" on a socket of its own
// and returns the DOCKER_HOST that reaches it. The service is killed by
// PID in t.Cleanup.
func startPodmanService(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "podman.sock")
	host := "unix://" + sock
	var log syncBuffer
	cmd := exec.Command("podman", "system", "service", "--time=0", host)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("podman system service: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatalf("podman system service: no socket %s after 30s:\n%s", sock, log.String())
	}
	return host
}

// TestPodman attaches to a container of rootful Podman through its
// Docker-compatible API, on a service the test starts on a socket of its
// own. The images are made with "podman import" from tarballs of the
// keep-alive example's binaries; the clients run in the service
// container's network namespace (--network container:), so that all the
// traffic stays on its loopback.
func TestPodman(t *testing.T) {
	if testing.Short() && !require.Required(require.PodmanEnv) {
		t.Skip("-short: no Podman end-to-end test")
	}
	require.Podman(t)
	t.Logf("podman %s", strings.TrimSpace(podman(t, "version", "--format", "{{.Client.Version}}")))
	bin := buildSniffer(t, t.TempDir())
	host := startPodmanService(t)

	var rnd [4]byte
	rand.Read(rnd[:])
	id := "snifftest" + hex.EncodeToString(rnd[:])
	dir := t.TempDir()
	var images, containers []string
	t.Cleanup(func() {
		if len(containers) > 0 {
			podmanErr(append([]string{"rm", "-f", "-t", "0"}, containers...)...)
		}
		if len(images) > 0 {
			podmanErr(append([]string{"rmi", "-f"}, images...)...)
		}
	})
	for _, p := range []string{"app", "leaky", "fixed"} {
		exe := filepath.Join(dir, p)
		if err := goBuild(exe, "../../examples/keepalive/"+p, ""); err != nil {
			t.Fatal(err)
		}
		tarball := exe + ".tar"
		tarOf(t, exe, tarball)
		img := "localhost/sniffer-podman-" + p + ":" + id
		images = append(images, img)
		podman(t, "import", "-q", "--change", `ENTRYPOINT ["/prog"]`, tarball, img)
	}
	app := id + "-app"
	containers = append(containers, app)
	podman(t, append(append([]string{"run", "-d", "--name", app}, podmanUlimits...), "localhost/sniffer-podman-app:"+id)...)
	for _, c := range []string{"leaky", "fixed"} {
		containers = append(containers, id+"-"+c)
		podman(t, append(append([]string{"run", "-d", "--name", id + "-" + c, "--network", "container:" + app,
			"-e", "INTERVAL=200ms", "-e", "URL=http://127.0.0.1:8080/" + c}, podmanUlimits...), "localhost/sniffer-podman-"+c+":"+id)...)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "attach", app, "--duration", "3s", "-l", entryFormat)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sniffer attach through podman: %v\n%s", err, stderr.String())
	}
	checkClients(t, stdout.String())
	if !strings.Contains(stderr.String(), "attached to "+app) || !strings.Contains(stderr.String(), "packets captured") {
		t.Errorf("stderr lacks the attach notice or the summary:\n%s", stderr.String())
	}

	// Names through podman's API: a client on podman's network calls the
	// app by its address; attach, and a sidecar (sniffer live in the
	// app's namespace with DOCKER_HOST), name both ends by container.
	appIP := strings.TrimSpace(podman(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", app))
	cross := id + "-cross"
	containers = append(containers, cross)
	podman(t, append(append([]string{"run", "-d", "--name", cross,
		"-e", "INTERVAL=200ms", "-e", "URL=http://" + appIP + ":8080/cross"}, podmanUlimits...), "localhost/sniffer-podman-fixed:"+id)...)
	pid := strings.TrimSpace(podman(t, "inspect", "-f", "{{.State.Pid}}", app))
	checkNames := func(what string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, stderr.String())
		}
		n := 0
		for _, l := range strings.Split(stdout.String(), "\n") {
			if strings.HasSuffix(l, "|/cross") {
				n++
				if l != cross+"|"+app+"|/cross" {
					t.Errorf("%s: entry %q, want %s|%s|/cross", what, l, cross, app)
				}
			}
		}
		if n < 2 {
			t.Errorf("%s: %d entries of the client on podman's network:\n%s\n%s", what, n, stdout.String(), stderr.String())
		}
	}
	names := "%source.name|%dest.name|%request.url"
	checkNames("attach", bin, "attach", app, "--duration", "3s", "-l", names)
	checkNames("sidecar", "nsenter", "--net=/proc/"+pid+"/ns/net", bin, "--duration", "3s", "-l", names)

	// podman stop: attach follows the container through the events of
	// podman's API and exits 0 with its summary.
	var out2, err2 syncBuffer
	cmd = exec.Command(bin, "attach", app, "-l", entryFormat)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
	cmd.Stdout, cmd.Stderr = &out2, &err2
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if !waitFor(15*time.Second, func() bool { return strings.Count(out2.String(), "\n") >= 3 }) {
		t.Fatalf("no entries:\n%s", err2.String())
	}
	podman(t, "stop", "-t", "1", app)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach exited with %v after podman stop:\n%s", err, err2.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("attach still running 30s after podman stop:\n%s", err2.String())
	}
	if !strings.Contains(err2.String(), "packets captured") {
		t.Errorf("no summary after podman stop:\n%s", err2.String())
	}
}
