// Package filter compiles tcpdump filter expressions ("tcp port 80 and
// host 10.0.0.1") to classic BPF programs, without libpcap.
//
// The compiler follows the semantics of tcpdump 4.99 / libpcap 1.10 and is
// tested against tcpdump's own output: for every supported expression and
// link type, the compiled program accepts the same packets as tcpdump's.
// That includes truncated packets, on which the verdict depends on which
// bytes a program reads (a load past the end rejects the packet): the
// package reproduces the decisions of libpcap's optimizer so as to read
// the same ones. Where libpcap 1.10.3's optimizer is known to miscompile
// (bugs fixed in libpcap 1.10.5), the package follows the meaning of the
// expression, i.e. what "tcpdump -O" does. Expressions that use tcpdump
// features this package does not implement are rejected with a
// *SyntaxError rather than compiled to a different filter.
//
// The generated programs use only relative jumps (as all classic BPF
// does), so instructions may be prepended to them, and no ancillary
// (SKF_AD_*) loads other than the packet length.
//
// Two things to know when attaching programs to a Linux packet socket:
// the kernel usually strips 802.1Q tags before socket filters run (libpcap
// then tests "vlan" with an ancillary load, which this package does not
// do), and a SOCK_DGRAM socket does not show filters the Linux cooked
// (SLL/SLL2) header: programs for those link types are for packets as
// libpcap presents them, not for attaching to such a socket.
package filter

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is the value Compile uses when snaplen is 0, the same as
// tcpdump's default.
const DefaultSnaplen = 262144

// MaxInstructions is the longest program Compile returns, the Linux
// kernel's limit for classic BPF socket filters (BPF_MAXINSNS).
const MaxInstructions = 4096

// Compile compiles a tcpdump-syntax expression for packets of the given
// link type. snaplen is used for the final RET (accept) value, like tcpdump
// (262144 if 0). An empty or all-space expression accepts every packet.
//
// Supported link types are Ethernet, Linux cooked capture (SLL and SLL2),
// raw IP (101, and the DLT values 12 and 14), IPv4 (228), IPv6 (229), BSD
// loopback (NULL, 0) and OpenBSD loopback (LOOP, 108).
//
// Errors in the expression are returned as *SyntaxError.
func Compile(expr string, link layers.LinkType, snaplen uint32) ([]bpf.Instruction, error) {
	return compile(expr, link, snaplen, true)
}

// compile is Compile, with libpcap's optimizations if opt. Without them
// the program accepts the same complete packets, but may make more loads
// (and so reject truncated packets that tcpdump accepts).
func compile(expr string, link layers.LinkType, snaplen uint32, opt bool) ([]bpf.Instruction, error) {
	li, err := linkInfoFor(link)
	if err != nil {
		return nil, err
	}
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	ast, err := parse(expr)
	if err != nil {
		return nil, setExpr(err, expr)
	}
	c := cTrue()
	if ast != nil {
		l := &lowerer{link: li}
		c, err = l.lower(ast)
		if err != nil {
			return nil, setExpr(err, expr)
		}
	}
	insns, err := generate(c, snaplen, opt)
	if err != nil {
		return nil, fmt.Errorf("filter: compile: %w", err)
	}
	return insns, nil
}

// A SyntaxError reports an expression that cannot be compiled: malformed,
// meaningless (like "tcp host 1.2.3.4"), or using a tcpdump feature this
// package does not support.
type SyntaxError struct {
	Expr string // the whole expression
	Pos  int    // 0-based byte offset of the problem in Expr
	Msg  string // description of the problem

	fatal  bool // the parser must not try another alternative
	prefer bool // report this rather than errors of other alternatives
}

// Error returns the message in the form `filter: position 12: expected port
// number after "port"`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: position %d: %s", e.Pos, e.Msg)
}

// errorf returns a *SyntaxError at byte offset pos.
func errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// unsupported returns the error for a tcpdump keyword this package does not
// implement.
func unsupported(t token) *SyntaxError {
	return &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("%q is not supported", t.text), fatal: true}
}

// setExpr fills in the expression of a *SyntaxError.
func setExpr(err error, expr string) error {
	if se, ok := err.(*SyntaxError); ok {
		se.Expr = expr
		se.fatal = false
	}
	return err
}
