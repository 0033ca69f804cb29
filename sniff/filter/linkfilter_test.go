package filter

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// tcpFrame returns a TCP segment to port dport framed for link.
func tcpFrame(link layers.LinkType, dport uint16) []byte {
	c := pcaptest.New(link)
	c.TCP(time.Unix(1e9, 0), netip.MustParseAddrPort("10.0.0.1:40000"), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), dport),
		1, 0, decode.SYN, nil)
	return c.Frames()[0]
}

// warnings records the calls of a LinkFilter's Warn.
type warnings struct {
	links []layers.LinkType
	errs  []error
}

func (w *warnings) warn(link layers.LinkType, err error) {
	w.links = append(w.links, link)
	w.errs = append(w.errs, err)
}

func TestLinkFilter(t *testing.T) {
	f := NewLinkFilter("tcp port 8080", 0)
	var w warnings
	f.Warn = w.warn
	if err := f.Prepare(layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2, layers.LinkTypeLinuxSLL,
		layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLoop}
	for round := range 2 {
		for _, link := range links {
			if !f.Match(link, tcpFrame(link, 8080)) {
				t.Errorf("round %d: %v: port 8080 not matched", round, link)
			}
			if f.Match(link, tcpFrame(link, 9999)) {
				t.Errorf("round %d: %v: port 9999 matched", round, link)
			}
		}
	}
	// An Ethernet frame read as SLL2 would not match: the programs differ.
	if f.Match(layers.LinkTypeLinuxSLL2, tcpFrame(layers.LinkTypeEthernet, 8080)) {
		t.Error("an Ethernet frame given as SLL2 matched")
	}
	if len(w.links) != 0 || f.Skipped() != 0 {
		t.Fatalf("warnings %v, %d skipped", w.errs, f.Skipped())
	}

	// A link type the compiler does not support: one warning, every frame
	// counted.
	for range 3 {
		if f.Match(147, tcpFrame(layers.LinkTypeEthernet, 8080)) {
			t.Error("a frame of link type 147 matched")
		}
		f.Match(layers.LinkTypeEthernet, tcpFrame(layers.LinkTypeEthernet, 8080))
	}
	var ule *UnsupportedLinkError
	if len(w.links) != 1 || w.links[0] != 147 || !errors.As(w.errs[0], &ule) ||
		w.errs[0].Error() != "filter: compile: link type 147 (LINKTYPE_USER0) is not supported" {
		t.Fatalf("warnings %v %v", w.links, w.errs)
	}
	if f.Skipped() != 3 || f.Unsupported() != 3 {
		t.Errorf("skipped %d, unsupported %d; want 3 and 3", f.Skipped(), f.Unsupported())
	}
	if err := f.Prepare(147); !errors.As(err, &ule) {
		t.Errorf("Prepare(147) = %v", err)
	}
}

func TestLinkFilterLinkSpecificError(t *testing.T) {
	// "vlan" compiles for Ethernet, not for SLL: SLL frames are skipped
	// with one warning carrying the compiler's message.
	f := NewLinkFilter("vlan 10", 0)
	var w warnings
	f.Warn = w.warn
	if err := f.Prepare(layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	tagged := pcaptest.New(layers.LinkTypeEthernet).VLAN(10)
	tagged.TCP(time.Unix(1e9, 0), netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 1, 0, decode.SYN, nil)
	for range 2 {
		if !f.Match(layers.LinkTypeEthernet, tagged.Frames()[0]) {
			t.Error("tagged Ethernet frame not matched")
		}
		if f.Match(layers.LinkTypeLinuxSLL, tcpFrame(layers.LinkTypeLinuxSLL, 80)) {
			t.Error("SLL frame matched")
		}
	}
	var se *SyntaxError
	if len(w.links) != 1 || w.links[0] != layers.LinkTypeLinuxSLL || !errors.As(w.errs[0], &se) ||
		!strings.Contains(se.Msg, `"vlan" is not supported on Linux cooked (SLL) links`) {
		t.Fatalf("warnings %v %v", w.links, w.errs)
	}
	if f.Skipped() != 2 || f.Unsupported() != 0 {
		t.Errorf("skipped %d, unsupported %d; want 2 and 0", f.Skipped(), f.Unsupported())
	}
	if err := f.Prepare(layers.LinkTypeLinuxSLL); !errors.As(err, &se) {
		t.Errorf("Prepare(SLL) = %v", err)
	}
}

func TestLinkFilterBounds(t *testing.T) {
	supported := 0
	for l := range 1 << 16 {
		if _, ok := linkInfoOf(layers.LinkType(l)); ok {
			supported++
		}
	}
	if supported == 0 || supported > maxLinkPrograms {
		t.Fatalf("%d supported link types, room for %d programs", supported, maxLinkPrograms)
	}
	// Every link type there is, in a loop: the warnings and the programs
	// stay bounded.
	f := NewLinkFilter("tcp", 0)
	var w warnings
	f.Warn = w.warn
	frame := tcpFrame(layers.LinkTypeEthernet, 80)
	for l := range 1 << 16 {
		f.Match(layers.LinkType(l), frame)
	}
	if len(w.links) != MaxWarnedLinks || len(f.progs) != supported || cap(f.warned) != MaxWarnedLinks {
		t.Errorf("%d warnings, %d programs (%d supported), %d warned kept", len(w.links), len(f.progs), supported, cap(f.warned))
	}
	if want := uint64(1<<16 - supported); f.Skipped() != want || f.Unsupported() != want {
		t.Errorf("skipped %d, unsupported %d; want %d", f.Skipped(), f.Unsupported(), want)
	}
}

func TestLinkFilterNoAllocations(t *testing.T) {
	f := NewLinkFilter("tcp port 8080 or vlan", 0)
	f.Warn = func(layers.LinkType, error) {}
	eth, sll2, sll := tcpFrame(layers.LinkTypeEthernet, 8080), tcpFrame(layers.LinkTypeLinuxSLL2, 8080), tcpFrame(layers.LinkTypeLinuxSLL, 8080)
	run := func() {
		f.Match(layers.LinkTypeEthernet, eth)
		f.Match(layers.LinkTypeLinuxSLL2, sll2)
		f.Match(layers.LinkTypeLinuxSLL, sll) // "vlan": no program
		f.Match(147, eth)
		f.Match(148, eth)
	}
	run() // compile
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Errorf("%v allocations per round", a)
	}
}
