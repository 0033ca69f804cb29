// Package live captures the packets of the current network namespace as they
// happen, for the engine (package sniff) to turn into entries.
//
// On Linux it reads an AF_PACKET socket through a memory-mapped TPACKET_V3
// ring, with a reader of its own on golang.org/x/sys/unix (no cgo) that
// waits for the ring's blocks in Go's netpoller. The socket is of type
// SOCK_DGRAM ("cooked"): every frame starts at its IP header, whatever the
// interface's link layer, so frames are decoded as LinkType (raw IP). Without
// an interface the socket is bound to none and sees every interface of the
// namespace, loopback and interfaces that appear later included, through one
// ring read by one goroutine.
//
// The filter runs in the kernel, attached before the socket starts
// receiving: a fixed prefix (see KernelFilter) drops loopback's outgoing copy
// of each packet, so that loopback traffic is seen once, and anything that
// is not IPv4 or IPv6, and with Config.DropPureACKs every pure ACK
// (PureACKRejector); then the user's tcpdump expression (or "tcp") decides.
package live

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// LinkType is the link type of every frame a Source returns: raw IP, the
// IPv4 or IPv6 header first.
const LinkType = layers.LinkTypeRaw

// Defaults for Config's zero fields.
const (
	// DefaultSnapLen is the bytes kept of each packet: tcpdump's default,
	// more than loopback's biggest segment (its MTU is 65536).
	DefaultSnapLen = 262144
	// DefaultBlockSize is the size of one ring block. A block must hold
	// the biggest packet (DefaultSnapLen plus the kernel's headers).
	DefaultBlockSize = 512 << 10
	// DefaultNumBlocks is the number of blocks of the ring: 8 MiB in all
	// with DefaultBlockSize. Measured with bench/live.sh (nginx and wrk
	// saturating 2 CPUs, about 120 000 packets/s on loopback), the capture
	// goroutine sometimes falls behind for lack of CPU: in 5-second runs the
	// kernel dropped packets in about one run of six with 4 MiB or 8 MiB,
	// one of 16 with 16 MiB, none of 16 with 32 MiB. 8 MiB is the
	// compromise with memory (pages the kernel fills count in the RSS).
	DefaultNumBlocks = 16
	// DefaultBlockTimeout is how long the kernel keeps a block that has
	// packets but is not full before handing it to user space: it bounds
	// how late a packet is seen.
	DefaultBlockTimeout = 20 * time.Millisecond
	// DefaultPollTimeout is the longest wait for a block before Run calls
	// the handler's Tick without traffic. It must exceed twice BlockTimeout
	// (the kernel may take two timer periods to hand over a block): Run's
	// drain at shutdown relies on it.
	DefaultPollTimeout = 50 * time.Millisecond
	// DefaultTickInterval is how often Run calls Tick while packets flow.
	DefaultTickInterval = 25 * time.Millisecond
	// DefaultFilter is the filter used when Config.Filter is empty.
	DefaultFilter = "tcp"
	// maxDrain bounds the drain at shutdown when traffic does not stop.
	maxDrain = 500 * time.Millisecond
)

// Config says what to capture and how big the ring is. Zero values take the
// defaults above.
type Config struct {
	// Interface is the name of the one interface to capture on; empty
	// means every interface of the network namespace.
	Interface string
	// Filter is a tcpdump filter expression (package sniff/filter),
	// compiled for LinkType and run in the kernel. Empty means
	// DefaultFilter: TCP only.
	Filter string
	// SnapLen is the number of bytes kept of each packet.
	SnapLen int
	// BlockSize and NumBlocks size the ring: NumBlocks blocks of
	// BlockSize bytes (a multiple of the page size, more than SnapLen).
	BlockSize, NumBlocks int
	// BlockTimeout is the ring's block-retire timeout (1 ms granularity).
	BlockTimeout time.Duration
	// PollTimeout is the longest Run waits for packets before calling
	// Tick.
	PollTimeout time.Duration
	// TickInterval is how often Run calls Tick while packets flow.
	TickInterval time.Duration
	// DropPureACKs makes the kernel filter reject pure ACKs
	// (PureACKRejector) before they reach the ring. Only for a caller
	// whose output does not depend on them: sniff.Config.NoPureACKs
	// says so to the engine.
	DropPureACKs bool
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.Filter == "" {
		c.Filter = DefaultFilter
	}
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.BlockSize <= 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.NumBlocks <= 0 {
		c.NumBlocks = DefaultNumBlocks
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.PollTimeout <= 2*c.BlockTimeout {
		c.PollTimeout = 2*c.BlockTimeout + 10*time.Millisecond
	}
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	return c
}

// Handler receives what Run reads. Its methods are called on Run's
// goroutine, one at a time, so it may own state that is not safe for
// concurrent use (a sniff.Engine).
type Handler interface {
	// Packet is called for each captured packet. frame starts at the IP
	// header (LinkType) and is only valid during the call.
	Packet(ts time.Time, frame []byte)
	// Tick is called with the current time at least every TickInterval
	// while packets flow and every PollTimeout without traffic.
	Tick(now time.Time)
}

// Stats counts what a Source captured.
type Stats struct {
	// Packets is the number of packets handed to the Handler.
	Packets uint64
	// Received is the number of packets the kernel filter accepted
	// (those dropped included).
	Received uint64
	// Dropped is the number of accepted packets the kernel dropped
	// because the ring was full.
	Dropped uint64
}

// An Error is a failed capture operation.
type Error struct {
	Op  string // what failed: "open AF_PACKET socket", "bind to eth0", ...
	Err error
}

// Error returns "live: OP: ERR".
func (e *Error) Error() string { return "live: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error: errors.Is(err, os.ErrPermission)
// tells a missing CAP_NET_RAW.
func (e *Error) Unwrap() error { return e.Err }

// A FilterError is a filter expression that could not be compiled.
type FilterError struct {
	Expr string
	Err  error // a *filter.SyntaxError, or why the program is unusable
}

// Error returns the compiler's message.
func (e *FilterError) Error() string { return e.Err.Error() }

// Unwrap returns the compiler's error.
func (e *FilterError) Unwrap() error { return e.Err }

// ErrNoInterface is wrapped by the error Open returns for an interface
// name that does not exist.
var ErrNoInterface = errors.New("no such interface")

// noInterface returns the error for an unknown interface name, listing the
// interfaces that exist.
func noInterface(name string, names []string) error {
	list := "none"
	if len(names) > 0 {
		list = ""
		for i, n := range names {
			if i > 0 {
				list += ", "
			}
			list += n
		}
	}
	return &Error{Op: fmt.Sprintf("interface %q", name), Err: fmt.Errorf("%w in this network namespace (interfaces: %s)", ErrNoInterface, list)}
}
