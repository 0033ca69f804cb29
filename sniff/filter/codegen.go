package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// This file turns the boolean intermediate form produced by the lowering
// pass into classic BPF. A condition is a tree of and/or/not over tests;
// a test is a few straight-line instructions followed by one conditional
// jump. Code generation works backwards from the two exits (accept and
// reject): to compile "x and y" with exits t and f, y is compiled first
// with exits t and f, then x with exits (start of y) and f. The result is
// a directed acyclic graph of blocks, which optimize.go rearranges as
// libpcap would, and which is finally laid out in topological order so
// that every jump goes forward (classic BPF has no backward jumps), with
// redundant loads removed and long jumps routed through "ja".

// condKind is the kind of a cond node.
type condKind int

const (
	kTrue condKind = iota
	kFalse
	kAnd
	kOr
	kNot
	kTest
)

// cond is a node of the boolean intermediate form.
type cond struct {
	kind condKind
	x, y *cond

	// For kTest: run stmts, then jump on "A <jmp> k" (or "A <jmp> X" if
	// useX).
	stmts []bpf.Instruction
	jmp   bpf.JumpTest
	k     uint32
	useX  bool
	// key, if set, replaces the text of stmts as the identity of the
	// tested value for the optimizer (see lowerRel).
	key string
}

func cTrue() *cond  { return &cond{kind: kTrue} }
func cFalse() *cond { return &cond{kind: kFalse} }

// cAnd returns "x and y", folding constants where that drops no loads of x.
func cAnd(x, y *cond) *cond {
	switch {
	case x.kind == kTrue:
		return y
	case x.kind == kFalse:
		return x
	case y.kind == kTrue:
		return x
	}
	return &cond{kind: kAnd, x: x, y: y}
}

// cOr returns "x or y", folding constants where that drops no loads of x.
func cOr(x, y *cond) *cond {
	switch {
	case x.kind == kFalse:
		return y
	case x.kind == kTrue:
		return x
	case y.kind == kFalse:
		return x
	}
	return &cond{kind: kOr, x: x, y: y}
}

// cNot returns "not x".
func cNot(x *cond) *cond {
	switch x.kind {
	case kTrue:
		return cFalse()
	case kFalse:
		return cTrue()
	case kNot:
		return x.x
	}
	return &cond{kind: kNot, x: x}
}

// cTest returns a test leaf: run stmts, then compare A with k.
func cTest(stmts []bpf.Instruction, jmp bpf.JumpTest, k uint32) *cond {
	return &cond{kind: kTest, stmts: stmts, jmp: jmp, k: k}
}

// cConst returns a test that is always v. Like libpcap's gen_true and
// gen_false, it is a real test of a constant, so that the optimizer sees
// the same program structure as libpcap's does (see foldConstants).
func cConst(v bool) *cond {
	k := uint32(1)
	if v {
		k = 0
	}
	return cTest([]bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: k}}, bpf.JumpEqual, 0)
}

// cTestX returns a test leaf comparing A with X.
func cTestX(stmts []bpf.Instruction, jmp bpf.JumpTest) *cond {
	return &cond{kind: kTest, stmts: stmts, jmp: jmp, useX: true}
}

// block is a unit of generated code: statements and a conditional jump, or
// a return (the accept and reject exits).
type block struct {
	stmts  []bpf.Instruction
	key    string // identifies the values of A and X after stmts
	jmp    bpf.JumpTest
	k      uint32
	useX   bool
	jt, jf *block

	ret    bool // this block is "ret #retVal"
	retVal uint32

	// Optimizer state.
	id    int
	level int
	dom   bitset    // blocks that dominate this one
	edom  [2]bitset // edges that dominate the true and false edges
	in    []inEdge  // predecessors, as of the start of the pass
	npred int       // number of predecessors

	// Layout state.
	start        int  // index of the first instruction
	longT, longF bool // the true/false branch needs an unconditional "ja" trampoline
	emit         []bpf.Instruction
}

// compileCond emits code for c that continues at t if c holds and at f
// otherwise, and returns the entry block.
//
// Tests whose outcome does not matter (t == f) are still generated: they
// are left to the optimizer, which removes them or not as libpcap does.
func compileCond(c *cond, t, f *block) *block {
	switch c.kind {
	case kTrue:
		return t
	case kFalse:
		return f
	case kNot:
		return compileCond(c.x, f, t)
	case kAnd:
		y := compileCond(c.y, t, f)
		return compileCond(c.x, y, f)
	case kOr:
		y := compileCond(c.y, t, f)
		return compileCond(c.x, t, y)
	}
	key := c.key
	if key == "" {
		key = stmtsKey(c.stmts)
	}
	return &block{stmts: c.stmts, key: key, jmp: c.jmp, k: c.k, useX: c.useX, jt: t, jf: f, id: -1}
}

// stmtsKey returns a string identifying the computation done by stmts.
func stmtsKey(stmts []bpf.Instruction) string {
	var b strings.Builder
	for _, s := range stmts {
		fmt.Fprintf(&b, "%v;", s)
	}
	return b.String()
}

// generate compiles, optimizes (if opt) and lays out the program for c.
func generate(c *cond, snaplen uint32, opt bool) ([]bpf.Instruction, error) {
	accept := &block{ret: true, retVal: snaplen, id: -1}
	reject := &block{ret: true, retVal: 0, id: -1}
	entry := compileCond(c, accept, reject)
	keepRoot := false
	if opt {
		orig := optimize(entry)
		entry = skipTrivial(orig)
		keepRoot = entry == orig
	}
	if entry.ret {
		return []bpf.Instruction{bpf.RetConstant{Val: entry.retVal}}, nil
	}
	order := layoutOrder(entry, accept, reject)
	dropRedundantLoads(order)
	if opt {
		// Like libpcap, merge blocks that do the same thing once
		// redundant loads are gone: a test of A can then serve paths on
		// which A holds different values.
		entry = optRoot(internEmitted(entry), keepRoot)
		if entry.ret {
			return []bpf.Instruction{bpf.RetConstant{Val: entry.retVal}}, nil
		}
		order = layoutOrder(entry, accept, reject)
	}

	// Conditional jumps reach at most 255 instructions ahead. Where that
	// is not enough, route the branch through an unconditional jump
	// placed right after the conditional one, and repeat until stable.
	n := 0
	for changed := true; changed; {
		n = 0
		for _, b := range order {
			b.start = n
			n += b.size()
		}
		changed = false
		for _, b := range order {
			if b.ret {
				continue
			}
			at := b.start + len(b.emit) // index of the conditional jump
			if b.jt.start <= at || b.jf.start <= at {
				return nil, fmt.Errorf("internal error: backward jump at instruction %d", at)
			}
			if !b.longT && b.jt.start-(at+1) > 255 {
				b.longT, changed = true, true
			}
			if !b.longF && b.jf.start-(at+1) > 255 {
				b.longF, changed = true, true
			}
		}
	}
	if n > MaxInstructions {
		return nil, fmt.Errorf("program has %d instructions, more than the limit of %d", n, MaxInstructions)
	}

	prog := make([]bpf.Instruction, 0, n)
	for _, b := range order {
		if b.ret {
			prog = append(prog, bpf.RetConstant{Val: b.retVal})
			continue
		}
		prog = append(prog, b.emit...)
		at := len(prog)
		next := at + 1 // first instruction after the conditional jump
		var skipT, skipF int
		if b.longT {
			skipT = next - (at + 1)
			next++
		} else {
			skipT = b.jt.start - (at + 1)
		}
		if b.longF {
			skipF = next - (at + 1)
		} else {
			skipF = b.jf.start - (at + 1)
		}
		if b.useX {
			prog = append(prog, bpf.JumpIfX{Cond: b.jmp, SkipTrue: uint8(skipT), SkipFalse: uint8(skipF)})
		} else {
			prog = append(prog, bpf.JumpIf{Cond: b.jmp, Val: b.k, SkipTrue: uint8(skipT), SkipFalse: uint8(skipF)})
		}
		if b.longT {
			prog = append(prog, bpf.Jump{Skip: uint32(b.jt.start - (len(prog) + 1))})
		}
		if b.longF {
			prog = append(prog, bpf.Jump{Skip: uint32(b.jf.start - (len(prog) + 1))})
		}
	}
	return prog, nil
}

// layoutOrder orders the blocks reachable from entry so that every jump
// goes forward: reverse postorder, visiting the true branch first so that
// the false branch usually falls through, with the exits last.
func layoutOrder(entry, accept, reject *block) []*block {
	var post []*block
	seen := map[*block]bool{}
	var visit func(b *block)
	visit = func(b *block) {
		if seen[b] {
			return
		}
		seen[b] = true
		if b.ret {
			return
		}
		visit(b.jt)
		visit(b.jf)
		post = append(post, b)
	}
	visit(entry)
	var order []*block
	for i := len(post) - 1; i >= 0; i-- {
		order = append(order, post[i])
	}
	for _, b := range []*block{accept, reject} {
		if seen[b] {
			order = append(order, b)
		}
	}
	return order
}

// size is the number of instructions b occupies.
func (b *block) size() int {
	if b.ret {
		return 1
	}
	n := len(b.emit) + 1
	if b.longT {
		n++
	}
	if b.longF {
		n++
	}
	return n
}

// regs is what is known about the registers at a point of the program:
// for A, X and each scratch slot, a description of the value it holds
// (as a function of the packet), or "" if unknown.
type regs struct {
	a, x string
	m    [maxScratch]string
}

// meet keeps what r and s agree on.
func (r *regs) meet(s *regs) {
	if r.a != s.a {
		r.a = ""
	}
	if r.x != s.x {
		r.x = ""
	}
	for i := range r.m {
		if r.m[i] != s.m[i] {
			r.m[i] = ""
		}
	}
}

// dropRedundantLoads sets each block's emitted statements: its
// statements minus loads of values the registers are known to hold
// already on every path into the block. order must be topological.
func dropRedundantLoads(order []*block) {
	in := map[*block]*regs{}
	for i, b := range order {
		if b.ret {
			continue
		}
		r := in[b]
		if r == nil || i == 0 {
			r = &regs{}
		}
		b.emit = nil
		for _, s := range b.stmts {
			if !r.apply(s) {
				b.emit = append(b.emit, s)
			}
		}
		for _, succ := range []*block{b.jt, b.jf} {
			if prev, ok := in[succ]; ok {
				prev.meet(r)
			} else {
				c := *r
				in[succ] = &c
			}
		}
	}
}

// apply updates r for s, and reports whether s can be left out because
// it loads a value already in its destination register.
func (r *regs) apply(s bpf.Instruction) bool {
	v := fmt.Sprint(s)
	switch s := s.(type) {
	case bpf.LoadAbsolute, bpf.LoadExtension:
		if r.a == v {
			return true
		}
		r.a = v
	case bpf.LoadConstant:
		if s.Dst == bpf.RegX {
			if r.x == v {
				return true
			}
			r.x = v
		} else {
			if r.a == v {
				return true
			}
			r.a = v
		}
	case bpf.LoadMemShift:
		if r.x == v {
			return true
		}
		r.x = v
	case bpf.LoadIndirect:
		if r.x == "" {
			r.a = ""
			break
		}
		v = "(" + r.x + ")" + v
		if r.a == v {
			return true
		}
		r.a = v
	case bpf.ALUOpConstant:
		if r.a != "" {
			r.a = "(" + r.a + ")" + v
		}
	case bpf.ALUOpX:
		if r.a != "" && r.x != "" {
			r.a = "(" + r.a + ")" + v + "(" + r.x + ")"
		} else {
			r.a = ""
		}
	case bpf.TAX:
		r.x = r.a
	case bpf.TXA:
		r.a = r.x
	case bpf.StoreScratch:
		if s.Src == bpf.RegX {
			r.m[s.N] = r.x
		} else {
			r.m[s.N] = r.a
		}
	case bpf.LoadScratch:
		if s.Dst == bpf.RegX {
			r.x = r.m[s.N]
		} else {
			r.a = r.m[s.N]
		}
	default:
		r.a, r.x = "", ""
	}
	return false
}
