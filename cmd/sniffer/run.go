package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/filter"
	"github.com/sniffer/sniffer/sniff/jsonlog"
	"github.com/sniffer/sniffer/sniff/logformat"
	"github.com/sniffer/sniffer/sniff/redact"
)

// run is the whole command; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "attach" {
		return runAttach(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ready" {
		return runReady(args[1:], stdout, stderr)
	}
	o, err := parseOptions(args, stdout)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "sniffer: %v (see sniffer --help)\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return exitFailed
	}
	if o.help {
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "sniffer %s\n", version)
		return 0
	}
	if o.execute != "" {
		stderr = syncWriter(stderr) // shared with the -e worker
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "sniffer: %v\n", err)
			return exitFailed
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "sniffer: cpu profile: %v\n", err)
			return exitFailed
		}
		defer pprof.StopCPUProfile()
	}
	cfg, out, status := setup(o, stdout, stderr)
	if out == nil {
		return status
	}
	if o.file == "" {
		return runLive(o, cfg, out, stderr)
	}
	return runFile(o, cfg, out, stdin, stderr)
}

// setup builds the printer and the engine's configuration the options ask
// for, for every mode (file, live, attach). On failure it reports the error
// and returns a nil printer and the exit status. FlushAfter is left to the
// live modes.
func setup(o *options, stdout, stderr io.Writer) (sniff.Config, *printer, int) {
	format, err := buildFormat(o)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return sniff.Config{}, nil, 2
	}
	out, err := newPrinter(o, format, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return sniff.Config{}, nil, 2
		}
		return sniff.Config{}, nil, exitFailed
	}
	out.warn, out.headerCap = stderr, o.headerCap
	if o.execute != "" {
		x, err := newExecutor(o.execute, syncWriter(out.entries), stderr, o.file != "")
		if err != nil {
			fmt.Fprintf(stderr, "sniffer: %v\n", err)
			var ue *usageError
			if errors.As(err, &ue) {
				return sniff.Config{}, nil, 2
			}
			return sniff.Config{}, nil, 1
		}
		out.exec = x
	}
	if o.redact.on && o.write != "" {
		fmt.Fprintln(stderr, "sniffer: warning: --redact does not apply to -w: the pcap holds the packets as captured, secrets included")
	}
	cfg := sniff.Config{
		MaxConns:    o.maxStreams,
		IdleTimeout: o.idleTimeout,
		HeaderCap:   o.headerCap,
		BodyCap:     o.maxBody,
		KeepBodies:  format.NeedsBodies() && o.maxBody > 0,
		Emit:        out.emitter(),

		MaxPendingPerConn: o.maxPending,
		MaxPendingTotal:   o.maxPendingTotal,
		MaxKept:           o.maxKept,
	}
	if o.idleTimeout == 0 {
		cfg.IdleTimeout = -1
	}
	o.dropACKs = dropPureACKs(o, format)
	cfg.NoPureACKs = o.dropACKs
	out.configure(&cfg) // -w, --json-body
	setMemoryLimit(cfg)
	return cfg, out, 0
}

// setMemoryLimit gives the Go runtime a soft memory limit that follows the
// bounds (unless GOMEMLIMIT is set): the engine's live memory is at most
// about its budgets plus the connection table, but the collector lets the
// heap grow to twice the live memory before it runs. With the defaults
// (64 MiB kept, 32 MiB early segments, 16384 connections) the limit is
// 224 MiB, and the worst traffic measured stays under 256 MiB of RSS
// (BENCHMARKS.md).
func setMemoryLimit(cfg sniff.Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	def := func(v, d int64) int64 {
		if v <= 0 {
			return d
		}
		return v
	}
	limit := 96<<20 +
		def(cfg.MaxKept, sniff.DefaultMaxKept) +
		def(cfg.MaxPendingTotal, sniff.DefaultMaxPendingTotal) +
		def(int64(cfg.MaxConns), sniff.DefaultMaxConns)*2<<10
	debug.SetMemoryLimit(limit)
}

// buildFormat parses the log format the options ask for.
func buildFormat(o *options) (*logformat.Format, error) {
	text := defaultFormat
	switch {
	case o.set["log-format"]:
		text = o.logFormat
	case o.set["append-log-format"]:
		text = defaultFormat + o.appendFmt
	case o.raw:
		text = "%request%response"
	}
	return logformat.Parse(text)
}

// runFile reads a capture file (or standard input) through the engine.
func runFile(o *options, cfg sniff.Config, out *printer, stdin io.Reader, stderr io.Writer) int {
	interrupted, release := out.harInterrupt() // --har: a signal ends the file
	defer release()
	var in io.Reader = stdin
	name := "standard input"
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			fmt.Fprintf(stderr, "sniffer: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		in, name = f, o.file
	}
	r, err := capfile.NewReader(in)
	if err != nil {
		fmt.Fprintf(stderr, "sniffer: %s: %v\n", name, err)
		return exitFailed
	}
	var lf *filter.LinkFilter
	if o.filter != "" {
		if lf = fileFilter(o.filter, r.LinkType(), name, stderr); lf == nil {
			return 2
		}
		cfg.Filter = lf
	}
	out.setPcapLink(r.LinkType())
	eng := sniff.New(cfg)
	out.stop = func() {}
	status := 0
	first, seen := layers.LinkType(0), false // the first packet's link type
	var p capfile.Packet
	for !out.done() && !interrupted.Load() {
		err := r.Read(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				fmt.Fprintf(stderr, "sniffer: warning: %s: %v (the capture was cut short; entries up to the cut are printed)\n", name, err)
			} else {
				fmt.Fprintf(stderr, "sniffer: %s: %v\n", name, err)
				status = exitFailed
			}
			break
		}
		if !seen {
			first, seen = p.LinkType, true
		}
		eng.Packet(p.LinkType, p.Timestamp, p.Data)
	}
	eng.Finish()
	if err := out.close(); err != nil {
		fmt.Fprintf(stderr, "sniffer: writing output: %v\n", err)
		return out.finish(exitFailed, stderr)
	}
	if n := r.Skipped(); n > 0 {
		fmt.Fprintf(stderr, "sniffer: warning: %s: %d records skipped: their captured length exceeds their original length (tcpdump prints \"[Invalid header: len(L) < caplen(C)]\" for them)\n", name, n)
	}
	s := eng.Stats()
	unsupported := s.UnsupportedLink
	if lf != nil {
		unsupported += lf.Unsupported()
	}
	if unsupported > 0 && unsupported == s.Packets {
		// One error line: after a read error, this one is a warning.
		warning := ""
		if status != 0 {
			warning = "warning: "
		}
		fmt.Fprintf(stderr, "sniffer: %s%s: link type %s is not supported\n", warning, name, capfile.DescribeLinkType(first))
		return out.finish(exitFailed, stderr)
	}
	if lf != nil && lf.Skipped() > 0 {
		fmt.Fprintf(stderr, "sniffer: warning: %s: %d packets skipped: -p could not be compiled for their link type\n", name, lf.Skipped())
	}
	return out.finish(status, stderr)
}

// fileFilter prepares the -p expression for the frames of a capture file,
// compiled for each link type its interfaces have. An error in the
// expression for the file's first link type is reported, and fileFilter
// returns nil (exit status 2); other link types get a warning on their
// first frame when the expression cannot be compiled for them, and their
// frames are skipped (LinkFilter.Skipped).
func fileFilter(expr string, link layers.LinkType, name string, stderr io.Writer) *filter.LinkFilter {
	lf := filter.NewLinkFilter(expr, 262144)
	var ule *filter.UnsupportedLinkError
	if err := lf.Prepare(link); err != nil && !errors.As(err, &ule) {
		fmt.Fprintf(stderr, "sniffer: %v\n", err)
		return nil
	}
	lf.Warn = func(link layers.LinkType, err error) {
		if errors.As(err, &ule) {
			fmt.Fprintf(stderr, "sniffer: warning: %s: -p cannot be compiled for link type %s, which it does not support: packets of that link type are skipped\n", name, capfile.DescribeLinkType(link))
			return
		}
		fmt.Fprintf(stderr, "sniffer: warning: %s: -p cannot be compiled for link type %s (%v): packets of that link type are skipped\n", name, capfile.DescribeLinkType(link), err)
	}
	return lf
}

// dropPureACKs reports whether a live capture may have the kernel drop pure
// ACKs (live.Config.DropPureACKs), the bulk of a close-per-request
// connection's packets: only when nothing that is printed or judged depends
// on them. The entries' format must not need them
// (logformat.Format.NeedsPureACKs); -w writes every packet; JSON and HAR
// print the handshake and close times; the verdict, the summary and the
// metrics are computed from connection lifecycles. A file is always read
// whole. --keep-acks turns it off.
func dropPureACKs(o *options, f *logformat.Format) bool {
	return o.file == "" && !o.keepACKs && !f.NeedsPureACKs() &&
		!o.json && !o.jsonBody && o.write == "" && o.har == "" &&
		!o.summary && !o.expectReuse && o.metrics == ""
}

// printer renders entries and writes them out (or to a command).
type printer struct {
	format  *logformat.Format
	opts    logformat.Options
	newline bool
	w       *outWriter
	buf     []byte
	// entries is where the entries go (standard output, or standard
	// error when it carries -w -'s pcap), and -e commands' output.
	entries io.Writer
	// exec runs -e's command (execute.go); execCut: the exit bound cut
	// the wait for it.
	exec    *executor
	execCut bool
	count   int
	printed int
	redact  *redact.Redactor
	scratch entry.Entry
	// extras: --json, -w, --summary, --expect-reuse (output.go).
	extras *extras
	// stop is called once --count is reached.
	stop func()
	// warn receives the one-time notice that a header block was cut at
	// --max-header (headerCap); warned records that it was given.
	warn      io.Writer
	headerCap int
	warned    bool
}

func newPrinter(o *options, f *logformat.Format, stdout io.Writer) (*printer, error) {
	x, stdout, err := setupExtras(o, stdout)
	if err != nil {
		return nil, err
	}
	p := &printer{
		extras:  x,
		format:  f,
		newline: !o.noNewline,
		w:       newOutWriter(stdout),
		entries: stdout,
		count:   o.count,
	}
	p.opts.NotFound = o.notFound
	p.opts.Location = time.Local
	switch {
	case o.hexEncode:
		p.opts.Encoding = logformat.Hex
	case o.unprintable:
		p.opts.Encoding = logformat.Dots
	case !o.rawBytes && o.execute == "" && isTerminal(stdout):
		// Captured bytes are untrusted: escape what could act on the
		// operator's terminal.
		p.opts.Encoding = logformat.Escaped
	}
	if o.redact.on {
		p.redact = redact.New(append(append([]string(nil), redact.Default...), o.redact.names...))
	}
	return p, nil
}

func (p *printer) emit(e *entry.Entry) {
	if p.done() {
		return
	}
	if !p.warned && p.warn != nil && (e.Request.HeadTruncated || e.Response.HeadTruncated) {
		p.warnHeadTruncated(e)
	}
	if x := p.extras; x != nil && x.agg != nil {
		x.agg.Add(e) // the reuse figures print no message bytes
	}
	if x := p.extras; x != nil && x.metrics != nil {
		x.metrics.Entry(e) // --metrics
	}
	// Everything below prints message bytes: from the redacted entry only.
	if p.redact != nil {
		e = p.redact.Entry(e, &p.scratch)
	}
	if x := p.extras; x != nil && x.har != nil {
		x.har.Add(e) // --har
	}
	if x := p.extras; x != nil {
		if x.json {
			p.buf = jsonlog.Append(p.buf[:0], e, &x.jsonOpts)
		} else {
			p.buf = p.format.Append(p.buf[:0], e, &p.opts)
		}
	} else {
		p.buf = p.format.Append(p.buf[:0], e, &p.opts)
	}
	if p.newline || p.extras != nil && p.extras.json {
		p.buf = append(p.buf, '\n')
	}
	if p.exec != nil {
		p.exec.push(p.buf)
	} else {
		p.w.Write(p.buf)
	}
	p.printed++
	if p.done() && p.stop != nil {
		p.stop()
	}
}

// emitter returns emit, or emitPlain when the printer has nothing to do
// but print the entries (no --count, -e, extras or redaction).
func (p *printer) emitter() func(*entry.Entry) {
	if x := p.extras; p.count == 0 && p.exec == nil && p.redact == nil &&
		(x == nil || x.agg == nil && x.metrics == nil && x.har == nil && !x.json) {
		return p.emitPlain
	}
	return p.emit
}

// emitPlain is emit for a printer that only prints (emitter): without the
// tests of the steps it has not, which every entry pays.
func (p *printer) emitPlain(e *entry.Entry) {
	if !p.warned && p.warn != nil && (e.Request.HeadTruncated || e.Response.HeadTruncated) {
		p.warnHeadTruncated(e)
	}
	p.printed++
	w := p.w
	if w.err != nil {
		return // as Write: nothing more is written
	}
	// Rendered into the buffer itself: the copy Write makes, left out.
	start := len(w.buf)
	w.buf = p.format.Append(w.buf, e, &p.opts)
	if p.newline {
		w.buf = append(w.buf, '\n')
	}
	w.wrote(len(w.buf) - start)
}

// outWriter buffers what the printer writes, as a bufio.Writer of
// outBufSize bytes does (Write, Flush, Buffered, Reset), and lets
// emitPlain render entries into its buffer.
type outWriter struct {
	w   io.Writer
	buf []byte // what is not written yet
	// reserve is the room kept for the next entry rendered into buf: the
	// longest one so far, so that buf does not grow.
	reserve int
	err     error // the first write error: nothing more is written
}

const outBufSize = 64 << 10

func newOutWriter(w io.Writer) *outWriter {
	return &outWriter{w: w, buf: make([]byte, 0, outBufSize)}
}

// wrote is told of n bytes appended to buf: it writes buf out when the
// room left is less than reserve.
func (o *outWriter) wrote(n int) {
	o.reserve = max(o.reserve, n)
	if cap(o.buf)-len(o.buf) < o.reserve {
		o.Flush()
	}
}

// Write buffers b, writing out what the buffer holds first when b does not
// fit, and b itself when it is longer than the buffer.
func (o *outWriter) Write(b []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if len(b) > cap(o.buf)-len(o.buf) {
		if err := o.Flush(); err != nil {
			return 0, err
		}
		if len(b) >= cap(o.buf) {
			n, err := o.w.Write(b)
			if n < len(b) && err == nil {
				err = io.ErrShortWrite
			}
			o.err = err
			return n, err
		}
	}
	o.buf = append(o.buf, b...)
	return len(b), nil
}

// Flush writes out the buffer. After an error, the bytes not written stay
// buffered and every call returns the error.
func (o *outWriter) Flush() error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) == 0 {
		return nil
	}
	n, err := o.w.Write(o.buf)
	if n < len(o.buf) && err == nil {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 && n < len(o.buf) {
			o.buf = o.buf[:copy(o.buf, o.buf[n:])]
		}
		o.err = err
		return err
	}
	o.buf = o.buf[:0]
	return nil
}

// Buffered returns how many bytes are buffered.
func (o *outWriter) Buffered() int { return len(o.buf) }

// Reset drops what is buffered, and the error, and writes to w from now on.
func (o *outWriter) Reset(w io.Writer) {
	o.w, o.buf, o.err = w, o.buf[:0], nil
}

// warnHeadTruncated tells, once, that an entry's header block was longer
// than --max-header and how to see which entries were cut.
func (p *printer) warnHeadTruncated(e *entry.Entry) {
	p.warned = true
	which, from, to := "request", e.Client, e.Server
	if !e.Request.HeadTruncated {
		which, from, to = "response", e.Server, e.Client
	}
	fmt.Fprintf(p.warn, "sniffer: warning: a %s header block (%v -> %v) is longer than --max-header (%d bytes): entries print what fits; %%%s.truncated prints \"header\" for them\n",
		which, from, to, p.headerCap, which)
}

// done reports whether --count entries were printed, or the -e command
// cannot run.
func (p *printer) done() bool {
	return p.count > 0 && p.printed >= p.count || p.exec != nil && p.exec.failed.Load()
}

func (p *printer) flush() error { return p.w.Flush() }

// close waits for the -e commands still queued (bounded) and flushes the
// entries.
func (p *printer) close() error {
	if p.exec != nil {
		p.execCut = p.exec.close()
	}
	return p.w.Flush()
}
