package filter

import (
	"math/bits"

	"golang.org/x/net/bpf"
)

// This file reproduces the control-flow part of libpcap's optimizer
// (optimize.c): jump threading over dominating edges (opt_j/fold_edge),
// removal of tests whose branches meet, and the or/and "pull-up" that
// groups tests on the same value.
//
// The optimizer does not change which packets a filter accepts when the
// whole packet is available, but it does change which loads are made, and
// a load past the end of a (truncated) packet makes a BPF program reject
// the packet on the spot. tcpdump always optimizes, so to give the same
// verdicts on truncated packets we must make the same decisions.
//
// Tests of constants are decided first, as libpcap's peephole pass does,
// and identical blocks are merged at the end (intern_blocks, see
// internEmitted). libpcap 1.10.3, the version in Debian 12, has optimizer
// bugs that make it miscompile some expressions (fixed in libpcap 1.10.5:
// issues #143 and #945, and "jset #0xffffffff"); we do not reproduce
// them. In particular a pull-up here only moves blocks that have a single
// predecessor, which libpcap does not check.
//
// Every block's statements compute A (and X) from the packet alone,
// without depending on earlier blocks, so the value of A at the end of a
// block is identified by the text of its statements (block.key). That
// plays the role of libpcap's value numbers, and means no transformation
// here can break a data dependency. Redundant loads are removed only when
// the program is laid out.

// bitset is a set of small integers.
type bitset []uint64

func newBitset(n int, full bool) bitset {
	s := make(bitset, (n+63)/64)
	if full {
		for i := range s {
			s[i] = ^uint64(0)
		}
	}
	return s
}

func (s bitset) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s bitset) add(i int)      { s[i/64] |= 1 << (i % 64) }
func (s bitset) intersect(t bitset) {
	for i := range s {
		s[i] &= t[i]
	}
}
func (s bitset) clear() {
	for i := range s {
		s[i] = 0
	}
}

// inEdge is an edge into a block: from pred, on its true branch if t.
type inEdge struct {
	pred *block
	t    bool
}

// optimizer holds the state of one optimization.
type optimizer struct {
	root   *block
	blocks []*block   // all blocks, by id (preorder from the root)
	levels [][]*block // blocks by level, in libpcap's list order
}

// optimize applies libpcap's branch optimizations to the graph at root
// and returns the new root.
func optimize(root *block) *block {
	if root.ret {
		return root
	}
	o := &optimizer{root: root}
	o.number(root)
	foldConstants(o.blocks)
	for _, b := range o.blocks {
		b.dom = newBitset(len(o.blocks), true)
		b.edom[0] = newBitset(2*len(o.blocks), true)
		b.edom[1] = newBitset(2*len(o.blocks), true)
	}
	// libpcap gives up after 100 passes that only move branches; every
	// pass here only moves branches.
	for pass := 0; pass < 100; pass++ {
		o.findLevels()
		o.findDom()
		o.findEdom()
		done := true
		for lvl := 1; lvl < len(o.levels); lvl++ {
			for _, p := range o.levels[lvl] {
				if o.optJ(p, true) {
					done = false
				}
				if o.optJ(p, false) {
					done = false
				}
			}
		}
		o.findInEdges()
		for lvl := 1; lvl < len(o.levels); lvl++ {
			for _, p := range o.levels[lvl] {
				for _, or := range []bool{true, false} {
					if o.pullup(p, or) {
						done = false
					}
				}
			}
		}
		if done {
			break
		}
	}
	return root
}

// skipTrivial bypasses blocks whose branches meet and whose statements
// cannot make the program abort. libpcap leaves them in (see
// foldConstants); they change nothing.
func skipTrivial(root *block) *block {
	resolved := map[*block]*block{}
	var resolve func(b *block) *block
	resolve = func(b *block) *block {
		if r, ok := resolved[b]; ok {
			return r
		}
		r := b
		if !b.ret {
			b.jt, b.jf = resolve(b.jt), resolve(b.jf)
			if b.jt == b.jf && !canAbort(b.stmts) {
				r = b.jt
			}
		}
		resolved[b] = r
		return r
	}
	return resolve(root)
}

// canAbort reports whether running stmts can end the program: a load
// past the end of the packet, or a division by zero.
func canAbort(stmts []bpf.Instruction) bool {
	for _, s := range stmts {
		switch s := s.(type) {
		case bpf.LoadConstant, bpf.LoadExtension, bpf.ALUOpConstant, bpf.TAX, bpf.TXA,
			bpf.StoreScratch, bpf.LoadScratch:
		case bpf.ALUOpX:
			if s.Op == bpf.ALUOpDiv || s.Op == bpf.ALUOpMod {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// number gives blocks ids in preorder from the root (true branch first),
// like libpcap's number_blks_r.
func (o *optimizer) number(b *block) {
	if b.id >= 0 {
		return
	}
	b.id = len(o.blocks)
	o.blocks = append(o.blocks, b)
	if !b.ret {
		o.number(b.jt)
		o.number(b.jf)
	}
}

// edgeID returns libpcap's id of b's true or false edge.
func (o *optimizer) edgeID(b *block, t bool) int {
	if t {
		return b.id
	}
	return len(o.blocks) + b.id
}

// findLevels sets each reachable block's level (0 for returns, else one
// more than its highest successor) and lists blocks by level, in the
// order libpcap's find_levels_r does.
func (o *optimizer) findLevels() {
	seen := make(map[*block]bool)
	var finish []*block
	var visit func(b *block)
	visit = func(b *block) {
		if seen[b] {
			return
		}
		seen[b] = true
		if b.ret {
			b.level = 0
		} else {
			visit(b.jt)
			visit(b.jf)
			b.level = max(b.jt.level, b.jf.level) + 1
		}
		finish = append(finish, b)
	}
	visit(o.root)
	o.levels = make([][]*block, o.root.level+1)
	for i := len(finish) - 1; i >= 0; i-- { // libpcap prepends to each list
		b := finish[i]
		o.levels[b.level] = append(o.levels[b.level], b)
	}
}

// findDom computes block dominators, like libpcap's find_dom.
func (o *optimizer) findDom() {
	for _, b := range o.blocks {
		for i := range b.dom {
			b.dom[i] = ^uint64(0)
		}
	}
	o.root.dom.clear()
	for lvl := len(o.levels) - 1; lvl >= 0; lvl-- {
		for _, b := range o.levels[lvl] {
			b.dom.add(b.id)
			if b.ret {
				continue
			}
			b.jt.dom.intersect(b.dom)
			b.jf.dom.intersect(b.dom)
		}
	}
}

// findEdom computes edge dominators, like libpcap's find_edom: the edges
// every path from the root to an edge goes through, itself included.
func (o *optimizer) findEdom() {
	for _, b := range o.blocks {
		for _, s := range b.edom {
			for i := range s {
				s[i] = ^uint64(0)
			}
		}
	}
	o.root.edom[0].clear()
	o.root.edom[1].clear()
	for lvl := len(o.levels) - 1; lvl >= 0; lvl-- {
		for _, b := range o.levels[lvl] {
			if b.ret {
				continue
			}
			for i, t := range []bool{true, false} {
				e := b.edom[i]
				e.add(o.edgeID(b, t))
				succ := b.succ(t)
				succ.edom[0].intersect(e)
				succ.edom[1].intersect(e)
			}
		}
	}
}

// succ returns the block b continues at if its test is t.
func (b *block) succ(t bool) *block {
	if t {
		return b.jt
	}
	return b.jf
}

// setSucc makes b continue at s if its test is t.
func (b *block) setSucc(t bool, s *block) {
	if t {
		b.jt = s
	} else {
		b.jf = s
	}
}

// edgeBlock returns the block owning edge id, and which branch it is.
func (o *optimizer) edgeBlock(id int) (*block, bool) {
	if id < len(o.blocks) {
		return o.blocks[id], true
	}
	return o.blocks[id-len(o.blocks)], false
}

// optJ shortcuts the t edge of p past blocks whose outcome is already
// known there, like libpcap's opt_j. It reports whether it changed
// anything.
func (o *optimizer) optJ(p *block, t bool) bool {
	succ := p.succ(t)
	if succ.ret {
		return false
	}
	changed := false
	if succ.jt == succ.jf {
		// Both branches of the successor lead to the same block.
		succ = succ.jt
		p.setSucc(t, succ)
		changed = true
	}
	edom := p.edom[0]
	if !t {
		edom = p.edom[1]
	}
top:
	for w, word := range edom {
		for word != 0 {
			k := bits.TrailingZeros64(word)
			word &^= 1 << k
			db, dt := o.edgeBlock(w*64 + k)
			if target := foldEdge(succ, db, dt); target != nil {
				succ = target
				p.setSucc(t, succ)
				changed = true
				if !succ.ret {
					goto top
				}
				return true
			}
		}
	}
	return changed
}

// foldEdge returns where child goes, if that is known from having taken
// the t branch of pred, or nil. Like libpcap's fold_edge: the tests must
// be the same kind on the same value; with the same operand the outcome
// is the same, and an equality that held rules out any other constant.
func foldEdge(child, pred *block, t bool) *block {
	if child.ret || child.jmp != pred.jmp || child.useX != pred.useX || child.key != pred.key {
		return nil
	}
	if child.useX || child.k == pred.k {
		return child.succ(t)
	}
	if t && child.jmp == bpf.JumpEqual {
		return child.jf
	}
	return nil
}

// findInEdges records each block's predecessors, walking the (possibly
// stale) level lists like libpcap's find_inedges.
func (o *optimizer) findInEdges() {
	for _, b := range o.blocks {
		b.in = b.in[:0]
		b.npred = 0
	}
	// libpcap prepends to the lists while walking from the top level
	// down; append while walking the other way round.
	for lvl := 1; lvl < len(o.levels); lvl++ {
		l := o.levels[lvl]
		for i := len(l) - 1; i >= 0; i-- {
			b := l[i]
			b.jf.in = append(b.jf.in, inEdge{b, false})
			b.jt.in = append(b.jt.in, inEdge{b, true})
			b.jf.npred++
			b.jt.npred++
		}
	}
}

// redirect makes the t edge of b go to s. Like libpcap, it leaves the
// predecessor lists as they are until the next pass, but it keeps the
// predecessor counts exact: pullup relies on them to stay safe.
func redirect(b *block, t bool, s *block) {
	b.succ(t).npred--
	b.setSucc(t, s)
	s.npred++
}

// pullup is libpcap's or_pullup (or == true) and and_pullup. In a chain
// of blocks that all jump to the same place when their test is true (for
// "or"; false for "and") and otherwise continue down the chain, it moves
// a later test on the value A had on entry to b up in front of the first
// test on a different value, so tests on the same field come together.
func (o *optimizer) pullup(b *block, or bool) bool {
	if len(b.in) == 0 || b.ret {
		return false
	}
	val := b.in[0].pred.key
	for _, e := range b.in[1:] {
		if e.pred.key != val {
			return false
		}
	}
	// exit is the shared destination; next follows the chain.
	exit := func(x *block) *block { return x.succ(or) }
	// A position in the chain: the branch of owner that points at a block.
	type slot struct {
		owner *block
		t     bool
	}
	get := func(s slot) *block { return s.owner.succ(s.t) }

	diff := slot{b.in[0].pred, b.in[0].t}
	atTop := true
	for {
		d := get(diff)
		if d.ret || exit(d) != exit(b) || !d.dom.has(b.id) {
			return false
		}
		if d.key != val {
			break
		}
		diff = slot{d, !or}
		atTop = false
	}
	if !atTop && !o.singlePred(get(diff)) {
		return false
	}
	same := slot{get(diff), !or}
	for {
		s := get(same)
		if s.ret || exit(s) != exit(b) || !s.dom.has(b.id) || !o.singlePred(s) {
			return false
		}
		if s.key == val {
			break
		}
		same = slot{s, !or}
	}
	pull := get(same)
	d := get(diff)
	var top []inEdge
	for _, e := range b.in {
		if e.pred.succ(e.t) == b {
			top = append(top, e)
		}
	}
	redirect(same.owner, same.t, pull.succ(!or))
	redirect(pull, !or, d)
	if atTop {
		for _, e := range top {
			redirect(e.pred, e.t, pull)
		}
	} else {
		redirect(diff.owner, diff.t, pull)
	}
	return true
}

// singlePred reports whether b is reached by one edge only. libpcap does
// not check this; we do, so that moving b cannot affect another path.
func (o *optimizer) singlePred(b *block) bool { return b.npred == 1 }

// internEmitted merges blocks that do the same thing (same emitted
// statements, test and successors), like libpcap's intern_blocks. It must
// run after dropRedundantLoads, and the emitted statements must not be
// recomputed afterwards: a merged block may test a register that holds
// different values on different paths.
func internEmitted(root *block) *block {
	type sig struct {
		emit   string
		jmp    bpf.JumpTest
		k      uint32
		useX   bool
		jt, jf *block
	}
	canon := map[sig]*block{}
	done := map[*block]*block{}
	var visit func(b *block) *block
	visit = func(b *block) *block {
		if c, ok := done[b]; ok {
			return c
		}
		if b.ret {
			done[b] = b
			return b
		}
		b.jt, b.jf = visit(b.jt), visit(b.jf)
		s := sig{stmtsKey(b.emit), b.jmp, b.k, b.useX, b.jt, b.jf}
		c, ok := canon[s]
		if !ok {
			canon[s], c = b, b
		}
		done[b] = c
		return c
	}
	return visit(root)
}

// optRoot skips root blocks whose branches meet, like libpcap's opt_root
// (which runs after intern_blocks). As there, the statements of the root
// are kept if it is libpcap's original root (keep), as they may abort the
// program on a short packet. If the new root's emitted statements rely on
// registers set by the skipped blocks, those are all kept instead.
func optRoot(root *block, keep bool) *block {
	if root.ret || root.jt != root.jf {
		return root
	}
	first := root
	var skipped []*block
	for !root.ret && root.jt == root.jf {
		skipped = append(skipped, root)
		root = root.jt
	}
	if root.ret {
		return root
	}
	var pre []bpf.Instruction
	switch {
	case stmtsKey(root.emit) != stmtsKey(root.stmts):
		for _, b := range skipped {
			pre = append(pre, b.emit...)
		}
	case keep && canAbort(first.emit):
		pre = first.emit
	}
	if len(pre) == 0 {
		return root
	}
	r := *root
	r.emit = append(append([]bpf.Instruction(nil), pre...), root.emit...)
	return &r
}

// foldConstants decides tests of constants (see cConst), as libpcap's
// peephole optimizer does before any branch is moved: both branches then
// go where the constant leads, and the block is bypassed later like any
// other whose branches meet.
func foldConstants(blocks []*block) {
	for _, b := range blocks {
		if b.ret || len(b.stmts) != 1 || b.useX {
			continue
		}
		lc, ok := b.stmts[0].(bpf.LoadConstant)
		if !ok || lc.Dst != bpf.RegA {
			continue
		}
		var v bool
		switch b.jmp {
		case bpf.JumpEqual:
			v = lc.Val == b.k
		case bpf.JumpGreaterThan:
			v = lc.Val > b.k
		case bpf.JumpGreaterOrEqual:
			v = lc.Val >= b.k
		case bpf.JumpBitsSet:
			v = lc.Val&b.k != 0
		}
		if v {
			b.jf = b.jt
		} else {
			b.jt = b.jf
		}
	}
}
