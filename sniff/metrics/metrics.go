// Package metrics exposes what a long-running capture sees as Prometheus
// metrics (sniffer --metrics ADDR): requests, connections opened and
// closed by originator, requests per connection (reuse) and response
// times per server, packets captured and dropped by the kernel, and the
// engine's counters of the bounds it hit (Engine.Stats).
//
// Labels are bounded: a server is its address and port, never a URL, and
// at most MaxServers servers get series of their own; the others share the
// server label value "other", and sniffer_metrics_folded_total counts what
// was recorded under it. The first servers seen keep their series for the
// life of the process.
//
// Entry and Conn are called on the engine's goroutine: they look the
// server up in a map the engine's goroutine alone touches, and update
// children resolved once per server (atomic adds): no allocation on the
// steady path. The engine's counters are copied in by SetEngine (from the
// capture's Tick) and read under a lock when /metrics is scraped.
package metrics

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/live"
)

// DefaultMaxServers is the number of servers that get series of their
// own: a sidecar watches a handful; each server costs about 30 series.
const DefaultMaxServers = 256

// Other is the server label value of the servers past the cap.
const Other = "other"

// ResponseBuckets are the upper bounds, in seconds, of the response time
// histograms: 100 µs to about 26 s, doubling.
var ResponseBuckets = prometheus.ExponentialBuckets(0.0001, 2, 19)

// RequestsBuckets are the upper bounds of the requests-per-connection
// histograms: 1, 2, 4 ... 1024.
var RequestsBuckets = prometheus.ExponentialBuckets(1, 2, 11)

// originators are the values of the originator label, by entry.Originator.
var originators = [...]string{entry.None: "unknown", entry.Client: "client", entry.Server: "server",
	entry.TimedOut: "timedout", entry.Truncated: "truncated"}

// server holds the children of one server's series.
type server struct {
	requests     prometheus.Counter
	opened       prometheus.Counter
	closed       [len(originators)]prometheus.Counter
	perConn      prometheus.Observer
	responseTime prometheus.Observer
	other        bool
}

// Metrics records what the engine hands out and serves it. Entry, Conn
// and SetEngine are called from the engine's goroutine; the rest from any.
type Metrics struct {
	reg        *prometheus.Registry
	maxServers int
	servers    map[netip.AddrPort]*server
	other      *server

	requests     *prometheus.CounterVec
	opened       *prometheus.CounterVec
	closed       *prometheus.CounterVec
	perConn      *prometheus.HistogramVec
	responseTime *prometheus.HistogramVec
	folded       prometheus.Counter
	tracked      prometheus.Gauge

	mu     sync.Mutex // guards what follows
	stats  sniff.Stats
	conns  int
	source StatsSource
	base   live.Stats // of the sources that ended
}

// StatsSource is a capture whose kernel drops are read when /metrics is
// scraped: a *live.Source (Stats may be called from any goroutine). The
// packets captured are the engine's count (SetEngine): live.Stats.Packets
// is only brought up to date while packets flow.
type StatsSource interface {
	Stats() (live.Stats, error)
}

// New returns Metrics that give at most maxServers servers series of
// their own (DefaultMaxServers if maxServers < 1), with Go runtime and
// process metrics beside sniffer's.
func New(maxServers int) *Metrics {
	if maxServers < 1 {
		maxServers = DefaultMaxServers
	}
	m := &Metrics{reg: prometheus.NewRegistry(), maxServers: maxServers, servers: map[netip.AddrPort]*server{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sniffer_requests_total",
		Help: "Exchanges that carried a request, by server (address:port).",
	}, []string{"server"})
	m.opened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sniffer_connections_opened_total",
		Help: "Connections whose SYN was captured, counted at their first entry, by server.",
	}, []string{"server"})
	m.closed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sniffer_connections_closed_total",
		Help: "Connections that left the table, by server and by who ended them: client or server (FIN or RST), timedout (idle or evicted), truncated (open at the end of the capture).",
	}, []string{"server", "originator"})
	m.perConn = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sniffer_connection_requests",
		Help:    "Requests per connection (reuse), observed when a connection leaves the table, by server.",
		Buckets: RequestsBuckets,
	}, []string{"server"})
	m.responseTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sniffer_response_time_seconds",
		Help:    "Response time, from the request's last packet to the response's last (justniffer's %response.time), by server.",
		Buckets: ResponseBuckets,
	}, []string{"server"})
	m.folded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sniffer_metrics_folded_total",
		Help: "Entries and connection ends recorded under server=\"other\": their server came when the cap on servers with series of their own was reached.",
	})
	m.tracked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sniffer_metrics_servers",
		Help: "Servers with series of their own (at most the cap).",
	})
	m.other = m.newServer(Other)
	m.other.other = true
	m.reg.MustRegister(m.requests, m.opened, m.closed, m.perConn, m.responseTime, m.folded, m.tracked,
		statsCollector{m}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) newServer(label string) *server {
	s := &server{
		requests:     m.requests.WithLabelValues(label),
		opened:       m.opened.WithLabelValues(label),
		perConn:      m.perConn.WithLabelValues(label),
		responseTime: m.responseTime.WithLabelValues(label),
	}
	for i, o := range originators {
		s.closed[i] = m.closed.WithLabelValues(label, o)
	}
	return s
}

// server returns the children of addr, resolving them on its first use,
// or those of Other once the cap is reached.
func (m *Metrics) server(addr netip.AddrPort) *server {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if s := m.servers[addr]; s != nil {
		return s
	}
	if len(m.servers) >= m.maxServers {
		m.folded.Inc()
		return m.other
	}
	s := m.newServer(addr.String())
	m.servers[addr] = s
	m.tracked.Set(float64(len(m.servers)))
	return s
}

// Entry records one entry: its request, its response time, and the opening
// of its connection when it is the connection's first and the SYN was
// captured. It keeps nothing of e.
func (m *Metrics) Entry(e *entry.Entry) {
	s := m.server(e.Server)
	if e.Index <= 1 && !e.SYN.IsZero() {
		s.opened.Inc()
	}
	if e.Request.First.IsZero() {
		return
	}
	s.requests.Inc()
	if !e.Response.Last.IsZero() {
		if d := e.Response.Last.Sub(e.Request.Last); d >= 0 {
			s.responseTime.Observe(d.Seconds())
		}
	}
}

// Conn records one connection that left the table (sniff.Config.ConnEnd):
// who ended it, and how many requests it carried.
func (m *Metrics) Conn(c *entry.ConnEnd) {
	s := m.server(c.Server)
	o := int(c.Originator)
	if o >= len(s.closed) {
		o = int(entry.None)
	}
	s.closed[o].Inc()
	s.perConn.Observe(float64(c.Exchanges))
}

// SetEngine copies the engine's counters and its number of open
// connections, for the next scrape. Call it on the engine's goroutine
// (from the capture's Tick).
func (m *Metrics) SetEngine(st sniff.Stats, conns int) {
	m.mu.Lock()
	m.stats, m.conns = st, conns
	m.mu.Unlock()
}

// SetSource makes src the capture whose kernel drops are served, on top
// of those of the sources that ended (EndSource).
func (m *Metrics) SetSource(src StatsSource) {
	m.mu.Lock()
	m.source = src
	m.mu.Unlock()
}

// EndSource adds the counters of the current source to the totals and
// forgets it: call it before closing the source (attach, when the
// container restarts).
func (m *Metrics) EndSource() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.source == nil {
		return
	}
	if st, err := m.source.Stats(); err == nil {
		m.base.Dropped += st.Dropped
	}
	m.source = nil
}

// capture returns the packets dropped so far.
func (m *Metrics) capture() live.Stats {
	st := m.base
	if m.source != nil {
		if cur, err := m.source.Stats(); err == nil {
			st.Dropped += cur.Dropped
		}
	}
	return st
}

// engineCounter is one counter of sniff.Stats.
type engineCounter struct {
	desc  *prometheus.Desc
	value func(*sniff.Stats) uint64
	label string
}

var (
	skipped    = prometheus.NewDesc("sniffer_packets_skipped_total", "Frames the engine could not use, by reason.", []string{"reason"}, nil)
	engineDefs = []engineCounter{
		// Live, every packet captured is given to the engine (the filter
		// runs in the kernel), across attach's restarts too.
		{prometheus.NewDesc("sniffer_packets_captured_total", "Packets captured and given to the engine.", nil, nil), func(s *sniff.Stats) uint64 { return s.Packets }, ""},
		{prometheus.NewDesc("sniffer_packets_filtered_total", "Frames the -p filter rejected in user space.", nil, nil), func(s *sniff.Stats) uint64 { return s.Filtered }, ""},
		{skipped, func(s *sniff.Stats) uint64 { return s.UnsupportedLink }, "unsupported_link"},
		{skipped, func(s *sniff.Stats) uint64 { return s.NotIP }, "not_ip"},
		{skipped, func(s *sniff.Stats) uint64 { return s.NotTCP }, "not_tcp"},
		{skipped, func(s *sniff.Stats) uint64 { return s.Fragments }, "ip_fragment"},
		{skipped, func(s *sniff.Stats) uint64 { return s.Malformed }, "malformed"},
		{skipped, func(s *sniff.Stats) uint64 { return s.Stray }, "stray"},
		{prometheus.NewDesc("sniffer_connections_tracked_total", "Connections the engine tracked.", nil, nil), func(s *sniff.Stats) uint64 { return s.Connections }, ""},
		{prometheus.NewDesc("sniffer_entries_total", "Entries the engine emitted.", nil, nil), func(s *sniff.Stats) uint64 { return s.Entries }, ""},
		{prometheus.NewDesc("sniffer_connections_evicted_total", "Connections flushed because the table was full (-s/--max-tcp-streams).", nil, nil), func(s *sniff.Stats) uint64 { return s.Evicted }, ""},
		{prometheus.NewDesc("sniffer_connections_idle_expired_total", "Connections flushed after --idle-timeout.", nil, nil), func(s *sniff.Stats) uint64 { return s.IdleExpired }, ""},
		{prometheus.NewDesc("sniffer_segments_retransmitted_total", "Segments whose bytes had all been seen.", nil, nil), func(s *sniff.Stats) uint64 { return s.Retransmitted }, ""},
		{prometheus.NewDesc("sniffer_segments_out_of_window_total", "Segments and acknowledgments outside the receive window, skipped.", nil, nil), func(s *sniff.Stats) uint64 { return s.OutOfWindow }, ""},
		{prometheus.NewDesc("sniffer_resyncs_total", "Runs of segments outside the window taken as where the stream went.", nil, nil), func(s *sniff.Stats) uint64 { return s.Resynced }, ""},
		{prometheus.NewDesc("sniffer_rst_challenged_total", "RSTs in the window but not exact (RFC 5961).", nil, nil), func(s *sniff.Stats) uint64 { return s.ChallengedRST }, ""},
		{prometheus.NewDesc("sniffer_rst_ignored_total", "RSTs outside the window, skipped.", nil, nil), func(s *sniff.Stats) uint64 { return s.IgnoredRST }, ""},
		{prometheus.NewDesc("sniffer_segments_out_of_order_total", "Segments that waited for earlier bytes.", nil, nil), func(s *sniff.Stats) uint64 { return s.OutOfOrder }, ""},
		{prometheus.NewDesc("sniffer_gap_bytes_total", "Bytes never captured.", nil, nil), func(s *sniff.Stats) uint64 { return s.GapBytes }, ""},
		{prometheus.NewDesc("sniffer_heads_truncated_total", "Header blocks cut at --max-header.", nil, nil), func(s *sniff.Stats) uint64 { return s.HeadsTruncated }, ""},
	}
	connsOpen = prometheus.NewDesc("sniffer_connections_open", "Connections in the engine's table.", nil, nil)
	dropped   = prometheus.NewDesc("sniffer_packets_dropped_total", "Packets the kernel dropped because the capture ring was full.", nil, nil)
)

// statsCollector serves the engine's and the capture's counters.
type statsCollector struct{ m *Metrics }

// Describe sends the descriptors of the engine's and capture's counters.
func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for i, d := range engineDefs {
		if i > 0 && d.desc == engineDefs[i-1].desc {
			continue
		}
		ch <- d.desc
	}
	ch <- connsOpen
	ch <- dropped
}

// Collect sends their values, read under the lock.
func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	st, conns, cap := c.m.stats, c.m.conns, c.m.capture()
	c.m.mu.Unlock()
	for _, d := range engineDefs {
		var labels []string
		if d.label != "" {
			labels = []string{d.label}
		}
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.value(&st)), labels...)
	}
	ch <- prometheus.MustNewConstMetric(connsOpen, prometheus.GaugeValue, float64(conns))
	ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(cap.Dropped))
}

// Server serves /metrics.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen listens on addr (host:port) at once, so that an address in use is
// an error before the capture starts, and serves /metrics there from a
// goroutine of its own until Close.
func (m *Metrics) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "sniffer: metrics at /metrics")
	})
	s := &Server{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln) // returns http.ErrServerClosed once Close is called
	}()
	return s, nil
}

// Addr returns the address it listens on (the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving and closes the listener and the connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
