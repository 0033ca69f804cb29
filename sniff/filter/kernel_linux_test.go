//go:build linux

package filter

import (
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestKernelAcceptsPrograms attaches compiled programs to a UDP socket
// (SO_ATTACH_FILTER needs no privilege there): the kernel checks classic
// BPF programs on attach (jump targets, scratch memory stored before it
// is loaded, division by a constant zero, length limit).
func TestKernelAcceptsPrograms(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatalf("no UDP socket: %v", err) // needs no privilege: never a reason to skip
	}
	defer unix.Close(fd)
	attach := func(raw []bpf.RawInstruction) error {
		prog := unix.SockFprog{
			Len:    uint16(len(raw)),
			Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0])),
		}
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	}
	// A program the kernel must refuse, to show the check is real.
	if err := attach([]bpf.RawInstruction{{Op: 0x06, K: 0}, {Op: 0x15, Jt: 5}}); err == nil {
		t.Fatal("kernel accepted a program not ending with a return")
	}
	exprs := append(append([]string(nil), handExprs...), randomExprs(5, 100, true)...)
	n := 0
	for _, l := range diffLinks {
		for _, expr := range exprs {
			insns, err := Compile(expr, l.link, 0)
			if err != nil {
				continue
			}
			p, err := NewProgram(insns)
			if err != nil {
				t.Fatalf("%s %q: %v", l.name, expr, err)
			}
			if err := attach(p.Raw()); err != nil {
				t.Errorf("%s %q: kernel refuses the program: %v\n%s", l.name, expr, err, dumpProg(insns))
			}
			n++
		}
	}
	t.Logf("kernel accepted %d programs", n)
}
