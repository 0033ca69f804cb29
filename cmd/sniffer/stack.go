package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/sniffer/sniffer/nsenter"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/live"
)

// reorderBound is how long entries of several namespaces wait to be merged
// in the order of their timestamps (entry.Entry.LastEvent): an entry is
// printed once the clock is reorderBound past its timestamp, after every
// held entry with an earlier one. An entry that completes later than that
// (a long exchange, an idle keep-alive connection's entry printed at its
// next request) is printed when it completes.
const reorderBound = 200 * time.Millisecond

// The bounds of the entries held for the merge: past them, the oldest is
// printed at once.
const (
	maxHeld      = 4096
	maxHeldBytes = 32 << 20
)

// stack captures in the network namespaces of several targets at once: one
// capture socket, one goroutine and one engine per namespace, the entries
// merged into one output. mu guards everything below it: the engines, the
// printer, the merge heap; a capture goroutine holds it for each packet.
type stack struct {
	o      *options
	out    *printer
	cfg    sniff.Config
	names  *nsenter.Names
	stderr io.Writer
	// connEnd is the printer's Config.ConnEnd (the verdict, --metrics).
	connEnd func(*entry.ConnEnd)
	// eng is the source of targets (nil in tests).
	eng nsenter.TargetSource
	// clock is time.Now (tests set it).
	clock func() time.Time

	mu sync.Mutex
	// caps are the running captures by target ID.
	caps map[string]*nsCapture
	// owner maps the addresses of the captured targets to their capture:
	// a connection whose client is another captured target is that
	// target's (dedupe).
	owner    map[netip.Addr]*nsCapture
	held     heldHeap
	heldSize int
	seq      uint64
	freeE    []*heldEntry
	freeC    []*entry.ConnEnd
	// ended receives the captures that ended by themselves.
	ended chan captureEnd
	// conn numbers connections across the engines.
	conn    uint64
	packets uint64
	dropped uint64
	// stats sums the engines' counters as they end.
	stats sniff.Stats

	// srcMu guards srcs and srcEnded, for --metrics' scrapes (Stats),
	// which must not wait for mu.
	srcMu    sync.Mutex
	srcs     map[*nsCapture]*live.Source
	srcEnded live.Stats
	// skipped counts the entries printed from another namespace.
	skipped  int
	writeErr error
}

// captureEnd is a capture that ended by itself, and why.
type captureEnd struct {
	c   *nsCapture
	err error
}

// nsCapture is one target's capture.
type nsCapture struct {
	s      *stack
	t      nsenter.Target
	eng    *sniff.Engine
	src    *live.Source
	cancel context.CancelFunc
	// done is closed when the capture goroutine returned.
	done chan struct{}
	// conns maps the engine's connection numbers to the output's.
	conns map[uint64]uint64
	// live is when the capture was opened, stopped when it ended (zero
	// while it runs): what began outside that span it did not see.
	live, stopped time.Time
}

// newStack returns a stack without captures; names names the peers (nil:
// none).
func newStack(o *options, cfg sniff.Config, out *printer, names *nsenter.Names, stderr io.Writer) *stack {
	return &stack{o: o, out: out, cfg: cfg, names: names, stderr: stderr, connEnd: cfg.ConnEnd, clock: time.Now,
		caps: map[string]*nsCapture{}, owner: map[netip.Addr]*nsCapture{}, ended: make(chan captureEnd, 16),
		srcs: map[*nsCapture]*live.Source{}}
}

// stackWords is how runStack's messages name what it watches.
type stackWords struct {
	// noun is what a target is: "container", "pod".
	noun string
	// sel describes the selection: "project web".
	sel string
	// waiting is said while nothing matches.
	waiting string
}

// dockerWords are the words for Docker's containers selected by sel.
func dockerWords(sel nsenter.Selector) stackWords {
	return stackWords{noun: "container", sel: sel.String(),
		waiting: fmt.Sprintf("nothing matches %s yet: waiting for a container to start (--duration ends the wait)", sel)}
}

// runStack is sniffer attach with several containers, --project or
// --label, and with --cri or --selector (pods): the targets of eng that
// sel selects.
func runStack(ctx context.Context, stop context.CancelFunc, o *options, cfg sniff.Config, out *printer, eng nsenter.TargetSource, sel nsenter.Selector, follow bool, words stackWords, stderr io.Writer) int {
	s := newStack(o, cfg, out, nsenter.NewNames(eng), stderr)
	s.eng = eng
	if x := out.extras; x != nil && x.metrics != nil {
		x.metrics.SetSource(s) // every namespace's kernel drops
	}
	if err := s.names.Refresh(ctx); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	initial, events, err := eng.WatchTargets(ctx, sel)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	if err := o.readyFile.clear(); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	defer o.readyFile.clear()
	refsOnly := len(sel.Labels) == 0
	if refsOnly && len(initial) == 0 && !follow {
		fmt.Fprintf(stderr, "sniffer: attach: %v: none of %s: start them, or use --follow to wait for them\n", nsenter.ErrNotRunning, words.sel)
		return exitFailed
	}
	for _, t := range initial {
		if status := s.start(t, time.Time{}); status != 0 {
			s.shutdown()
			return status
		}
	}
	watching := fmt.Sprintf("sniffer: attach: watching %s: %d %s%s attached", words.sel, len(initial), words.noun, plural(len(initial)))
	if len(initial) == 0 {
		watching = "sniffer: attach: " + words.waiting
	}
	fmt.Fprintln(stderr, watching)
	if err := o.readyFile.set(watching); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		s.shutdown()
		return exitFailed
	}

	// Peer names are refreshed apart: a list of the engine's containers
	// must not delay a capture.
	refresh := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-refresh:
				s.names.Refresh(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	var grace <-chan time.Time // refs only: nothing runs, waiting for a restart
	status := 0
loop:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			if ev.Err != nil {
				fmt.Fprintf(stderr, "sniffer: %v\n", ev.Err)
				status = exitFailed
				break loop
			}
			switch ev.Kind {
			case nsenter.Renamed:
				select {
				case refresh <- struct{}{}:
				default:
				}
			case nsenter.Started:
				if st := s.start(ev.Target, ev.Time); st != 0 {
					status = st
					break loop
				}
				grace = nil
			case nsenter.Stopped, nsenter.Removed:
				if s.let(ev.Target.ID, ev.Kind) && refsOnly && !follow && s.running() == 0 {
					grace = time.After(restartGrace)
				}
			}
		case f := <-s.ended:
			// The namespace's interfaces may go before its die event.
			if !s.current(f.c) {
				break // let go already
			}
			fmt.Fprintf(stderr, "sniffer: capture in %s ended: %v\n", f.c.t.Short(), f.err)
			if s.let(f.c.t.ID, nsenter.Stopped) && refsOnly && !follow && s.running() == 0 {
				grace = time.After(restartGrace)
			}
		case now := <-ticker.C:
			s.tick(now)
		case <-grace:
			fmt.Fprintf(stderr, "sniffer: attach: no watched %s runs any more\n", words.noun)
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	stop()
	s.shutdown()
	if err := out.close(); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	if s.writeErr != nil {
		fmt.Fprintf(stderr, "sniffer: writing output: %v\n", s.writeErr)
		status = exitFailed
	}
	if s.skipped > 0 {
		fmt.Fprintf(stderr, "sniffer: %d entr%s seen in two watched namespaces printed once\n", s.skipped, pluralY(s.skipped))
	}
	reportSkipped(stderr, s.stats)
	writeCounts(stderr, s.packets, s.dropped, out.printed, s.conn)
	return out.finish(status, stderr)
}

// openInTarget opens the capture inside t's network namespace.
func openInTarget(t nsenter.Target, cfg live.Config) (*live.Source, error) {
	var src *live.Source
	err := t.Enter(func() error {
		var err error
		src, err = live.Open(cfg)
		return err
	})
	if err != nil && src != nil {
		src.Close()
		src = nil
	}
	return src, err
}

// current reports whether c is its target's capture still.
func (s *stack) current(c *nsCapture) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps[c.t.ID] == c
}

// running returns the number of captures.
func (s *stack) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.caps)
}

// start opens a capture in t's network namespace; a capture of t in
// another namespace (a restart whose die was not seen yet) is let go
// first. It returns a non-zero exit status when the capture cannot run at
// all (a bad filter, no CAP_NET_RAW).
func (s *stack) start(t nsenter.Target, started time.Time) int {
	s.mu.Lock()
	old := s.caps[t.ID]
	s.mu.Unlock()
	restarted := false
	if old != nil {
		if old.t.Pid == t.Pid && old.t.Netns == t.Netns {
			return 0 // the same start, seen twice
		}
		s.let(t.ID, nsenter.Stopped)
		restarted = true
	}
	src, err := openInTarget(t, liveConfig(s.o))
	if err != nil {
		var fe *live.FilterError
		switch {
		case errors.As(err, &fe):
			fmt.Fprintf(s.stderr, "sniffer: %v\n", err)
			return 2
		case errors.Is(err, os.ErrPermission) && !errors.Is(err, nsenter.ErrSetns):
			fmt.Fprintln(s.stderr, capNetRawMessage)
			return exitFailed
		}
		// It may have stopped in between (its die follows); if it still
		// runs, the namespace cannot be entered: say why and stop.
		if s.eng != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			t2, ierr := s.eng.InspectTarget(ctx, t.ID)
			cancel()
			if ierr == nil && (t2.Pid > 0 || t2.Netns != "") && t2.Pid == t.Pid && t2.Netns == t.Netns {
				fmt.Fprintf(s.stderr, "sniffer: attach: %s: %v\n", t.Short(), err)
				return exitFailed
			}
		}
		fmt.Fprintf(s.stderr, "sniffer: attach: %s stopped before its capture opened: %v\n", t.Short(), err)
		return 0
	}
	live := time.Now()
	c := s.add(t, src)
	s.srcMu.Lock()
	s.srcs[c] = src
	s.srcMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	after := ""
	where := ""
	if t.Netns != "" {
		where = ", network namespace " + t.Netns
	}
	if !started.IsZero() {
		after = fmt.Sprintf(" (%s after its start event)", live.Sub(started).Round(time.Millisecond))
	}
	if restarted {
		fmt.Fprintf(s.stderr, "sniffer: %s restarted: attached to its new network namespace%s, listening on %s%s\n", t.Short(), where, src, after)
	} else {
		fmt.Fprintf(s.stderr, "sniffer: attached to %s%s, listening on %s%s\n", t.Short(), where, src, after)
	}
	go func() {
		defer close(c.done)
		if err := src.Run(ctx, c); err != nil && ctx.Err() == nil {
			select {
			case s.ended <- captureEnd{c, err}:
			default: // the main loop is gone
			}
		}
	}()
	return 0
}

// add registers the capture of t from src, with its engine.
func (s *stack) add(t nsenter.Target, src *live.Source) *nsCapture {
	c := &nsCapture{s: s, t: t, src: src, done: make(chan struct{}), conns: map[uint64]uint64{}, live: s.clock()}
	cfg := s.cfg
	cfg.Emit, cfg.ConnEnd = c.emit, c.connEnd
	c.eng = sniff.New(cfg)
	s.mu.Lock()
	s.caps[t.ID] = c
	for _, ip := range t.IPs {
		s.owner[ip.Unmap()] = c
	}
	s.mu.Unlock()
	return c
}

// let ends the capture of target id, if there is one: the engine prints
// what its connections hold (the namespace is gone with them). It
// reports whether there was one.
func (s *stack) let(id string, kind nsenter.TargetEventKind) bool {
	s.mu.Lock()
	c := s.caps[id]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.cancel()
	<-c.done
	s.mu.Lock()
	delete(s.caps, id)
	for _, ip := range c.t.IPs {
		if s.owner[ip] == c {
			delete(s.owner, ip)
		}
	}
	c.eng.Finish()
	addStats(&s.stats, c.eng.Stats())
	s.mu.Unlock()
	s.endSource(c)
	what := "stopped"
	if kind == nsenter.Removed {
		what = "was removed"
	}
	fmt.Fprintf(s.stderr, "sniffer: %s %s: let go\n", c.t.Short(), what)
	return true
}

// endSource adds the counters of c's capture to the totals, and closes it.
func (s *stack) endSource(c *nsCapture) {
	st, err := c.src.Stats()
	s.srcMu.Lock()
	if err == nil {
		s.srcEnded.Packets += st.Packets
		s.srcEnded.Received += st.Received
		s.srcEnded.Dropped += st.Dropped
	}
	delete(s.srcs, c)
	s.srcMu.Unlock()
	s.mu.Lock()
	s.packets, s.dropped = s.srcEnded.Packets, s.srcEnded.Dropped
	s.mu.Unlock()
	c.src.Close()
}

// Stats sums the counters of every capture, ended ones included: the
// kernel drops --metrics serves.
func (s *stack) Stats() (live.Stats, error) {
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	sum := s.srcEnded
	for _, src := range s.srcs {
		st, err := src.Stats()
		if err != nil {
			return sum, err
		}
		sum.Packets += st.Packets
		sum.Received += st.Received
		sum.Dropped += st.Dropped
	}
	return sum, nil
}

// shutdown ends every capture and prints every entry held.
func (s *stack) shutdown() {
	// Every capture is told to stop, then each one's end awaited and
	// noted (elsewhere), then every engine finishes: the captures stop
	// as close together as they can, and what one saw after another
	// stopped is printed from it.
	s.mu.Lock()
	cs := make([]*nsCapture, 0, len(s.caps))
	for _, c := range s.caps {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		if c.src != nil {
			c.cancel()
		}
	}
	for _, c := range cs {
		if c.src != nil {
			<-c.done
		}
		s.mu.Lock()
		c.stopped = s.clock()
		s.mu.Unlock()
	}
	for _, c := range cs {
		s.mu.Lock()
		c.eng.Finish()
		addStats(&s.stats, c.eng.Stats())
		delete(s.caps, c.t.ID)
		s.mu.Unlock()
		if c.src != nil {
			s.endSource(c)
		}
	}
	s.mu.Lock()
	s.release(time.Time{}, true)
	s.flush()
	s.mu.Unlock()
}

// tick prints the held entries whose time has come and writes out the
// output.
func (s *stack) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(now, false)
	if x := s.out.extras; x != nil && x.metrics != nil {
		st, conns := s.stats, 0
		for _, c := range s.caps {
			addStats(&st, c.eng.Stats())
			conns += c.eng.Conns()
		}
		x.metrics.SetEngine(st, conns)
	}
	s.out.flushHAR()
	s.flush()
}

func (s *stack) flush() {
	if s.out.w.Buffered() == 0 || s.writeErr != nil {
		return
	}
	if err := s.out.flush(); err != nil {
		s.writeErr = err
		s.out.stop()
	}
}

// Packet hands one packet of c's namespace to its engine.
func (c *nsCapture) Packet(ts time.Time, frame []byte) {
	c.s.mu.Lock()
	c.eng.Packet(live.LinkType, ts, frame)
	c.s.mu.Unlock()
}

// Tick applies c's engine's timers.
func (c *nsCapture) Tick(now time.Time) {
	c.s.mu.Lock()
	c.eng.Tick(now)
	c.s.mu.Unlock()
}

// elsewhere reports whether a connection from client to server, which
// this namespace saw begin at start (zero: it did not see it begin) and
// last at last, is printed from another captured namespace. A connection
// between two captured targets is the client's when the client's capture
// saw it whole: live at its start and not yet stopped at last. Else it is
// the server's: one begun before the client's capture opened, or still
// going (or begun) when the client's capture stopped (the captures of a
// shutdown stop one after the other), which the client's capture saw part
// of or none of.
func (c *nsCapture) elsewhere(client, server netip.Addr, start, last time.Time) bool {
	if o := c.s.owner[client.Unmap()]; o != nil && o != c {
		if last.IsZero() {
			last = start // an entry without payload
		}
		stopped := o.cutoff()
		return !start.IsZero() && !o.live.After(start) && (stopped.IsZero() || last.Before(stopped))
	}
	if o := c.s.owner[server.Unmap()]; o != nil && o != c {
		return start.IsZero()
	}
	return false
}

// cutoff is when c's capture stopped handing packets over (zero while it
// runs): its source's stop, seen as soon as the source sees it, so that
// another namespace's engine draining at the same time knows what this one
// missed; stopped when there is no source (tests) or it ended otherwise.
func (c *nsCapture) cutoff() time.Time {
	if c.src != nil {
		if t := c.src.Stopped(); !t.IsZero() {
			return t
		}
	}
	return c.stopped
}

// number returns the output's number of the engine's connection n.
func (c *nsCapture) number(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	g, ok := c.conns[n]
	if !ok {
		c.s.conn++
		g = c.s.conn
		c.conns[n] = g
	}
	return g
}

// emit is c's engine's Emit (under s.mu): the entry, named, waits in the
// merge heap.
func (c *nsCapture) emit(e *entry.Entry) {
	s := c.s
	if c.elsewhere(e.Client.Addr(), e.Server.Addr(), e.ConnStart, e.LastEvent()) {
		s.skipped++
		return
	}
	var he *heldEntry
	if n := len(s.freeE); n > 0 {
		he, s.freeE = s.freeE[n-1], s.freeE[:n-1]
	} else {
		he = new(heldEntry)
	}
	he.copy(e)
	h := &he.e
	h.Conn = c.number(e.Conn)
	h.Container = c.t.Name
	h.SourceName = s.names.Lookup(e.Client.Addr())
	h.DestName = s.names.Lookup(e.Server.Addr())
	key := e.LastEvent()
	if key.IsZero() {
		key = e.Flushed
	}
	s.hold(held{key: key, e: he, size: len(h.Request.Bytes) + len(h.Response.Bytes)})
}

// connEnd is c's engine's ConnEnd (under s.mu): it follows its entries
// through the merge heap.
func (c *nsCapture) connEnd(ce *entry.ConnEnd) {
	s := c.s
	start := ce.Start
	if !ce.Opened {
		start = time.Time{}
	}
	// A connection's end goes with its start: the capture that saw the
	// connection begin counts it (the verdict), whatever it saw of the rest.
	if c.elsewhere(ce.Client.Addr(), ce.Server.Addr(), start, start) {
		delete(c.conns, ce.Conn)
		return
	}
	var h *entry.ConnEnd
	if n := len(s.freeC); n > 0 {
		h, s.freeC = s.freeC[n-1], s.freeC[:n-1]
	} else {
		h = new(entry.ConnEnd)
	}
	*h = *ce
	h.Conn = c.number(ce.Conn)
	delete(c.conns, ce.Conn)
	s.hold(held{key: ce.End, c: h})
}

// hold adds x to the merge heap, or prints it at once when its time has
// passed; past the heap's bounds the oldest is printed.
func (s *stack) hold(x held) {
	x.seq = s.seq
	s.seq++
	if len(s.held) > 0 && x.key.Before(s.held[0].key) && s.clock().Sub(x.key) > reorderBound {
		s.print(x)
		return
	}
	s.held.push(x)
	s.heldSize += x.size
	for len(s.held) > maxHeld || s.heldSize > maxHeldBytes {
		s.pop()
	}
}

// release prints the held entries older than now minus the reorder bound
// (all of them with all).
func (s *stack) release(now time.Time, all bool) {
	limit := now.Add(-reorderBound)
	for len(s.held) > 0 && (all || s.held[0].key.Before(limit)) {
		s.pop()
	}
}

func (s *stack) pop() {
	x := s.held.pop()
	s.heldSize -= x.size
	s.print(x)
}

// print passes x on: an entry to the printer, a connection's end to the
// verdict; its storage is kept for the next.
func (s *stack) print(x held) {
	if x.e != nil {
		s.out.emit(&x.e.e)
		s.freeE = append(s.freeE, x.e)
		return
	}
	if s.connEnd != nil {
		s.connEnd(x.c)
	}
	s.freeC = append(s.freeC, x.c)
}

// heldEntry is a copy of an entry, its bytes included, that waits in the
// merge heap; its storage is reused.
type heldEntry struct {
	e   entry.Entry
	tls entry.TLS
}

// copy copies e, every slice it points to included (bytes, header fields,
// the gRPC message, TLS names: the engine reuses their storage), reusing
// h's storage.
func (h *heldEntry) copy(e *entry.Entry) {
	req, resp := h.e.Request.Bytes[:0], h.e.Response.Bytes[:0]
	reqF, respF := h.e.Request.Fields[:0], h.e.Response.Fields[:0]
	grpcMsg := h.e.GRPCMessage[:0]
	sni, alpn := h.tls.SNI[:0], h.tls.ALPN[:0]
	h.e = *e
	h.e.Request.Bytes = append(req, e.Request.Bytes...)
	h.e.Response.Bytes = append(resp, e.Response.Bytes...)
	h.e.Request.Fields = append(reqF, e.Request.Fields...)
	h.e.Response.Fields = append(respF, e.Response.Fields...)
	h.e.GRPCMessage = nil
	if e.GRPCMessage != nil {
		h.e.GRPCMessage = append(append(grpcMsg, e.GRPCMessage...), 0)[:len(e.GRPCMessage)] // non-nil
	}
	if e.TLS == nil {
		return
	}
	h.tls = *e.TLS
	h.tls.SNI, h.tls.ALPN = nil, nil
	if e.TLS.SNI != nil {
		h.tls.SNI = append(append(sni, e.TLS.SNI...), 0)[:len(e.TLS.SNI)] // non-nil
	}
	if e.TLS.ALPN != nil {
		h.tls.ALPN = append(append(alpn, e.TLS.ALPN...), 0)[:len(e.TLS.ALPN)]
	}
	h.e.TLS = &h.tls
}

// held is an entry or a connection's end waiting in the merge heap.
type held struct {
	key  time.Time
	seq  uint64
	e    *heldEntry
	c    *entry.ConnEnd
	size int
}

// heldHeap orders the held by time, then by arrival: a binary min-heap
// (container/heap's interface would allocate for each entry).
type heldHeap []held

func (h heldHeap) less(i, j int) bool {
	if !h[i].key.Equal(h[j].key) {
		return h[i].key.Before(h[j].key)
	}
	return h[i].seq < h[j].seq
}

func (h *heldHeap) push(x held) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *heldHeap) pop() held {
	a := *h
	x := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = held{}
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return x
}

// addStats adds the counters of st to sum (every field is a count).
func addStats(sum *sniff.Stats, st sniff.Stats) {
	a, b := reflect.ValueOf(sum).Elem(), reflect.ValueOf(st)
	for i := 0; i < a.NumField(); i++ {
		if f := a.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(f.Uint() + b.Field(i).Uint())
		}
	}
}
