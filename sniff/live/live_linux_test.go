package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sniffer/sniffer/internal/require"
)

// inPrivateNetns moves the calling goroutine, locked to its thread, into a
// network namespace of its own with loopback up. The thread is never
// unlocked: it ends with the test. It skips the test without root, or
// fails it if SNIFFER_REQUIRE_ROOT=1.
func inPrivateNetns(t *testing.T) {
	t.Helper()
	require.Root(t)
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
}

// payloadCounter is a Handler that counts the frames carrying each of the
// payloads it looks for.
type payloadCounter struct {
	want  [][]byte
	seen  []int
	pkts  int
	ticks int
	bad   error
	last  time.Time // the last packet's time
}

func (h *payloadCounter) Packet(ts time.Time, frame []byte) {
	h.pkts++
	h.last = ts
	if len(frame) < 20 || frame[0]>>4 != 4 || frame[9] != 6 {
		h.bad = fmt.Errorf("frame % x is not IPv4 TCP", frame[:min(len(frame), 20)])
	}
	if d := time.Since(ts); d < 0 || d > time.Minute {
		h.bad = fmt.Errorf("timestamp %v is %v away", ts, d)
	}
	for i, w := range h.want {
		if bytes.HasSuffix(frame, w) {
			h.seen[i]++
		}
	}
}

func (h *payloadCounter) Tick(now time.Time) { h.ticks++ }

// TestRing captures TCP on loopback through the real ring: every segment
// is seen once (the filter drops loopback's outgoing copy), including the
// last one, sent just before the stop (the drain), and Stats adds up.
func TestRing(t *testing.T) {
	inPrivateNetns(t)
	src, err := Open(Config{Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got, want := src.String(), "lo (snaplen 262144)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	// Sockets are made here, on the thread in the namespace.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	go io.Copy(io.Discard, server)

	h := &payloadCounter{}
	for i := range 50 {
		h.want = append(h.want, fmt.Appendf(nil, "segment %03d", i))
	}
	h.seen = make([]int, len(h.want))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, h) }()
	for i, w := range h.want {
		if _, err := client.Write(w); err != nil {
			t.Fatal(err)
		}
		if i < len(h.want)-1 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !src.Stopped().IsZero() {
		t.Error("Stopped before the context was done")
	}
	cancelled := time.Now()
	cancel() // right after the last segment: only the drain can get it
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	// The stop Run applied lies between the cancel and its return, after
	// every packet it handed over.
	if st := src.Stopped(); st.Before(cancelled) || st.After(time.Now()) || st.Before(h.last) {
		t.Errorf("Stopped() = %v; want from the cancel at %v on, after the last packet at %v", st, cancelled, h.last)
	}
	if h.bad != nil {
		t.Error(h.bad)
	}
	for i, n := range h.seen {
		if n != 1 {
			t.Errorf("%q seen %d times; want once", h.want[i], n)
		}
	}
	if h.ticks == 0 {
		t.Error("no Tick")
	}
	// Segments came every 2 ms, blocks at most every BlockTimeout: the
	// waits after the first block were direct (ring.wait).
	if runtime.GOMAXPROCS(0) >= 2 && src.ring.directWaits.Load() == 0 {
		t.Error("no direct wait while packets flowed")
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != uint64(h.pkts) || st.Received < st.Packets || st.Dropped != 0 {
		t.Errorf("Stats() = %+v; %d packets handed over, none dropped", st, h.pkts)
	}
	// The kernel's counters are reset when read: the totals stay.
	if st2, err := src.Stats(); err != nil || st2.Received < st.Received {
		t.Errorf("Stats() again = %+v, %v; want at least %+v", st2, err, st)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := src.Stats(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Stats after Close: %v; want an error wrapping os.ErrClosed", err)
	}
}

// TestOpenErrors: each failure says which operation failed.
func TestOpenErrors(t *testing.T) {
	inPrivateNetns(t)
	_, err := Open(Config{Interface: "nonexistent0"})
	if !errors.Is(err, ErrNoInterface) {
		t.Errorf("unknown interface: %v", err)
	}
	// Not a multiple of the page size: the kernel refuses the ring.
	_, err = Open(Config{BlockSize: DefaultBlockSize + 100})
	var e *Error
	if !errors.As(err, &e) || e.Op != "create the TPACKET_V3 ring (16 blocks of 524388 bytes)" || !errors.Is(err, unix.EINVAL) {
		t.Errorf("odd block size: %v", err)
	}
}

// TestInterfaceGone: when the interface the capture is bound to goes away
// while packets flow, Run stops with the error (ENETDOWN), from a direct
// wait as from the netpoller's.
func TestInterfaceGone(t *testing.T) {
	inPrivateNetns(t)
	require.Tool(t, "ip")
	// A veth pair; the peer's address has a static neighbour entry, so
	// that datagrams to it leave by snfa at once (no ARP).
	for _, args := range [][]string{
		{"link", "add", "snfa", "type", "veth", "peer", "name", "snfb"},
		{"addr", "add", "10.201.0.1/24", "dev", "snfa"},
		{"link", "set", "snfa", "up"},
		{"link", "set", "snfb", "up"},
		{"neigh", "add", "10.201.0.2", "lladdr", "02:00:00:00:00:02", "dev", "snfa"},
	} {
		// The command runs in this thread's namespace, which goes
		// with the test: nothing to clean up.
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	src, err := Open(Config{Interface: "snfa", Filter: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	conn, err := net.Dial("udp", "10.201.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stopSend := make(chan struct{})
	defer close(stopSend)
	go func() {
		for {
			select {
			case <-stopSend:
				return
			case <-time.After(2 * time.Millisecond):
				conn.Write([]byte("ping")) // fails once the link is gone
			}
		}
	}()
	h := &payloadCounter{}
	done := make(chan error, 1)
	go func() { done <- src.Run(context.Background(), h) }()
	direct := runtime.GOMAXPROCS(0) >= 2
	for deadline := time.Now().Add(10 * time.Second); direct && src.ring.directWaits.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no direct wait in 10 s of packets every 2 ms")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "link", "del", "snfa").CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v: %s", err, out)
	}
	select {
	case err := <-done:
		var e *Error
		if !errors.Is(err, unix.ENETDOWN) || !errors.As(err, &e) || e.Op != "wait for a ring block" {
			t.Fatalf("Run: %v; want the wait's ENETDOWN", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the interface went away")
	}
}
