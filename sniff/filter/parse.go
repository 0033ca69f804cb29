package filter

import "fmt"

// This file turns tokens into an abstract syntax tree. It follows the
// grammar of libpcap's grammar.y (tcpdump 4.99 / libpcap 1.10):
//
//	expr  := term { ("and" | "or") (term | id) }   -- left associative, equal precedence
//	term  := "not" term | rterm
//	rterm := head id | "(" expr ")" | pname | arith relop arith | other
//	head  := [pname] dqual [aqual] | [pname] aqual | [pname] "proto" | ...
//	id    := nid | NUM | "(" id { ("and" | "or") id } ")"
//	nid   := ID | HID ["/" NUM | "mask" HID] | HID6 ["/" NUM] | "not" id
//
// An id after "and"/"or" without its own qualifiers inherits the
// qualifiers of the previous primitive ("host a or b" is "host a or host
// b"). Only syntax is checked here; the meaning of each primitive, and the
// errors that come with it, are the job of the lowering pass.

// Qualifier values. The zero value of each is "not given".
type (
	qDir  int
	qAddr int
)

const (
	dirDefault qDir = iota
	dirSrc
	dirDst
	dirOr  // src or dst
	dirAnd // src and dst
)

const (
	addrDefault qAddr = iota
	addrHost
	addrNet
	addrPort
	addrPortrange
	addrProto
)

// qual is the set of qualifiers in front of an id, as in libpcap.
type qual struct {
	proto    tokKind // protocol qualifier token kind, or tEOF if none
	protoTok token   // the protocol qualifier token (for messages)
	dir      qDir
	addr     qAddr
	addrTok  token // the token that set addr, or the first qualifier token
	undef    bool  // no qualifiers can be inherited here (libpcap's qerr)
}

// qerr is the qualifier inherited where there is nothing to inherit.
var qerr = qual{undef: true}

// node is an expression in the syntax tree.
type node interface{ pos() int }

type (
	// binaryNode is "x and y" or "x or y".
	binaryNode struct {
		op   tokKind // tAnd or tOr
		x, y node
		at   int
	}
	// notNode is "not x".
	notNode struct {
		x  node
		at int
	}
	// protoNode is a bare protocol name such as "tcp".
	protoNode struct{ tok token }
	// idNode is a value (address, port, ...) with its qualifiers.
	idNode struct {
		q    qual
		val  token  // tNum, tHID, tHID6, tID, tEID or tAID
		mask *token // netmask after "mask" (tHID), or prefix length after "/" (tNum)
		cidr bool   // mask is a prefix length
	}
	// relNode is "x op y" between arithmetic expressions.
	relNode struct {
		op   tokKind // tEq, tNeq, tLt, tLe, tGt, tGe
		x, y arith
		at   int
	}
	// lenNode is "less N" or "greater N".
	lenNode struct {
		kw tokKind // tLess or tGreater
		n  uint32
		at int
	}
	// vlanNode is "vlan [ID]".
	vlanNode struct {
		id    *uint32
		at    int
		idPos int
	}
)

func (n *binaryNode) pos() int { return n.at }
func (n *notNode) pos() int    { return n.at }
func (n *protoNode) pos() int  { return n.tok.pos }
func (n *idNode) pos() int     { return n.val.pos }
func (n *relNode) pos() int    { return n.at }
func (n *lenNode) pos() int    { return n.at }
func (n *vlanNode) pos() int   { return n.at }

// arith is an arithmetic expression.
type arith interface{ pos() int }

type (
	numArith struct {
		v  uint32
		at int
	}
	lenArith  struct{ at int }
	loadArith struct {
		proto token // protocol name before "["
		idx   arith
		size  uint32
		szPos int
	}
	binArith struct {
		op   tokKind
		x, y arith
		at   int // position of the operator
	}
	negArith struct {
		x  arith
		at int
	}
)

func (a *numArith) pos() int  { return a.at }
func (a *lenArith) pos() int  { return a.at }
func (a *loadArith) pos() int { return a.proto.pos }
func (a *binArith) pos() int  { return a.at }
func (a *negArith) pos() int  { return a.at }

// parser is a backtracking recursive-descent parser over a token slice.
type parser struct {
	toks []token
	i    int
}

// parse parses a whole expression. It returns a nil node for an empty
// expression.
func parse(expr string) (node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, _, err := p.expr(qerr)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t, "expected \"and\", \"or\" or end of expression")
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prevText describes the token before the current one, for messages.
func (p *parser) prevText() string {
	if p.i == 0 {
		return ""
	}
	return p.toks[p.i-1].text
}

// unexpected builds a syntax error at token t.
func (p *parser) unexpected(t token, what string) *SyntaxError {
	if t.kind == tEOF {
		return errorf(t.pos, "%s, found end of expression", what)
	}
	return errorf(t.pos, "%s, found %q", what, t.text)
}

// alt tries alternatives in order, rewinding the token position after
// each failure. It returns the first success, or the error that got
// furthest into the input.
func (p *parser) alt(fns ...func() (node, qual, error)) (node, qual, error) {
	start := p.i
	var best *SyntaxError
	for _, fn := range fns {
		p.i = start
		n, q, err := fn()
		if err == nil {
			return n, q, nil
		}
		se, ok := err.(*SyntaxError)
		if !ok || se.fatal {
			return nil, q, err
		}
		if best == nil || (se.prefer && !best.prefer) || (se.prefer == best.prefer && se.Pos > best.Pos) {
			best = se
		}
	}
	p.i = start
	return nil, qerr, best
}

// atExprEnd reports whether the current token can follow a complete term.
func (p *parser) atExprEnd() bool {
	switch p.peek().kind {
	case tAnd, tOr, tRParen, tEOF:
		return true
	}
	return false
}

// expr parses: term { (and|or) (term|id) }.
func (p *parser) expr(q qual) (node, qual, error) {
	x, q, err := p.term(q)
	if err != nil {
		return nil, q, err
	}
	for {
		op := p.peek()
		if op.kind != tAnd && op.kind != tOr {
			return x, q, nil
		}
		p.next()
		if p.peek().kind == tEOF {
			return nil, q, errorf(p.peek().pos, "expected expression after %q", op.text)
		}
		var y node
		y, q, err = p.termOrID(q)
		if err != nil {
			return nil, q, err
		}
		x = &binaryNode{op: op.kind, x: x, y: y, at: op.pos}
	}
}

// termOrID parses what follows "and"/"or": a full term, or a bare id that
// inherits the qualifiers q.
func (p *parser) termOrID(q qual) (node, qual, error) {
	asID := func() (node, qual, error) {
		first := p.peek()
		n, err := p.id(q, "")
		if err != nil {
			return nil, q, err
		}
		if !p.atExprEnd() {
			return nil, q, p.unexpected(p.peek(), "expected \"and\", \"or\" or \")\"")
		}
		if q.undef {
			err := errorf(first.pos, "%q has no qualifier such as \"host\" or \"port\" to inherit from the previous primitive", first.text)
			err.prefer = true
			return nil, q, err
		}
		return n, q, nil
	}
	asTerm := func() (node, qual, error) {
		n, q2, err := p.term(q)
		if err == nil && !p.atExprEnd() {
			err = p.unexpected(p.peek(), "expected \"and\", \"or\" or \")\"")
		}
		return n, q2, err
	}
	switch p.peek().kind {
	case tID, tHID, tHID6, tEID, tAID:
		return asID()
	case tNum, tLParen, tNot:
		return p.alt(asID, asTerm)
	}
	return asTerm()
}

// term parses: not term | rterm.
func (p *parser) term(q qual) (node, qual, error) {
	if t := p.peek(); t.kind == tNot {
		p.next()
		x, q2, err := p.term(q)
		if err != nil {
			return nil, q2, err
		}
		return &notNode{x: x, at: t.pos}, q2, nil
	}
	return p.rterm(q)
}

// rterm parses a primitive or a parenthesized expression.
func (p *parser) rterm(q qual) (node, qual, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		paren := func() (node, qual, error) {
			p.next()
			x, _, err := p.expr(q)
			if err != nil {
				return nil, q, err
			}
			if c := p.peek(); c.kind != tRParen {
				return nil, q, p.unexpected(c, fmt.Sprintf("expected \")\" to match \"(\" at position %d", t.pos))
			}
			p.next()
			if !p.atExprEnd() {
				return nil, q, p.unexpected(p.peek(), "expected \"and\", \"or\" or \")\"")
			}
			// Like libpcap, "(...)" passes on the qualifiers from before it.
			return x, q, nil
		}
		return p.alt(paren, p.relation)
	case tNum, tMinus, tLen:
		return p.relation()
	case tSrc, tDst, tHost, tNet, tPort, tPortrange, tProto, tProtochain, tGateway:
		return p.headID(token{kind: tEOF})
	case tLess, tGreater:
		p.next()
		n := p.peek()
		if n.kind != tNum {
			return nil, qerr, p.unexpected(n, fmt.Sprintf("expected number after %q", t.text))
		}
		p.next()
		return &lenNode{kw: t.kind, n: n.num, at: t.pos}, qerr, nil
	case tVlan:
		p.next()
		v := &vlanNode{at: t.pos}
		if n, ok := p.pnum(); ok {
			v.id, v.idPos = &n.num, n.pos
		}
		return v, qerr, nil
	case tUnsupported, tOtherPname, tBroadcast, tMulticast, tByte:
		return nil, qerr, unsupported(t)
	case tID, tHID, tHID6, tEID, tAID:
		return nil, qerr, errorf(t.pos, "expected a qualifier such as \"host\", \"net\" or \"port\" before %q", t.text)
	case tEOF:
		return nil, qerr, errorf(t.pos, "expected expression, found end of expression")
	}
	if isPname(t.kind) {
		switch p.peekAt(1).kind {
		case tLBrack:
			return p.relation()
		case tSrc, tDst, tHost, tNet, tPort, tPortrange, tProto, tProtochain, tGateway:
			p.next()
			return p.headID(t)
		case tBroadcast, tMulticast:
			return nil, qerr, unsupported(p.peekAt(1))
		}
		p.next()
		return &protoNode{tok: t}, qerr, nil
	}
	return nil, qerr, p.unexpected(t, "expected expression")
}

// isPname reports whether k is a protocol name usable as a qualifier.
func isPname(k tokKind) bool { return k >= tLink && k <= tOtherPname }

// pnum parses NUM or "(" pnum ")" if present.
func (p *parser) pnum() (token, bool) {
	start := p.i
	depth := 0
	for p.peek().kind == tLParen {
		p.next()
		depth++
	}
	n := p.peek()
	if n.kind != tNum {
		p.i = start
		return token{}, false
	}
	p.next()
	for ; depth > 0; depth-- {
		if p.peek().kind != tRParen {
			p.i = start
			return token{}, false
		}
		p.next()
	}
	return n, true
}

// headID parses the qualifiers after an optional protocol qualifier
// pname (kind tEOF if absent), then the id they apply to.
func (p *parser) headID(pname token) (node, qual, error) {
	q := qual{proto: pname.kind, protoTok: pname}
	first := p.peek()
	q.addrTok = first
	switch first.kind {
	case tSrc, tDst:
		p.next()
		q.dir = dirSrc
		if first.kind == tDst {
			q.dir = dirDst
		}
		// "src or dst" / "src and dst" (and the reverse order).
		if c := p.peek(); c.kind == tAnd || c.kind == tOr {
			if o := p.peekAt(1); (o.kind == tSrc || o.kind == tDst) && o.kind != first.kind {
				p.next()
				p.next()
				q.dir = dirOr
				if c.kind == tAnd {
					q.dir = dirAnd
				}
			}
		}
	}
	a := p.peek()
	switch a.kind {
	case tHost, tNet, tPort, tPortrange:
		p.next()
		q.addr = map[tokKind]qAddr{tHost: addrHost, tNet: addrNet, tPort: addrPort, tPortrange: addrPortrange}[a.kind]
		q.addrTok = a
	case tProto, tProtochain, tGateway:
		if q.dir != dirDefault {
			return nil, qerr, p.unexpected(a, "expected \"host\", \"net\", \"port\", \"portrange\" or an address")
		}
		if a.kind != tProto {
			return nil, qerr, unsupported(a)
		}
		p.next()
		q.addr = addrProto
		q.addrTok = a
	}
	if q.proto != tEOF {
		switch q.proto {
		case tLink, tOtherPname:
			return nil, qerr, unsupported(pname)
		}
	}
	n, err := p.id(q, p.prevText())
	if err != nil {
		return nil, qerr, err
	}
	return n, q, nil
}

// id parses an id (the value part of a primitive) with qualifiers q.
// after names the keyword before it, for messages.
func (p *parser) id(q qual, after string) (node, error) {
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.id(q, t.text)
		if err != nil {
			return nil, err
		}
		return &notNode{x: x, at: t.pos}, nil
	case tLParen:
		if n, ok := p.pnum(); ok {
			return &idNode{q: q, val: n}, nil
		}
		p.next()
		x, err := p.id(q, "(")
		if err != nil {
			return nil, err
		}
		for {
			op := p.peek()
			if op.kind != tAnd && op.kind != tOr {
				break
			}
			p.next()
			y, err := p.id(q, op.text)
			if err != nil {
				return nil, err
			}
			x = &binaryNode{op: op.kind, x: x, y: y, at: op.pos}
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.unexpected(c, fmt.Sprintf("expected \")\" to match \"(\" at position %d", t.pos))
		}
		p.next()
		return x, nil
	case tNum, tID, tEID, tAID:
		p.next()
		return &idNode{q: q, val: t}, nil
	case tHID, tHID6:
		p.next()
		n := &idNode{q: q, val: t}
		switch c := p.peek(); {
		case c.kind == tSlash:
			p.next()
			l := p.peek()
			if l.kind != tNum {
				return nil, p.unexpected(l, "expected prefix length after \"/\"")
			}
			p.next()
			n.mask, n.cidr = &l, true
		case c.kind == tMask && t.kind == tHID:
			p.next()
			m := p.peek()
			if m.kind != tHID {
				return nil, p.unexpected(m, "expected netmask after \"mask\"")
			}
			p.next()
			n.mask = &m
		}
		return n, nil
	}
	return nil, p.unexpected(t, expectedAfter(q, after))
}

// expectedAfter describes what an id should have been.
func expectedAfter(q qual, after string) string {
	what := "address"
	switch q.addr {
	case addrNet:
		what = "network"
	case addrPort:
		what = "port number"
	case addrPortrange:
		what = "port range"
	case addrProto:
		what = "protocol number"
	}
	if after == "" {
		return "expected " + what
	}
	return fmt.Sprintf("expected %s after %q", what, after)
}

// relation parses: arith relop arith.
func (p *parser) relation() (node, qual, error) {
	x, err := p.arith()
	if err != nil {
		return nil, qerr, err
	}
	op := p.peek()
	switch op.kind {
	case tEq, tNeq, tLt, tLe, tGt, tGe:
	default:
		return nil, qerr, p.unexpected(op, "expected comparison operator (=, !=, <, <=, >, >=)")
	}
	p.next()
	y, err := p.arith()
	if err != nil {
		return nil, qerr, err
	}
	return &relNode{op: op.kind, x: x, y: y, at: op.pos}, qerr, nil
}

// Binary operator precedence, lowest first, as declared in grammar.y.
var arithPrec = map[tokKind]int{
	tPipe: 1,
	tAmp:  2,
	tLsh:  3, tRsh: 3,
	tPlus: 4, tMinus: 4,
	tStar: 5, tSlash: 5,
}

// arith parses an arithmetic expression.
func (p *parser) arith() (arith, error) { return p.binary(1) }

func (p *parser) binary(minPrec int) (arith, error) {
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		prec, ok := arithPrec[op.kind]
		if !ok || prec < minPrec {
			return x, nil
		}
		p.next()
		y, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		x = &binArith{op: op.kind, x: x, y: y, at: op.pos}
	}
}

// unary parses a primary with optional unary minus. grammar.y gives "%"
// and "^" no precedence, so yacc always shifts them: the operand just
// before them is their left side and the whole rest of the arithmetic
// expression their right side ("a + b % c + d" is "a + (b % (c + d))").
func (p *parser) unary() (arith, error) {
	if t := p.peek(); t.kind == tMinus {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &negArith{x: x, at: t.pos}, nil
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	if op := p.peek(); op.kind == tPercent || op.kind == tCaret {
		p.next()
		y, err := p.arith()
		if err != nil {
			return nil, err
		}
		return &binArith{op: op.kind, x: x, y: y, at: op.pos}, nil
	}
	return x, nil
}

// primary parses NUM, len, proto[expr[:size]] or "(" arith ")".
func (p *parser) primary() (arith, error) {
	t := p.peek()
	switch {
	case t.kind == tNum:
		p.next()
		return &numArith{v: t.num, at: t.pos}, nil
	case t.kind == tLen:
		p.next()
		return &lenArith{at: t.pos}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.arith()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.unexpected(c, fmt.Sprintf("expected \")\" to match \"(\" at position %d", t.pos))
		}
		p.next()
		return x, nil
	case isPname(t.kind):
		if p.peekAt(1).kind != tLBrack {
			return nil, p.unexpected(p.peekAt(1), fmt.Sprintf("expected \"[\" after %q", t.text))
		}
		p.next()
		p.next()
		idx, err := p.arith()
		if err != nil {
			return nil, err
		}
		ld := &loadArith{proto: t, idx: idx, size: 1}
		if c := p.peek(); c.kind == tColon {
			p.next()
			sz := p.peek()
			if sz.kind != tNum {
				return nil, p.unexpected(sz, "expected size 1, 2 or 4 after \":\"")
			}
			p.next()
			ld.size, ld.szPos = sz.num, sz.pos
		}
		if c := p.peek(); c.kind != tRBrack {
			return nil, p.unexpected(c, "expected \"]\"")
		}
		p.next()
		return ld, nil
	case t.kind == tUnsupported:
		return nil, unsupported(t)
	}
	return nil, p.unexpected(t, "expected number, \"len\" or protocol[offset]")
}
