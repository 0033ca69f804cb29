package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The bounds of -e's queue, variables so that tests can force them: at
// most execQueueLen entries and execQueueBytes bytes wait for the command
// (one entry larger than that alone is let in), and at exit sniffer waits
// at most execWait for the queued commands before killing the running one.
var (
	execQueueLen         = 1024
	execQueueBytes int64 = 16 << 20
	execWait             = 10 * time.Second
)

// execKeepCap is the largest entry buffer the queue recycles; the
// recycled buffers hold at most execQueueBytes together.
const execKeepCap = 256 << 10

// executor runs the -e command for each entry off the capture path: the
// capture goroutine copies the rendered entry into a bounded queue (push),
// and one worker goroutine runs the command on each queued entry, one at a
// time, in entry order, the entry on its standard input.
//
// When the queue is full, a live capture drops the entry (counted, reported
// at exit): blocking would stall the capture and overflow the kernel's
// ring. Reading a file, push waits for room instead, so that every entry
// is run.
type executor struct {
	command string
	path    string   // the program, looked up once
	args    []string // its arguments, argv[0] first
	stdout  io.Writer
	stderr  io.Writer
	block   bool // wait for room rather than drop (file input)

	mu      sync.Mutex
	cond    sync.Cond // signalled when the queue or the state changes
	items   [][]byte  // ring of execQueueLen entries
	head, n int
	bytes   int64
	free    [][]byte // recycled entry buffers
	freeCap int64    // their capacity, at most execQueueBytes
	closed  bool     // no more entries: the worker ends when the queue is empty
	abandon bool     // exit: skip what is queued
	onFail  func()   // stops the capture; called once on failure

	failed  atomic.Bool // the command cannot run (err says why)
	err     error       // set before failed
	dropped int         // entries dropped on a full queue (capture goroutine)
	notRun  int         // queued entries skipped after a failure or at the exit bound (worker)
	kill    context.CancelFunc
	ctx     context.Context
	done    chan struct{} // closed when the worker has ended
}

// newExecutor looks the command up once and starts the worker. Through
// /bin/sh when there is one, as justniffer does (system(3)); without it
// (a FROM scratch image) the command is split at blanks and run directly.
func newExecutor(command string, stdout, stderr io.Writer, block bool) (*executor, error) {
	x := &executor{command: command, stdout: stdout, stderr: stderr, block: block,
		items: make([][]byte, max(execQueueLen, 1)), done: make(chan struct{})}
	x.cond.L = &x.mu
	if fi, err := os.Stat("/bin/sh"); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		x.path, x.args = "/bin/sh", []string{"sh", "-c", command}
	} else {
		f := strings.Fields(command)
		if len(f) == 0 {
			return nil, &usageError{"-e: empty command"}
		}
		p, err := exec.LookPath(f[0])
		if err != nil {
			return nil, fmt.Errorf("-e %q: %w", command, err)
		}
		x.path, x.args = p, f
	}
	x.ctx, x.kill = context.WithCancel(context.Background())
	go x.work()
	return x, nil
}

// setOnFail sets what stops the capture when the command cannot run (at
// once if it already failed).
func (x *executor) setOnFail(stop func()) {
	x.mu.Lock()
	x.onFail = stop
	failed := x.failed.Load()
	x.mu.Unlock()
	if failed {
		stop()
	}
}

// push queues a copy of b for the command. It is called by the capture
// goroutine only, and does not allocate once buffers are recycled.
func (x *executor) push(b []byte) {
	if x.failed.Load() {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for x.n == len(x.items) || x.n > 0 && x.bytes+int64(len(b)) > execQueueBytes {
		if !x.block {
			x.dropped++
			return
		}
		x.cond.Wait()
		if x.failed.Load() {
			return
		}
	}
	var buf []byte
	if k := len(x.free); k > 0 {
		buf, x.free = x.free[k-1][:0], x.free[:k-1]
		x.freeCap -= int64(cap(buf))
	}
	buf = append(buf, b...)
	x.items[(x.head+x.n)%len(x.items)] = buf
	x.n++
	x.bytes += int64(len(buf))
	x.cond.Broadcast()
}

// work is the worker: it runs the command on each queued entry in order.
func (x *executor) work() {
	defer close(x.done)
	in := bytes.NewReader(nil)
	for {
		x.mu.Lock()
		for x.n == 0 && !x.closed {
			x.cond.Wait()
		}
		if x.n == 0 {
			x.mu.Unlock()
			return
		}
		b := x.items[x.head]
		x.items[x.head] = nil
		x.head = (x.head + 1) % len(x.items)
		x.n--
		skip := x.abandon || x.failed.Load()
		x.mu.Unlock()

		if skip {
			x.notRun++
		} else {
			in.Reset(b)
			x.run(in)
		}

		x.mu.Lock()
		x.bytes -= int64(len(b))
		if c := int64(cap(b)); c <= execKeepCap && x.freeCap+c <= execQueueBytes && len(x.free) < len(x.items) {
			x.free = append(x.free, b)
			x.freeCap += c
		}
		x.cond.Broadcast()
		x.mu.Unlock()
	}
}

// run runs the command once. A command that cannot run at all (it cannot
// be started, or the shell says 126 or 127: not executable, not found)
// fails the executor: one line on standard error, and the capture stops.
// The command's own non-zero exit (grep finding nothing) is no error.
func (x *executor) run(stdin io.Reader) {
	cmd := exec.CommandContext(x.ctx, x.path, x.args[1:]...)
	cmd.Args = x.args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, x.stdout, x.stderr
	cmd.WaitDelay = time.Second // a child left holding its output
	ownGroup(cmd)
	err := cmd.Run()
	if err == nil || x.ctx.Err() != nil {
		return
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ee.ExitCode(); c != 126 && c != 127 {
			return
		}
		err = fmt.Errorf("cannot run the command (exit status %d: not found or not executable)", ee.ExitCode())
	}
	x.mu.Lock()
	if x.failed.Load() {
		x.mu.Unlock()
		return
	}
	x.err = err
	x.failed.Store(true)
	stop := x.onFail
	x.cond.Broadcast()
	x.mu.Unlock()
	fmt.Fprintf(x.stderr, "sniffer: -e %q: %v\n", x.command, err)
	if stop != nil {
		stop()
	}
}

// close ends the queue and waits for the queued commands, at most
// execWait; past it the running command is killed and the rest skipped.
// It reports whether the wait was cut short.
func (x *executor) close() (cut bool) {
	x.mu.Lock()
	x.closed = true
	x.cond.Broadcast()
	x.mu.Unlock()
	t := time.NewTimer(execWait)
	defer t.Stop()
	select {
	case <-x.done:
		return false
	case <-t.C:
	}
	x.mu.Lock()
	x.abandon = true
	x.mu.Unlock()
	x.kill()
	<-x.done // bounded: the kill ends the command, WaitDelay its output
	return true
}

// report writes, at exit, what -e did not run, and returns the exit status
// given status: exitFailed when the command could not run.
func (x *executor) report(status int, cut bool, stderr io.Writer) int {
	if x.dropped > 0 {
		fmt.Fprintf(stderr, "sniffer: -e: %d entries dropped: the command did not keep up (queue of %d entries, %d KiB)\n",
			x.dropped, len(x.items), execQueueBytes>>10)
	}
	if cut {
		fmt.Fprintf(stderr, "sniffer: -e: gave up waiting for the command after %v: %d queued entries not run\n", execWait, x.notRun)
	}
	if x.failed.Load() {
		return exitFailed
	}
	return status
}

// lockedWriter serializes the writes of the -e worker (and its commands'
// output) with the capture goroutine's on the same writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// syncWriter returns w made safe for concurrent writes: an *os.File
// already is (and is handed to the commands as it is).
func syncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	if _, ok := w.(*lockedWriter); ok {
		return w
	}
	return &lockedWriter{w: w}
}
