package nsenter

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// nameLinger is how long a stopped container's addresses keep its name:
// the entries of its last connections are printed after it died.
const nameLinger = time.Minute

// maxNames bounds the table of Names (addresses of running containers
// plus those that linger).
const maxNames = 1 << 16

// Names maps the addresses of a source's targets (the engine's containers)
// to their peer names (Target.PeerName: the compose service, else the
// container's name). The table is rebuilt from one list of peers by
// Refresh, on the source's events, and read by Lookup for each entry
// without an API call. It is safe for concurrent use.
type Names struct {
	src TargetSource
	mu  sync.Mutex // serializes Refresh
	cur atomic.Pointer[map[netip.Addr]nameEntry]
}

type nameEntry struct {
	name string
	gone time.Time // zero while the owner runs
}

// NewNames returns an empty table of the names of src's peers.
func NewNames(src TargetSource) *Names {
	n := &Names{src: src}
	m := map[netip.Addr]nameEntry{}
	n.cur.Store(&m)
	return n
}

// Lookup returns the name of the container that owns addr, or "" when
// none is known to.
func (n *Names) Lookup(addr netip.Addr) string {
	if n == nil || !addr.IsValid() {
		return ""
	}
	return (*n.cur.Load())[addr.Unmap()].name
}

// Refresh rebuilds the table from the source's peers. The addresses of
// peers that stopped keep their name for a minute, unless another took
// them.
func (n *Names) Refresh(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	peers, err := n.src.Peers(ctx)
	if err != nil {
		return err
	}
	m := rebuild(peers, *n.cur.Load(), time.Now())
	n.cur.Store(&m)
	return nil
}

// rebuild returns the table of the running peers, with the addresses of
// old that no peer owns for as long as they linger (nameLinger from when
// they were first missing).
func rebuild(peers []Target, old map[netip.Addr]nameEntry, now time.Time) map[netip.Addr]nameEntry {
	m := map[netip.Addr]nameEntry{}
	for _, p := range peers {
		name := p.PeerName()
		if name == "" {
			continue
		}
		for _, ip := range p.IPs {
			ip = ip.Unmap()
			if len(m) < maxNames {
				m[ip] = nameEntry{name: name}
			}
		}
	}
	for ip, e := range old {
		if _, taken := m[ip]; taken || len(m) >= maxNames {
			continue
		}
		if e.gone.IsZero() {
			e.gone = now
		}
		if now.Sub(e.gone) < nameLinger {
			m[ip] = e
		}
	}
	return m
}

// Peers returns the running containers as targets (their Pid not set):
// the peers Names names.
func (e *Engine) Peers(ctx context.Context) ([]Target, error) {
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", e.engineError(err))
	}
	peers := make([]Target, 0, len(list.Items))
	for _, c := range list.Items {
		if strings.HasPrefix(c.HostConfig.NetworkMode, "container:") {
			// It shares another container's namespace, which owns the
			// addresses.
			continue
		}
		t := Target{ID: c.ID, Labels: c.Labels, Service: c.Labels[LabelService]}
		if len(c.Names) > 0 {
			t.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		if c.NetworkSettings != nil {
			t.IPs = endpointIPs(c.NetworkSettings.Networks)
		}
		peers = append(peers, t)
	}
	return e.dropJoiners(ctx, peers), nil
}

// dropJoiners leaves out, of peers that claim the same address, those
// that joined another's network namespace (--network container:): Podman
// lists them with the owner's addresses, and without the network mode
// that says so, which an inspect of each tells. Docker lists a joiner
// without addresses: no inspect is made.
func (e *Engine) dropJoiners(ctx context.Context, peers []Target) []Target {
	claims := map[netip.Addr]int{}
	for _, p := range peers {
		for _, ip := range p.IPs {
			claims[ip]++
		}
	}
	kept := peers[:0]
	for _, p := range peers {
		shared := false
		for _, ip := range p.IPs {
			shared = shared || claims[ip] > 1
		}
		if shared {
			res, err := e.cli.ContainerInspect(ctx, p.ID, client.ContainerInspectOptions{})
			if err == nil && res.Container.HostConfig != nil && strings.HasPrefix(string(res.Container.HostConfig.NetworkMode), "container:") {
				continue
			}
		}
		kept = append(kept, p)
	}
	return kept
}

// endpointIPs returns the IPv4 and global IPv6 addresses of a container's
// network endpoints.
func endpointIPs(nets map[string]*network.EndpointSettings) []netip.Addr {
	var ips []netip.Addr
	for _, ep := range nets {
		if ep == nil {
			continue
		}
		for _, ip := range []netip.Addr{ep.IPAddress, ep.GlobalIPv6Address} {
			if ip.IsValid() && !ip.IsUnspecified() {
				ips = append(ips, ip.Unmap())
			}
		}
	}
	return ips
}
