package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"

	"github.com/sniffer/sniffer/sniff/filter"
)

// The ring is gopacket/afpacket's. A reader of our own on x/sys/unix was
// not worth it: under bench/live.sh's load (about 120 000 packets/s on
// loopback), capturing with a handler that does nothing costs about 200 ns
// of CPU per packet, and perf puts most of it on the first read of each
// packet's header in the ring (a cache miss: the kernel wrote it on another
// CPU), which any reader pays; afpacket's own bookkeeping (a mutex, a
// counter, the CaptureInfo) is about 5% of the samples.

// Source is an open capture: an AF_PACKET socket with its ring. Run reads
// it; Stats and Close may be called from any goroutine (Close only once Run
// has returned).
type Source struct {
	cfg     Config
	tp      *afpacket.TPacket
	name    string // "all interfaces" or the interface's name
	packets atomic.Uint64
}

// Open opens the capture cfg describes: it creates the socket and its ring,
// attaches the kernel filter (KernelFilter) and only then binds the socket,
// so that no packet the filter would reject is ever queued. It needs
// CAP_NET_RAW: without it the error wraps os.ErrPermission. An unknown
// interface name gives an error wrapping ErrNoInterface that lists the
// interfaces of the namespace; a bad filter a *FilterError.
func Open(cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, &Error{Op: "list interfaces", Err: err}
	}
	ifindex, loIndex := 0, 0
	var names []string
	for _, ifc := range ifaces {
		names = append(names, ifc.Name)
		if ifc.Flags&net.FlagLoopback != 0 && loIndex == 0 {
			loIndex = ifc.Index
		}
		if cfg.Interface != "" && ifc.Name == cfg.Interface {
			ifindex = ifc.Index
		}
	}
	if cfg.Interface != "" && ifindex == 0 {
		return nil, noInterface(cfg.Interface, names)
	}
	if cfg.BlockSize < cfg.SnapLen+blockOverhead {
		return nil, &Error{Op: "size the ring", Err: fmt.Errorf("block size %d cannot hold a %d-byte packet (snap length) and its headers", cfg.BlockSize, cfg.SnapLen)}
	}
	prog, err := KernelFilter(cfg.Filter, uint32(cfg.SnapLen), uint32(loIndex))
	if err != nil {
		return nil, err
	}
	raw, err := filter.Raw(prog)
	if err != nil {
		return nil, &FilterError{Expr: cfg.Filter, Err: err}
	}

	// Protocol 0: the socket receives nothing until it is bound to a
	// protocol below, after the filter is attached.
	tp, err := afpacket.NewTPacket(
		afpacket.OptSocketType(afpacket.SocketDgram),
		afpacket.OptProtocol(0),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		// TPACKET_V3 packs packets of any size into blocks; the frame
		// size is only checked to divide the block size.
		afpacket.OptFrameSize(cfg.BlockSize),
		afpacket.OptBlockSize(cfg.BlockSize),
		afpacket.OptNumBlocks(cfg.NumBlocks),
		afpacket.OptBlockTimeout(cfg.BlockTimeout),
		afpacket.OptPollTimeout(cfg.PollTimeout),
	)
	if err != nil {
		return nil, &Error{Op: "open AF_PACKET socket with a TPACKET_V3 ring", Err: err}
	}
	fd, err := socketFD(tp)
	if err != nil {
		tp.Close()
		return nil, &Error{Op: "open AF_PACKET socket", Err: err}
	}
	if err := tp.SetBPF(raw); err != nil {
		tp.Close()
		return nil, &Error{Op: "attach the kernel filter", Err: err}
	}
	name := "all interfaces"
	if cfg.Interface != "" {
		name = cfg.Interface
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		tp.Close()
		return nil, &Error{Op: "bind to " + name, Err: err}
	}
	return &Source{cfg: cfg, tp: tp, name: name}, nil
}

// socketFD returns the file descriptor of tp's socket, which afpacket does
// not export: the socket must be bound again once its filter is attached.
// (gopacket v1.7.7 keeps it in the int field "fd"; the tests fail if a
// later version does not.)
func socketFD(tp *afpacket.TPacket) (int, error) {
	v := reflect.ValueOf(tp).Elem().FieldByName("fd")
	if !v.IsValid() || !v.CanInt() {
		return -1, errors.New("gopacket/afpacket.TPacket has no fd field")
	}
	return int(v.Int()), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// blockOverhead bounds what a ring block holds besides one packet: the
// block descriptor, the tpacket3_hdr and sockaddr_ll, alignment.
const blockOverhead = 256

// Name returns what the Source captures on: "all interfaces" or an
// interface's name.
func (s *Source) Name() string { return s.name }

// SnapLen returns the bytes kept of each packet.
func (s *Source) SnapLen() int { return s.cfg.SnapLen }

// Run reads packets and hands them to h until ctx is done. Then it drains
// the ring: packets captured before ctx was done are handed over too,
// including those of the block the kernel had not yet handed to user space
// (Run waits for the block-retire timeout for them), but never for more than
// half a second. It returns nil after a drain, or the error that stopped
// the capture.
func (s *Source) Run(ctx context.Context, h Handler) error {
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	var (
		stopAt   time.Time // when stop was seen
		lastTick = time.Now()
		n        uint64
	)
	tick := s.cfg.TickInterval
	defer func() { s.packets.Add(n) }()
	for {
		if stopAt.IsZero() && stop.Load() {
			stopAt = time.Now()
		}
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		if err != nil {
			if err != afpacket.ErrTimeout {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return &Error{Op: "read the ring", Err: err}
			}
			now := time.Now()
			lastTick = now
			h.Tick(now)
			// A whole poll (more than twice the block-retire timeout)
			// ran after the stop and no block came: the kernel holds
			// nothing captured before the stop.
			if !stopAt.IsZero() && now.Sub(stopAt) >= s.cfg.PollTimeout {
				return nil
			}
			continue
		}
		if !stopAt.IsZero() {
			if ci.Timestamp.After(stopAt) {
				return nil // captured after the stop: the drain is done
			}
			if time.Since(stopAt) > maxDrain {
				return nil
			}
		}
		n++
		h.Packet(ci.Timestamp, data)
		// Packet timestamps are the clock while packets flow; time.Now is
		// only read when they say a tick may be due (or, if a backlog keeps
		// them in the past, every 1024 packets).
		if ci.Timestamp.Sub(lastTick) >= tick || n&1023 == 0 {
			if now := time.Now(); now.Sub(lastTick) >= tick {
				lastTick = now
				h.Tick(now)
				s.packets.Add(n)
				n = 0
			}
		}
	}
}

// Stats returns the counters so far. The kernel's counters are read (and
// reset) by the call: the Source keeps their totals.
func (s *Source) Stats() (Stats, error) {
	st := Stats{Packets: s.packets.Load()}
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return st, &Error{Op: "read socket statistics", Err: err}
	}
	st.Received = uint64(v3.Packets())
	st.Dropped = uint64(v3.Drops())
	return st, nil
}

// Close closes the socket and unmaps its ring.
func (s *Source) Close() error {
	s.tp.Close()
	return nil
}

// String describes the Source for a log line: "all interfaces (snaplen
// 262144)".
func (s *Source) String() string {
	return fmt.Sprintf("%s (snaplen %d)", s.name, s.cfg.SnapLen)
}
