package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// daemonSetManifest is the example DaemonSet that attaches on every node.
const daemonSetManifest = "../../examples/kubernetes/daemonset.yaml"

// loadDaemonSet decodes the example's manifest, strictly: a misspelt field
// fails.
func loadDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	b, err := os.ReadFile(daemonSetManifest)
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(b, &ds); err != nil {
		t.Fatalf("%s: %v", daemonSetManifest, err)
	}
	return &ds
}

// TestDaemonSetManifest checks what the example DaemonSet gives sniffer:
// the host's PID namespace, exactly the capabilities it needs, the CRI
// socket mounted where --cri-endpoint says, and JSON Lines to standard
// output.
func TestDaemonSetManifest(t *testing.T) {
	ds := loadDaemonSet(t)
	if ds.Kind != "DaemonSet" || ds.APIVersion != "apps/v1" {
		t.Fatalf("kind %s/%s", ds.APIVersion, ds.Kind)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostPID || spec.HostNetwork {
		t.Errorf("hostPID %v, hostNetwork %v: want the host's PIDs and the pod's own network", spec.HostPID, spec.HostNetwork)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: the capabilities below are all it needs")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("drop %v, want [ALL]", sc.Capabilities.Drop)
	}
	add := slices.Clone(sc.Capabilities.Add)
	slices.Sort(add)
	if !slices.Equal(add, daemonSetCaps) {
		t.Errorf("add %v, want %v", add, daemonSetCaps)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root file system is not read only")
	}
	if !slices.Equal(c.Command, []string{"/sniffer"}) || len(c.Args) == 0 || c.Args[0] != "attach" {
		t.Errorf("command %q args %q, want /sniffer attach ...", c.Command, c.Args)
	}
	ep := argAfter(c.Args, "--cri-endpoint")
	if !strings.HasPrefix(ep, "unix://") || argAfter(c.Args, "--selector") == "" || !slices.Contains(c.Args, "--json") {
		t.Fatalf("args %q: want --cri-endpoint unix://..., --selector and --json", c.Args)
	}
	sock := strings.TrimPrefix(ep, "unix://")
	var vol string
	for _, m := range c.VolumeMounts {
		if m.MountPath == sock {
			vol = m.Name
		}
	}
	var hostPath *corev1.HostPathVolumeSource
	for _, v := range spec.Volumes {
		if v.Name == vol {
			hostPath = v.HostPath
		}
	}
	if vol == "" || hostPath == nil || hostPath.Path != sock || hostPath.Type == nil || *hostPath.Type != corev1.HostPathSocket {
		t.Errorf("the CRI socket %s is not mounted from the host's %s (volume %q, %+v)", sock, sock, vol, hostPath)
	}
}

// daemonSetCaps are the capabilities the DaemonSet adds, sorted: what
// testDaemonSet runs the command with.
var daemonSetCaps = []corev1.Capability{"NET_RAW", "SYS_ADMIN", "SYS_PTRACE"}

// asDaemonSet returns the command that runs bin (the container's /sniffer)
// with args as the DaemonSet's container would: with only the capabilities
// caps (setpriv), in a mount namespace where the runtime's /run/netns is
// empty.
func asDaemonSet(bin string, caps []corev1.Capability, args []string) *exec.Cmd {
	var list []string
	for _, c := range caps {
		list = append(list, "+"+strings.ToLower(string(c)))
	}
	script := `mount -t tmpfs tmpfs /run/netns && exec setpriv --inh-caps=-all --bounding-set=-all,` + strings.Join(list, ",") + ` -- "$@"`
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", bin}, args...)...)
}

// argAfter returns the argument after flag in args, or "".
func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// testDaemonSet runs the DaemonSet's command and arguments, the endpoint
// mapped to e's socket, as the container would: with only its
// capabilities (setpriv), and in a mount namespace where the runtime's
// /run/netns is empty (a container does not see it), so that the pods'
// namespaces are reached through /proc/PID/ns/net as with hostPID. Its
// selector names the test's pod: it must print JSON Lines of the pod's
// traffic, and exit 0 on SIGTERM (what the kubelet sends). Without any one
// of the capabilities it must fail, saying which is lacking: the set is
// the least that works.
func testDaemonSet(t *testing.T, bin string, e *criEnv) {
	ds := loadDaemonSet(t)
	c := ds.Spec.Template.Spec.Containers[0]
	if sel := argAfter(c.Args, "--selector"); sel != "app=web" {
		t.Fatalf("the DaemonSet's selector is %q; the test's pod is app=web", sel)
	}
	args := slices.Clone(c.Args)
	args[slices.Index(args, "--cri-endpoint")+1] = e.endpoint
	// Each capability is needed: without it the command fails, saying
	// what it lacks.
	for i, missing := range daemonSetCaps {
		fewer := slices.Delete(slices.Clone(daemonSetCaps), i, i+1)
		cmd := asDaemonSet(bin, fewer, args)
		// A command that wrongly captures would run on: end it.
		timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		out, err := cmd.CombinedOutput()
		timer.Stop()
		want := map[corev1.Capability]string{
			"NET_RAW":    "capture needs CAP_NET_RAW",
			"SYS_ADMIN":  "setns /proc/",
			"SYS_PTRACE": "open /proc/",
		}[missing]
		if exitCode(err) != exitFailed || !strings.Contains(string(out), want) {
			t.Errorf("without %s: want exit %d and %q, got %v:\n%s", missing, exitFailed, want, err, out)
		}
	}
	cmd := asDaemonSet(bin, daemonSetCaps, args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan map[string]any, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"_bad": sc.Text()}
			}
			lines <- m
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var got []map[string]any
	timeout := time.After(20 * time.Second)
collect:
	for len(got) < 4 {
		select {
		case m, ok := <-lines:
			if !ok {
				break collect
			}
			got = append(got, m)
		case <-timeout:
			break collect
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for m := range lines {
		got = append(got, m)
	}
	if err := <-done; err != nil {
		t.Errorf("the DaemonSet's command exited with %v on SIGTERM:\n%s", err, stderr.String())
	}
	if len(got) < 4 {
		t.Fatalf("%d JSON lines, want ≥4:\n%s", len(got), stderr.String())
	}
	paths := map[string]int{}
	for _, m := range got {
		if _, bad := m["_bad"]; bad {
			t.Errorf("not JSON: %q", m["_bad"])
			continue
		}
		req, _ := m["request"].(map[string]any)
		if req == nil {
			t.Errorf("no request in %v", m)
			continue
		}
		u, _ := req["url"].(string)
		paths[u]++
		if c, _ := m["container"].(string); c != "shop/web-"+e.tag {
			t.Errorf("JSON container %q, want the pod shop/web-%s", c, e.tag)
		}
	}
	if paths["/leaky"] == 0 || paths["/fixed"] == 0 {
		t.Errorf("want both clients' requests, got paths %v in %v", paths, got)
	}
	if !regexp.MustCompile(`attached to shop/web-` + e.tag + ` \(sandbox \w+\), network namespace /proc/\d+/ns/net,`).MatchString(stderr.String()) {
		t.Errorf("stderr lacks the attach notice:\n%s", stderr.String())
	}
}
