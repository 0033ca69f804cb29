package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sniffer/sniffer/nsenter"
	"github.com/sniffer/sniffer/sniff/entry"
)

// watchNames fills names from the engine's containers and refreshes it on
// the engine's events until ctx is done (attach of one container, and
// sniffer in a container's namespace with the engine's socket mounted).
func watchNames(ctx context.Context, eng nsenter.TargetSource) (*nsenter.Names, error) {
	names := nsenter.NewNames(eng)
	if err := names.Refresh(ctx); err != nil {
		return nil, err
	}
	_, events, err := eng.WatchTargets(ctx, nsenter.Selector{})
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range events {
			if ev.Kind == nsenter.Renamed {
				names.Refresh(ctx)
			}
		}
	}()
	return names, nil
}

// nameEntries wraps emit so that the entries carry the container they
// were captured in (container, "" for none) and their peers' names.
func nameEntries(emit func(*entry.Entry), container string, names *nsenter.Names) func(*entry.Entry) {
	return func(e *entry.Entry) {
		e.Container = container
		e.SourceName = names.Lookup(e.Client.Addr())
		e.DestName = names.Lookup(e.Server.Addr())
		emit(e)
	}
}

// dockerSocket is where the engine's socket is looked for when DOCKER_HOST
// is not set.
const dockerSocket = "/var/run/docker.sock"

// sidecarNames returns the peer names for a live capture when the Docker
// engine is at hand: DOCKER_HOST is set or its socket is there (sniffer in
// a container's network namespace with the socket mounted). A socket that
// cannot be used gives a warning and no names.
func sidecarNames(ctx context.Context, stderr io.Writer) (*nsenter.Names, func()) {
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat(dockerSocket); err != nil {
			return nil, func() {}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	eng, err := nsenter.Connect(cctx)
	if err != nil {
		cancel()
		fmt.Fprintf(stderr, "sniffer: warning: peer names (%%source.name, %%dest.name): %v\n", err)
		return nil, func() {}
	}
	names, err := watchNames(ctx, eng)
	if err != nil {
		cancel()
		eng.Close()
		fmt.Fprintf(stderr, "sniffer: warning: peer names (%%source.name, %%dest.name): %v\n", err)
		return nil, func() {}
	}
	return names, func() { cancel(); eng.Close() }
}
