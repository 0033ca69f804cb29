package live

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The TPACKET_V3 ring, read on x/sys/unix (see the comment at the top of
// live_linux.go for why it is not gopacket/afpacket's).
//
// The kernel fills the ring's blocks in order. A block belongs to the
// kernel while its descriptor's block_status is TP_STATUS_KERNEL; the
// kernel sets TP_STATUS_USER once the block is full or its retire timeout
// expired, and wakes the socket's waiters (epoll included). User space
// reads the packets, stores TP_STATUS_KERNEL to give the block back, and
// moves on to the next block.
//
// Layout of a block (include/uapi/linux/if_packet.h):
//
//	tpacket_block_desc: version, offset_to_priv, tpacket_hdr_v1 {
//		block_status, num_pkts, offset_to_first_pkt, blk_len, ... }
//	packet: tpacket3_hdr { tp_next_offset, tp_sec, tp_nsec,
//		tp_snaplen, tp_len, tp_status, tp_mac, tp_net, ... }
//		sockaddr_ll, then the frame at tp_mac (the IP header: the
//		socket is SOCK_DGRAM) for tp_snaplen bytes
//	packet: ... (tp_next_offset is 0 in the last one)

// Offsets in a block descriptor (struct tpacket_block_desc, whose
// tpacket_hdr_v1 starts at byte 8).
const (
	bdStatus     = 8  // block_status
	bdNumPkts    = 12 // num_pkts
	bdFirstPkt   = 16 // offset_to_first_pkt
	bdHeaderSize = 48 // the descriptor, aligned: where packets may start
)

// ring is an AF_PACKET socket's memory-mapped TPACKET_V3 receive ring. Its
// reader (Source.Run) is a single goroutine.
type ring struct {
	file *os.File        // the socket, non-blocking, in Go's netpoller
	conn syscall.RawConn // file's, to wait for a block
	fd   int             // file's descriptor, for waitDirect's ppoll(2)
	mem  []byte          // the mapping: nb blocks of bs bytes
	bs   int             // block size
	nb   int             // number of blocks
	cur  int             // index of the block to read next

	// check is r.checkBlock as a func value, made once so that waiting
	// allocates nothing.
	check func(fd uintptr) bool
	woken bool  // check was called again after a wake-up (see checkBlock)
	werr  error // a socket error checkBlock found

	// flowing is set when a wait ends with a block and cleared when one
	// ends without: while it is set, waits may be direct (see wait).
	flowing bool
	// directWaits counts the waits made by waitDirect.
	directWaits atomic.Uint64

	// walk is where Run is in the current block (walk.b nil when it has
	// no block): kept here, not in Run, so that a second Run carries on.
	walk blockWalker
	// corrupt counts the blocks cut short by a descriptor or packet
	// header that does not fit in the block (should never happen).
	corrupt atomic.Uint64
}

// openRing creates the socket and its ring, attaches the kernel filter
// and binds the socket to every protocol on interface ifindex (0: all),
// named name in errors. Nothing is received before the filter is attached:
// the socket is created for protocol 0, which receives nothing, and only
// bound to ETH_P_ALL at the end.
func openRing(cfg Config, raw []bpf.RawInstruction, ifindex int, name string) (r *ring, err error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Op: "open AF_PACKET socket", Err: err}
	}
	var (
		mem  []byte
		file *os.File // once made, it owns fd
	)
	defer func() {
		if err != nil {
			if mem != nil {
				unix.Munmap(mem)
			}
			if file != nil {
				file.Close()
			} else {
				unix.Close(fd)
			}
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, &Error{Op: "set AF_PACKET socket to TPACKET_V3", Err: err}
	}
	// TPACKET_V3 packs packets of any size into blocks; the frame size
	// is only checked to divide the block size.
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     uint32(cfg.BlockSize),
		Frame_nr:       uint32(cfg.NumBlocks),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, &Error{Op: fmt.Sprintf("create the TPACKET_V3 ring (%d blocks of %d bytes)", cfg.NumBlocks, cfg.BlockSize), Err: err}
	}
	mem, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		mem = nil
		return nil, &Error{Op: "map the ring", Err: err}
	}
	if len(raw) == 0 {
		return nil, &Error{Op: "attach the kernel filter", Err: errors.New("empty program")}
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return nil, &Error{Op: "attach the kernel filter", Err: err}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, &Error{Op: "bind to " + name, Err: err}
	}
	// The socket is non-blocking: os.NewFile registers it with the
	// netpoller, and from then on the File owns (and closes) it.
	file = os.NewFile(uintptr(fd), "AF_PACKET socket")
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		return nil, &Error{Op: "register the socket with the Go netpoller", Err: err}
	}
	conn, err := file.SyscallConn()
	if err != nil {
		return nil, &Error{Op: "register the socket with the Go netpoller", Err: err}
	}
	r = &ring{file: file, conn: conn, fd: fd, mem: mem, bs: cfg.BlockSize, nb: cfg.NumBlocks}
	r.check = r.checkBlock
	return r, nil
}

// status returns the block_status word of block i.
func (r *ring) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.bs+bdStatus]))
}

// ready tells whether the kernel has handed the current block over.
func (r *ring) ready() bool {
	return atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER != 0
}

// block returns the current block.
func (r *ring) block() []byte {
	off := r.cur * r.bs
	return r.mem[off : off+r.bs : off+r.bs]
}

// release gives the current block back to the kernel and moves to the
// next one.
func (r *ring) release() {
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	if r.cur++; r.cur == r.nb {
		r.cur = 0
	}
}

// wait waits until the current block is handed over, at most d. It
// returns nil when the block is there, an error satisfying
// errors.Is(err, os.ErrDeadlineExceeded) when d passed, or the socket's
// error (ENETDOWN when the interface goes away).
//
// It waits in one of two ways. Idle, it parks the goroutine in Go's
// netpoller (waitPoller): the process then sleeps, sysmon included.
// While packets flow (the last wait ended with a block), it blocks the
// goroutine's thread in ppoll(2) (waitDirect) instead, if the process can
// spare that thread's P (directOK). Parking costs a trip through the
// scheduler per block: epoll_pwait, a timer reset, often another thread
// woken, and sysmon woken again at the next system call, after which it
// polls every 20 µs while the process works. A direct wait costs one
// system call. It is made without telling the runtime (a raw system call),
// as a system call that outlasts 10 ms would have its P taken by sysmon,
// which resets sysmon to its 20 µs polling. The runtime sees a goroutine
// that runs: sysmon preempts it every 10 ms with a signal, which ends the
// ppoll early (EINTR), and so does a stop-the-world. That is why the
// direct wait is only for a busy capture: idle, it would wake 100 times a
// second. BENCHMARKS.md has the measurements.
func (r *ring) wait(d time.Duration) error {
	if r.flowing && directOK() {
		dd := min(d, maxDirectWait)
		err := r.waitDirect(dd)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || d == dd {
			return err
		}
		d -= dd
	}
	return r.waitPoller(d)
}

// maxDirectWait bounds one direct wait: past it, the rest of a wait is in
// the netpoller.
const maxDirectWait = 50 * time.Millisecond

// runningSources counts the Sources whose Run is running.
var runningSources atomic.Int32

// directOK tells whether a direct wait may hold its thread's P: only when
// there is another P, and no other capture of this process needs one (a
// multi-namespace attach runs a capture per namespace).
func directOK() bool {
	return runningSources.Load() == 1 && runtime.GOMAXPROCS(0) >= 2
}

// waitPoller is wait in Go's netpoller: the socket is non-blocking, and
// the kernel wakes its waiters when it retires a block.
func (r *ring) waitPoller(d time.Duration) error {
	if err := r.file.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	r.woken, r.werr = false, nil
	if err := r.conn.Read(r.check); err != nil {
		r.flowing = false
		return err
	}
	r.flowing = r.werr == nil
	return r.werr
}

// waitDirect is wait in ppoll(2), made as a raw system call (see wait).
// A wake-up without a block that is not the socket's error (which a real
// ring does not give) leaves the rest of the wait to the netpoller rather
// than poll again at once.
func (r *ring) waitDirect(d time.Duration) error {
	r.directWaits.Add(1)
	deadline := time.Now().Add(d)
	for !r.ready() {
		left := time.Until(deadline)
		if left <= 0 {
			r.flowing = false
			return os.ErrDeadlineExceeded
		}
		fds := [1]unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		ts := unix.NsecToTimespec(int64(left))
		n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == unix.EINTR || (e == 0 && n == 0):
			// Preempted, or the time is up: look again.
		case e != 0:
			return os.NewSyscallError("ppoll", e)
		case !r.ready():
			if v, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
				return unix.Errno(v)
			}
			return r.waitPoller(time.Until(deadline))
		}
	}
	return nil
}

// checkBlock is wait's condition, called by the netpoller first and then
// on every wake-up: true when the current block is handed over. A wake-up
// without a block is the socket's error being reported (the kernel only
// wakes a TPACKET_V3 socket's waiters when it retires a block or sets an
// error): it is read with SO_ERROR and stops the wait.
func (r *ring) checkBlock(fd uintptr) bool {
	if r.ready() {
		return true
	}
	if r.woken {
		if e, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
			r.werr = unix.Errno(e)
			return true
		}
	}
	r.woken = true
	return false
}

// stats reads (and so resets) the kernel's counters. After close it
// returns os.ErrClosed.
func (r *ring) stats() (st unix.TpacketStatsV3, err error) {
	cerr := r.conn.Control(func(fd uintptr) {
		var s *unix.TpacketStatsV3
		if s, err = unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			st = *s
		}
	})
	if cerr != nil {
		return st, os.ErrClosed // Control only fails on a closed file
	}
	return st, err
}

// close unmaps the ring and closes the socket.
func (r *ring) close() error {
	var err error
	if r.mem != nil {
		err = unix.Munmap(r.mem)
		r.mem = nil
	}
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// blockWalker walks the packets of one block of the ring. Every offset it
// reads in the block (descriptor and packet headers) is checked against
// the block's bounds, so that a corrupt block ends the walk early instead
// of reading outside the mapping.
type blockWalker struct {
	b    []byte // the block
	off  int    // offset of the next packet's tpacket3_hdr
	left uint32 // packets not yet handed over; 0: the walk is over
	bad  bool   // the walk stopped at an offset that does not fit
}

// reset starts a walk over block b.
func (w *blockWalker) reset(b []byte) {
	w.b, w.off, w.left, w.bad = b, 0, 0, false
	if len(b) < bdHeaderSize {
		w.bad = true
		return
	}
	n := *(*uint32)(unsafe.Pointer(&b[bdNumPkts]))
	first := *(*uint32)(unsafe.Pointer(&b[bdFirstPkt]))
	if n == 0 {
		return
	}
	if first < bdHeaderSize || uint64(first) >= uint64(len(b)) {
		w.bad = true
		return
	}
	w.off, w.left = int(first), n
}

// next returns the next packet of the block: its timestamp (seconds and
// nanoseconds) and its frame, a slice of the block. ok is false at the end
// of the block, or at a packet header that does not fit in it (w.bad).
func (w *blockWalker) next() (sec, nsec uint32, frame []byte, ok bool) {
	if w.left == 0 {
		return 0, 0, nil, false
	}
	off := w.off
	// A header must be 4-aligned (the kernel aligns to 8) and fit.
	if off&3 != 0 || off+unix.SizeofTpacket3Hdr > len(w.b) {
		w.left, w.bad = 0, true
		return 0, 0, nil, false
	}
	hdr := (*unix.Tpacket3Hdr)(unsafe.Pointer(&w.b[off]))
	start := uint64(off) + uint64(hdr.Mac)
	end := start + uint64(hdr.Snaplen)
	if end > uint64(len(w.b)) {
		w.left, w.bad = 0, true
		return 0, 0, nil, false
	}
	if w.left--; w.left > 0 {
		// The next header must come after this one: a next offset
		// shorter than a header (0 in the last packet) is corrupt.
		next := hdr.Next_offset
		if next < unix.SizeofTpacket3Hdr || uint64(next) >= uint64(len(w.b)-off) {
			// This packet is sound: hand it over, stop after it.
			w.left, w.bad = 0, true
		} else {
			w.off = off + int(next)
		}
	}
	return hdr.Sec, hdr.Nsec, w.b[start:end:end], true
}
