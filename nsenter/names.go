package nsenter

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// nameLinger is how long a stopped container's addresses keep its name:
// the entries of its last connections are printed after it died.
const nameLinger = time.Minute

// maxNames bounds the table of Names (addresses of running containers
// plus those that linger).
const maxNames = 1 << 16

// Names maps the addresses of the engine's containers to their peer names
// (Target.PeerName: the compose service, else the container's name). The
// table is rebuilt from one container list by Refresh, on the engine's
// events, and read by Lookup for each entry without an API call. It is
// safe for concurrent use.
type Names struct {
	e   *Engine
	mu  sync.Mutex // serializes Refresh
	cur atomic.Pointer[map[netip.Addr]nameEntry]
}

type nameEntry struct {
	name string
	gone time.Time // zero while the owner runs
}

// NewNames returns an empty table of e's containers' names.
func NewNames(e *Engine) *Names {
	n := &Names{e: e}
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

// Refresh rebuilds the table from the running containers. The addresses of
// containers that stopped keep their name for a minute, unless another
// container took them.
func (n *Names) Refresh(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	list, err := n.e.cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return fmt.Errorf("list containers: %w", n.e.engineError(err))
	}
	m := rebuild(list.Items, *n.cur.Load(), time.Now())
	n.cur.Store(&m)
	return nil
}

// rebuild returns the table of the running containers list, with the
// addresses of old that no container of list owns for as long as they
// linger (nameLinger from when they were first missing).
func rebuild(list []container.Summary, old map[netip.Addr]nameEntry, now time.Time) map[netip.Addr]nameEntry {
	m := map[netip.Addr]nameEntry{}
	for _, c := range list {
		name := c.Labels[LabelService]
		if name == "" && len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if name == "" || c.NetworkSettings == nil {
			continue
		}
		for _, ip := range endpointIPs(c.NetworkSettings.Networks) {
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
