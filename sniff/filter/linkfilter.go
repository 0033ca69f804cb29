package filter

import (
	"github.com/gopacket/gopacket/layers"
)

// maxLinkPrograms bounds the programs a LinkFilter keeps: one for each link
// type the compiler supports (linkInfoOf), which are fewer.
const maxLinkPrograms = 16

// MaxWarnedLinks is the number of link types without a program a
// LinkFilter reports through Warn, one call each; frames of further ones
// are skipped and counted all the same. It bounds both the filter's memory
// and the warnings a hostile file (a pcapng with thousands of interfaces of
// made-up link types) can cause.
const MaxWarnedLinks = 8

// A LinkFilter applies one tcpdump expression to frames of any link type,
// such as those of a pcapng file whose interfaces each have their own. A
// classic BPF program reads a frame at offsets of its link-layer header, so
// one compiled for Ethernet cannot judge a Linux SLL2 frame: the filter
// compiles the expression once for each link type it is given (lazily, on
// the first frame of that type) and keeps the programs.
//
// A link type the expression cannot be compiled for — one the compiler does
// not support (*UnsupportedLinkError), or one on which the expression is
// meaningless ("vlan" on SLL) — has no program: its frames are not
// matched, they are counted (Skipped), and Warn is told once for that link
// type. Once a link type's program is compiled, Match allocates nothing.
//
// Its Match method is what sniff.Config.Filter takes. A LinkFilter is not
// safe for concurrent use.
type LinkFilter struct {
	// Warn, if set, is called at the first frame of a link type the
	// expression cannot be compiled for, with the compiler's error; once
	// per link type, for at most MaxWarnedLinks link types.
	Warn func(link layers.LinkType, err error)

	expr    string
	snaplen uint32
	progs   []linkProgram     // link types the compiler supports, seen so far
	last    int               // index in progs of the last link type matched, or -1
	warned  []layers.LinkType // unsupported link types reported through Warn
	skipped uint64            // frames without a program
	unsupp  uint64            // of them, frames of unsupported link types
}

// linkProgram is the compiled expression for one link type, or why there
// is none.
type linkProgram struct {
	link   layers.LinkType
	prog   *Program // nil if err
	err    error
	warned bool // Warn was called for err
}

// NewLinkFilter returns a LinkFilter for expr, whose programs accept with
// snaplen (0 for DefaultSnaplen) as Compile's do. Nothing is compiled yet:
// call Prepare to learn early whether the expression compiles for a link
// type (the file's first, say).
func NewLinkFilter(expr string, snaplen uint32) *LinkFilter {
	return &LinkFilter{
		expr:    expr,
		snaplen: snaplen,
		progs:   make([]linkProgram, 0, maxLinkPrograms),
		last:    -1,
		warned:  make([]layers.LinkType, 0, MaxWarnedLinks),
	}
}

// Prepare compiles the expression for link now, if it was not already, and
// returns the compiler's error for it (nil when there is a program). A
// syntax error (*SyntaxError) is the same for every link type but for
// link-specific keywords, so the caller can report it before reading any
// packet. An *UnsupportedLinkError is not kept: frames of that link type
// are skipped and warned about when they come.
func (f *LinkFilter) Prepare(link layers.LinkType) error {
	if _, ok := linkInfoOf(link); !ok {
		return &UnsupportedLinkError{Link: link}
	}
	return f.progs[f.program(link)].err
}

// program returns the index in progs of link's program, compiling it on
// first use. link must be one the compiler supports.
func (f *LinkFilter) program(link layers.LinkType) int {
	for i := range f.progs {
		if f.progs[i].link == link {
			return i
		}
	}
	lp := linkProgram{link: link}
	insns, err := Compile(f.expr, link, f.snaplen)
	if err == nil {
		lp.prog, err = NewProgram(insns)
	}
	lp.err = err
	if len(f.progs) == cap(f.progs) {
		// Not reached: there are fewer supported link types than
		// maxLinkPrograms (TestLinkFilterBounds). Forget the oldest
		// rather than grow.
		copy(f.progs, f.progs[1:])
		f.progs = f.progs[:len(f.progs)-1]
	}
	f.progs = append(f.progs, lp)
	return len(f.progs) - 1
}

// Match reports whether the expression accepts frame, a frame of the given
// link type. A frame of a link type the expression cannot be compiled for
// is not accepted; it is counted in Skipped.
func (f *LinkFilter) Match(link layers.LinkType, frame []byte) bool {
	i := f.last
	if i < 0 || f.progs[i].link != link {
		if _, ok := linkInfoOf(link); !ok {
			f.unsupportedFrame(link)
			return false
		}
		i = f.program(link)
		f.last = i
	}
	lp := &f.progs[i]
	if lp.prog == nil {
		f.skipped++
		if !lp.warned {
			lp.warned = true
			if f.Warn != nil {
				f.Warn(link, lp.err)
			}
		}
		return false
	}
	return lp.prog.Match(frame)
}

// unsupportedFrame counts a frame of a link type the compiler does not
// support, and warns about the link type the first time.
func (f *LinkFilter) unsupportedFrame(link layers.LinkType) {
	f.skipped++
	f.unsupp++
	for _, l := range f.warned {
		if l == link {
			return
		}
	}
	if len(f.warned) == cap(f.warned) {
		return
	}
	f.warned = append(f.warned, link)
	if f.Warn != nil {
		f.Warn(link, &UnsupportedLinkError{Link: link})
	}
}

// Skipped returns the number of frames Match did not accept because the
// expression has no program for their link type.
func (f *LinkFilter) Skipped() uint64 { return f.skipped }

// Unsupported returns the number of the skipped frames whose link type the
// compiler does not support at all (frames that could not be decoded
// either).
func (f *LinkFilter) Unsupported() uint64 { return f.unsupp }
