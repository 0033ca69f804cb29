package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A Program runs a classic BPF program in user space, with the
// golang.org/x/net/bpf virtual machine. It is safe for concurrent use.
type Program struct {
	vm    *bpf.VM
	insns []bpf.Instruction
	raw   []bpf.RawInstruction
}

// NewProgram prepares insns (typically from Compile) for Match. It fails
// if the program is invalid or uses instructions the Go virtual machine
// cannot run (negation, ancillary loads other than the packet length).
func NewProgram(insns []bpf.Instruction) (*Program, error) {
	for i, ins := range insns {
		if _, ok := ins.(bpf.NegateA); ok {
			return nil, fmt.Errorf("filter: new program: instruction %d: negation is not supported by the Go BPF virtual machine", i)
		}
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("filter: new program: %w", err)
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("filter: new program: %w", err)
	}
	return &Program{vm: vm, insns: insns, raw: raw}, nil
}

// Match reports whether the program accepts packet, which must start with
// the link-layer header of the link type the program was compiled for.
// A packet is accepted if the program returns a nonzero length.
func (p *Program) Match(packet []byte) bool {
	n, err := p.vm.Run(packet)
	return err == nil && n > 0
}

// Instructions returns the program's instructions. The caller must not
// modify them.
func (p *Program) Instructions() []bpf.Instruction { return p.insns }

// Raw returns the program assembled for the kernel (SO_ATTACH_FILTER).
// The caller must not modify it.
func (p *Program) Raw() []bpf.RawInstruction { return p.raw }

// Raw assembles insns for the kernel (SO_ATTACH_FILTER), like
// bpf.Assemble.
func Raw(insns []bpf.Instruction) ([]bpf.RawInstruction, error) {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("filter: assemble: %w", err)
	}
	return raw, nil
}
