// Package sniff turns captured packets into log entries: it decodes each
// frame, tracks TCP connections, puts each direction back in order, frames
// the HTTP messages and pairs every request with its response, and hands out
// one entry.Entry per exchange, annotated with its place in the connection.
//
// The Engine runs in one goroutine, in one pass over the packets. It keeps no
// goroutine per connection and, once warmed up, allocates nothing per packet
// for in-order traffic; every table and buffer it keeps is bounded (see
// Config).
package sniff

import (
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
)

// Defaults for Config's zero fields.
const (
	DefaultMaxConns          = 16384
	DefaultIdleTimeout       = 5 * time.Minute
	DefaultHeaderCap         = 64 << 10
	DefaultBodyCap           = 1 << 20
	DefaultMaxPendingPerConn = 1 << 20
	DefaultMaxPendingTotal   = 32 << 20
	DefaultMaxKept           = 64 << 20
)

// Config sets the Engine's bounds and behaviour. Zero values take the
// defaults above.
type Config struct {
	// MaxConns bounds the connection table; past it the longest-idle
	// connection is flushed as timed out.
	MaxConns int
	// IdleTimeout forgets a connection idle for that long, flushing its
	// entry as timed out. Negative disables it.
	IdleTimeout time.Duration
	// FlushAfter prints a complete entry whose connection stays idle that
	// long without waiting to know whether it is the last (live capture).
	// Zero disables it.
	FlushAfter time.Duration
	// HeaderCap bounds the bytes kept of each message head.
	HeaderCap int
	// KeepBodies keeps message bodies (up to BodyCap each) for log formats
	// that print them. Sizes are counted exactly either way.
	KeepBodies bool
	// BodyCap bounds the body bytes kept per message.
	BodyCap int
	// MaxPendingPerConn and MaxPendingTotal bound the out-of-order bytes
	// waiting for a gap to fill, per connection and in all.
	MaxPendingPerConn, MaxPendingTotal int64
	// MaxKept bounds the capacity of the buffers that hold message bytes,
	// in all connections together; past it bytes are counted but not kept
	// (the entry says it was truncated).
	MaxKept int64
	// Filter, if set, is applied to each frame before it is decoded, with
	// the frame's own link type: a pcapng file's interfaces may each have
	// their own, and a compiled -p expression reads the frame by its link
	// layer.
	Filter interface {
		Match(link layers.LinkType, frame []byte) bool
	}
	// Tap, if set, receives every frame the filter passed (all frames when
	// there is no filter), before it is decoded: -w writes them out. The
	// frame is only valid during the call.
	Tap func(link layers.LinkType, ts time.Time, frame []byte)
	// NoPureACKs says the capture delivers no pure ACKs (a kernel filter
	// dropped them, live.Config.DropPureACKs): a connection closes once
	// both FINs and every byte before them are in, timed at the second
	// FIN, rather than at the ACK of the second FIN, which will not be
	// seen. What else pure ACKs decide (handshake and close times, FIN
	// order, gaps declared by an ACK past the data, a challenged RST
	// answered by an ACK) is then judged without them: only outputs that
	// do not depend on them may be printed (cmd/sniffer decides).
	NoPureACKs bool
	// Emit receives each entry. The entry and its byte slices are only
	// valid during the call.
	Emit func(*entry.Entry)
	// ConnEnd, if set, receives the life of each connection when it
	// leaves the table, after its last entry: what a reuse verdict is
	// computed from. Valid only during the call.
	ConnEnd func(*entry.ConnEnd)
}

// Stats counts what the Engine saw.
type Stats struct {
	Packets         uint64 // frames given to Packet
	Filtered        uint64 // frames the filter rejected
	UnsupportedLink uint64 // frames of a link type that is not decoded
	NotIP           uint64 // frames that carry no IP
	NotTCP          uint64 // IP packets that carry no TCP
	Fragments       uint64 // IP fragments (not reassembled)
	Malformed       uint64 // frames whose headers make no sense
	Stray           uint64 // segments of unknown connections carrying no data
	Connections     uint64 // connections tracked
	Entries         uint64 // entries emitted
	Evicted         uint64 // connections flushed because the table was full
	IdleExpired     uint64 // connections flushed after IdleTimeout
	Retransmitted   uint64 // segments whose bytes had all been seen
	OutOfWindow     uint64 // segments and acknowledgments outside the receive window, skipped
	Resynced        uint64 // runs of segments outside the window taken as where the stream went
	ChallengedRST   uint64 // RSTs in the window but not exact (RFC 5961: a challenge ACK)
	IgnoredRST      uint64 // RSTs outside the window, skipped
	OutOfOrder      uint64 // segments that waited for earlier bytes
	GapBytes        uint64 // bytes never captured
	HeadsTruncated  uint64 // header blocks cut at the header cap
	TLSLostSync     uint64 // TLS connections whose record framing a gap (or bytes that are not records) broke
}

// Engine is the packet-to-entry pipeline. It is not safe for concurrent use.
//
// It is built in layers: the transport (internal/tcp: the connection
// table, handshakes, closes, the two directions in order), the application
// decoders (one per connection: internal/http1 by default, the registered
// ones of decoders chosen by the client's first bytes or an HTTP/1
// upgrade), and the exchanges (internal/exchange: labels, bounds,
// emission).
type Engine struct {
	cfg   Config
	table tcp.Table
	x     exchange.Shared
	pkt   decode.Packet
	stats Stats
	// now is the latest packet time; nowAt the same as an instant.
	now   time.Time
	nowAt instant
	// tickDue is when Packet next checks timeouts: 100 ms of capture time
	// after the last Tick. Kept as an instant rather than comparing the
	// time since the last tick, because time.Time.Sub (an Add and an Equal
	// to detect overflow) costs more than the rest of the check per packet.
	tickDue instant
	// ended is handed to Config.ConnEnd.
	ended entry.ConnEnd
}

// New returns an Engine.
func New(cfg Config) *Engine {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HeaderCap <= 0 {
		cfg.HeaderCap = DefaultHeaderCap
	}
	if cfg.BodyCap <= 0 {
		cfg.BodyCap = DefaultBodyCap
	}
	if cfg.MaxPendingPerConn <= 0 {
		cfg.MaxPendingPerConn = DefaultMaxPendingPerConn
	}
	if cfg.MaxPendingTotal <= 0 {
		cfg.MaxPendingTotal = DefaultMaxPendingTotal
	}
	if cfg.MaxKept <= 0 {
		cfg.MaxKept = DefaultMaxKept
	}
	if cfg.Emit == nil {
		cfg.Emit = func(*entry.Entry) {}
	}
	zero := instantOf(time.Time{}) // as the zero now and tickDue were
	e := &Engine{cfg: cfg, nowAt: zero, tickDue: zero}
	e.table.Init(tcp.Config{MaxConns: cfg.MaxConns, IdleTimeout: cfg.IdleTimeout, FlushAfter: cfg.FlushAfter,
		MaxPendingPerConn: cfg.MaxPendingPerConn, MaxPendingTotal: cfg.MaxPendingTotal, NoPureACKs: cfg.NoPureACKs}, (*upper)(e))
	e.x = exchange.Shared{HeaderCap: cfg.HeaderCap, BodyCap: cfg.BodyCap, KeepBodies: cfg.KeepBodies, MaxKept: cfg.MaxKept,
		MaxConns: cfg.MaxConns, Emit: cfg.Emit, Table: &e.table, Trim: e.table.TrimFree, Registry: decoders}
	return e
}

// Stats returns the counters so far. The reassembly counters
// (Retransmitted, OutOfOrder, GapBytes) count connections that have ended.
func (e *Engine) Stats() Stats {
	st := e.stats
	t := e.table.Stats()
	st.Stray, st.Connections, st.Evicted, st.IdleExpired = t.Stray, t.Connections, t.Evicted, t.IdleExpired
	st.Retransmitted, st.OutOfWindow, st.Resynced = t.Retransmitted, t.OutOfWindow, t.Resynced
	st.ChallengedRST, st.IgnoredRST, st.OutOfOrder, st.GapBytes = t.ChallengedRST, t.IgnoredRST, t.OutOfOrder, t.GapBytes
	st.Entries, st.HeadsTruncated, st.TLSLostSync = e.x.Entries, e.x.HeadsTruncated, e.x.TLSLostSync
	return st
}

// Conns returns the number of connections tracked now.
func (e *Engine) Conns() int { return e.table.Len() }

// Packet processes one captured frame of the given link type.
func (e *Engine) Packet(link layers.LinkType, ts time.Time, frame []byte) {
	e.stats.Packets++
	if e.cfg.Filter != nil && !e.cfg.Filter.Match(link, frame) {
		e.stats.Filtered++
		return
	}
	if e.cfg.Tap != nil {
		e.cfg.Tap(link, ts, frame)
	}
	if at := instantOf(ts); e.nowAt.before(at) {
		e.now, e.nowAt = ts, at
	}
	if err := decode.Decode(link, frame, &e.pkt); err != nil {
		switch err {
		case decode.ErrUnsupportedLink:
			e.stats.UnsupportedLink++
		case decode.ErrNotIP:
			e.stats.NotIP++
		case decode.ErrNotTCP:
			e.stats.NotTCP++
		case decode.ErrFragment:
			e.stats.Fragments++
		default:
			e.stats.Malformed++
		}
		return
	}
	e.table.Segment(&e.pkt, ts)
	if !e.nowAt.before(e.tickDue) {
		e.Tick(e.now)
	}
}

// instant is a time.Time's wall clock reading as seconds and nanoseconds
// (Unix, Nanosecond), compared in a few inlined instructions where
// time.Time.After and Before are calls (Packet compares twice per packet).
// Capture timestamps carry no monotonic reading, so the order is the same
// as theirs; no overflow, whatever the year.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

// before reports whether i is before j.
func (i instant) before(j instant) bool {
	return i.sec < j.sec || i.sec == j.sec && i.nsec < j.nsec
}

// Tick applies the time-based rules (idle timeout, flush-after) as of now.
// Packet calls it as capture time passes; a live capture also calls it on a
// timer so that idle connections are handled without traffic.
func (e *Engine) Tick(now time.Time) {
	e.tickDue = instantOf(now.Add(time.Second / 10))
	e.table.Tick(now)
}

// Finish ends the input: every connection still open is flushed, its last
// entry marked truncated (or closed, if both FINs were seen). Connections are
// flushed from the least recently active.
func (e *Engine) Finish() { e.table.Finish() }

// KeptBytes returns the capacity of the buffers holding message bytes now.
func (e *Engine) KeptBytes() int64 { return e.x.KeptCap }
