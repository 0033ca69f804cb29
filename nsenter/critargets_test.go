package nsenter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime answers the CRI's three calls from a set of sandboxes the
// test changes.
type fakeRuntime struct {
	mu       sync.Mutex
	pods     map[string]*runtimeapi.PodSandboxStatus
	statuses int // PodSandboxStatus calls
}

func (f *fakeRuntime) set(id, ns, name, ip string, labels map[string]string, host bool) {
	mode := runtimeapi.NamespaceMode_POD
	if host {
		mode = runtimeapi.NamespaceMode_NODE
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[id] = &runtimeapi.PodSandboxStatus{Id: id, Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns},
		State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: labels,
		Network: &runtimeapi.PodSandboxNetworkStatus{Ip: ip},
		Linux:   &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{Network: mode}}}}
}

func (f *fakeRuntime) del(id string) {
	f.mu.Lock()
	delete(f.pods, id)
	f.mu.Unlock()
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if len(body) < 5 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var res proto.Message
	f.mu.Lock()
	switch strings.TrimPrefix(r.URL.Path, criService) {
	case "Version":
		res = &runtimeapi.VersionResponse{RuntimeName: "fake", RuntimeVersion: "1"}
	case "ListPodSandbox":
		l := &runtimeapi.ListPodSandboxResponse{}
		for _, p := range f.pods {
			l.Items = append(l.Items, &runtimeapi.PodSandbox{Id: p.Id, Metadata: p.Metadata, State: p.State, Labels: p.Labels})
		}
		res = l
	case "PodSandboxStatus":
		f.statuses++
		var req runtimeapi.PodSandboxStatusRequest
		proto.Unmarshal(body[5:], &req)
		if p := f.pods[req.PodSandboxId]; p != nil {
			res = &runtimeapi.PodSandboxStatusResponse{Status: p, Info: map[string]string{"info": fmt.Sprintf(`{"pid":%d}`, os.Getpid())}}
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/grpc")
	if res == nil {
		w.Header().Set("Grpc-Status", "5")
		return
	}
	w.Header().Set("Trailer", "Grpc-Status")
	msg, _ := proto.Marshal(res)
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	w.Write(append(frame, msg...))
	w.Header().Set("Grpc-Status", "0")
}

// TestPodTargets: the CRI as a source of targets: pods named
// namespace/pod with their namespace's path, addresses and labels; the
// changes of a re-list as events; the node's pods as peers; the errors
// and notices of named and host-network pods.
func TestPodTargets(t *testing.T) {
	f := &fakeRuntime{pods: map[string]*runtimeapi.PodSandboxStatus{}}
	f.set("a1", "shop", "web", "10.0.0.1", map[string]string{"app": "web"}, false)
	f.set("b2", "shop", "db", "10.0.0.2", map[string]string{"app": "db"}, false)
	f.set("c3", "kube", "host", "192.0.2.1", map[string]string{"app": "web"}, true)
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: f}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := ConnectCRI(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	src := c.Targets()
	src.Poll = 10 * time.Millisecond
	var mu sync.Mutex
	var notices []string
	src.Notice = func(m string) { mu.Lock(); notices = append(notices, m); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	initial, events, err := src.WatchTargets(ctx, Selector{Labels: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	netns := fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	if len(initial) != 1 || initial[0].Name != "shop/web" || initial[0].ID != "a1" || initial[0].Netns != netns || initial[0].Pid != 0 ||
		!slices.Equal(initial[0].IPs, []netip.Addr{netip.MustParseAddr("10.0.0.1")}) || initial[0].Labels["app"] != "web" || initial[0].Short() != "shop/web (sandbox a1)" {
		t.Fatalf("initial %+v", initial)
	}
	peers, err := src.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.PeerName()+"="+p.IPs[0].String())
	}
	if !slices.Equal(names, []string{"shop/db=10.0.0.2", "shop/web=10.0.0.1"}) {
		t.Errorf("peers %q (the host-network pod left out)", names)
	}

	f.set("d4", "shop", "web2", "10.0.0.4", map[string]string{"app": "web"}, false)
	f.del("a1")
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-events:
			if ev.Err != nil {
				t.Fatal(ev.Err)
			}
			got = append(got, fmt.Sprintf("%d %s", ev.Kind, ev.Target.Name))
		case <-deadline:
			t.Fatalf("events %q, want 3", got)
		}
	}
	want := []string{fmt.Sprintf("%d ", Renamed), fmt.Sprintf("%d shop/web2", Started), fmt.Sprintf("%d shop/web", Stopped)}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// More polls: nothing changes, nothing is said again, each status
	// asked once.
	time.Sleep(50 * time.Millisecond)
	select {
	case ev := <-events:
		t.Errorf("event %+v without a change", ev)
	default:
	}
	mu.Lock()
	if len(notices) != 1 || !strings.Contains(notices[0], "kube/host (sandbox c3) left out: pod in the host network namespace") {
		t.Errorf("notices %q", notices)
	}
	mu.Unlock()
	f.mu.Lock()
	if f.statuses > 6 {
		t.Errorf("%d status calls for 4 sandboxes", f.statuses)
	}
	f.mu.Unlock()
	if tg, err := src.InspectTarget(ctx, "a1"); err != nil || tg.ID != "" {
		t.Errorf("InspectTarget of a removed sandbox: %+v, %v", tg, err)
	}

	if _, _, err := src.WatchTargets(ctx, Selector{Refs: []string{"shop/absent"}}); !errors.Is(err, ErrNoPod) || !strings.Contains(err.Error(), "shop/absent") {
		t.Errorf("an absent pod: %v", err)
	}
	if _, _, err := src.WatchTargets(ctx, Selector{Refs: []string{"kube/host"}}); !errors.Is(err, ErrHostNetwork) {
		t.Errorf("a host-network pod by name: %v", err)
	}
	initial, _, err = src.WatchTargets(ctx, Selector{Refs: []string{"db"}, Labels: map[string]string{"app": "web"}})
	if err == nil {
		t.Errorf("pod db of namespace default: %+v", initial)
	}
	initial, _, err = src.WatchTargets(ctx, Selector{Refs: []string{"shop/db"}, Labels: map[string]string{"app": "web"}})
	if err != nil || len(initial) != 2 || initial[0].Name != "shop/db" || initial[1].Name != "shop/web2" {
		t.Errorf("named and selected: %+v, %v", initial, err)
	}
}
