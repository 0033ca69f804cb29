package nsenter

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Compose's labels: the project (docker compose -p) and the service of a
// container.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
)

// Target is a network namespace to capture in, as a resolver (the Docker
// engine's, or another runtime's) describes it: what sniffer attach needs
// to enter it and to say where an entry was captured.
type Target struct {
	// Name is what %container prints: the container's name (for a pod,
	// "namespace/pod").
	Name string
	// ID identifies the target across its restarts: the container's ID.
	ID string
	// Pid is a process in the target's network namespace, as the host
	// sees it (Do enters its namespace).
	Pid int
	// Netns is the path of the target's network namespace, for a
	// resolver that knows no process of it (Pid 0; DoPath enters it).
	Netns string
	// IPs are the target's addresses on its networks.
	IPs []netip.Addr
	// Labels are the target's labels.
	Labels map[string]string
	// Service is the compose service (label com.docker.compose.service),
	// "" when it has none.
	Service string
	// Desc is how messages name the target ("shop/web (sandbox
	// 0123456789abc)"); "" is its name with its 12-character ID.
	Desc string
}

// Enter runs fn inside the target's network namespace (Do or DoPath).
func (t Target) Enter(fn func() error) error {
	if t.Pid > 0 || t.Netns == "" {
		return Do(t.Pid, fn)
	}
	return DoPath(t.Netns, fn)
}

// Short returns Desc, else the target's name and its 12-character ID.
func (t Target) Short() string {
	if t.Desc != "" {
		return t.Desc
	}
	return Container{ID: t.ID, Name: t.Name}.Short()
}

// PeerName is how an entry names the target as a peer: its service when it
// has one, else its name.
func (t Target) PeerName() string {
	if t.Service != "" {
		return t.Service
	}
	return t.Name
}

// TargetSource feeds sniffer attach with targets: the Docker engine
// (Engine), or another runtime's resolver.
type TargetSource interface {
	// WatchTargets returns the running targets sel selects, and sends
	// their changes until ctx is done (see Engine.WatchTargets).
	WatchTargets(ctx context.Context, sel Selector) ([]Target, <-chan TargetEvent, error)
	// InspectTarget returns a target's current state (Pid 0: it does
	// not run).
	InspectTarget(ctx context.Context, id string) (Target, error)
	// Peers returns every running target, selected or not, with its
	// addresses: what Names names peers from.
	Peers(ctx context.Context) ([]Target, error)
}

// TargetEventKind says what happened to a target.
type TargetEventKind uint8

// The kinds of TargetEvent.
const (
	// Started: the target runs in a (new) network namespace: capture
	// there. A restart gives a Stopped then a Started.
	Started TargetEventKind = iota + 1
	// Stopped: its process died; its namespace is gone.
	Stopped
	// Removed: it is gone for good.
	Removed
	// Renamed: the engine's containers changed (a start, a stop, a
	// network connected or disconnected): peer names may have changed.
	Renamed
)

// TargetEvent is one change of the selected targets, from a source of
// targets (Engine.WatchTargets).
type TargetEvent struct {
	Kind   TargetEventKind
	Target Target
	// Time is when the engine says it happened (zero if unknown).
	Time time.Time
	// Err is set, and Kind 0, when the source failed; the channel is
	// closed after it.
	Err error
}

// Selector chooses containers: by name, ID or ID prefix (Refs), and/or
// by labels that must all match (Labels, as docker ps --filter label=). A
// selector with Labels also takes the containers that start later and
// match.
type Selector struct {
	Refs   []string
	Labels map[string]string
}

// String describes the selector for messages: "project web" or
// "label a=b, label c=d".
func (s Selector) String() string {
	parts := append([]string(nil), s.Refs...)
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == LabelProject {
			parts = append(parts, "project "+s.Labels[k])
			continue
		}
		parts = append(parts, "label "+k+"="+s.Labels[k])
	}
	return strings.Join(parts, ", ")
}

// matches reports whether labels hold every label of s.
func (s Selector) matches(labels map[string]string) bool {
	if len(s.Labels) == 0 {
		return false
	}
	for k, v := range s.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// targetFrom builds a Target from an inspected container.
func targetFrom(res container.InspectResponse) Target {
	t := Target{ID: res.ID, Name: strings.TrimPrefix(res.Name, "/")}
	if s := res.State; s != nil && s.Running && s.Pid > 0 {
		t.Pid = s.Pid
	}
	if res.Config != nil {
		t.Labels = res.Config.Labels
		t.Service = res.Config.Labels[LabelService]
	}
	if ns := res.NetworkSettings; ns != nil {
		t.IPs = endpointIPs(ns.Networks)
	}
	return t
}

// InspectTarget returns the target of container id; its Pid is 0 when it
// is not running.
func (e *Engine) InspectTarget(ctx context.Context, id string) (Target, error) {
	res, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Target{}, fmt.Errorf("inspect container %s: %w", id, e.engineError(err))
	}
	return targetFrom(res.Container), nil
}

// WatchTargets is a source of targets: it returns the running containers
// sel selects, then follows the engine's events until
// ctx is done: Started when a selected container starts (for a label
// selector, any container that starts and matches), Stopped when it dies,
// Removed when it is removed, and Renamed on every change of the engine's
// containers and networks (peer names, see Names). The named containers
// (sel.Refs) must exist: an error names the first that does not. The
// events are watched before the containers are listed, so that no start is
// missed in between (a start may then be sent twice; the consumer ignores
// a Started of a target it captures in the same process).
func (e *Engine) WatchTargets(ctx context.Context, sel Selector) ([]Target, <-chan TargetEvent, error) {
	ids := map[string]bool{}
	for _, r := range sel.Refs {
		c, err := e.Find(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		ids[c.ID] = true
	}
	f := client.Filters{}
	f.Add("type", string(events.ContainerEventType), string(events.NetworkEventType))
	res := e.cli.Events(ctx, client.EventsListOptions{Filters: f})

	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", e.engineError(err))
	}
	selected := func(id string, labels map[string]string) bool {
		return ids[id] || sel.matches(labels)
	}
	out := make(chan TargetEvent, 64)
	send := func(ev TargetEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var initial []Target
	for _, c := range list.Items {
		if !selected(c.ID, c.Labels) {
			continue
		}
		t, err := e.InspectTarget(ctx, c.ID)
		if err != nil || t.Pid == 0 {
			continue // stopped in between: its events follow
		}
		initial = append(initial, t)
	}
	sort.Slice(initial, func(i, j int) bool { return initial[i].Name < initial[j].Name })
	go func() {
		defer close(out)
		for {
			select {
			case m := <-res.Messages:
				if m.Type == events.NetworkEventType {
					if !send(TargetEvent{Kind: Renamed}) {
						return
					}
					continue
				}
				id := m.Actor.ID
				var kind TargetEventKind
				switch m.Action {
				case events.ActionStart, events.ActionRestart:
					kind = Started
				case events.ActionDie:
					kind = Stopped
				case events.ActionDestroy:
					kind = Removed
				default:
					continue
				}
				if !send(TargetEvent{Kind: Renamed}) {
					return
				}
				if !selected(id, m.Actor.Attributes) {
					// Events carry the container's labels as attributes.
					continue
				}
				t := Target{ID: id, Name: m.Actor.Attributes["name"]}
				if kind == Started {
					var err error
					if t, err = e.InspectTarget(ctx, id); err != nil || t.Pid == 0 {
						continue // gone already: its die follows
					}
				}
				if !send(TargetEvent{Kind: kind, Target: t, Time: time.Unix(0, m.TimeNano)}) {
					return
				}
			case err := <-res.Err:
				if ctx.Err() == nil && err != nil {
					send(TargetEvent{Err: fmt.Errorf("docker events: %w", e.engineError(err))})
				}
				return
			}
		}
	}()
	return initial, out, nil
}

// The Docker engine is a source of targets.
var _ TargetSource = (*Engine)(nil)
