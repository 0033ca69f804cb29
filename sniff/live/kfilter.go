package live

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/sniffer/sniffer/sniff/filter"
)

// Packet types (skb->pkt_type, the ancillary load bpf.ExtType) and
// EtherTypes (skb->protocol, bpf.ExtProto) the kernel filter tests.
const (
	packetOutgoing = 4 // PACKET_OUTGOING
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
)

// prefixLen is the most instructions KernelFilter puts before the user's
// program.
const prefixLen = 8

// KernelFilter compiles expr (DefaultFilter if empty) for LinkType and puts
// in front of it a prefix that rejects
//
//   - the outgoing copy of every loopback packet (packet type
//     PACKET_OUTGOING on the interface of index loIndex): loopback hands
//     each packet to AF_PACKET twice, once sent and once received, and
//     only the received copy is kept. Outgoing packets on other
//     interfaces are kept (on a veth they are the application's
//     responses). loIndex 0 leaves this test out.
//   - packets that are not IPv4 or IPv6 (skb->protocol), whose cooked
//     payload would otherwise be read as IP.
//
// The program returns snapLen for the packets it accepts. The prefix uses
// ancillary loads, which the kernel runs but the Go BPF virtual machine
// does not.
func KernelFilter(expr string, snapLen uint32, loIndex uint32) ([]bpf.Instruction, error) {
	if expr == "" {
		expr = DefaultFilter
	}
	user, err := filter.Compile(expr, LinkType, snapLen)
	if err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	return withPrefix(expr, user, loIndex)
}

// withPrefix returns user behind KernelFilter's prefix.
func withPrefix(expr string, user []bpf.Instruction, loIndex uint32) ([]bpf.Instruction, error) {
	// The reject sits inside the prefix, so that every jump of the prefix
	// is short whatever the length of the user's program (classic BPF
	// jump offsets are 8 bits; a jump to a reject at the end of a long
	// program would not fit).
	prog := make([]bpf.Instruction, 0, prefixLen+len(user))
	if loIndex != 0 {
		prog = append(prog,
			/* 0 */ bpf.LoadExtension{Num: bpf.ExtType},
			/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipFalse: 2}, // not outgoing: 4
			/* 2 */ bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
			/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: loIndex, SkipTrue: 3}, // loopback's outgoing copy: 7
		)
	}
	prog = append(prog,
		/* 4 */ bpf.LoadExtension{Num: bpf.ExtProto},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv4, SkipTrue: 2}, // 8
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipTrue: 1}, // 8
		/* 7 */ bpf.RetConstant{Val: 0},
	)
	prog = append(prog, user...)
	if len(prog) > filter.MaxInstructions {
		return nil, &FilterError{Expr: expr, Err: fmt.Errorf("filter: %q compiles to %d instructions, %d with the capture's own; the kernel takes at most %d", expr, len(user), len(prog), filter.MaxInstructions)}
	}
	// Only relative jumps: the user's program is unchanged by the prefix.
	// Check that the whole assembles (offsets in range).
	if _, err := filter.Raw(prog); err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	return prog, nil
}
