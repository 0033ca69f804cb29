package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/live"
	"github.com/sniffer/sniffer/sniff/reuse"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// options are the command line's settings.
type options struct {
	file        string
	iface       string
	filter      string
	logFormat   string
	appendFmt   string
	raw         bool
	notFound    string
	unprintable bool
	hexEncode   bool
	noNewline   bool
	config      string
	execute     string
	maxStreams  int
	middle      bool
	version     bool
	help        bool

	headerCap   int
	maxBody     int
	idleTimeout time.Duration
	flushAfter  time.Duration
	count       int
	duration    time.Duration

	cpuProfile string
	bufferKiB  int
	// keepACKs (--keep-acks): never drop pure ACKs in the kernel;
	// dropACKs: setup decided to (dropPureACKs).
	keepACKs, dropACKs bool

	maxPending, maxPendingTotal int64
	maxKept                     int64
	rawBytes                    bool
	redact                      redactFlag

	json        bool
	jsonBody    bool
	write       string
	har         string // --har FILE
	summary     bool
	expectReuse bool
	maxPairs    int // --max-summary-pairs
	readyFile   readyFile
	metrics     string

	// set records which flags were given (by long name).
	set map[string]bool
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

const usageHead = `sniffer: see the HTTP conversations of a network namespace, connection by connection.

Usage:
  sniffer [flags]                 capture live in this network namespace
  sniffer -f FILE [flags]         read a pcap or pcapng file, gzipped or not ("-" for standard input)
  sniffer attach NAME [flags]     capture in a Docker container's network namespace
  sniffer attach --cri NS/POD     capture in a Kubernetes pod's (--selector KEY=VALUE: pods by label)
  sniffer ready FILE              exit 0 once --ready-file FILE was written (a health check)

Each request and its response make one log entry, printed once its place in the
connection is known (the next request, the close, the end of input), in
justniffer's --log-format language.

Flags:
`

const usageTail = `
Log format keywords (justniffer's; see README.md for what each prints):
  %source.ip %source.port %dest.ip %dest.port %connection %connection.id %connection.time
  %connection.timestamp[(strftime)] %connection.timestamp2 %idle.time.0 %idle.time.1
  %request.time %response.time %response.time.begin %response.time.end
  %close.time %close.timestamp[(strftime)] %close.timestamp2 %close.originator
  %session.time %session.requests %streams
  %request %request.size %request.truncated %request.line %request.method %request.url %request.protocol
  %request.header %request.body %request.timestamp[(strftime)] %request.timestamp2
  %request.header.NAME[(not-found)] %request.header.value(NAME) %request.grep(re)
  %request.header.grep(re)
  %response %response.size %response.truncated %response.line %response.protocol %response.code
  %response.message %response.header %response.body %response.timestamp[(strftime)]
  %response.timestamp2 %response.header.NAME[(not-found)] %response.header.value(NAME)
  %response.grep(re) %response.header.grep(re)
  %tls.sni %tls.version %tls.alpn %tls.round-trips %stream.id %grpc.status %grpc.message
  %tab %newline %% %-
  %container %source.name %dest.name (sniffer attach, and a sidecar with the Docker
  socket: the container captured in; the peers' compose service, else container name)
Header names match whole names, case-insensitively. Regular expressions are Go's
(RE2 syntax, https://golang.org/s/re2syntax), matched case-insensitively; a grep
prints its last capture group. strftime patterns also accept %f (microseconds).
Timestamps are local time: set TZ to choose the zone.

The default format is:
  ` + defaultFormat + `

Exit status:
  0  done; with --expect-reuse: at least one HTTP or TLS connection judged,
     none not reused (a lone connection, or a server that never offered
     keep-alive, is ok, with a note)
  1  --expect-reuse: connections not reused
  2  a mistake in the command line, format or filter
  3  --expect-reuse is inconclusive: nothing could be judged (no HTTP
     exchange or TLS round trip seen: no traffic, a filter or namespace
     that passes none of it, only another protocol), or more client ->
     server pairs than --max-summary-pairs were seen and the others were
     not checked, or connections were evicted from the table (-s)
  4  the input could not be read (file not found, not a capture, config
     file), the capture failed, the output could not be written, or the -e
     command could not run
`

const defaultFormat = `%source.ip - - [%request.timestamp(%d/%b/%Y:%T %z)] "%request.line" %response.code %response.header.content-length(0) "%request.header.referer()" "%request.header.user-agent()"`

// parseOptions reads the command line (after a -c config file's settings,
// which the command line overrides).
func parseOptions(args []string, stdout io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("sniffer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	str := func(p *string, short, long, def, help string) {
		fs.StringVar(p, long, def, help)
		if short != "" {
			fs.StringVar(p, short, def, "")
		}
	}
	boolean := func(p *bool, short, long, help string) {
		fs.BoolVar(p, long, false, help)
		if short != "" {
			fs.BoolVar(p, short, false, "")
		}
	}
	str(&o.file, "f", "filecap", "", "read packets from a pcap or pcapng `file` (- for standard input)")
	str(&o.iface, "i", "interface", "", "capture on this `interface` only (default: all of them)")
	str(&o.filter, "p", "packet-filter", "", "tcpdump filter `expression` (also applies to files)")
	str(&o.logFormat, "l", "log-format", "", "log `format` (default: the Apache-style format below)")
	str(&o.appendFmt, "a", "append-log-format", "", "append `format` to the default format")
	boolean(&o.raw, "r", "raw", "print the raw streams: -l %request%response")
	str(&o.notFound, "n", "not-found", "-", "`string` printed for values that are missing")
	boolean(&o.unprintable, "u", "unprintable", "print unprintable characters as '.'")
	boolean(&o.hexEncode, "x", "hex-encode", "print unprintable characters as [0x<hex>]")
	boolean(&o.noNewline, "N", "no-newline", "no newline after each entry")
	str(&o.config, "c", "config", "", "read settings from `file` (lines: long-flag-name = value)")
	str(&o.execute, "e", "execute", "", "run `command` for each entry, the entry on its standard input: through /bin/sh (without it, split at blanks), one at a time in entry order, off the capture path (live, entries past a queue of 1024 are dropped and counted); its output goes where the entries would (standard error with -w -); a command that cannot run (exit 126, 127) ends sniffer with status 1")
	fs.IntVar(&o.bufferKiB, "buffer-size", live.DefaultNumBlocks*live.DefaultBlockSize>>10, "live: the capture ring, in `KiB` (as tcpdump -B); more absorbs longer bursts, and counts in the RSS once filled")
	fs.IntVar(&o.bufferKiB, "B", live.DefaultNumBlocks*live.DefaultBlockSize>>10, "")
	fs.BoolVar(&o.keepACKs, "keep-acks", false, "live: capture pure ACKs even when nothing printed needs them (by default the kernel drops them for formats that do not print %connection, handshake or close times, %connection.id, %streams or %tls.round-trips, without --json, -w, --har, --summary, --expect-reuse and --metrics)")
	fs.IntVar(&o.maxStreams, "max-tcp-streams", 16384, "track at most `n` connections; past it the longest idle is flushed as timedout")
	fs.IntVar(&o.maxStreams, "s", 16384, "")
	boolean(&o.middle, "m", "capture-in-the-middle", "accepted for compatibility: connections whose handshake was not captured are always tracked")
	var truncated, force bool
	var maxFrag int
	boolean(&truncated, "t", "truncated", "accepted for compatibility (unclosed streams are always handled)")
	boolean(&force, "F", "force-read-pcap", "accepted for compatibility")
	fs.IntVar(&maxFrag, "max-fragmented-ip", 1024, "accepted for compatibility (IP fragments are counted and skipped)")
	fs.IntVar(&maxFrag, "d", 1024, "")
	boolean(&o.version, "V", "version", "print the version and exit")
	boolean(&o.help, "h", "help", "print this help and exit")
	fs.IntVar(&o.headerCap, "max-header", 64<<10, "bytes kept of each message head")
	fs.IntVar(&o.maxBody, "max-body", 1<<20, "body bytes kept per message, when the format prints bodies")
	o.idleTimeout, o.flushAfter = 5*time.Minute, time.Second
	fs.Var((*durationFlag)(&o.idleTimeout), "idle-timeout", "forget a connection idle for this `duration`, flushing its entry as timedout")
	fs.Var((*durationFlag)(&o.flushAfter), "flush-after", "live: print an idle connection's complete entry after this `duration`, labelled open (its place in the connection is not known yet); 0: only once the connection's next request, close or end is seen")
	fs.Int64Var(&o.maxPending, "max-pending", 1<<20, "out-of-order `bytes` held per connection waiting for a gap to fill; past it the gap is declared lost")
	fs.Int64Var(&o.maxPendingTotal, "max-pending-total", sniff.DefaultMaxPendingTotal, "out-of-order `bytes` held in all connections")
	fs.Int64Var(&o.maxKept, "max-kept", sniff.DefaultMaxKept, "message `bytes` all connections may hold together; past it bytes are counted, not kept")
	fs.IntVar(&o.count, "count", 0, "stop after this many entries (0: no limit)")
	fs.Var((*durationFlag)(&o.duration), "duration", "stop after this `duration` (0: no limit)")
	fs.BoolVar(&o.rawBytes, "raw-bytes", false, "print captured bytes as they are even to a terminal (by default control characters are escaped there)")
	fs.Var(&o.redact, "redact", "replace the values of Authorization, Proxy-Authorization, Cookie and Set-Cookie with [redacted] in every line shaped like one (continuation lines, bodies and non-HTTP exchanges included), in the log, JSON, HAR and -e input, not in -w's pcap; --redact=`Name,...` adds headers")
	fs.BoolVar(&o.json, "json", false, "print each entry as one JSON object (JSON Lines; see README.md for the schema)")
	fs.BoolVar(&o.jsonBody, "json-body", false, "with --json, include the bodies (base64 when not UTF-8); implies --json")
	str(&o.write, "w", "write", "", "also write the packets the filter passed to a pcap `file`, as captured (--redact does not apply to it; - for standard output: the entries, and -e commands' output, then go to standard error)")
	fs.StringVar(&o.har, "har", "", "also write the entries to `file` as an HTTP Archive (HAR 1.2, for browsers' developer tools), ended at exit; --redact applies; exchanges that are not HTTP are left out (- for standard output: the entries then go to standard error)")
	fs.BoolVar(&o.summary, "summary", false, "at exit, print to standard error per client -> server: connections, requests, reuse, keep-alive")
	fs.BoolVar(&o.expectReuse, "expect-reuse", false, "print the summary at exit, and exit 1 if a client closed a kept-alive connection after one request and opened another (3 if inconclusive: no HTTP exchange judged, or more client -> server pairs than --max-summary-pairs)")
	fs.IntVar(&o.maxPairs, "max-summary-pairs", reuse.DefaultMaxPairs, "--summary, --expect-reuse: track at most `n` client -> server pairs; the connections of further pairs are counted, not checked")
	fs.StringVar((*string)(&o.readyFile), "ready-file", "", "live, attach: write `file` once the capture listens (a packet sent after it is captured), remove it at exit; sniffer ready FILE checks it (a health check)")
	fs.StringVar(&o.metrics, "metrics", "", "live and attach: serve Prometheus metrics at http://`address`/metrics (host:port, e.g. 127.0.0.1:9464): requests, connections, reuse, response times per server, packets captured and dropped, bounds hit")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to `file` (for developers)")

	usage := func() {
		io.WriteString(stdout, usageHead)
		printDefaults(fs, stdout)
		io.WriteString(stdout, usageTail)
	}
	fs.Usage = func() {} // errors are reported in one line by the caller
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = true
			usage()
			return o, nil
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	fs.Visit(func(f *flag.Flag) { o.set[longName(f.Name)] = true })
	if o.help {
		usage()
		return o, nil
	}
	if o.config != "" {
		if err := applyConfig(fs, o); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, k := range []string{"log-format", "append-log-format", "raw"} {
		if o.set[k] {
			n++
		}
	}
	if n > 1 {
		return nil, &usageError{"-l, -a and -r exclude each other"}
	}
	if o.jsonBody {
		o.json = true
	}
	if o.json && n > 0 {
		return nil, &usageError{"--json excludes -l, -a and -r"}
	}
	if o.har == "-" && o.write == "-" {
		return nil, &usageError{"--har - and -w - exclude each other: standard output carries one of them"}
	}
	if o.maxStreams <= 0 {
		return nil, &usageError{"-s/--max-tcp-streams must be positive"}
	}
	if o.headerCap <= 0 || o.maxBody < 0 {
		return nil, &usageError{"--max-header must be positive and --max-body not negative"}
	}
	if o.maxPending <= 0 || o.maxPendingTotal <= 0 || o.maxKept <= 0 {
		return nil, &usageError{"--max-pending, --max-pending-total and --max-kept must be positive"}
	}
	if o.bufferKiB < 2*live.DefaultBlockSize>>10 {
		return nil, &usageError{fmt.Sprintf("-B/--buffer-size must be at least %d (KiB)", 2*live.DefaultBlockSize>>10)}
	}
	if o.maxPairs <= 0 {
		return nil, &usageError{"--max-summary-pairs must be positive"}
	}
	if o.metrics != "" && o.file != "" {
		return nil, &usageError{"--metrics does not apply to -f: it serves the metrics of a live capture (live or attach)"}
	}
	if o.count < 0 || o.duration < 0 {
		return nil, &usageError{"--count and --duration must not be negative"}
	}
	return o, nil
}

// shortToLong maps the one-letter aliases to their long names.
var shortToLong = map[string]string{
	"f": "filecap", "i": "interface", "p": "packet-filter", "l": "log-format",
	"a": "append-log-format", "r": "raw", "n": "not-found", "u": "unprintable",
	"x": "hex-encode", "N": "no-newline", "c": "config", "e": "execute",
	"s": "max-tcp-streams", "m": "capture-in-the-middle", "t": "truncated",
	"F": "force-read-pcap", "d": "max-fragmented-ip", "V": "version", "h": "help",
	"w": "write", "B": "buffer-size",
}

func longName(n string) string {
	if l, ok := shortToLong[n]; ok {
		return l
	}
	return n
}

// printDefaults prints the flags with their one-letter aliases.
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	longToShort := map[string]string{}
	for s, l := range shortToLong {
		longToShort[l] = s
	}
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		head := "      --" + f.Name
		if s, ok := longToShort[f.Name]; ok {
			head = "  -" + s + ", --" + f.Name
		}
		if name != "" {
			head += " " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			def = fmt.Sprintf(" (default %s)", strconv.Quote(f.DefValue))
			if _, err := strconv.Atoi(f.DefValue); err == nil || strings.HasSuffix(f.DefValue, "s") || strings.HasSuffix(f.DefValue, "m0s") {
				def = " (default " + f.DefValue + ")"
			}
		}
		fmt.Fprintf(w, "%s\n        %s%s\n", head, usage, def)
	})
}

// applyConfig reads "name = value" lines (long flag names, '#' comments);
// settings given on the command line win.
func applyConfig(fs *flag.FlagSet, o *options) error {
	f, err := os.Open(o.config)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	// A long -l format fits; a file that is not a config file (no newline
	// for megabytes) is refused rather than read whole.
	sc.Buffer(make([]byte, 0, 64<<10), maxConfigLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(text, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok {
			// A bare boolean: "raw".
			value = "true"
		}
		if len(value) >= 2 && (value[0] == '"' && value[len(value)-1] == '"' || value[0] == '\'' && value[len(value)-1] == '\'') {
			value = value[1 : len(value)-1]
		}
		long := longName(name)
		if long == "config" || fs.Lookup(long) == nil {
			return &usageError{fmt.Sprintf("%s:%d: unknown setting %q", o.config, line, name)}
		}
		if o.set[long] {
			continue
		}
		if err := fs.Set(long, value); err != nil {
			return &usageError{fmt.Sprintf("%s:%d: %s: %v", o.config, line, name, err)}
		}
		o.set[long] = true
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &usageError{fmt.Sprintf("%s:%d: line longer than %d KiB", o.config, line+1, maxConfigLine>>10)}
		}
		return fmt.Errorf("reading config %s: %w", o.config, err)
	}
	return nil
}

// maxConfigLine bounds a line of a -c config file.
const maxConfigLine = 1 << 20

// durationFlag is a duration flag whose error for a bare number says which
// unit to add: "--duration 5" is "add a unit: 5s".
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return fmt.Errorf("add a unit: %ss (or ms, m, h)", v)
		}
		return errors.New("not a duration: use a number and a unit, as 30s, 1m30s or 500ms")
	}
	*d = durationFlag(t)
	return nil
}

// redactFlag is --redact, alone or with a list of extra header names.
type redactFlag struct {
	on    bool
	names []string
}

func (r *redactFlag) String() string { return "" }

// IsBoolFlag lets --redact stand alone.
func (r *redactFlag) IsBoolFlag() bool { return true }

func (r *redactFlag) Set(v string) error {
	switch v {
	case "true":
		r.on = true
	case "false":
		r.on = false
	default:
		r.on = true
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				r.names = append(r.names, n)
			}
		}
	}
	return nil
}
