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
// With dropPureACKs the prefix also rejects pure ACKs (PureACKRejector):
// the capture then delivers no TCP segment without payload, SYN, FIN or
// RST, which the caller must have proven changes nothing it prints.
//
// The program returns snapLen for the packets it accepts. The prefix uses
// ancillary loads, which the kernel runs but the Go BPF virtual machine
// does not.
func KernelFilter(expr string, snapLen uint32, loIndex uint32, dropPureACKs bool) ([]bpf.Instruction, error) {
	if expr == "" {
		expr = DefaultFilter
	}
	user, err := filter.Compile(expr, LinkType, snapLen)
	if err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	if dropPureACKs {
		user = append(PureACKRejector(0), user...)
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

// PureACKRejector returns classic BPF instructions that return 0 (reject)
// for a pure ACK and fall through to the instruction after them, with A and
// X zero as at the start of a program, for every other packet. off is
// where the IP header starts (0 for LinkType, 14 for Ethernet).
//
// A pure ACK here is an IPv4 or IPv6 TCP segment whose header is whole in
// the packet, that is not a fragment, has none of SYN, FIN and RST set, and
// carries no payload by the IP header's lengths (total length for IPv4,
// payload length for IPv6, minus the IP and TCP headers; Ethernet padding
// does not count). Anything else is kept: other protocols, IPv6 with
// extension headers, fragments, packets too short to hold the headers, and
// lengths that do not add up (a negative payload, or an IPv4 total
// length of 0 as BIG TCP writes). Classic BPF knows no connection state:
// the final ACK of a handshake or of a close is rejected like any other.
// The loads it makes never read past a packet it has checked the length
// of, so a short packet is not rejected by a failed load.
func PureACKRejector(off uint32) []bpf.Instruction {
	// The program in steps, with symbolic jump targets resolved below:
	// each jump names the step it goes to ("keep": the end, "drop").
	type step struct {
		ins         bpf.Instruction
		label       string
		jt, jf, jmp string // for bpf.JumpIf and JumpIfX; jmp for bpf.Jump
	}
	const keep, drop = "keep", "drop"
	steps := []step{
		{ins: bpf.LoadExtension{Num: bpf.ExtLen}},
		{ins: bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: off + 20}, jf: keep},
		{ins: bpf.LoadAbsolute{Off: off, Size: 1}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4}},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, jt: "v6"},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4}, jf: keep},
		// IPv4: TCP, not a fragment (MF or an offset).
		{ins: bpf.LoadAbsolute{Off: off + 9, Size: 1}},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, jf: keep},
		{ins: bpf.LoadAbsolute{Off: off + 6, Size: 2}},
		{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3fff}, jt: keep},
		// The TCP header's first 14 bytes are in the packet: len >=
		// off + IHL + 14.
		{ins: bpf.LoadMemShift{Off: off}},
		{ins: bpf.TXA{}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: off + 14}},
		{ins: bpf.TAX{}},
		{ins: bpf.LoadExtension{Num: bpf.ExtLen}},
		{ins: bpf.JumpIfX{Cond: bpf.JumpGreaterOrEqual}, jf: keep},
		{ins: bpf.LoadMemShift{Off: off}},
		{ins: bpf.LoadIndirect{Off: off + 13, Size: 1}},
		{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x07}, jt: keep}, // FIN, SYN, RST
		{ins: bpf.LoadIndirect{Off: off + 12, Size: 1}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3c}},
		{ins: bpf.StoreScratch{Src: bpf.RegA, N: 0}},   // TCP header length
		{ins: bpf.LoadAbsolute{Off: off + 2, Size: 2}}, // total length
		{ins: bpf.ALUOpX{Op: bpf.ALUOpSub}},            // - IHL
		{ins: bpf.LoadScratch{Dst: bpf.RegX, N: 0}},    //
		{ins: bpf.ALUOpX{Op: bpf.ALUOpSub}},            // - TCP header
		{ins: bpf.Jump{}, jmp: "payload"},
		// IPv6: TCP right after the fixed header, and its first 14
		// bytes in the packet.
		{label: "v6", ins: bpf.LoadExtension{Num: bpf.ExtLen}},
		{ins: bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: off + 40 + 14}, jf: keep},
		{ins: bpf.LoadAbsolute{Off: off + 6, Size: 1}},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, jf: keep},
		{ins: bpf.LoadAbsolute{Off: off + 40 + 13, Size: 1}},
		{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x07}, jt: keep},
		{ins: bpf.LoadAbsolute{Off: off + 40 + 12, Size: 1}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2}},
		{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3c}},
		{ins: bpf.TAX{}},
		{ins: bpf.LoadAbsolute{Off: off + 4, Size: 2}}, // payload length
		{ins: bpf.ALUOpX{Op: bpf.ALUOpSub}},
		// A is the TCP payload's length (wrapped if negative).
		{label: "payload", ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, jf: keep},
		{label: drop, ins: bpf.RetConstant{Val: 0}},
		{label: keep, ins: bpf.LoadConstant{Dst: bpf.RegA, Val: 0}},
		{ins: bpf.LoadConstant{Dst: bpf.RegX, Val: 0}},
	}
	at := map[string]int{}
	for i, s := range steps {
		if s.label != "" {
			at[s.label] = i
		}
	}
	skip := func(from int, to string) uint8 {
		if to == "" {
			return 0
		}
		return uint8(at[to] - from - 1)
	}
	prog := make([]bpf.Instruction, 0, len(steps))
	for i, s := range steps {
		switch ins := s.ins.(type) {
		case bpf.JumpIf:
			ins.SkipTrue, ins.SkipFalse = skip(i, s.jt), skip(i, s.jf)
			prog = append(prog, ins)
		case bpf.JumpIfX:
			ins.SkipTrue, ins.SkipFalse = skip(i, s.jt), skip(i, s.jf)
			prog = append(prog, ins)
		case bpf.Jump:
			ins.Skip = uint32(skip(i, s.jmp))
			prog = append(prog, ins)
		default:
			prog = append(prog, ins)
		}
	}
	return prog
}
