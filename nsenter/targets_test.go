package nsenter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
)

// TestSelector: a label selector takes the containers that have every
// label with its value; refs alone select by ID, never by labels.
func TestSelector(t *testing.T) {
	sel := Selector{Labels: map[string]string{LabelProject: "shop", "tier": "web"}}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{LabelProject: "shop", "tier": "web", "x": "y"}, true},
		{map[string]string{LabelProject: "shop"}, false},
		{map[string]string{LabelProject: "shop", "tier": "db"}, false},
		{map[string]string{LabelProject: "shop", "tier": ""}, false},
		{nil, false},
	} {
		if got := sel.matches(tc.labels); got != tc.want {
			t.Errorf("matches(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if (Selector{Refs: []string{"a"}}).matches(map[string]string{}) {
		t.Error("a selector without labels matched by labels")
	}
	if got, want := sel.String(), "project shop, label tier=web"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Selector{Refs: []string{"web", "api"}}).String(), "web, api"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestPeerName: a compose service names a container before its name.
func TestPeerName(t *testing.T) {
	if got := (Target{Name: "shop_web_1", Service: "web"}).PeerName(); got != "web" {
		t.Errorf("PeerName() = %q, want web", got)
	}
	if got := (Target{Name: "lonely"}).PeerName(); got != "lonely" {
		t.Errorf("PeerName() = %q, want lonely", got)
	}
}

// TestEndpointIPs: the IPv4 and global IPv6 addresses of every network,
// unset ones left out.
func TestEndpointIPs(t *testing.T) {
	ips := endpointIPs(map[string]*network.EndpointSettings{
		"a": {IPAddress: netip.MustParseAddr("172.18.0.2"), GlobalIPv6Address: netip.MustParseAddr("fd00::2")},
		"b": {IPAddress: netip.MustParseAddr("0.0.0.0")},
		"c": nil,
		"d": {},
	})
	got := map[netip.Addr]bool{}
	for _, ip := range ips {
		got[ip] = true
	}
	if len(ips) != 2 || !got[netip.MustParseAddr("172.18.0.2")] || !got[netip.MustParseAddr("fd00::2")] {
		t.Errorf("endpointIPs = %v", ips)
	}
}

// TestNamesLookup: a nil table and unknown addresses name nothing;
// IPv4-mapped addresses are looked up as IPv4.
func TestNamesLookup(t *testing.T) {
	var none *Names
	if none.Lookup(netip.MustParseAddr("10.0.0.1")) != "" {
		t.Error("a nil table named an address")
	}
	n := NewNames(nil)
	m := map[netip.Addr]nameEntry{netip.MustParseAddr("10.0.0.1"): {name: "web"}}
	n.cur.Store(&m)
	if got := n.Lookup(netip.MustParseAddr("::ffff:10.0.0.1")); got != "web" {
		t.Errorf("Lookup(mapped) = %q, want web", got)
	}
	if got := n.Lookup(netip.MustParseAddr("10.0.0.2")); got != "" {
		t.Errorf("Lookup(unknown) = %q", got)
	}
	if got := n.Lookup(netip.Addr{}); got != "" {
		t.Errorf("Lookup(invalid) = %q", got)
	}
}

// TestNamesRebuild: a peer is named by its compose service, else its
// name; the address of one that stopped keeps its name for nameLinger,
// unless another container took it.
func TestNamesRebuild(t *testing.T) {
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	summary := func(name, service, addr string) Target {
		return Target{Name: name, Service: service, IPs: []netip.Addr{ip(addr)}}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := rebuild([]Target{summary("shop_web_1", "web", "10.0.0.2"), summary("db", "", "10.0.0.3")}, nil, t0)
	if m[ip("10.0.0.2")].name != "web" || m[ip("10.0.0.3")].name != "db" {
		t.Fatalf("names: %v", m)
	}
	// db stops: it lingers, then goes.
	m = rebuild([]Target{summary("shop_web_1", "web", "10.0.0.2")}, m, t0.Add(time.Second))
	if m[ip("10.0.0.3")].name != "db" {
		t.Errorf("a stopped container's name did not linger: %v", m)
	}
	m = rebuild([]Target{summary("shop_web_1", "web", "10.0.0.2")}, m, t0.Add(time.Second+nameLinger-time.Millisecond))
	if m[ip("10.0.0.3")].name != "db" {
		t.Errorf("gone before nameLinger: %v", m)
	}
	m = rebuild([]Target{summary("shop_web_1", "web", "10.0.0.2")}, m, t0.Add(time.Second+nameLinger))
	if _, ok := m[ip("10.0.0.3")]; ok {
		t.Errorf("still named after nameLinger: %v", m)
	}
	// An address taken by another container is its at once.
	m = rebuild([]Target{summary("shop_web_1", "web", "10.0.0.2")}, map[netip.Addr]nameEntry{ip("10.0.0.2"): {name: "old"}}, t0)
	if m[ip("10.0.0.2")].name != "web" {
		t.Errorf("taken address: %v", m)
	}
}
