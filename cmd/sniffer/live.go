package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/live"
)

// capNetRawMessage is the whole error for a capture without CAP_NET_RAW.
const capNetRawMessage = "sniffer: capture needs CAP_NET_RAW (in Docker it is in the default capability set; after --cap-drop ALL add --cap-add NET_RAW)"

// runLive captures in the current network namespace until a signal,
// --duration or --count, then prints what is pending and a summary.
func runLive(o *options, cfg sniff.Config, out *printer, stderr io.Writer) int {
	if err := o.readyFile.clear(); err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return exitFailed
	}
	src, err := live.Open(liveConfig(o))
	if err != nil {
		var fe *live.FilterError
		switch {
		case errors.As(err, &fe):
			fmt.Fprintf(stderr, "sniffer: %v\n", err)
			return 2
		case errors.Is(err, os.ErrPermission):
			fmt.Fprintln(stderr, capNetRawMessage)
			return exitFailed
		}
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return exitFailed
	}
	defer src.Close()
	out.watchCapture(src) // --metrics

	stopCtx, stop := stopContext(o, out)
	defer stop()

	cfg.FlushAfter = o.flushAfter
	if out.needsNames() {
		if names, done := sidecarNames(stopCtx, stderr); names != nil {
			defer done()
			cfg.Emit = nameEntries(cfg.Emit, "", names)
		}
	}
	h := &liveHandler{eng: sniff.New(cfg), out: out, stop: stop}
	// Open returned: the socket is bound with its filter and ring, so a
	// packet sent from now on is captured.
	listening := fmt.Sprintf("sniffer: listening on %s", src)
	fmt.Fprintln(stderr, listening)
	if err := o.readyFile.set(listening); err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return exitFailed
	}
	defer o.readyFile.clear()

	status := 0
	if err := src.Run(stopCtx, h); err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		status = exitFailed
	}
	h.eng.Finish()
	if err := out.close(); err != nil && h.writeErr == nil {
		h.writeErr = err
	}
	if h.writeErr != nil {
		fmt.Fprintf(stderr, "sniffer: writing output: %v\n", h.writeErr)
		status = exitFailed
	}
	st, err := src.Stats()
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
	}
	es := h.eng.Stats()
	reportSkipped(stderr, es)
	writeCounts(stderr, st.Packets, st.Dropped, out.printed, es.Connections)
	return out.finish(status, stderr) // -w, --summary, --expect-reuse
}

// writeCounts prints the counts a live capture ends with, in one line:
// "sniffer: 12 packets captured, 0 packets dropped by kernel, 1 entry, 1
// connection".
func writeCounts(w io.Writer, packets, dropped uint64, entries int, conns uint64) {
	fmt.Fprintf(w, "sniffer: %d packet%s captured, %d packet%s dropped by kernel, %d entr%s, %d connection%s\n",
		packets, plural(packets), dropped, plural(dropped), entries, pluralY(entries), conns, plural(conns))
}

// plural returns "s" unless n is 1.
func plural[N int | uint64](n N) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// pluralY returns "ies" unless n is 1 ("y"): entry, entries.
func pluralY(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

// liveHandler feeds the engine from the capture goroutine, which owns both
// the engine and the output buffer: no locks.
type liveHandler struct {
	eng      *sniff.Engine
	out      *printer
	stop     context.CancelFunc
	writeErr error
}

// Packet hands one captured packet to the engine.
func (h *liveHandler) Packet(ts time.Time, frame []byte) {
	h.eng.Packet(live.LinkType, ts, frame)
}

// Tick applies the engine's timers (--flush-after, --idle-timeout) and
// writes out the buffered entries. The capture calls it every 25 ms while
// packets flow and every 50 ms without traffic, so an entry reaches a pipe
// or docker logs within 50 ms of being printed, while under load one write
// carries many entries.
func (h *liveHandler) Tick(now time.Time) {
	h.eng.Tick(now)
	h.out.tickMetrics(h.eng)
	h.out.flushHAR()
	if h.out.w.Buffered() == 0 || h.writeErr != nil {
		return
	}
	if err := h.out.flush(); err != nil {
		h.writeErr = err
		h.stop()
	}
}

// stopContext returns the context a live capture runs under: it ends on
// SIGINT or SIGTERM, after --duration, or when --count entries were printed.
func stopContext(o *options, out *printer) (context.Context, context.CancelFunc) {
	ctx, cancelSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cancelTimeout := context.CancelFunc(func() {})
	if o.duration > 0 {
		ctx, cancelTimeout = context.WithTimeout(ctx, o.duration)
	}
	ctx, stop := context.WithCancel(ctx)
	out.stop = stop // --count reached
	if out.exec != nil {
		out.exec.setOnFail(stop) // the -e command cannot run
	}
	return ctx, func() { stop(); cancelTimeout(); cancelSignals() }
}

// liveConfig is the capture the options ask for: interface, filter, ring
// size (-B, in KiB, rounded up to whole blocks), and whether the kernel
// drops pure ACKs (dropPureACKs, decided by setup).
func liveConfig(o *options) live.Config {
	return live.Config{
		Interface:    o.iface,
		Filter:       o.filter,
		BlockSize:    live.DefaultBlockSize,
		NumBlocks:    (o.bufferKiB<<10 + live.DefaultBlockSize - 1) / live.DefaultBlockSize,
		DropPureACKs: o.dropACKs,
	}
}
