package nsenter

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// DefaultPodPoll is how often PodTargets lists the node's pods.
const DefaultPodPoll = 2 * time.Second

// PodTargets is a CRI runtime as a source of targets (TargetSource), the
// one sniffer attach's stack reads Docker's containers from: each ready pod
// sandbox is a Target named "namespace/pod", entered by the path of its
// network namespace, with the pod's addresses and labels. Peers are the
// node's pods, named "namespace/pod" too (a pod has no compose service;
// its app label is not unique across namespaces). The CRI has no stream
// of events: WatchTargets lists the sandboxes every Poll and sends what
// changed. A Selector's Refs are pods as "namespace/pod" (ParsePodRef),
// its Labels the pods' labels.
type PodTargets struct {
	cri *CRI
	// Poll is how often the pods are listed (DefaultPodPoll when 0).
	Poll time.Duration
	// Notice, when set, is told of each pod that WatchTargets leaves
	// out, and why (a pod of the node's network namespace, selected by
	// its labels), once per pod.
	Notice func(msg string)

	mu sync.Mutex
	// pods caches what PodSandboxStatus said of each listed sandbox: its
	// network namespace and addresses last as long as it does.
	pods map[string]Pod
}

// Targets returns c as a source of targets.
func (c *CRI) Targets() *PodTargets {
	return &PodTargets{cri: c, pods: map[string]Pod{}}
}

// target is the Target of pod p.
func (p Pod) target() Target {
	return Target{Name: p.Display(), ID: p.ID, Netns: p.NetNS, IPs: p.IPs, Labels: p.Labels, Desc: p.Short()}
}

// list returns the runtime's ready sandboxes, and forgets the cached
// status of those that are gone.
func (s *PodTargets) list(ctx context.Context) ([]sandbox, error) {
	b, err := s.cri.conn.call(ctx, "ListPodSandbox", encodeListPodSandbox(nil))
	var items []sandbox
	if err == nil {
		items, err = decodeListPodSandbox(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: list pod sandboxes at %s: %v", ErrCRI, s.cri.endpoint, err)
	}
	ready := items[:0]
	ids := make(map[string]bool, len(items))
	for _, it := range items {
		if it.ready && it.id != "" {
			ready = append(ready, it)
			ids[it.id] = true
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		a, b := ready[i].namespace+"/"+ready[i].name, ready[j].namespace+"/"+ready[j].name
		if a != b {
			return a < b
		}
		return ready[i].id < ready[j].id
	})
	s.mu.Lock()
	for id := range s.pods {
		if !ids[id] {
			delete(s.pods, id)
		}
	}
	s.mu.Unlock()
	return ready, nil
}

// pod returns the status of sandbox id, cached; a zero Pod when it is
// gone or not ready.
func (s *PodTargets) pod(ctx context.Context, id string) (Pod, error) {
	s.mu.Lock()
	p, ok := s.pods[id]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := s.cri.status(ctx, id)
	if err != nil || p.ID == "" {
		return p, err
	}
	s.mu.Lock()
	s.pods[id] = p
	s.mu.Unlock()
	return p, nil
}

// InspectTarget returns the current state of sandbox id: a zero Target
// when it is gone or not ready.
func (s *PodTargets) InspectTarget(ctx context.Context, id string) (Target, error) {
	p, err := s.cri.status(ctx, id)
	if err != nil || p.ID == "" {
		return Target{}, err
	}
	return p.target(), nil
}

// Peers returns the node's ready pods with their addresses, those of the
// node's network namespace left out (their address is the node's).
func (s *PodTargets) Peers(ctx context.Context) ([]Target, error) {
	items, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	peers := make([]Target, 0, len(items))
	for _, it := range items {
		p, err := s.pod(ctx, it.id)
		if err != nil {
			return nil, err
		}
		if p.ID == "" || p.HostNetwork {
			continue
		}
		peers = append(peers, p.target())
	}
	return peers, nil
}

// podWatch is the state of one WatchTargets: the pods it sent as running.
type podWatch struct {
	s       *PodTargets
	refs    map[string]bool // "namespace/pod"
	sel     Selector
	running map[string]Target
	listed  map[string]bool // every ready sandbox of the last list
	refused map[string]bool // the pods said to be left out
}

// WatchTargets returns the ready pods sel selects (by namespace/name, or
// by labels), then lists the node's pods every Poll until ctx is done and
// sends Started for a selected pod that appeared, Stopped for one that is
// gone, Renamed whenever the node's pods changed (peer names). A named pod
// must run when it is called, in a namespace of its own: an error says
// otherwise. A pod selected by its labels that runs in the node's network
// namespace is left out (told to Notice).
func (s *PodTargets) WatchTargets(ctx context.Context, sel Selector) ([]Target, <-chan TargetEvent, error) {
	w := &podWatch{s: s, refs: map[string]bool{}, sel: sel, running: map[string]Target{}, refused: map[string]bool{}}
	for _, r := range sel.Refs {
		ns, name, err := ParsePodRef(r)
		if err != nil {
			return nil, nil, err
		}
		w.refs[ns+"/"+name] = true
	}
	items, err := s.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	evs, err := w.scan(ctx, items, true)
	if err != nil {
		return nil, nil, err
	}
	var initial []Target
	for _, ev := range evs {
		if ev.Kind == Started {
			initial = append(initial, ev.Target)
		}
	}
	found := map[string]bool{}
	for _, t := range initial {
		found[t.Name] = true
	}
	for _, r := range sel.Refs {
		ns, name, _ := ParsePodRef(r)
		if !found[ns+"/"+name] {
			return nil, nil, fmt.Errorf("%w: %s at %s (a ready pod sandbox of that namespace and name, on this node)", ErrNoPod, ns+"/"+name, s.cri.endpoint)
		}
	}
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPodPoll
	}
	out := make(chan TargetEvent, 64)
	go func() {
		defer close(out)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			items, err := s.list(ctx)
			var evs []TargetEvent
			if err == nil {
				evs, err = w.scan(ctx, items, false)
			}
			if err != nil {
				if ctx.Err() == nil {
					select {
					case out <- TargetEvent{Err: err}:
					case <-ctx.Done():
					}
				}
				return
			}
			for _, ev := range evs {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return initial, out, nil
}

// scan compares one list of the ready sandboxes with the last and returns
// the events: Renamed first when the node's pods changed, then Started
// for each selected pod that is new, Stopped for each that is gone. On the
// first scan a named pod that cannot be captured is an error.
func (w *podWatch) scan(ctx context.Context, items []sandbox, first bool) ([]TargetEvent, error) {
	var evs []TargetEvent
	listed := make(map[string]bool, len(items))
	changed := len(items) != len(w.listed)
	for _, it := range items {
		listed[it.id] = true
		if !w.listed[it.id] {
			changed = true
		}
	}
	w.listed = listed
	if changed && !first {
		evs = append(evs, TargetEvent{Kind: Renamed})
	}
	for id := range w.refused {
		if !listed[id] {
			delete(w.refused, id)
		}
	}
	selected := map[string]bool{}
	for _, it := range items {
		named := w.refs[it.namespace+"/"+it.name]
		if !named && !w.sel.matches(it.labels) {
			continue
		}
		if _, ok := w.running[it.id]; ok {
			selected[it.id] = true
			continue
		}
		if w.refused[it.id] {
			continue
		}
		p, err := w.s.pod(ctx, it.id)
		if err != nil {
			return nil, err
		}
		if p.ID == "" {
			continue // gone in between
		}
		var why error
		switch {
		case p.HostNetwork:
			why = fmt.Errorf("%w: its traffic is the node's; capture on the node itself (sniffer without attach)", ErrHostNetwork)
		case p.NetNS == "":
			why = fmt.Errorf("the runtime at %s does not tell the pod's network namespace", w.s.cri.endpoint)
		}
		if why != nil {
			if first && named {
				return nil, fmt.Errorf("%s: %w", p.Short(), why)
			}
			w.refused[it.id] = true
			if w.s.Notice != nil {
				w.s.Notice(fmt.Sprintf("%s left out: %v", p.Short(), why))
			}
			continue
		}
		selected[it.id] = true
		t := p.target()
		w.running[it.id] = t
		evs = append(evs, TargetEvent{Kind: Started, Target: t})
	}
	gone := []string{}
	for id := range w.running {
		if !selected[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		evs = append(evs, TargetEvent{Kind: Stopped, Target: w.running[id]})
		delete(w.running, id)
	}
	return evs, nil
}

// The CRI runtime is a source of targets.
var _ TargetSource = (*PodTargets)(nil)
