package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sniffer/sniffer/nsenter"
	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/live"
)

const attachUsage = `Usage:
  sniffer attach NAME|ID|PREFIX [--follow] [flags]
  sniffer attach NAME|ID... | --project NAME | --label KEY=VALUE... [flags]
  sniffer attach --cri NAMESPACE/POD... | --selector KEY=VALUE... [--cri-endpoint URL] [flags]

Captures in the network namespace of a running Docker container, found through
the Docker API (DOCKER_HOST, DOCKER_CONTEXT or the docker CLI's current
context). It follows the container: after a restart it captures in the new
namespace; when the container stops or is removed it prints what is pending
and a summary, and exits 0. --follow waits for it to start again instead.

Several containers at once, in one process: name them, or select them with
--project NAME (every container of the compose project, as docker compose -p)
or --label KEY=VALUE (repeatable: all must match, as docker ps --filter
label=). Selected containers that start later are attached as they start,
those that stop are let go; a selector that matches nothing waits (until
--duration). Each entry says where it was captured (%container) and names
its peers (%source.name, %dest.name: compose service, else container name); a
connection between two watched containers is printed once, from the client's
namespace. Named containers only (no selector): none running is an error, and
attach exits when none runs any more; --follow waits for them instead.

Needs root (CAP_SYS_ADMIN to enter the namespace, CAP_NET_RAW to capture) and
access to the engine's socket. From a container:
  docker run --rm --pid host --cap-add SYS_ADMIN \
    -v /var/run/docker.sock:/var/run/docker.sock sniffer attach app

On a Kubernetes node (containerd or CRI-O, no Docker) it finds pods through
the CRI, the API crictl uses, and captures in each pod sandbox's network
namespace:
  --cri NAMESPACE/POD   the pod of that namespace and name (repeatable); it
                        must run; exits 0 when none runs any more
  --selector KEY=VALUE  every ready pod carrying the label (repeatable: all
                        must match), pods that start later included; while
                        none matches it says so and waits
  --cri-endpoint URL    the runtime's socket (default: the first that answers
                        of unix:///run/containerd/containerd.sock and
                        unix:///var/run/crio/crio.sock)
The pods are listed every 2 s. The rules of several containers hold for pods:
%container is the pod as NAMESPACE/POD, %source.name and %dest.name name the
node's pods by their addresses, as NAMESPACE/POD; a connection between two
watched pods is printed once. A pod in the node's network namespace
(hostNetwork) is refused: its traffic is the node's.
examples/kubernetes/daemonset.yaml runs it on every node.

The other flags are sniffer's (see sniffer --help); -f does not apply.
`

// restartGrace is how long attach waits, after the container stopped, for
// the start that follows a "docker restart" before it exits.
const restartGrace = 3 * time.Second

// runAttach is "sniffer attach NAME [flags]".
func runAttach(args []string, stdout, stderr io.Writer) int {
	cf, args, err := extractCRIFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v (see sniffer attach --help)\n", err)
		return 2
	}
	if cf.on() {
		return runCRIAttach(cf, args, stdout, stderr) // Kubernetes nodes
	}
	var rest []string
	follow := false
	sel := nsenter.Selector{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "project" && name != "label" {
			name = ""
		}
		switch {
		case a == "--follow" || a == "-follow" || a == "--follow=true":
			follow = true
		case a == "--follow=false":
			follow = false
		case name != "":
			if !hasValue {
				if i+1 == len(args) {
					fmt.Fprintf(stderr, "sniffer: attach: --%s needs a value (see sniffer attach --help)\n", name)
					return 2
				}
				i++
				value = args[i]
			}
			k, v := nsenter.LabelProject, value
			if name == "label" {
				var ok bool
				if k, v, ok = strings.Cut(value, "="); !ok || k == "" {
					fmt.Fprintf(stderr, "sniffer: attach: --label %q: want KEY=VALUE (see sniffer attach --help)\n", value)
					return 2
				}
			}
			if v == "" && name == "project" {
				fmt.Fprintln(stderr, "sniffer: attach: --project needs a name (see sniffer attach --help)")
				return 2
			}
			if sel.Labels == nil {
				sel.Labels = map[string]string{}
			}
			if old, ok := sel.Labels[k]; ok && old != v {
				fmt.Fprintf(stderr, "sniffer: attach: label %s cannot be both %q and %q: nothing would match (see sniffer attach --help)\n", k, old, v)
				return 2
			}
			sel.Labels[k] = v
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
		io.WriteString(stdout, attachUsage)
		return 0
	}
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if !slices.Contains(sel.Refs, rest[0]) { // attach a a: one target
			sel.Refs = append(sel.Refs, rest[0])
		}
		rest = rest[1:]
	}
	if len(sel.Refs) == 0 && len(sel.Labels) == 0 {
		fmt.Fprintln(stderr, "sniffer: attach: name the container first, or select containers with --project or --label: sniffer attach NAME [flags] (see sniffer attach --help)")
		return 2
	}
	multi := len(sel.Refs) > 1 || len(sel.Labels) > 0
	o, status, ok := attachOptions(rest, stdout, stderr)
	if !ok {
		return status
	}
	if o.execute != "" {
		stderr = syncWriter(stderr) // shared with the -e worker
	}
	cfg, out, status := setup(o, stdout, stderr)
	if out == nil {
		return status
	}
	cfg.FlushAfter = o.flushAfter

	ctx, stop := stopContext(o, out)
	defer stop()

	eng, err := nsenter.Connect(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	defer eng.Close()
	if multi {
		return runStack(ctx, stop, o, cfg, out, eng, sel, follow, dockerWords(sel), stderr)
	}
	c, err := eng.Find(ctx, sel.Refs[0])
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	names, err := watchNames(ctx, eng)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	cfg.Emit = nameEntries(cfg.Emit, c.Name, names)
	// Watch before looking at the state, so that no start or stop is
	// missed in between.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events := eng.Watch(watchCtx, c.ID)
	if c, err = eng.Inspect(ctx, c.ID); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	if err := o.readyFile.clear(); err != nil {
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return exitFailed
	}
	defer o.readyFile.clear()
	a := &attacher{o: o, eng: eng, events: events, follow: follow, stderr: stderr}
	if !c.Running {
		if !follow {
			fmt.Fprintf(stderr, "sniffer: attach: %v: %s: start it (docker start %s), or use --follow to wait for it\n", nsenter.ErrNotRunning, c.Short(), c.Name)
			return exitFailed
		}
		a.sayWaiting(c)
	}
	a.h = &liveHandler{eng: sniff.New(cfg), out: out, stop: stop}
	status = a.loop(ctx, c)
	if !a.attached && status != exitOK {
		return status // the error said it all; nothing was captured
	}
	a.h.eng.Finish()
	if err := out.close(); err != nil && a.h.writeErr == nil {
		a.h.writeErr = err
	}
	if a.h.writeErr != nil {
		fmt.Fprintf(stderr, "sniffer: writing output: %v\n", a.h.writeErr)
		status = exitFailed
	}
	reportSkipped(stderr, a.h.eng.Stats())
	writeCounts(stderr, a.packets, a.dropped, out.printed, a.h.eng.Stats().Connections)
	return out.finish(status, stderr) // -w, --summary, --expect-reuse
}

// attacher captures in a container's network namespace, one namespace
// after another as the container restarts.
type attacher struct {
	o      *options
	eng    *nsenter.Engine
	events <-chan nsenter.Event
	follow bool
	stderr io.Writer
	h      *liveHandler
	// attached is set once a capture was opened.
	attached bool
	// waiting is set once the wait for a stopped container was announced
	// (--follow), until it starts.
	waiting bool
	packets uint64
	dropped uint64
}

// loop captures while c runs, and across its restarts, until ctx is done
// or the container is gone for good. It returns the exit status.
func (a *attacher) loop(ctx context.Context, c nsenter.Container) int {
	first := true
	for {
		if !c.Running {
			var ok bool
			c, ok = a.waitStart(ctx, c, a.follow)
			if !ok {
				return 0
			}
		}
		src, err := openInContainer(c.Pid, liveConfig(a.o))
		if err != nil {
			// The container may have stopped between the inspect and
			// the setns: look again before giving up.
			if c2, err2 := a.eng.Inspect(ctx, c.ID); err2 == nil && (!c2.Running || c2.Pid != c.Pid) {
				c = c2
				continue
			}
			var fe *live.FilterError
			if errors.As(err, &fe) {
				fmt.Fprintf(a.stderr, "sniffer: %v\n", err)
				return 2
			}
			if errors.Is(err, os.ErrPermission) && !errors.Is(err, nsenter.ErrSetns) {
				fmt.Fprintln(a.stderr, capNetRawMessage)
				return exitFailed
			}
			fmt.Fprintf(a.stderr, "sniffer: attach: %v\n", err)
			return exitFailed
		}
		a.attached = true
		if first {
			// The socket was opened, bound and filtered inside the
			// namespace: a packet sent from now on is captured.
			listening := fmt.Sprintf("sniffer: attached to %s, listening on %s", c.Short(), src)
			fmt.Fprintln(a.stderr, listening)
			if err := a.o.readyFile.set(listening); err != nil {
				src.Close()
				fmt.Fprintf(a.stderr, "sniffer: attach: %v\n", err)
				return exitFailed
			}
			first = false
		} else {
			fmt.Fprintf(a.stderr, "sniffer: %s restarted: attached to its new network namespace\n", c.Short())
		}
		gone, err := a.capture(ctx, src)
		if err != nil {
			fmt.Fprintf(a.stderr, "sniffer: %v\n", err)
			return exitFailed
		}
		// The namespace is gone with its connections: print them.
		a.h.eng.Finish()
		a.h.Tick(time.Now())
		if ctx.Err() != nil {
			return 0
		}
		if gone == "destroy" {
			fmt.Fprintf(a.stderr, "sniffer: %s was removed\n", c.Short())
			return 0
		}
		c.Running = false
	}
}

// capture runs src until ctx is done or the container's process dies. It
// returns the event that ended it ("die", "destroy"; "" when ctx did).
func (a *attacher) capture(ctx context.Context, src *live.Source) (string, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ended string
	var evErr error
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for {
			select {
			case ev, ok := <-a.events:
				if !ok {
					return
				}
				if ev.Err != nil {
					evErr = ev.Err
					cancel()
					return
				}
				switch ev.Action {
				case "die", "destroy":
					ended = ev.Action
					cancel()
					return
				}
			case <-runCtx.Done():
				return
			}
		}
	}()
	a.h.out.watchCapture(src) // --metrics
	runErr := src.Run(runCtx, a.h)
	a.h.out.endCapture()
	cancel()
	<-watching
	if st, err := src.Stats(); err == nil {
		a.packets += st.Packets
		a.dropped += st.Dropped
	}
	src.Close()
	if runErr != nil {
		return "", runErr
	}
	if evErr != nil {
		return "", evErr
	}
	return ended, nil
}

// waitStart waits for the stopped container c to start: for restartGrace
// (the start of a "docker restart", or of a restart policy), or for good
// with follow. It returns the started container, or false when it will not
// start or ctx is done.
func (a *attacher) waitStart(ctx context.Context, c nsenter.Container, follow bool) (nsenter.Container, bool) {
	t := time.NewTimer(restartGrace)
	defer t.Stop()
	timeout := t.C
	// The state may have changed before the events were watched.
	if c2, err := a.eng.Inspect(ctx, c.ID); err == nil && c2.Running {
		return c2, true
	} else if errors.Is(err, nsenter.ErrNotFound) {
		fmt.Fprintf(a.stderr, "sniffer: %s was removed\n", c.Short())
		return c, false
	}
	for {
		select {
		case ev, ok := <-a.events:
			if !ok {
				return c, false
			}
			if ev.Err != nil {
				fmt.Fprintf(a.stderr, "sniffer: %v\n", ev.Err)
				return c, false
			}
			switch ev.Action {
			case "start", "restart":
				c2, err := a.eng.Inspect(ctx, c.ID)
				if err == nil && c2.Running {
					a.waiting = false
					return c2, true
				}
			case "destroy":
				fmt.Fprintf(a.stderr, "sniffer: %s was removed\n", c.Short())
				return c, false
			}
		case <-timeout:
			if c2, err := a.eng.Inspect(ctx, c.ID); err == nil && c2.Running {
				a.waiting = false
				return c2, true
			}
			if follow {
				a.sayWaiting(c)
				timeout = nil
				continue
			}
			fmt.Fprintf(a.stderr, "sniffer: %s stopped\n", c.Short())
			return c, false
		case <-ctx.Done():
			return c, false
		}
	}
}

// sayWaiting tells, once per wait, that attach waits for the stopped
// container c to start (--follow): a wait without a word looks like a hang.
func (a *attacher) sayWaiting(c nsenter.Container) {
	if a.waiting {
		return
	}
	a.waiting = true
	fmt.Fprintf(a.stderr, "sniffer: attach: %s is not running: waiting for it to start (--follow)\n", c.Short())
}

// openInContainer opens the capture inside the network namespace of the
// container's process pid: the socket and the interface list are the
// container's, and the socket keeps capturing there afterwards.
func openInContainer(pid int, cfg live.Config) (*live.Source, error) {
	var src *live.Source
	err := nsenter.Do(pid, func() error {
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

// attachOptions parses the capture flags of attach (after what selects the
// containers or pods): ok is false when attach must exit with status
// (bad flags, --help, -f, which does not apply).
func attachOptions(args []string, stdout, stderr io.Writer) (o *options, status int, ok bool) {
	o, err := parseOptions(args, stdout)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "sniffer: attach: %v (see sniffer attach --help)\n", err)
			return nil, 2, false
		}
		fmt.Fprintf(stderr, "sniffer: attach: %v\n", err)
		return nil, exitFailed, false
	}
	if o.help {
		return nil, 0, false
	}
	if o.file != "" {
		fmt.Fprintln(stderr, "sniffer: attach: -f does not apply: attach captures live (see sniffer attach --help)")
		return nil, 2, false
	}
	return o, 0, true
}
