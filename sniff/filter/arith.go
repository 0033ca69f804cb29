package filter

import (
	"golang.org/x/net/bpf"
)

// This file lowers relations between arithmetic expressions
// ("tcp[13] & 2 != 0", "ip[2:2] - 20 > len") and generates the code that
// computes them.

// aKind is the kind of a lowered arithmetic expression.
type aKind int

const (
	aConst aKind = iota
	aLen
	aLoad
	aBin
	aNeg
)

// aexpr is a lowered arithmetic expression.
type aexpr struct {
	kind aKind
	k    uint32 // aConst: the value

	// aLoad: size bytes at base + idx (+ the IPv4 header length if ipHdr).
	base  uint32
	size  int
	idx   *aexpr // nil if the index is constant (then folded into base)
	ipHdr bool
	nl    uint32 // offset of the IPv4 header, for ipHdr

	op   bpf.ALUOp // aBin
	x, y *aexpr    // aBin, aNeg (x)
}

var aluOps = map[tokKind]bpf.ALUOp{
	tPlus: bpf.ALUOpAdd, tMinus: bpf.ALUOpSub, tStar: bpf.ALUOpMul,
	tSlash: bpf.ALUOpDiv, tPercent: bpf.ALUOpMod, tAmp: bpf.ALUOpAnd,
	tPipe: bpf.ALUOpOr, tCaret: bpf.ALUOpXor, tLsh: bpf.ALUOpShiftLeft,
	tRsh: bpf.ALUOpShiftRight,
}

// lowerRel lowers a relation. As in libpcap, the protocol checks of every
// accessor in it come first, then the loads and the comparison.
func (l *lowerer) lowerRel(n *relNode) (*cond, error) {
	x, cx, err := l.lowerArith(n.x)
	if err != nil {
		return nil, err
	}
	y, cy, err := l.lowerArith(n.y)
	if err != nil {
		return nil, err
	}
	var jmp bpf.JumpTest
	negate := false
	switch n.op {
	case tGt:
		jmp = bpf.JumpGreaterThan
	case tGe:
		jmp = bpf.JumpGreaterOrEqual
	case tEq:
		jmp = bpf.JumpEqual
	case tLe:
		jmp, negate = bpf.JumpGreaterThan, true
	case tLt:
		jmp, negate = bpf.JumpGreaterOrEqual, true
	case tNeq:
		jmp, negate = bpf.JumpEqual, true
	}
	// libpcap loads the bytes of relations with indirect loads (its
	// accessor code goes through the X register), so its branch optimizer
	// sees their values as different from those of protocol tests that
	// load the same bytes. The "rel:" keys reproduce that, except for
	// "len", which is the same either way.
	var t *cond
	switch {
	case x.kind == aConst && y.kind == aConst:
		// A test of constants, decided by the optimizer.
		t = cTest([]bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: x.k}}, jmp, y.k)
	case y.kind == aConst:
		stmts, err := emit(x, 0, n.at)
		if err != nil {
			return nil, err
		}
		t = cTest(stmts, jmp, y.k)
		if x.kind != aLen {
			t.key = "rel:" + stmtsKey(stmts)
		}
	default:
		ys, err := emit(y, 0, n.at)
		if err != nil {
			return nil, err
		}
		xs, err := emit(x, 1, n.at)
		if err != nil {
			return nil, err
		}
		stmts := append(ys, bpf.StoreScratch{Src: bpf.RegA, N: 0})
		stmts = append(stmts, xs...)
		stmts = append(stmts, bpf.LoadScratch{Dst: bpf.RegX, N: 0})
		t = cTestX(stmts, jmp)
		t.key = "rel:" + stmtsKey(stmts)
	}
	if negate {
		t = cNot(t)
	}
	return cAnd(cAnd(cx, cy), t), nil
}

// lowerArith lowers an arithmetic expression, returning it with the
// protocol checks its accessors need. Constant subexpressions are folded.
func (l *lowerer) lowerArith(a arith) (*aexpr, *cond, error) {
	switch a := a.(type) {
	case *numArith:
		return &aexpr{kind: aConst, k: a.v}, cTrue(), nil
	case *lenArith:
		return &aexpr{kind: aLen}, cTrue(), nil
	case *negArith:
		x, c, err := l.lowerArith(a.x)
		if err != nil {
			return nil, nil, err
		}
		if x.kind == aConst {
			return &aexpr{kind: aConst, k: -x.k}, c, nil
		}
		return &aexpr{kind: aNeg, x: x}, c, nil
	case *binArith:
		x, cx, err := l.lowerArith(a.x)
		if err != nil {
			return nil, nil, err
		}
		y, cy, err := l.lowerArith(a.y)
		if err != nil {
			return nil, nil, err
		}
		op := aluOps[a.op]
		if y.kind == aConst {
			switch {
			case (op == bpf.ALUOpDiv || op == bpf.ALUOpMod) && y.k == 0:
				return nil, nil, errorf(a.at, "division by zero")
			case (op == bpf.ALUOpShiftLeft || op == bpf.ALUOpShiftRight) && y.k > 31:
				return nil, nil, errorf(a.at, "shift by more than 31 bits")
			}
		}
		c := cAnd(cx, cy)
		if x.kind == aConst && y.kind == aConst {
			return &aexpr{kind: aConst, k: fold(op, x.k, y.k)}, c, nil
		}
		// Results that are 0 whatever the other operand is. libpcap's
		// optimizer makes them constant too, which drops the loads of
		// the other operand (and so changes verdicts on packets too
		// short for them). It also does this for "0 / x" and "0 % x",
		// which is wrong when x is 0 (a BPF program aborts on division
		// by zero), so we do not.
		if (y.kind == aConst && y.k == 0 && (op == bpf.ALUOpAnd || op == bpf.ALUOpMul)) ||
			(x.kind == aConst && x.k == 0 && (op == bpf.ALUOpAnd || op == bpf.ALUOpMul ||
				op == bpf.ALUOpShiftLeft || op == bpf.ALUOpShiftRight)) {
			return &aexpr{kind: aConst, k: 0}, c, nil
		}
		return &aexpr{kind: aBin, op: op, x: x, y: y}, c, nil
	case *loadArith:
		return l.lowerLoad(a)
	}
	panic("filter: unexpected arithmetic node")
}

// fold computes x op y.
func fold(op bpf.ALUOp, x, y uint32) uint32 {
	switch op {
	case bpf.ALUOpAdd:
		return x + y
	case bpf.ALUOpSub:
		return x - y
	case bpf.ALUOpMul:
		return x * y
	case bpf.ALUOpDiv:
		return x / y
	case bpf.ALUOpMod:
		return x % y
	case bpf.ALUOpAnd:
		return x & y
	case bpf.ALUOpOr:
		return x | y
	case bpf.ALUOpXor:
		return x ^ y
	case bpf.ALUOpShiftLeft:
		return x << y
	}
	return x >> y
}

// lowerLoad lowers proto[idx:size], like libpcap's gen_load.
func (l *lowerer) lowerLoad(a *loadArith) (*aexpr, *cond, error) {
	idx, ci, err := l.lowerArith(a.idx)
	if err != nil {
		return nil, nil, err
	}
	if a.size != 1 && a.size != 2 && a.size != 4 {
		return nil, nil, errorf(a.szPos, "data size must be 1, 2, or 4")
	}
	e := &aexpr{kind: aLoad, size: int(a.size), nl: l.nl()}
	var c *cond
	switch a.proto.kind {
	case tLink:
		// Relative to the start of the link-layer header.
		e.base, c = 0, ci
	case tIP, tIP6, tARP, tRARP:
		pc, _ := l.protoAbbrev(a.proto)
		e.base, c = l.nl(), cAnd(ci, pc)
	case tTCP, tUDP, tSCTP, tICMP, tIGMP, tIGRP, tPIM, tVRRP, tCARP:
		// Relative to the transport header after an IPv4 header of
		// variable length; IPv4 only, first fragments only.
		pc, _ := l.protoAbbrev(a.proto)
		e.base, e.ipHdr = l.nl(), true
		c = cAnd(l.linktype(etherTypeIPv4), cAnd(ci, cAnd(pc, l.notFragment())))
	case tICMP6:
		// Relative to the end of the fixed IPv6 header.
		e.base = l.nl() + 40
		c = cAnd(cAnd(ci, l.linktype(etherTypeIPv6)), cmp(1, l.nl()+6, protoICMPv6))
	default:
		return nil, nil, unsupported(a.proto)
	}
	if idx.kind == aConst {
		e.base += idx.k
	} else {
		e.idx = idx
	}
	return e, c, nil
}

// maxScratch is the number of BPF scratch memory slots.
const maxScratch = 16

// emit returns code leaving the value of e in A. It may use X and scratch
// slots depth and above. pos locates errors.
func emit(e *aexpr, depth, pos int) ([]bpf.Instruction, error) {
	if depth >= maxScratch {
		return nil, errorf(pos, "expression too complex (needs more than %d scratch slots)", maxScratch)
	}
	switch e.kind {
	case aConst:
		return []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: e.k}}, nil
	case aLen:
		return []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}, nil
	case aNeg:
		code, err := emit(e.x, depth, pos)
		if err != nil {
			return nil, err
		}
		return append(code,
			bpf.TAX{},
			bpf.LoadConstant{Dst: bpf.RegA, Val: 0},
			bpf.ALUOpX{Op: bpf.ALUOpSub}), nil
	case aBin:
		if e.y.kind == aConst {
			code, err := emit(e.x, depth, pos)
			if err != nil {
				return nil, err
			}
			return append(code, bpf.ALUOpConstant{Op: e.op, Val: e.y.k}), nil
		}
		code, err := emit(e.y, depth, pos)
		if err != nil {
			return nil, err
		}
		code = append(code, bpf.StoreScratch{Src: bpf.RegA, N: depth})
		xc, err := emit(e.x, depth+1, pos)
		if err != nil {
			return nil, err
		}
		code = append(code, xc...)
		return append(code, bpf.LoadScratch{Dst: bpf.RegX, N: depth}, bpf.ALUOpX{Op: e.op}), nil
	}

	// aLoad.
	if e.idx == nil {
		if e.ipHdr {
			return []bpf.Instruction{
				bpf.LoadMemShift{Off: e.nl},
				bpf.LoadIndirect{Off: e.base, Size: e.size},
			}, nil
		}
		return []bpf.Instruction{bpf.LoadAbsolute{Off: e.base, Size: e.size}}, nil
	}
	code, err := emit(e.idx, depth, pos)
	if err != nil {
		return nil, err
	}
	if e.ipHdr {
		code = append(code,
			bpf.StoreScratch{Src: bpf.RegA, N: depth},
			bpf.LoadMemShift{Off: e.nl},
			bpf.LoadScratch{Dst: bpf.RegA, N: depth},
			bpf.ALUOpX{Op: bpf.ALUOpAdd})
	}
	return append(code, bpf.TAX{}, bpf.LoadIndirect{Off: e.base, Size: e.size}), nil
}
