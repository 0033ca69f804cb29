package nsenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"
)

// DefaultCRIEndpoints are the endpoints ConnectCRI tries, in order, when
// none is given: containerd's, then CRI-O's (the ones crictl tries).
var DefaultCRIEndpoints = []string{
	"unix:///run/containerd/containerd.sock",
	"unix:///var/run/crio/crio.sock",
}

// Errors of the CRI client, for callers that tell them apart.
var (
	// ErrCRI: no CRI runtime answers at the endpoint.
	ErrCRI = errors.New("CRI runtime")
	// ErrHostNetwork: the pod runs in the node's network namespace.
	ErrHostNetwork = errors.New("pod in the host network namespace")
	// ErrNoPod: no ready pod sandbox has that namespace and name.
	ErrNoPod = errors.New("no such pod")
)

// CRI is a connection to a Kubernetes node's container runtime (containerd,
// CRI-O) through the Container Runtime Interface, the API the kubelet and
// crictl use. sniffer reads pod sandboxes from it and never changes them.
type CRI struct {
	conn     *criConn
	endpoint string
	runtime  string
}

// Pod is a ready pod sandbox: what attach needs to capture in it.
type Pod struct {
	ID        string // the sandbox's ID
	Namespace string // the pod's Kubernetes namespace
	Name      string // the pod's name
	Labels    map[string]string
	// HostNetwork is set for a pod that shares the node's network
	// namespace (hostNetwork: true): its traffic is the node's.
	HostNetwork bool
	// NetNS is a file naming the sandbox's network namespace: the
	// runtime's bind mount (/var/run/netns/cni-…), or /proc/PID/ns/net of
	// the sandbox's process; "" when the runtime told neither.
	NetNS string
	// Pid is the sandbox's process on the host; 0 if unknown.
	Pid int
	// IPs are the pod's addresses (the pod status's network).
	IPs []netip.Addr
}

// Display names the pod the way kubectl does: "namespace/name".
func (p Pod) Display() string { return p.Namespace + "/" + p.Name }

// Short is Display with the sandbox's 13-character ID prefix.
func (p Pod) Short() string {
	id := p.ID
	if len(id) > 13 {
		id = id[:13]
	}
	return p.Display() + " (sandbox " + id + ")"
}

// ConnectCRI connects to the CRI runtime at endpoint ("unix:///path", or a
// bare path), or, when endpoint is "", to the first of
// DefaultCRIEndpoints that answers. It asks the runtime its version, so
// that an endpoint that does not answer is reported here, by name, with
// what to mount.
func ConnectCRI(ctx context.Context, endpoint string) (*CRI, error) {
	if endpoint != "" {
		return dialCRI(ctx, endpoint)
	}
	for _, ep := range DefaultCRIEndpoints {
		c, err := dialCRI(ctx, ep)
		if err == nil {
			return c, nil
		}
	}
	first := strings.TrimPrefix(DefaultCRIEndpoints[0], "unix://")
	return nil, fmt.Errorf("%w: no runtime answers at %s: is it running? in a container, mount the socket (-v %s:%s, CRI-O's likewise; a hostPath volume in the DaemonSet) and run as root; or choose the endpoint with --cri-endpoint", ErrCRI, strings.Join(DefaultCRIEndpoints, " or "), first, first)
}

// criHint says what to do about an endpoint that does not answer.
func criHint(endpoint string) string {
	path := strings.TrimPrefix(endpoint, "unix://")
	return fmt.Sprintf("is the runtime running? in a container, mount the socket (-v %s:%s, or a hostPath volume in the DaemonSet) and run as root; choose another endpoint with --cri-endpoint", path, path)
}

func dialCRI(ctx context.Context, endpoint string) (*CRI, error) {
	target := endpoint
	if strings.HasPrefix(target, "/") {
		target = "unix://" + target
	}
	if !strings.HasPrefix(target, "unix://") {
		return nil, fmt.Errorf("%w: endpoint %s: only unix:// endpoints are supported", ErrCRI, endpoint)
	}
	path := strings.TrimPrefix(target, "unix://")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: cannot reach the CRI endpoint %s: %v (%s)", ErrCRI, target, err, criHint(target))
	}
	c := &CRI{conn: newCRIConn(path), endpoint: target}
	// Not a deadline on the capture: a runtime that does not answer its
	// version in this long is not there.
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := c.conn.call(vctx, "Version", nil)
	var v versionAnswer
	if err == nil {
		v, err = decodeVersion(b)
	}
	if err != nil {
		c.conn.close()
		return nil, fmt.Errorf("%w: the CRI endpoint %s does not answer: %v (%s)", ErrCRI, target, err, criHint(target))
	}
	c.runtime = v.runtimeName + " " + v.runtimeVersion
	return c, nil
}

// Endpoint returns the endpoint connected to: "unix:///run/containerd/containerd.sock".
func (c *CRI) Endpoint() string { return c.endpoint }

// Runtime returns the runtime's name and version: "containerd 1.6.20".
func (c *CRI) Runtime() string { return c.runtime }

// Close closes the connection.
func (c *CRI) Close() error {
	c.conn.close()
	return nil
}

// Pods returns the ready pod sandboxes that match: by namespace and name
// when name is not "" (namespace "" is "default"), and carrying every
// label of selector; sorted by namespace/name. Each is looked up further
// (PodSandboxStatus) for its network namespace.
func (c *CRI) Pods(ctx context.Context, namespace, name string, selector map[string]string) ([]Pod, error) {
	b, err := c.conn.call(ctx, "ListPodSandbox", encodeListPodSandbox(selector))
	var items []sandbox
	if err == nil {
		items, err = decodeListPodSandbox(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: list pod sandboxes at %s: %v", ErrCRI, c.endpoint, err)
	}
	if name != "" && namespace == "" {
		namespace = "default"
	}
	var pods []Pod
	for _, s := range items {
		if !s.ready {
			continue
		}
		if !labelsMatch(s.labels, selector) {
			continue // the runtime filters; this is belt and braces
		}
		if name != "" && (s.namespace != namespace || s.name != name) {
			continue
		}
		p, err := c.status(ctx, s.id)
		if err != nil {
			return nil, err
		}
		if p.ID == "" {
			continue // gone in between
		}
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Display() != pods[j].Display() {
			return pods[i].Display() < pods[j].Display()
		}
		return pods[i].ID < pods[j].ID
	})
	return pods, nil
}

// labelsMatch reports whether labels has every key=value of selector.
func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// status looks the sandbox id up: its state, network mode and network
// namespace. A sandbox that is gone or no longer ready yields a zero Pod.
func (c *CRI) status(ctx context.Context, id string) (Pod, error) {
	b, err := c.conn.call(ctx, "PodSandboxStatus", encodePodSandboxStatus(id))
	var st sandbox
	var info map[string]string
	if err == nil {
		st, info, err = decodePodSandboxStatus(b)
	}
	if err != nil {
		if isNotFound(err) {
			return Pod{}, nil
		}
		return Pod{}, fmt.Errorf("%w: status of pod sandbox %s at %s: %v", ErrCRI, id, c.endpoint, err)
	}
	if st.id == "" || !st.ready {
		return Pod{}, nil
	}
	p := Pod{ID: st.id, Namespace: st.namespace, Name: st.name, Labels: st.labels, HostNetwork: st.hostNetwork, IPs: st.ips}
	p.NetNS, p.Pid = netnsFromInfo(info)
	return p, nil
}

// sandboxInfo is the part of a verbose PodSandboxStatus's "info" JSON
// (containerd's and CRI-O's) that names the network namespace.
type sandboxInfo struct {
	Pid         int `json:"pid"`
	RuntimeSpec struct {
		Linux struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	} `json:"runtimeSpec"`
}

// netnsFromInfo finds the sandbox's network namespace in the verbose
// status info: the runtime spec's network namespace path when that file is
// visible here, else /proc/PID/ns/net of the sandbox's process (seen with
// the host's PID namespace, hostPID in a DaemonSet).
func netnsFromInfo(info map[string]string) (string, int) {
	raw, ok := info["info"]
	if !ok {
		return "", 0
	}
	var si sandboxInfo
	if err := json.Unmarshal([]byte(raw), &si); err != nil {
		return "", 0
	}
	for _, ns := range si.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			if _, err := os.Stat(ns.Path); err == nil {
				return ns.Path, si.Pid
			}
		}
	}
	if si.Pid > 0 {
		return fmt.Sprintf("/proc/%d/ns/net", si.Pid), si.Pid
	}
	return "", 0
}

// ParseSelector parses "KEY=VALUE" into sel, refusing an empty key.
func ParseSelector(sel map[string]string, s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("--selector %q: want KEY=VALUE", s)
	}
	sel[k] = v
	return nil
}

// ParsePodRef parses "NAMESPACE/POD" (or "POD", in namespace "default").
func ParsePodRef(s string) (namespace, name string, err error) {
	ns, n, ok := strings.Cut(s, "/")
	if !ok {
		ns, n = "default", s
	}
	if ns == "" || n == "" || strings.Contains(n, "/") {
		return "", "", fmt.Errorf("--cri %q: want NAMESPACE/POD", s)
	}
	return ns, n, nil
}
