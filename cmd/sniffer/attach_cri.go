package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sniffer/sniffer/nsenter"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/live"
)

// criPoll is how often attach --cri/--selector lists the node's pods, to
// attach to the pods that start and let go of those that stop.
const criPoll = 2 * time.Second

// criFlags are attach's flags for Kubernetes nodes: --cri NAMESPACE/POD,
// --cri-endpoint URL, --selector KEY=VALUE (repeatable).
type criFlags struct {
	pod      string
	endpoint string
	selector map[string]string
}

// on reports whether attach goes through the CRI rather than Docker.
func (c *criFlags) on() bool { return c.pod != "" || c.endpoint != "" || len(c.selector) > 0 }

// extractCRIFlags takes the CRI flags out of args (as "--flag value" or
// "--flag=value") and returns the other arguments.
func extractCRIFlags(args []string) (criFlags, []string, error) {
	cf := criFlags{selector: map[string]string{}}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "cri" && name != "cri-endpoint" && name != "selector") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return cf, nil, &usageError{"--" + name + " needs a value"}
			}
			i++
			val = args[i]
		}
		switch name {
		case "cri":
			if _, _, err := nsenter.ParsePodRef(val); err != nil {
				return cf, nil, &usageError{err.Error()}
			}
			cf.pod = val
		case "cri-endpoint":
			cf.endpoint = val
		case "selector":
			if err := nsenter.ParseSelector(cf.selector, val); err != nil {
				return cf, nil, &usageError{err.Error()}
			}
		}
	}
	return cf, rest, nil
}

// runCRIAttach is "sniffer attach --cri NAMESPACE/POD" and
// "sniffer attach --selector KEY=VALUE": it captures in the network
// namespace of each ready pod sandbox that matches, on this node, found
// through the CRI runtime. Each pod has an engine of its own (two pods'
// loopback connections may have the same addresses); their entries go to
// one output.
func runCRIAttach(cf criFlags, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "sniffer: attach: %q: with --cri or --selector name no container (see sniffer attach --help)\n", args[0])
		return 2
	}
	if cf.pod == "" && len(cf.selector) == 0 {
		fmt.Fprintln(stderr, "sniffer: attach: --cri-endpoint needs --cri NAMESPACE/POD or --selector KEY=VALUE (see sniffer attach --help)")
		return 2
	}
	o, err := parseOptions(args, stdout)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "sniffer: attach: %v (see sniffer attach --help)\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	if o.help {
		return 0
	}
	if o.file != "" {
		fmt.Fprintln(stderr, "sniffer: attach: -f does not apply: attach captures live (see sniffer attach --help)")
		return 2
	}
	if o.metrics != "" && cf.pod == "" {
		// One engine per pod: the metrics are one engine's.
		fmt.Fprintln(stderr, "sniffer: attach: --metrics applies to --cri NAMESPACE/POD, not to --selector (see sniffer attach --help)")
		return 2
	}
	if o.execute != "" {
		stderr = syncWriter(stderr)
	}
	cfg, out, status := setup(o, stdout, stderr)
	if out == nil {
		return status
	}
	cfg.FlushAfter = o.flushAfter
	ctx, stop := stopContext(o, out)
	defer stop()

	cri, err := nsenter.ConnectCRI(ctx, cf.endpoint)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	defer cri.Close()
	if err := o.readyFile.clear(); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	defer o.readyFile.clear()

	m := &criAttacher{o: o, cf: cf, cri: cri, cfg: cfg, out: out, stop: stop, stderr: stderr, pods: map[string]*podCapture{}}
	if cf.pod != "" {
		m.ns, m.name, _ = nsenter.ParsePodRef(cf.pod)
	}
	status = m.run(ctx)
	for _, pc := range m.pods {
		m.release(pc)
	}
	if m.ended == nil && status != exitOK {
		return status // the error said it all; nothing was captured
	}
	var writeErr error
	var conns uint64
	for _, h := range m.ended {
		if h.writeErr != nil && writeErr == nil {
			writeErr = h.writeErr
		}
		conns += h.eng.Stats().Connections
	}
	if err := out.close(); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		fmt.Fprintf(stderr, "sniffer: writing output: %v\n", writeErr)
		status = exitFailed
	}
	for _, h := range m.ended {
		reportSkipped(stderr, h.eng.Stats())
	}
	writeCounts(stderr, m.packets, m.dropped, out.printed, conns)
	return out.finish(status, stderr)
}

// criAttacher keeps one capture per matching pod.
type criAttacher struct {
	o        *options
	cf       criFlags
	ns, name string // --cri's pod
	cri      *nsenter.CRI
	cfg      sniff.Config
	out      *printer
	stop     context.CancelFunc
	stderr   io.Writer
	// mu serializes the pods' capture goroutines: the printer and the
	// output are shared.
	mu   sync.Mutex
	pods map[string]*podCapture // by sandbox ID
	// ended holds the engines of the captures that ended (nil until one
	// was opened), for the summary.
	ended []*liveHandler
	// refused remembers the pods already refused, said once.
	refused map[string]bool
	// waiting is set while no pod matches (said once per wait).
	waiting bool
	ready   bool
	packets uint64
	dropped uint64
}

// podCapture is the capture in one pod's network namespace.
type podCapture struct {
	pod    nsenter.Pod
	h      *liveHandler
	src    *live.Source
	cancel context.CancelFunc
	done   chan error
}

// lockedHandler feeds one pod's engine under the attacher's lock.
type lockedHandler struct {
	mu *sync.Mutex
	h  *liveHandler
}

func (l lockedHandler) Packet(ts time.Time, frame []byte) {
	l.mu.Lock()
	l.h.Packet(ts, frame)
	l.mu.Unlock()
}

func (l lockedHandler) Tick(now time.Time) {
	l.mu.Lock()
	l.h.Tick(now)
	l.mu.Unlock()
}

// noMatch says that no pod matches --selector, naming it.
func (m *criAttacher) noMatch() string {
	keys := make([]string, 0, len(m.cf.selector))
	for k, v := range m.cf.selector {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return "no ready pod matches --selector " + strings.Join(keys, ",")
}

// run polls the runtime's pods until ctx is done (or, with --cri, the pod
// is gone), attaching to the new ones and letting go of the gone ones.
func (m *criAttacher) run(ctx context.Context) int {
	t := time.NewTicker(criPoll)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return exitOK
			case <-t.C:
			}
		}
		pods, err := m.cri.Pods(ctx, m.ns, m.name, m.cf.selector)
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			fmt.Fprintf(m.stderr, "sniffer: attach: %v\n", err)
			return exitFailed
		}
		seen := map[string]bool{}
		for _, p := range pods {
			seen[p.ID] = true
			if m.pods[p.ID] != nil {
				continue
			}
			if p.HostNetwork {
				if m.name != "" {
					fmt.Fprintf(m.stderr, "sniffer: attach: %s: %v: its traffic is the node's; capture on the node itself (sniffer without attach)\n", p.Short(), nsenter.ErrHostNetwork)
					return exitFailed
				}
				if m.refused == nil {
					m.refused = map[string]bool{}
				}
				if !m.refused[p.ID] {
					m.refused[p.ID] = true
					fmt.Fprintf(m.stderr, "sniffer: attach: %s left out: %v, its traffic is the node's\n", p.Short(), nsenter.ErrHostNetwork)
				}
				continue
			}
			if status, ok := m.attach(ctx, p); !ok {
				return status
			}
		}
		for id, pc := range m.pods {
			if !seen[id] {
				m.release(pc)
				fmt.Fprintf(m.stderr, "sniffer: %s stopped\n", pc.pod.Short())
			} else {
				select {
				case err := <-pc.done:
					pc.done <- err // release reads it
					if err != nil {
						fmt.Fprintf(m.stderr, "sniffer: %s: %v\n", pc.pod.Short(), err)
						return exitFailed
					}
				default:
				}
			}
		}
		if m.name != "" && len(m.pods) == 0 {
			if first {
				fmt.Fprintf(m.stderr, "sniffer: attach: %v: %s at %s (a ready pod sandbox of that namespace and name, on this node)\n", nsenter.ErrNoPod, m.ns+"/"+m.name, m.cri.Endpoint())
				return exitFailed
			}
			return exitOK // the pod is gone
		}
		switch {
		case len(m.pods) == 0 && !m.waiting:
			m.waiting = true
			fmt.Fprintf(m.stderr, "sniffer: attach: %s at %s: waiting for one\n", m.noMatch(), m.cri.Endpoint())
		case len(m.pods) > 0:
			m.waiting = false
		}
	}
}

// attach opens the capture in pod p's network namespace and starts it.
// On failure it returns the exit status and false.
func (m *criAttacher) attach(ctx context.Context, p nsenter.Pod) (int, bool) {
	if p.NetNS == "" {
		fmt.Fprintf(m.stderr, "sniffer: attach: %s: the runtime at %s does not tell the pod's network namespace\n", p.Short(), m.cri.Endpoint())
		return exitFailed, false
	}
	var src *live.Source
	err := nsenter.DoPath(p.NetNS, func() error {
		var err error
		src, err = live.Open(liveConfig(m.o))
		return err
	})
	if err != nil {
		if src != nil {
			src.Close()
		}
		var fe *live.FilterError
		switch {
		case errors.As(err, &fe):
			fmt.Fprintf(m.stderr, "sniffer: %v\n", err)
			return 2, false
		case errors.Is(err, os.ErrPermission) && !errors.Is(err, nsenter.ErrSetns):
			fmt.Fprintln(m.stderr, capNetRawMessage)
			return exitFailed, false
		case errors.Is(err, os.ErrNotExist):
			// Gone between the status and the open: the next poll
			// will not list it.
			return exitOK, true
		}
		fmt.Fprintf(m.stderr, "sniffer: attach: %s: %v\n", p.Short(), err)
		return exitFailed, false
	}
	cfg := m.cfg
	cfg.Emit = m.out.emit
	h := &liveHandler{eng: sniff.New(cfg), out: m.out, stop: m.stop}
	runCtx, cancel := context.WithCancel(ctx)
	pc := &podCapture{pod: p, h: h, src: src, cancel: cancel, done: make(chan error, 1)}
	m.pods[p.ID] = pc
	if m.ended == nil {
		m.ended = []*liveHandler{}
	}
	listening := fmt.Sprintf("sniffer: attached to %s, network namespace %s, listening on %s", p.Short(), p.NetNS, src)
	fmt.Fprintln(m.stderr, listening)
	if !m.ready {
		// The first capture listens: a packet sent from now on is
		// captured.
		m.ready = true
		if err := m.o.readyFile.set(listening); err != nil {
			fmt.Fprintf(m.stderr, "sniffer: attach: %v\n", err)
			return exitFailed, false
		}
	}
	if m.name != "" {
		m.out.watchCapture(src) // --metrics: one pod
	}
	go func() { pc.done <- src.Run(runCtx, lockedHandler{&m.mu, h}) }()
	return exitOK, true
}

// release stops pc's capture, prints what its engine holds and keeps the
// engine for the summary.
func (m *criAttacher) release(pc *podCapture) {
	pc.cancel()
	<-pc.done
	if m.name != "" {
		m.out.endCapture()
	}
	if st, err := pc.src.Stats(); err == nil {
		m.packets += st.Packets
		m.dropped += st.Dropped
	}
	pc.src.Close()
	m.mu.Lock()
	pc.h.eng.Finish()
	pc.h.Tick(time.Now())
	m.mu.Unlock()
	delete(m.pods, pc.pod.ID)
	m.ended = append(m.ended, pc.h)
}
