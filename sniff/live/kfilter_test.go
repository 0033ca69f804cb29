package live

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/sniffer/sniffer/sniff/filter"
)

// skb is what the kernel knows of a packet besides its bytes.
type skb struct {
	pktType uint32 // PACKET_HOST 0, PACKET_OUTGOING 4, ...
	ifindex uint32
	proto   uint32 // EtherType
}

// runKernel runs prog over data the way the kernel would: the ancillary
// loads, which the Go VM cannot run, are replaced by constants.
func runKernel(t *testing.T, prog []bpf.Instruction, s skb, data []byte) int {
	t.Helper()
	sub := make([]bpf.Instruction, len(prog))
	for i, ins := range prog {
		sub[i] = ins
		if le, ok := ins.(bpf.LoadExtension); ok {
			switch le.Num {
			case bpf.ExtType:
				sub[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: s.pktType}
			case bpf.ExtInterfaceIndex:
				sub[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: s.ifindex}
			case bpf.ExtProto:
				sub[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: s.proto}
			case bpf.ExtLen:
			default:
				t.Fatalf("unexpected extension %v", le)
			}
		}
	}
	vm, err := bpf.NewVM(sub)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ipv4TCP returns an IPv4 TCP segment header between the two ports.
func ipv4TCP(sport, dport uint16) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8] = 64
	b[9] = 6 // TCP
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	b[32] = 5 << 4
	return b
}

// ipv6TCP returns an IPv6 TCP segment header between the two ports.
func ipv6TCP(sport, dport uint16) []byte {
	b := make([]byte, 60)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], 20)
	b[6] = 6
	b[7] = 64
	b[23], b[39] = 1, 2
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dport)
	b[52] = 5 << 4
	return b
}

func TestKernelFilter(t *testing.T) {
	const lo, eth = 1, 7
	tcp4, tcp6 := ipv4TCP(40000, 8080), ipv6TCP(40000, 8081)
	udp4 := ipv4TCP(40000, 8080)
	udp4[9] = 17
	cases := []struct {
		expr string
		s    skb
		data []byte
		want bool
	}{
		{"", skb{0, lo, 0x0800}, tcp4, true},                // loopback, received
		{"", skb{4, lo, 0x0800}, tcp4, false},               // loopback, sent: the duplicate
		{"", skb{4, eth, 0x0800}, tcp4, true},               // sent on a veth: kept
		{"", skb{0, eth, 0x86dd}, tcp6, true},               // IPv6
		{"", skb{4, lo, 0x86dd}, tcp6, false},               // IPv6 on loopback, sent
		{"", skb{0, eth, 0x0800}, udp4, false},              // default: TCP only
		{"", skb{0, eth, 0x0806}, tcp4, false},              // not IP (an ARP whose bytes look like IP)
		{"", skb{0, eth, 0x8100}, tcp4, false},              // VLAN header not taken off
		{"udp", skb{0, eth, 0x0800}, udp4, true},            // the user's filter replaces "tcp"
		{"tcp port 8080", skb{0, eth, 0x0800}, tcp4, true},  // the user's filter
		{"tcp port 8080", skb{0, eth, 0x86dd}, tcp6, false}, // 8081
		{"tcp port 8080", skb{4, lo, 0x0800}, tcp4, false},  // still no loopback duplicate
		{"ip6 and tcp port 8081", skb{0, lo, 0x86dd}, tcp6, true},
	}
	for _, c := range cases {
		prog, err := KernelFilter(c.expr, DefaultSnapLen, lo)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		n := runKernel(t, prog, c.s, c.data)
		if got := n > 0; got != c.want {
			t.Errorf("%q over %+v: accepted %v, want %v", c.expr, c.s, got, c.want)
		}
		if n > 0 && n != DefaultSnapLen {
			t.Errorf("%q: returns %d, want the snap length %d", c.expr, n, DefaultSnapLen)
		}
	}
}

// TestKernelFilterNoLoopback: without a loopback interface the prefix only
// tests the protocol.
func TestKernelFilterNoLoopback(t *testing.T) {
	prog, err := KernelFilter("", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ins := range prog {
		if le, ok := ins.(bpf.LoadExtension); ok && le.Num != bpf.ExtProto {
			t.Errorf("unexpected %v", ins)
		}
	}
	if n := runKernel(t, prog, skb{4, 1, 0x0800}, ipv4TCP(1, 2)); n != 1000 {
		t.Errorf("returns %d, want 1000", n)
	}
}

// TestKernelFilterLong: the prefix's jumps stay short whatever the length
// of the user's program, and a program the kernel would refuse is an
// error, not a truncated filter.
func TestKernelFilterLong(t *testing.T) {
	// A long program: many alternatives.
	var alts []string
	for p := 1; p <= 200; p++ {
		alts = append(alts, "port "+strconv.Itoa(p))
	}
	expr := "tcp and (" + strings.Join(alts, " or ") + ")"
	user, err := filter.Compile(expr, LinkType, DefaultSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(user) < 300 {
		t.Fatalf("user program has %d instructions; the test wants more than 255", len(user))
	}
	prog, err := KernelFilter(expr, DefaultSnapLen, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatal(err)
	}
	if n := runKernel(t, prog, skb{0, 1, 0x0800}, ipv4TCP(40000, 200)); n == 0 {
		t.Error("port 200 rejected")
	}
	if n := runKernel(t, prog, skb{4, 1, 0x0800}, ipv4TCP(40000, 200)); n != 0 {
		t.Error("loopback duplicate accepted")
	}

	// One more instruction than the kernel takes, with the prefix.
	long := make([]bpf.Instruction, filter.MaxInstructions-prefixLen+1)
	for i := range long {
		long[i] = bpf.RetConstant{Val: 1}
	}
	_, err = withPrefix("long", long, 1)
	var fe *FilterError
	if !errors.As(err, &fe) {
		t.Errorf("a program longer than the kernel takes: error %v, want a *FilterError", err)
	}
	if _, err := withPrefix("long", long[1:], 1); err != nil {
		t.Errorf("a program as long as the kernel takes: %v", err)
	}
}

func TestKernelFilterSyntaxError(t *testing.T) {
	_, err := KernelFilter("tcp port", DefaultSnapLen, 1)
	var se *filter.SyntaxError
	var fe *FilterError
	if !errors.As(err, &fe) || !errors.As(err, &se) {
		t.Errorf("error %v (%T), want a *FilterError wrapping a *filter.SyntaxError", err, err)
	}
}
