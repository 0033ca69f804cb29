// Package nsenter finds a Docker container through the engine's API, or a
// Kubernetes pod through its node's CRI runtime, and runs code inside its
// network namespace, so that sniffer can capture a container's traffic by
// name ("sniffer attach app", "sniffer attach --cri shop/web").
//
// Finding the container (Connect, Engine.Find) or the pods (ConnectCRI,
// CRI.Pods), following them (Engine.Watch; the sources of targets
// Engine and PodTargets, which feed attach's stack of several namespaces
// alike) and entering a network namespace (Do, DoPath) are separate: Do
// and DoPath are the only code that touches namespaces.
package nsenter

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// Errors Do wraps, for callers that want to tell them apart.
var (
	// ErrNoProc: /proc/PID of the container's process is not visible
	// from this PID namespace.
	ErrNoProc = errors.New("process not visible")
	// ErrSetns: the kernel refused to open or enter the namespace.
	ErrSetns = errors.New("cannot enter the network namespace")
)

// Do runs fn with the calling goroutine's thread inside the network
// namespace of process pid (a host PID, as the engine reports it), then
// switches the thread back to the namespace it was in.
//
// This is the one function that changes namespaces. It runs fn on a new,
// locked goroutine: it locks the OS thread, remembers the thread's current
// namespace, enters pid's, calls fn, switches back, and unlocks the thread
// only if switching back succeeded (otherwise the goroutine exits locked
// and the Go runtime discards the thread, so no other goroutine ever runs
// in the wrong namespace).
//
// fn must do its namespace-sensitive work on the calling goroutine without
// blocking on other goroutines: open sockets (an AF_PACKET socket opened
// inside keeps capturing in that namespace after the switch back) and read
// the interface list (netlink, also a socket of the namespace).
func Do(pid int, fn func() error) error {
	return DoPath(fmt.Sprintf("/proc/%d/ns/net", pid), fn)
}

// DoPath is Do for the network namespace at path: /proc/PID/ns/net, or a
// bind mount of one (/var/run/netns/NAME, where CNI runtimes keep a pod
// sandbox's namespace).
func DoPath(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w: open %s: %v (the container's process is in another PID namespace: run sniffer on the host, or in a container with --pid host)", ErrNoProc, path, err)
		case errors.Is(err, os.ErrPermission):
			return fmt.Errorf("%w: open %s: %v (needs root with CAP_SYS_ADMIN; in a container add --cap-add SYS_ADMIN, and with --cap-drop ALL also SYS_PTRACE and NET_RAW)", ErrSetns, path, err)
		}
		return fmt.Errorf("%w: open %s: %v", ErrSetns, path, err)
	}
	defer target.Close()
	return enter(target, path, fn)
}

// enter runs fn on a locked thread inside target (opened from path), as
// Do describes.
func enter(target netns.NsHandle, path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("%w: read the current network namespace: %v", ErrSetns, err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("%w: setns %s: %v (needs CAP_SYS_ADMIN: run as root, or in a container add --cap-add SYS_ADMIN; with --cap-drop ALL also SYS_PTRACE and NET_RAW)", ErrSetns, path, err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread dies with this goroutine.
			done <- fmt.Errorf("%w: switch back to the original network namespace: %v", ErrSetns, err)
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}
