package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/sniffer/sniffer/internal/require"
)

// The CRI end-to-end test runs sniffer attach --cri and --selector against
// a containerd of its own, with its CRI plugin: configuration, root, state
// and socket in a temporary directory, CNI from Debian's
// containernetworking-plugins, images made from binaries the test builds
// and imported with ctr (no registry can be reached). Without containerd it
// skips, unless SNIFFER_REQUIRE_CRI=1 (CI), where it fails.

// cniBinDir is where Debian's containernetworking-plugins installs the
// CNI plugins.
const cniBinDir = "/usr/lib/cni"

// criEnv is a containerd the test started and a CRI client of it.
type criEnv struct {
	dir      string // temporary: config, root, state, socket, logs
	sock     string
	endpoint string // unix://sock
	rt       runtimeapi.RuntimeServiceClient
	tag      string
}

// startContainerd writes a configuration into a new temporary directory,
// starts containerd with it and connects to its CRI service. Everything is
// undone in t.Cleanup: containerd is killed by PID, the CNI bridge deleted,
// the directory removed.
func startContainerd(t *testing.T, tag, bridge, sandboxImage string) *criEnv {
	t.Helper()
	// A short path: a unix socket's path is at most 107 bytes.
	dir, err := os.MkdirTemp("", "sniffer-cri-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	e := &criEnv{dir: dir, sock: filepath.Join(dir, "containerd.sock"), tag: tag}
	e.endpoint = "unix://" + e.sock
	for _, d := range []string{"cni", "logs", "ipam"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A bridge on a private subnet, its addresses kept in the directory;
	// no masquerading, no route out: the pods talk on their loopback.
	conflist := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "%s",
  "plugins": [
    {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "10.251.%d.0/24"}]]}},
    {"type": "loopback"}
  ]
}`, bridge, bridge, filepath.Join(dir, "ipam"), int(tag[0])%200+10)
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-sniffer.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
[grpc]
  address = "%[1]s/containerd.sock"
[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%[2]s"
  stream_server_address = "127.0.0.1"
  # The sandbox's oom_score_adj (-998) cannot be set on every machine:
  # keep containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[3]s"
    conf_dir = "%[1]s/cni"
`, dir, sandboxImage, cniBinDir)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("containerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", bridge).Run()
	})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 80000 {
				b = b[len(b)-80000:]
			}
			t.Logf("containerd's log (end):\n%s", b)
		}
	})
	conn, err := grpc.NewClient(e.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.rt = runtimeapi.NewRuntimeServiceClient(conn)
	ok := waitFor(60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := e.rt.Version(ctx, &runtimeapi.VersionRequest{})
		return err == nil
	})
	if !ok {
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("containerd's CRI does not answer at %s after 60s:\n%s", e.endpoint, b)
	}
	return e
}

// ctr runs ctr against e's containerd, in the CRI's namespace.
func (e *criEnv) ctr(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", e.sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// imageArchive writes, at out, an image in the format "docker save"
// writes: one layer holding bin as /prog, the entrypoint /prog, named ref.
func imageArchive(t *testing.T, bin, ref, out string) {
	t.Helper()
	layerPath := out + ".layer"
	tarOf(t, bin, layerPath)
	layer, err := os.ReadFile(layerPath)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(layerPath)
	diffID := sha256.Sum256(layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{"/prog"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{ref},
		"Layers":   []string{"layer.tar"},
	}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"layer.tar", layer}, {configName, config}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// importImage builds pkg statically, makes an image of it named ref and
// imports it into e's containerd.
func (e *criEnv) importImage(t *testing.T, pkg, ref string) {
	t.Helper()
	bin := filepath.Join(e.dir, filepath.Base(pkg))
	if err := goBuild(bin, pkg, ""); err != nil {
		t.Fatal(err)
	}
	archive := bin + ".image.tar"
	imageArchive(t, bin, ref, archive)
	e.ctr(t, "images", "import", archive)
	os.Remove(archive)
	os.Remove(bin)
}

// runPod creates a ready pod sandbox namespace/name with labels, and in it
// one container per image (their environment env[i]), started. The pod is
// stopped and removed in t.Cleanup.
func (e *criEnv) runPod(t *testing.T, namespace, name string, labels map[string]string, hostNetwork bool, images []string, env [][]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logDir := filepath.Join(e.dir, "logs", namespace+"_"+name)
	os.MkdirAll(logDir, 0o755)
	mode := runtimeapi.NamespaceMode_POD
	if hostNetwork {
		mode = runtimeapi.NamespaceMode_NODE
	}
	sc := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: name + "-" + e.tag, Attempt: 0},
		Labels:       labels,
		LogDirectory: logDir,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: mode},
			},
		},
	}
	res, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sc})
	if err != nil {
		t.Fatalf("RunPodSandbox %s/%s: %v", namespace, name, err)
	}
	id := res.PodSandboxId
	t.Cleanup(func() { e.removePod(t, id) })
	for i, img := range images {
		var envs []*runtimeapi.KeyValue
		if i < len(env) {
			for _, kv := range env[i] {
				k, v, _ := strings.Cut(kv, "=")
				envs = append(envs, &runtimeapi.KeyValue{Key: k, Value: []byte(v)})
			}
		}
		cname := fmt.Sprintf("c%d", i)
		cc, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId: id,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: cname},
				Image:    &runtimeapi.ImageSpec{Image: img},
				Envs:     envs,
				LogPath:  cname + ".log",
			},
			SandboxConfig: sc,
		})
		if err != nil {
			t.Fatalf("CreateContainer %s in %s/%s: %v", img, namespace, name, err)
		}
		if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cc.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s in %s/%s: %v", img, namespace, name, err)
		}
	}
	return id
}

// removePod stops and removes the pod sandbox id, its containers with it.
func (e *criEnv) removePod(t *testing.T, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Removed already (the test removed it): NotFound.
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil && status.Code(err) != codes.NotFound {
		t.Errorf("StopPodSandbox %s: %v", id, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil && status.Code(err) != codes.NotFound {
		t.Errorf("RemovePodSandbox %s: %v", id, err)
	}
}

// TestCRI starts a containerd of its own, runs pods through the CRI (the
// keep-alive example's service and its two clients in one pod, talking on
// the pod's loopback) and attaches to them by name, by selector and as the
// DaemonSet of examples/kubernetes does.
func TestCRI(t *testing.T) {
	if testing.Short() && !require.Required(require.CRIEnv) {
		t.Skip("-short: no CRI end-to-end test")
	}
	require.CRI(t, cniBinDir)
	bin := buildSniffer(t, t.TempDir())
	var rnd [3]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	pause := "localhost/sniffer-pause:" + tag
	e := startContainerd(t, tag, "snifcri"+tag, pause)
	v, err := e.rt.Version(context.Background(), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s (CRI %s)", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)

	e.importImage(t, "../../internal/testprog/pause", pause)
	images := map[string]string{}
	for _, p := range []string{"app", "leaky", "fixed"} {
		images[p] = "localhost/sniffer-keepalive-" + p + ":" + tag
		e.importImage(t, "../../examples/keepalive/"+p, images[p])
	}
	ns, pod := "shop", "web-"+tag
	e.runPod(t, ns, pod, map[string]string{"app": "web", "tier": "front"}, false,
		[]string{images["app"], images["leaky"], images["fixed"]},
		[][]string{nil, {"INTERVAL=200ms", "URL=http://127.0.0.1:8080/leaky"}, {"INTERVAL=200ms", "URL=http://127.0.0.1:8080/fixed"}})

	attach := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"attach"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	t.Run("by-name", func(t *testing.T) {
		out, errOut, err := attach(t, "--cri", ns+"/"+pod, "--cri-endpoint", e.endpoint, "--duration", "3s", "-l", entryFormat)
		if err != nil {
			t.Fatalf("attach --cri: %v\n%s", err, errOut)
		}
		checkClients(t, out)
		// On the host the runtime's bind mount of the namespace is
		// visible: attach enters it by that path.
		if !strings.Contains(errOut, "attached to "+ns+"/"+pod+" (sandbox ") || !strings.Contains(errOut, "network namespace /var/run/netns/") {
			t.Errorf("stderr lacks the attach notice naming the runtime's namespace file:\n%s", errOut)
		}
	})
	t.Run("by-selector", func(t *testing.T) {
		out, errOut, err := attach(t, "--selector", "app=web", "--selector", "tier=front", "--cri-endpoint", e.endpoint, "--duration", "3s", "-l", entryFormat)
		if err != nil {
			t.Fatalf("attach --selector: %v\n%s", err, errOut)
		}
		checkClients(t, out)
		if !strings.Contains(errOut, "attached to "+ns+"/"+pod) {
			t.Errorf("stderr lacks the attach notice:\n%s", errOut)
		}
	})
	t.Run("stack", func(t *testing.T) { testCRIStack(t, bin, e, images) })
	t.Run("by-selector-pods-come-and-go", func(t *testing.T) {
		// A second pod that matches starts while attached: it is
		// attached to, its entries join the first's; removed, it is
		// let go while the first goes on.
		var stdout, stderr syncBuffer
		cmd := exec.Command(bin, "attach", "--selector", "app=web", "--cri-endpoint", e.endpoint, "-l", entryFormat)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		if !waitFor(15*time.Second, func() bool { return strings.Contains(stdout.String(), "GET /leaky") }) {
			t.Fatalf("no entries of the first pod:\n%s", stderr.String())
		}
		pod2 := "web2-" + tag
		id2 := e.runPod(t, ns, pod2, map[string]string{"app": "web"}, false,
			[]string{images["app"], images["fixed"]},
			[][]string{nil, {"INTERVAL=200ms", "URL=http://127.0.0.1:8080/second"}})
		second := func() int { return strings.Count(stdout.String(), "fixed GET /second HTTP/1.1 200") }
		if !waitFor(20*time.Second, func() bool { return second() >= 3 }) {
			t.Fatalf("no entries of the second pod:\n%s\n%s", stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), "attached to "+ns+"/"+pod2+" (sandbox ") {
			t.Errorf("no attach notice for the second pod:\n%s", stderr.String())
		}
		e.removePod(t, id2)
		if !waitFor(20*time.Second, func() bool { return strings.Contains(stderr.String(), ns+"/"+pod2+" (sandbox "+id2[:13]+") stopped") }) {
			t.Fatalf("no stop notice for the second pod:\n%s", stderr.String())
		}
		n := strings.Count(stdout.String(), "GET /leaky")
		if !waitFor(10*time.Second, func() bool { return strings.Count(stdout.String(), "GET /leaky") >= n+2 }) {
			t.Errorf("the first pod's entries stopped with the second pod:\n%s", stderr.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("attach exited with %v on SIGTERM:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("attach still running 20s after SIGTERM:\n%s", stderr.String())
		}
		// The second pod's client kept its connection alive: start,
		// then continue; its last one, cut by the removal, is last or
		// start.
		var kept int
		for _, l := range strings.Split(stdout.String(), "\n") {
			if strings.Contains(l, "GET /second") && (strings.HasPrefix(l, "start ") || strings.HasPrefix(l, "continue ")) {
				kept++
			}
		}
		if kept < 2 {
			t.Errorf("the second pod's kept-alive connection: %d start/continue entries:\n%s", kept, stdout.String())
		}
		checkClients(t, stdout.String())
	})
	t.Run("selector-matches-nothing", func(t *testing.T) {
		out, errOut, err := attach(t, "--selector", "app=web", "--selector", "tier=back", "--cri-endpoint", e.endpoint, "--duration", "2s", "--expect-reuse")
		if exitCode(err) != exitInconclusive || out != "" {
			t.Errorf("want exit %d and no entries, got %v:\n%s\n%s", exitInconclusive, err, out, errOut)
		}
		if strings.Count(errOut, "no ready pod matches --selector app=web,tier=back at "+e.endpoint+": waiting for one") != 1 {
			t.Errorf("stderr does not say once that nothing matches:\n%s", errOut)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, errOut, err := attach(t, "--cri", ns+"/absent", "--cri-endpoint", e.endpoint)
		if exitCode(err) != exitFailed || !strings.Contains(errOut, "no such pod: "+ns+"/absent at "+e.endpoint) {
			t.Errorf("absent pod: want exit %d naming it, got %v:\n%s", exitFailed, err, errOut)
		}
		dead := "unix://" + filepath.Join(e.dir, "nothing.sock")
		_, errOut, err = attach(t, "--cri", ns+"/"+pod, "--cri-endpoint", dead)
		if exitCode(err) != exitFailed || !strings.Contains(errOut, "cannot reach the CRI endpoint "+dead) || !strings.Contains(errOut, "mount the socket") {
			t.Errorf("dead endpoint: want exit %d naming it and what to mount, got %v:\n%s", exitFailed, err, errOut)
		}
		_, errOut, err = attach(t, "--cri", "a/b/c")
		if exitCode(err) != 2 {
			t.Errorf("--cri a/b/c: want exit 2, got %v:\n%s", err, errOut)
		}
	})
	t.Run("host-network-refused", func(t *testing.T) {
		hpod := "hostnet-" + tag
		e.runPod(t, ns, hpod, map[string]string{"app": "hostnet"}, true, nil, nil)
		_, errOut, err := attach(t, "--cri", ns+"/"+hpod, "--cri-endpoint", e.endpoint)
		if exitCode(err) != exitFailed || !strings.Contains(errOut, "pod in the host network namespace: its traffic is the node's") {
			t.Errorf("want exit %d and the reason, got %v:\n%s", exitFailed, err, errOut)
		}
	})
	t.Run("daemonset", func(t *testing.T) { testDaemonSet(t, bin, e) })
	t.Run("pod-removed", func(t *testing.T) {
		// A pod of its own, removed while attached by name: attach
		// prints what it holds and exits 0.
		rpod := "gone-" + tag
		id := e.runPod(t, ns, rpod, map[string]string{"app": "gone"}, false,
			[]string{images["app"], images["fixed"]},
			[][]string{nil, {"INTERVAL=200ms", "URL=http://127.0.0.1:8080/fixed"}})
		var stdout, stderr syncBuffer
		cmd := exec.Command(bin, "attach", "--cri", ns+"/"+rpod, "--cri-endpoint", e.endpoint, "-l", entryFormat)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		if !waitFor(15*time.Second, func() bool { return strings.Count(stdout.String(), "\n") >= 2 }) {
			t.Fatalf("no entries:\n%s", stderr.String())
		}
		e.removePod(t, id)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("attach exited with %v after the pod was removed:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("attach still running 30s after the pod was removed:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), rpod+" (sandbox ") || !strings.Contains(stderr.String(), "stopped") || !strings.Contains(stderr.String(), "packets captured") {
			t.Errorf("no stop notice or summary:\n%s", stderr.String())
		}
	})
}

// criStackEntry is the format of the CRI stack test's entries.
const criStackEntry = "%container|%source.name|%dest.name|%request.url|%response.code|%response.timestamp2|%source.port"

// testCRIStack attaches by selector to two pods, each with clients of its
// own server on its loopback, one client of the other pod's server: the
// entries of both merged in time order, each naming its pod (%container,
// HAR _container) and the pods it went between (%source.name,
// %dest.name); the connection between the two pods printed once, from the
// client's; --metrics counting over both.
func testCRIStack(t *testing.T, bin string, e *criEnv, images map[string]string) {
	// The pods talk across the test's bridge: Docker's FORWARD policy
	// drops bridged packets (br_netfilter) unless accepted.
	bridge := "snifcri" + e.tag
	rule := []string{"FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables -I %q: %v\n%s", rule, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("iptables", append([]string{"-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("iptables -D %q: %v\n%s", rule, err, out)
		}
	})
	ns, app := "shop", "stack-"+e.tag
	labels := map[string]string{"app": app}
	back, front := "back-"+e.tag, "front-"+e.tag
	backID := e.runPod(t, ns, back, labels, false,
		[]string{images["app"], images["leaky"]},
		[][]string{nil, {"INTERVAL=150ms", "URL=http://127.0.0.1:8080/back"}})
	st, err := e.rt.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: backID})
	if err != nil || st.Status.GetNetwork().GetIp() == "" {
		t.Fatalf("the back pod's address: %v %v", st, err)
	}
	backIP := st.Status.Network.Ip
	e.runPod(t, ns, front, labels, false,
		[]string{images["app"], images["leaky"], images["leaky"]},
		[][]string{nil, {"INTERVAL=150ms", "URL=http://127.0.0.1:8080/front"}, {"INTERVAL=150ms", "URL=http://" + backIP + ":8080/cross"}})

	dir := t.TempDir()
	har := filepath.Join(dir, "stack.har")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "attach", "--selector", "app="+app, "--cri-endpoint", e.endpoint, "--har", har, "--metrics", metricsAddr, "-l", criStackEntry)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if !waitFor(30*time.Second, func() bool {
		return strings.Count(stdout.String(), "/cross|") >= 5 && strings.Count(stdout.String(), "/back|") >= 5
	}) {
		t.Fatalf("too few entries:\n%s\n%s", stdout.String(), stderr.String())
	}
	// --metrics counts over both pods: the cross requests by the back
	// pod's address.
	series := regexp.MustCompile(`(?m)^sniffer_requests_total\{server="` + regexp.QuoteMeta(backIP) + `:8080"\} (\d+)$`)
	var body string
	if !waitFor(10*time.Second, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		m := series.FindStringSubmatch(body)
		return m != nil && m[1] != "0"
	}) {
		t.Errorf("/metrics lacks requests to %s:8080:\n%s", backIP, body)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err = <-done:
		if err != nil {
			t.Errorf("attach exited with %v on SIGINT:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("attach still running 30s after SIGINT:\n%s", stderr.String())
	}
	out, errOut := stdout.String(), stderr.String()
	if !strings.Contains(errOut, "sniffer: attach: watching --selector app="+app+" at "+e.endpoint+": 2 pods attached") {
		t.Errorf("no watching line for the two pods:\n%s", errOut)
	}
	backName, frontName := ns+"/"+back, ns+"/"+front
	want := map[string][3]string{ // url: container, source, dest
		"/back":  {backName, "", ""},
		"/front": {frontName, "", ""},
		"/cross": {frontName, frontName, backName},
	}
	var last float64
	count := map[string]int{}
	pods := map[string]bool{}
	ports := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 7 {
			t.Errorf("entry %q: want 7 fields", l)
			continue
		}
		// Each connection once (a new one per request).
		if port := f[3] + " " + f[6]; ports[port] {
			t.Errorf("entry %q: its connection printed twice", l)
		} else {
			ports[port] = true
		}
		w, ok := want[f[3]]
		if !ok || f[0] != w[0] || f[1] != w[1] && !(w[1] == "" && f[1] == "-") || f[2] != w[2] && !(w[2] == "" && f[2] == "-") || f[4] != "200" {
			t.Errorf("entry %q: want container %q, source %q, dest %q, code 200", l, w[0], w[1], w[2])
		}
		count[f[3]]++
		pods[f[0]] = true
		// Merged in time order: every entry is its connection's only
		// one (the clients close after each response), handed out at
		// once.
		ts, err := strconv.ParseFloat(f[5], 64)
		if err != nil {
			t.Errorf("entry %q: response timestamp %q: %v", l, f[5], err)
			continue
		}
		if ts < last {
			t.Errorf("entry %q out of time order: after %.6f", l, last)
		}
		last = ts
	}
	if len(pods) != 2 {
		t.Errorf("entries of %d pods, want 2", len(pods))
	}
	// Those whose connection both captures saw whole (not the first,
	// begun before the second capture opened, nor the one cut at the end).
	skipped := regexp.MustCompile(`sniffer: (\d+) entr(y|ies) seen in two watched namespaces printed once`).FindStringSubmatch(errOut)
	n := -1
	if skipped != nil {
		n, _ = strconv.Atoi(skipped[1])
	}
	if n < count["/cross"]-2 || n > count["/cross"] || n < 1 {
		t.Errorf("want the %d cross entries seen in both pods and printed once:\n%s", count["/cross"], errOut)
	}
	b, err := os.ReadFile(har)
	if err != nil {
		t.Fatal(err)
	}
	if n, w := strings.Count(string(b), `"_container":"`+frontName+`"`), count["/front"]+count["/cross"]; n != w {
		t.Errorf("HAR: %d entries with _container %s, want %d", n, frontName, w)
	}
	if n := strings.Count(string(b), `"_container":"`+backName+`"`); n != count["/back"] {
		t.Errorf("HAR: %d entries with _container %s, want %d", n, backName, count["/back"])
	}
	t.Logf("entries: %v", count)
}
