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
		prog, err := KernelFilter(c.expr, DefaultSnapLen, lo, false)
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
	prog, err := KernelFilter("", 1000, 0, false)
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
	prog, err := KernelFilter(expr, DefaultSnapLen, 1, false)
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
	_, err := KernelFilter("tcp port", DefaultSnapLen, 1, false)
	var se *filter.SyntaxError
	var fe *FilterError
	if !errors.As(err, &fe) || !errors.As(err, &se) {
		t.Errorf("error %v (%T), want a *FilterError wrapping a *filter.SyntaxError", err, err)
	}
}

// TestPureACKRejector runs the pure-ACK rejector in the Go BPF VM over
// segments of every shape it must tell apart, behind no link header and
// behind an Ethernet header.
func TestPureACKRejector(t *testing.T) {
	v4 := func(flags byte, payload int, mod func(b []byte)) []byte {
		b := append(ipv4TCP(40000, 8080), make([]byte, payload)...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[33] = flags
		if mod != nil {
			mod(b)
		}
		return b
	}
	v6 := func(flags byte, payload int, mod func(b []byte)) []byte {
		b := append(ipv6TCP(40000, 8080), make([]byte, payload)...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
		b[53] = flags
		if mod != nil {
			mod(b)
		}
		return b
	}
	const ack, syn, fin, rst, psh = 0x10, 0x02, 0x01, 0x04, 0x08
	cases := []struct {
		name string
		data []byte
		drop bool
	}{
		{"v4 pure ACK", v4(ack, 0, nil), true},
		{"v4 pure ACK, PSH", v4(ack|psh, 0, nil), true},
		{"v4 pure ACK, Ethernet padding", append(v4(ack, 0, nil), make([]byte, 6)...), true},
		{"v4 one byte", v4(ack, 1, nil), false},
		{"v4 data", v4(ack|psh, 612, nil), false},
		{"v4 SYN", v4(syn, 0, nil), false},
		{"v4 SYN-ACK", v4(syn|ack, 0, nil), false},
		{"v4 FIN", v4(fin|ack, 0, nil), false},
		{"v4 RST", v4(rst, 0, nil), false},
		{"v4 RST-ACK", v4(rst|ack, 0, nil), false},
		{"v4 no flags at all", v4(0, 0, nil), true},
		{"v4 TCP options, pure ACK", v4(ack, 12, func(b []byte) { b[32] = 8 << 4 }), true},
		{"v4 TCP options and a byte", v4(ack, 13, func(b []byte) { b[32] = 8 << 4 }), false},
		{"v4 IP options, pure ACK", func() []byte {
			b := make([]byte, 44)
			b[0] = 0x46
			binary.BigEndian.PutUint16(b[2:], 44)
			b[9] = 6
			b[24+12], b[24+13] = 5<<4, ack
			return b
		}(), true},
		{"v4 header longer than the total length", v4(ack, 0, func(b []byte) { b[32] = 15 << 4 }), false},
		{"v4 total length 0 (BIG TCP)", v4(ack, 0, func(b []byte) { b[2], b[3] = 0, 0 }), false},
		{"v4 more fragments", v4(ack, 0, func(b []byte) { b[6] = 0x20 }), false},
		{"v4 fragment offset", v4(ack, 0, func(b []byte) { b[7] = 1 }), false},
		{"v4 don't fragment", v4(ack, 0, func(b []byte) { b[6] = 0x40 }), true},
		{"v4 UDP", v4(ack, 0, func(b []byte) { b[9] = 17 }), false},
		{"v4 cut in the TCP header", v4(ack, 0, nil)[:33], false},
		{"v4 cut in the IP header", v4(ack, 0, nil)[:19], false},
		{"v4 IHL past the packet", v4(ack, 0, func(b []byte) { b[0] = 0x4f }), false},
		{"v6 pure ACK", v6(ack, 0, nil), true},
		{"v6 data", v6(ack, 100, nil), false},
		{"v6 FIN", v6(fin|ack, 0, nil), false},
		{"v6 SYN", v6(syn, 0, nil), false},
		{"v6 extension header", v6(ack, 0, func(b []byte) { b[6] = 0 }), false},
		{"v6 cut in the TCP header", v6(ack, 0, nil)[:53], false},
		{"v6 TCP options, pure ACK", v6(ack, 12, func(b []byte) { b[52] = 8 << 4 }), true},
		{"v6 header longer than the payload length", v6(ack, 0, func(b []byte) { b[52] = 6 << 4 }), false},
		{"not IP", append([]byte{0x50}, v4(ack, 0, nil)[1:]...), false},
		{"empty", nil, false},
	}
	for _, off := range []uint32{0, 14} {
		// What follows the rejector sees A and X zero: it returns 7.
		prog := append(PureACKRejector(off), bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 7}, bpf.RetA{})
		if _, err := bpf.Assemble(prog); err != nil {
			t.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			data := c.data
			if off > 0 {
				data = append(make([]byte, off), data...)
			}
			n, err := vm.Run(data)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if want := map[bool]int{true: 0, false: 7}[c.drop]; n != want {
				t.Errorf("off %d, %s: returns %d, want %d", off, c.name, n, want)
			}
		}
	}
}

// TestKernelFilterPureACKs: with dropPureACKs the whole kernel program
// rejects pure ACKs, and still applies the rest of the prefix and the
// user's filter to everything else.
func TestKernelFilterPureACKs(t *testing.T) {
	const lo, eth = 1, 7
	data := ipv4TCP(40000, 8080)
	binary.BigEndian.PutUint16(data[2:], 41)
	data = append(data, 'x')
	pure := ipv4TCP(40000, 8080)
	pure[33] = 0x10
	for _, c := range []struct {
		expr string
		s    skb
		pkt  []byte
		want bool
	}{
		{"", skb{0, lo, 0x0800}, data, true},
		{"", skb{0, lo, 0x0800}, pure, false},
		{"", skb{4, lo, 0x0800}, data, false}, // loopback's duplicate
		{"tcp port 8080", skb{0, eth, 0x0800}, data, true},
		{"tcp port 8081", skb{0, eth, 0x0800}, data, false},
		{"tcp port 8080", skb{0, eth, 0x0800}, pure, false},
		{"udp", skb{0, eth, 0x0800}, data, false},
	} {
		prog, err := KernelFilter(c.expr, DefaultSnapLen, lo, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := runKernel(t, prog, c.s, c.pkt) > 0; got != c.want {
			t.Errorf("%q over %+v: accepted %v, want %v", c.expr, c.s, got, c.want)
		}
	}
}
