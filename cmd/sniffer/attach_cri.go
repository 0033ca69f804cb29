package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/sniffer/sniffer/nsenter"
)

// criFlags are attach's flags for Kubernetes nodes: --cri NAMESPACE/POD
// and --selector KEY=VALUE (both repeatable), --cri-endpoint URL.
type criFlags struct {
	pods     []string // "namespace/pod", each once
	endpoint string
	selector map[string]string
}

// on reports whether attach goes through the CRI rather than Docker.
func (c *criFlags) on() bool { return len(c.pods) > 0 || c.endpoint != "" || len(c.selector) > 0 }

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
			ns, name, err := nsenter.ParsePodRef(val)
			if err != nil {
				return cf, nil, &usageError{err.Error()}
			}
			if ref := ns + "/" + name; !slices.Contains(cf.pods, ref) {
				cf.pods = append(cf.pods, ref)
			}
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
// through the CRI runtime, the way attach captures in several Docker
// containers (runStack): one engine per pod, the entries merged in time
// order, each saying its pod (%container).
func runCRIAttach(cf criFlags, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "sniffer: attach: %q: with --cri or --selector name no container (see sniffer attach --help)\n", args[0])
		return 2
	}
	if len(cf.pods) == 0 && len(cf.selector) == 0 {
		fmt.Fprintln(stderr, "sniffer: attach: --cri-endpoint needs --cri NAMESPACE/POD or --selector KEY=VALUE (see sniffer attach --help)")
		return 2
	}
	o, status, ok := attachOptions(args, stdout, stderr)
	if !ok {
		return status
	}
	// The pod source says, from its own goroutine, which pods it leaves
	// out.
	stderr = syncWriter(stderr)
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
	src := cri.Targets()
	src.Notice = func(msg string) { fmt.Fprintf(stderr, "sniffer: attach: %s\n", msg) }
	sel := nsenter.Selector{Refs: cf.pods}
	if len(cf.selector) > 0 {
		sel.Labels = cf.selector
	}
	return runStack(ctx, stop, o, cfg, out, src, sel, false, criWords(cf, cri.Endpoint()), stderr)
}

// criWords are the words of runStack's messages for pods.
func criWords(cf criFlags, endpoint string) stackWords {
	var parts []string
	for _, p := range cf.pods {
		parts = append(parts, "pod "+p)
	}
	keys := make([]string, 0, len(cf.selector))
	for k, v := range cf.selector {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		parts = append(parts, "--selector "+strings.Join(keys, ","))
	}
	sel := strings.Join(parts, ", ")
	return stackWords{noun: "pod", sel: sel + " at " + endpoint,
		waiting: fmt.Sprintf("no ready pod matches %s at %s: waiting for one (--duration ends the wait)", sel, endpoint)}
}
