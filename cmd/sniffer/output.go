package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/har"
	"github.com/sniffer/sniffer/sniff/jsonlog"
	"github.com/sniffer/sniffer/sniff/live"
	"github.com/sniffer/sniffer/sniff/metrics"
	"github.com/sniffer/sniffer/sniff/reuse"
)

// extras are the outputs beside the entries: --json's options, -w's pcap
// writer, the reuse aggregator of --summary and --expect-reuse, the
// Prometheus metrics of --metrics and their server, --har's HAR writer.
type extras struct {
	json     bool
	jsonOpts jsonlog.Options
	pcap     *pcapWriter
	agg      *reuse.Aggregator
	verdict  bool // --expect-reuse
	bodies   bool // --json-body
	metrics  *metrics.Metrics
	served   *metrics.Server
	har      *har.Writer
	harFile  io.Closer // nil for --har -
}

// errBinaryTerminal is -w - with standard output a terminal.
var errBinaryTerminal = &usageError{"-w -: refusing to write a binary pcap to a terminal (redirect standard output, or use -w FILE)"}

// setupExtras prepares the extras from the options. It returns where the
// entries go: stdout, or standard error with -w - (standard output then
// carries the pcap).
func setupExtras(o *options, stdout io.Writer) (*extras, io.Writer, error) {
	x := &extras{json: o.json, bodies: o.jsonBody, verdict: o.expectReuse}
	x.jsonOpts = jsonlog.Options{Location: time.Local, Bodies: o.jsonBody}
	if o.summary || o.expectReuse {
		x.agg = reuse.NewMax(o.maxPairs)
	}
	if o.metrics != "" {
		// Listen now: an address in use is an error before capture.
		x.metrics = metrics.New(metrics.DefaultMaxServers)
		srv, err := x.metrics.Listen(o.metrics)
		if err != nil {
			return nil, nil, fmt.Errorf("--metrics: %w", err)
		}
		x.served = srv
	}
	entries := stdout
	switch o.write {
	case "":
	case "-":
		if isTerminal(stdout) {
			return nil, nil, errBinaryTerminal
		}
		x.pcap = newPcapWriter(stdout, nil, o.file == "")
		entries = os.Stderr
	default:
		f, err := os.Create(o.write)
		if err != nil {
			return nil, nil, fmt.Errorf("-w: %w", err)
		}
		x.pcap = newPcapWriter(f, f, o.file == "")
	}
	switch o.har {
	case "":
	case "-":
		x.har = har.NewWriter(stdout, har.Options{Location: time.Local, Version: version, Container: entryContainer})
		entries = os.Stderr
	default:
		f, err := os.Create(o.har)
		if err != nil {
			if x.pcap != nil {
				x.pcap.close()
			}
			return nil, nil, fmt.Errorf("--har: %w", err)
		}
		x.har = har.NewWriter(f, har.Options{Location: time.Local, Version: version, Container: entryContainer})
		x.harFile = f
	}
	return x, entries, nil
}

// entryContainer is --har's _container: the container the entry was
// captured in (sniffer attach).
func entryContainer(e *entry.Entry) string { return e.Container }

// needsNames reports whether anything the printer makes reads the
// entries' peer names (Entry.SourceName, DestName): the format's
// %source.name and %dest.name, --json's source and dest, the pairs of
// --summary and --expect-reuse. A sidecar looks names up only then: two
// table look-ups per entry, and a connection to the engine, otherwise
// for nothing.
func (p *printer) needsNames() bool {
	x := p.extras
	return p.format.NeedsNames() || x != nil && (x.json || x.agg != nil)
}

// configure sets the engine's hooks the extras need: the pcap tap, and
// bodies for --json-body. Call it on the Config whose Emit is p.emitter().
func (p *printer) configure(cfg *sniff.Config) {
	x := p.extras
	if x == nil {
		return
	}
	if x.bodies && cfg.BodyCap > 0 {
		cfg.KeepBodies = true
	}
	if x.pcap != nil {
		cfg.Tap = x.pcap.packet
	}
	switch agg, m := x.agg, x.metrics; {
	case agg != nil && m != nil:
		cfg.ConnEnd = func(c *entry.ConnEnd) { agg.AddConn(c); m.Conn(c) }
	case agg != nil:
		cfg.ConnEnd = agg.AddConn // the verdict is computed from lifecycles
	case m != nil:
		cfg.ConnEnd = m.Conn
	}
}

// watchCapture makes src the capture whose kernel drops --metrics serves
// (the packets captured are the engine's count).
func (p *printer) watchCapture(src *live.Source) {
	if p.extras != nil && p.extras.metrics != nil {
		p.extras.metrics.SetSource(src)
	}
}

// endCapture adds the current capture's drops to --metrics' totals,
// before it closes.
func (p *printer) endCapture() {
	if p.extras != nil && p.extras.metrics != nil {
		p.extras.metrics.EndSource()
	}
}

// tickMetrics copies the engine's counters for --metrics (on the engine's
// goroutine).
func (p *printer) tickMetrics(eng *sniff.Engine) {
	if p.extras != nil && p.extras.metrics != nil {
		p.extras.metrics.SetEngine(eng.Stats(), eng.Conns())
	}
}

// finish ends the extras at exit: it closes the pcap file and the HAR, prints the
// summary (--summary, --expect-reuse) and applies the verdict. It returns
// the exit status: status, or exitFailed when -w or --har failed or the -e
// command could not run, exitNotReused when connections were not reused,
// exitInconclusive when the verdict is inconclusive. It also reports what
// -e did not run.
func (p *printer) finish(status int, stderr io.Writer) int {
	if p.exec != nil {
		status = p.exec.report(status, p.execCut, stderr)
	}
	x := p.extras
	if x == nil {
		return status
	}
	if x.served != nil {
		x.served.Close()
	}
	if x.pcap != nil {
		if err := x.pcap.close(); err != nil {
			fmt.Fprintf(stderr, "sniffer: -w: %v\n", err)
			status = exitFailed
		}
		if x.pcap.skipped > 0 {
			fmt.Fprintf(stderr, "sniffer: warning: -w: %d packets were not written: their link type is not the file's, %s\n", x.pcap.skipped, capfile.DescribeLinkType(x.pcap.link))
		}
	}
	if x.har != nil {
		err := x.har.Close()
		if x.harFile != nil {
			if cerr := x.harFile.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "sniffer: --har: %v\n", err)
			status = exitFailed
		}
		if n := x.har.Skipped(); n > 0 {
			fmt.Fprintf(stderr, "sniffer: --har: %d entries written; %d exchanges that are not HTTP left out\n", x.har.Entries(), n)
		}
	}
	if x.agg != nil {
		x.agg.WriteSummary(stderr, "sniffer: summary: ")
		if x.verdict {
			v, _ := x.agg.WriteVerdict(stderr, "sniffer: reuse: ")
			if status == 0 {
				switch v {
				case reuse.NotReused:
					status = exitNotReused
				case reuse.Inconclusive:
					status = exitInconclusive
				}
			}
		}
	}
	return status
}

// flushHAR writes out the --har entries buffered (live captures, on
// each tick); an error is kept and reported at exit.
func (p *printer) flushHAR() {
	if x := p.extras; x != nil && x.har != nil && x.har.Buffered() {
		x.har.Flush()
	}
}

// harInterrupt is for reading a file with --har (tcpdump -w - | sniffer -f
// - --har x.har, ended by Ctrl-C): the first SIGINT or SIGTERM sets the flag
// it returns, so that the reading stops at the next packet (or the end of
// the input, which a killed tcpdump gives at once) and the HAR is ended as
// at the end of input; a second signal kills as usual. Without --har it
// changes nothing. Call release when the reading is done.
func (p *printer) harInterrupt() (flag *atomic.Bool, release func()) {
	flag = new(atomic.Bool)
	if p.extras == nil || p.extras.har == nil {
		return flag, func() {}
	}
	ch, done := make(chan os.Signal, 1), make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			flag.Store(true)
			signal.Stop(ch)
		case <-done:
		}
	}()
	return flag, func() { signal.Stop(ch); close(done) }
}

// setPcapLink sets the link type written in the header of a pcap file
// that gets no packet (the capture file's).
func (p *printer) setPcapLink(link layers.LinkType) {
	if p.extras != nil && p.extras.pcap != nil && !p.extras.pcap.started {
		p.extras.pcap.link = link
	}
}

// pcapWriter writes classic pcap (microsecond timestamps, little endian):
// the header with the link type of the first packet, then each packet.
type pcapWriter struct {
	w       *bufio.Writer
	closer  io.Closer
	live    bool // flush after each packet
	started bool
	link    layers.LinkType
	skipped int
	err     error
	rec     [16]byte
}

// liveLink is the link type of live captures.
const liveLink = live.LinkType

// pcapSnaplen is the snapshot length written in the file header: the
// capture's (live.Open's default) and capfile's limit.
const pcapSnaplen = 262144

func newPcapWriter(w io.Writer, c io.Closer, live bool) *pcapWriter {
	pw := &pcapWriter{w: bufio.NewWriterSize(w, 64<<10), closer: c, live: live}
	if live {
		pw.link = liveLink
	}
	return pw
}

// packet is the engine's Tap.
func (pw *pcapWriter) packet(link layers.LinkType, ts time.Time, frame []byte) {
	if pw.err != nil {
		return
	}
	if !pw.started {
		pw.started = true
		pw.link = link
		var h [24]byte
		binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
		binary.LittleEndian.PutUint16(h[4:], 2)
		binary.LittleEndian.PutUint16(h[6:], 4)
		binary.LittleEndian.PutUint32(h[16:], pcapSnaplen)
		binary.LittleEndian.PutUint32(h[20:], uint32(link))
		pw.w.Write(h[:])
	}
	if link != pw.link {
		pw.skipped++
		return
	}
	us := ts.UnixMicro()
	n := len(frame)
	if n > pcapSnaplen {
		n = pcapSnaplen
	}
	binary.LittleEndian.PutUint32(pw.rec[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(pw.rec[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(pw.rec[8:], uint32(n))
	binary.LittleEndian.PutUint32(pw.rec[12:], uint32(len(frame)))
	pw.w.Write(pw.rec[:])
	if _, err := pw.w.Write(frame[:n]); err != nil {
		pw.err = err
		return
	}
	if pw.live {
		pw.err = pw.w.Flush()
	}
}

// close flushes and closes the file. A capture that passed no packet still
// gets its header (with the capture's link type) so that readers accept it.
func (pw *pcapWriter) close() error {
	if !pw.started && pw.err == nil {
		pw.started = true
		var h [24]byte
		binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
		binary.LittleEndian.PutUint16(h[4:], 2)
		binary.LittleEndian.PutUint16(h[6:], 4)
		binary.LittleEndian.PutUint32(h[16:], pcapSnaplen)
		binary.LittleEndian.PutUint32(h[20:], uint32(pw.link))
		pw.w.Write(h[:])
	}
	err := pw.err
	if ferr := pw.w.Flush(); err == nil {
		err = ferr
	}
	if pw.closer != nil {
		if cerr := pw.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
