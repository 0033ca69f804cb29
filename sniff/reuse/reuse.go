// Package reuse aggregates what happened on each client → server pair to
// answer "does this client reuse its connections?": it counts connections
// and requests, and finds the connections a client closed after a single
// request although the server had offered to keep them alive, when another
// connection to the same server followed — the leak of an HTTP client that
// does not reuse connections (Go's, when response bodies are not drained).
//
// The verdict is computed from connection lifecycles (entry.ConnEnd: opened,
// exchanges, who closed, when), which the engine hands out when each
// connection leaves its table, never from the labels printed: a live
// capture prints some entries before their connection's fate is known.
// Entries (Add) only say whether the server offered keep-alive.
//
// A pair is a client IP address and a server address and port. A
// connection served a single request when it carried one exchange and its
// SYN was captured (a connection picked up in the middle may have served
// others before). It was closed by the client when its originator is
// client (a FIN or RST from the client); connections still open when the
// capture ended, and timed-out ones, never count as closed by the client.
//
// The server offered keep-alive in a response of protocol HTTP/1.1 without
// a "close" token in Connection, or HTTP/1.0 with a "keep-alive" token, or
// HTTP/2 (one entry per stream; a connection's requests are its streams).
//
// A connection is judged when its first entry carries an HTTP response
// (then whether it was offered keep-alive, and by whom it was closed, is
// known), or when it is a TLS connection (judged by its round trips, see
// below). The verdict is never OK without a judged connection: with no
// traffic at all (a wrong filter, interface or network namespace), or only
// another protocol, it is Inconclusive, with the reason (Reason).
//
// # TLS
//
// A TLS connection (entry.ConnEnd.TLS) shows no request and no keep-alive
// offer, only records: it is counted apart, with its application round
// trips (the engine's heuristic, see package tlsconn) in place of
// requests. One that served a single round trip, whose SYN was captured,
// and that the client closed, is not reused when another connection from
// the same client to the same server started after it — whatever the
// server offered, which the encryption hides. The heuristic's limits carry
// over: a TLS connection whose record framing a gap broke (its round trips
// a lower bound) is never taken for a single round trip; HTTP/2 control
// frames the client answers count as round trips, so an HTTP/2 client that
// does not reuse its connections may pass; and a client that keeps each
// connection for one request but lets the server close it (or the capture
// end) is not caught, as with HTTP.
//
// The table of pairs is bounded (DefaultMaxPairs, or NewMax's argument):
// once it is full, the connections of pairs it does not hold are counted,
// not tracked, and the verdict is Inconclusive rather than OK for them. So
// is it when connections were evicted from the engine's table (their
// exchanges may have been split). Each pair holds a fixed amount of state
// whatever its traffic, and each open connection one small record until it
// ends.
//
// Each pair also measures what reuse costs, in three Sketches (fixed
// arrays of log-spaced buckets, relative error ≤ SketchRelativeError,
// 4.4%): the response time of every exchange, as justniffer's
// %response.time (from the request's last packet to the response's last);
// on new connections (SYN captured), the time from the SYN to the first
// response byte of the first exchange, the handshake included; and on
// reused connections (exchanges after the first), from the request's
// first byte to the response's first byte.
package reuse

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// Pair holds the figures of one client → server pair.
type Pair struct {
	// Client is the client's IP address, Server the server's address.
	Client netip.Addr
	Server netip.AddrPort
	// ClientName and ServerName name the client and the server when an
	// entry of the pair did (entry.Entry.SourceName, DestName: sniffer
	// attach's compose services or containers); "" when none did. The
	// summary and the verdict print them in place of the addresses.
	ClientName, ServerName string
	// Connections counts the connections seen, TLS ones included.
	Connections int
	// Requests counts the exchanges of the connections that are not TLS.
	Requests int
	// Single counts the connections, not TLS, that served exactly one
	// request.
	Single int
	// TLS counts the TLS connections, RoundTrips their application round
	// trips, SingleTLS those that served exactly one.
	TLS, RoundTrips, SingleTLS int
	// Offered and NotOffered count the HTTP responses that offered
	// keep-alive and those that did not.
	Offered, NotOffered int
	// Leaked counts the connections the server offered to keep alive that
	// the client closed after a single request, with another connection
	// to the same server after them.
	Leaked int
	// Judged counts the connections whose first entry carried an HTTP
	// response: those the verdict could judge. The verdict is OK only
	// when some connection was judged.
	Judged int

	// ResponseTime is the distribution of response times: from the
	// request's last packet to the response's last (justniffer's
	// %response.time), of exchanges with both.
	ResponseTime Sketch
	// NewConn is, for the first exchange of connections whose SYN was
	// captured, the time from the SYN to the response's first byte: what
	// a request on a new connection waits, handshake included.
	NewConn Sketch
	// Reused is, for the later exchanges of a connection, the time from
	// the request's first byte to the response's first byte: what a
	// request on a reused connection waits.
	Reused Sketch

	// LeakedTLS counts the TLS connections among Leaked: closed by the
	// client after a single round trip, with another connection to the
	// same server after them.
	LeakedTLS int

	// pending counts the single-request connections closed by the client
	// after a keep-alive offer that started at latest, the start of the
	// latest connection seen: they become leaks when a later one starts.
	// (A candidate that started before latest is a leak at once, so every
	// candidate still pending started at latest: a count is enough.)
	pending int
	// pendingTLS counts the TLS connections among pending.
	pendingTLS int
	// latest is the start of the latest connection seen.
	latest time.Time
}

// PerConnection returns Requests per connection that is not TLS (0
// without such connections).
func (p *Pair) PerConnection() float64 {
	if p.Connections == p.TLS {
		return 0
	}
	return float64(p.Requests) / float64(p.Connections-p.TLS)
}

// SingleShare returns the share of the connections that are not TLS that
// served one request, from 0 to 1.
func (p *Pair) SingleShare() float64 {
	if p.Connections == p.TLS {
		return 0
	}
	return float64(p.Single) / float64(p.Connections-p.TLS)
}

// RoundTripsPerConnection returns RoundTrips / TLS (0 without TLS
// connections).
func (p *Pair) RoundTripsPerConnection() float64 {
	if p.TLS == 0 {
		return 0
	}
	return float64(p.RoundTrips) / float64(p.TLS)
}

// SingleTLSShare returns the share of TLS connections that served one
// round trip, from 0 to 1.
func (p *Pair) SingleTLSShare() float64 {
	if p.TLS == 0 {
		return 0
	}
	return float64(p.SingleTLS) / float64(p.TLS)
}

// Label is how the summary and the verdict name the pair: "10.0.0.2 ->
// 10.0.0.3:8080", or with names "web -> api:8080" (the server's port kept;
// an address stands for a name not known).
func (p *Pair) Label() string {
	client, server := p.Client.String(), p.Server.String()
	if p.ClientName != "" {
		client = printableName(p.ClientName)
	}
	if p.ServerName != "" {
		server = printableName(p.ServerName) + ":" + strconv.Itoa(int(p.Server.Port()))
	}
	return client + " -> " + server
}

// printableName returns name, quoted when it holds bytes that are not
// printable ASCII or a space (labels are anyone's text).
func printableName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return strconv.Quote(name)
		}
	}
	return name
}

// KeepAlive says whether the server offered keep-alive: "yes" in every
// HTTP response, "no" in none, "partly", or "unknown" without responses.
func (p *Pair) KeepAlive() string {
	switch {
	case p.Offered+p.NotOffered == 0:
		return "unknown"
	case p.NotOffered == 0:
		return "yes"
	case p.Offered == 0:
		return "no"
	}
	return "partly"
}

type pairKey struct {
	client netip.Addr
	server netip.AddrPort
}

// DefaultMaxPairs is the number of client → server pairs New tracks: a
// sidecar watching one service sees far fewer, and the table stays small
// whatever a hostile capture holds (a pair is about 3.4 KiB, its three
// latency Sketches included: about 14 MiB full).
const DefaultMaxPairs = 4096

// Aggregator collects the figures of every pair, up to its bound. It is
// not safe for concurrent use; the zero value is not ready, use New or
// NewMax.
type Aggregator struct {
	pairs    map[pairKey]*Pair
	maxPairs int
	// untrackedConns and untrackedEntries count the connections and the
	// entries of pairs that found the table full.
	untrackedConns, untrackedEntries int
	// evicted counts the connections the engine evicted from its table.
	evicted int
	// first records, for each connection whose first exchange was seen
	// and that has not ended, what that exchange showed. Bounded by
	// maxOpen.
	first map[uint64]firstExchange
	// openDropped counts the connections whose record did not fit.
	openDropped int
	// entries counts every entry added.
	entries int
}

// firstExchange is what a connection's first exchange showed: whether its
// response was HTTP and offered keep-alive.
type firstExchange struct {
	http, offered bool
}

// maxOpen bounds Aggregator.first: far more than the engine's largest
// connection table; past it a connection's offer is not known, which
// makes the verdict Inconclusive rather than OK.
const maxOpen = 1 << 20

// New returns an empty Aggregator that tracks at most DefaultMaxPairs
// pairs.
func New() *Aggregator { return NewMax(DefaultMaxPairs) }

// NewMax returns an empty Aggregator that tracks at most maxPairs client →
// server pairs (DefaultMaxPairs if maxPairs < 1). The entries of further
// pairs are only counted (Untracked), and make the verdict Inconclusive.
func NewMax(maxPairs int) *Aggregator {
	if maxPairs < 1 {
		maxPairs = DefaultMaxPairs
	}
	return &Aggregator{pairs: map[pairKey]*Pair{}, maxPairs: maxPairs, first: map[uint64]firstExchange{}}
}

// MaxPairs returns the number of pairs a tracks at most.
func (a *Aggregator) MaxPairs() int { return a.maxPairs }

// Untracked returns the number of connections (counted by their first
// entry) and of entries that were not tracked because the table of pairs
// was full: 0, 0 when it never was.
func (a *Aggregator) Untracked() (connections, entries int) {
	return a.untrackedConns, a.untrackedEntries
}

// pair returns the pair of client and server, adding it to the table if
// there is room; nil when the table is full.
func (a *Aggregator) pair(client, server netip.AddrPort) *Pair {
	k := pairKey{client.Addr().Unmap(), netip.AddrPortFrom(server.Addr().Unmap(), server.Port())}
	p := a.pairs[k]
	if p == nil {
		if len(a.pairs) >= a.maxPairs {
			return nil
		}
		p = &Pair{Client: k.client, Server: k.server}
		a.pairs[k] = p
	}
	return p
}

// Add counts one entry: whether its response offered keep-alive, and its
// latencies (Pair.ResponseTime, NewConn, Reused). It keeps nothing of e's
// bytes.
func (a *Aggregator) Add(e *entry.Entry) {
	a.entries++
	p := a.pair(e.Client, e.Server)
	if p == nil {
		a.untrackedEntries++
		return
	}
	if p.ClientName == "" {
		p.ClientName = e.SourceName
	}
	if p.ServerName == "" {
		p.ServerName = e.DestName
	}
	if !e.Request.Last.IsZero() && !e.Response.Last.IsZero() {
		p.ResponseTime.Add(e.Response.Last.Sub(e.Request.Last))
	}
	if !e.Response.First.IsZero() {
		switch {
		case e.Index == 1 && !e.SYN.IsZero():
			p.NewConn.Add(e.Response.First.Sub(e.SYN))
		case e.Index > 1 && !e.Request.First.IsZero():
			p.Reused.Add(e.Response.First.Sub(e.Request.First))
		}
	}
	offered, http := KeepAliveOffered(&e.Response)
	if http {
		if offered {
			p.Offered++
		} else {
			p.NotOffered++
		}
	}
	if e.Index == 1 && e.Conn != 0 {
		if len(a.first) < maxOpen {
			a.first[e.Conn] = firstExchange{http: http, offered: offered}
		} else {
			a.openDropped++
		}
	}
}

// AddConn counts one connection that ended (Config.ConnEnd). Every
// connection's entries must have been given to Add before it.
func (a *Aggregator) AddConn(c *entry.ConnEnd) {
	first, known := a.first[c.Conn]
	delete(a.first, c.Conn)
	if c.Evicted {
		a.evicted++
	}
	p := a.pair(c.Client, c.Server)
	if p == nil {
		a.untrackedConns++
		return
	}
	p.Connections++
	if c.TLS {
		p.TLS++
		p.RoundTrips += c.Exchanges
		if c.Exchanges > 0 {
			p.Judged++ // by its round trips
		}
	} else {
		p.Requests += c.Exchanges
		if first.http {
			p.Judged++
		}
	}
	if c.Start.After(p.latest) {
		p.latest = c.Start
		// Every pending candidate started at the previous latest, before
		// this connection: it is followed by it.
		p.Leaked += p.pending
		p.LeakedTLS += p.pendingTLS
		p.pending, p.pendingTLS = 0, 0
	}
	if !c.Opened || c.Exchanges != 1 || c.LowerBound {
		return
	}
	if c.TLS {
		p.SingleTLS++
	} else {
		p.Single++
	}
	// A TLS connection's keep-alive offer cannot be seen: closing it
	// after one round trip is enough.
	if c.Originator != entry.Client || !c.TLS && (!first.offered || !known) {
		return
	}
	tls := 0
	if c.TLS {
		tls = 1
	}
	if c.Start.Before(p.latest) {
		// A later connection was already seen.
		p.Leaked++
		p.LeakedTLS += tls
		return
	}
	p.pending++
	p.pendingTLS += tls
}

// Pairs returns the pairs, by client address then server address.
func (a *Aggregator) Pairs() []*Pair {
	ps := make([]*Pair, 0, len(a.pairs))
	for _, p := range a.pairs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(x, y *Pair) int {
		if c := x.Client.Compare(y.Client); c != 0 {
			return c
		}
		if c := x.Server.Addr().Compare(y.Server.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(x.Server.Port(), y.Server.Port())
	})
	return ps
}

// Leaked returns the number of leaked connections of all pairs: the
// verdict fails when it is not 0.
func (a *Aggregator) Leaked() int {
	n := 0
	for _, p := range a.pairs {
		n += p.Leaked
	}
	return n
}

// WriteSummary writes one line per pair, prefixed with prefix:
//
//	10.0.0.2 -> 10.0.0.3:8080: 5 connections, 5 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes
//
// and ", 4 not reused" when connections leaked. TLS connections are
// counted apart, after the others' figures (after "; " when there are
// both):
//
//	10.0.0.2 -> 10.0.0.3:443: 5 TLS connections, 5 round trips, 1.00 round trips/connection, 100% single-round-trip, 4 not reused
//
// When latencies were measured, a second line follows, indented by two
// spaces:
//
//	10.0.0.2 -> 10.0.0.3:8080: response time p50 1.2ms p95 3.4ms max 5.6ms; new connection 2.1ms (p50, 3), reused 0.4ms (p50, 12)
//
// (the p50 and the number of first exchanges of new connections, from SYN
// to the first response byte, and of exchanges on reused connections, from
// the request's first byte to the response's first; "none" when there
// were none). Without pairs it writes
// one line saying so. When the table of pairs was full, a last line says
// how many connections and entries were not tracked.
func (a *Aggregator) WriteSummary(w io.Writer, prefix string) error {
	ps := a.Pairs()
	var b []byte
	if len(ps) == 0 {
		b = fmt.Appendf(b, "%sno connections\n", prefix)
	}
	for _, p := range ps {
		b = fmt.Appendf(b, "%s%s: ", prefix, p.Label())
		if plain := p.Connections - p.TLS; plain > 0 || p.TLS == 0 {
			b = fmt.Appendf(b, "%d connection%s, %d request%s, %.2f requests/connection, %.0f%% single-request, keep-alive offered: %s",
				plain, plural(plain), p.Requests, plural(p.Requests),
				p.PerConnection(), 100*p.SingleShare(), p.KeepAlive())
			if p.TLS > 0 {
				b = append(b, "; "...)
			}
		}
		if p.TLS > 0 {
			b = fmt.Appendf(b, "%d TLS connection%s, %d round trip%s, %.2f round trips/connection, %.0f%% single-round-trip",
				p.TLS, plural(p.TLS), p.RoundTrips, plural(p.RoundTrips), p.RoundTripsPerConnection(), 100*p.SingleTLSShare())
		}
		if p.Leaked > 0 {
			b = fmt.Appendf(b, ", %d not reused", p.Leaked)
		}
		b = append(b, '\n')
		b = appendLatency(b, prefix, p)
	}
	if a.evicted > 0 {
		b = fmt.Appendf(b, "%s%d connection%s evicted from the connection table (-s): their exchanges may be split or lost\n",
			prefix, a.evicted, plural(a.evicted))
	}
	if a.untrackedEntries+a.untrackedConns > 0 {
		b = fmt.Appendf(b, "%stable full: %d client -> server pair%s tracked, %d connection%s (%d entr%s) of other pairs not tracked\n",
			prefix, a.maxPairs, plural(a.maxPairs), a.untrackedConns, plural(a.untrackedConns), a.untrackedEntries, pluralY(a.untrackedEntries))
	}
	_, err := w.Write(b)
	return err
}

// Verdict is the outcome of the --expect-reuse check.
type Verdict int

const (
	// OK: every connection was tracked, and none offered keep-alive was
	// closed by the client after one request before a new one.
	OK Verdict = iota
	// NotReused: connections were not reused (Leaked is not 0). It holds
	// even when the table was full: what was tracked is enough to fail.
	NotReused
	// Inconclusive: no tracked connection leaked, but nothing could be
	// judged (no connection carried an HTTP response: see Reason), or not
	// everything could be checked: the table of pairs was full, or
	// connections were evicted from the engine's table.
	Inconclusive
)

// String returns "ok", "not reused" or "inconclusive".
func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case NotReused:
		return "not reused"
	case Inconclusive:
		return "inconclusive"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Verdict returns the outcome of the check: NotReused when connections
// leaked, else Inconclusive when no connection was judged or entries were
// not tracked, else OK.
func (a *Aggregator) Verdict() Verdict {
	switch {
	case a.Leaked() > 0:
		return NotReused
	case a.untrackedEntries+a.untrackedConns > 0, a.evicted > 0, a.openDropped > 0, a.Judged() == 0:
		return Inconclusive
	}
	return OK
}

// Judged returns the number of connections of all pairs the verdict could
// judge (Pair.Judged).
func (a *Aggregator) Judged() int {
	n := 0
	for _, p := range a.pairs {
		n += p.Judged
	}
	return n
}

// Reason says, in a few words, why nothing could be judged, or "" when a
// connection was judged: no entry at all, or no HTTP response nor TLS
// round trip.
func (a *Aggregator) Reason() string {
	if a.Judged() > 0 {
		return ""
	}
	conns := a.untrackedConns
	for _, p := range a.pairs {
		conns += p.Connections
	}
	switch {
	case a.entries == 0:
		return "no HTTP or TLS exchange seen (check the filter, the interface and the network namespace)"
	}
	return fmt.Sprintf("no HTTP response or TLS round trip seen (%d connection%s, %d entr%s)", conns, plural(conns), a.entries, pluralY(a.entries))
}

// notes returns what an OK verdict should add: that every pair had a lone
// connection of one request (nothing followed it, nothing could reuse
// it), or that the server never offered keep-alive.
func (a *Aggregator) notes() string {
	lone, offered, http := true, 0, 0
	for _, p := range a.pairs {
		if p.Judged > 1 || p.Requests > 1 || p.RoundTrips > 1 {
			lone = false
		}
		offered += p.Offered
		http += p.Offered + p.NotOffered
	}
	var s string
	if lone {
		s = "; note: a lone connection of one request per client -> server pair: reuse was not put to the test"
	}
	if offered == 0 && http > 0 {
		s += "; note: the server never offered keep-alive"
	}
	return s
}

// WriteVerdict writes the --expect-reuse verdict in one line, prefixed
// with prefix, and returns it.
func (a *Aggregator) WriteVerdict(w io.Writer, prefix string) (Verdict, error) {
	var b []byte
	n := 0
	for _, p := range a.Pairs() {
		if p.Leaked == 0 {
			continue
		}
		if n == 0 {
			b = fmt.Appendf(b, "%sFAIL: connections not reused:", prefix)
		} else {
			b = append(b, ';')
		}
		n++
		b = fmt.Appendf(b, " %s:", p.Label())
		if plain := p.Leaked - p.LeakedTLS; plain > 0 {
			b = fmt.Appendf(b, " %d connection%s offered keep-alive closed by the client after one request, then a new connection",
				plain, plural(plain))
			if p.LeakedTLS > 0 {
				b = append(b, ',')
			}
		}
		if p.LeakedTLS > 0 {
			b = fmt.Appendf(b, " %d TLS connection%s closed by the client after one round trip, then a new connection",
				p.LeakedTLS, plural(p.LeakedTLS))
		}
	}
	v := a.Verdict()
	tls := false
	for _, p := range a.pairs {
		tls = tls || p.TLS > 0
	}
	switch v {
	case OK:
		b = fmt.Appendf(b, "%sok: no connection offered keep-alive was closed by the client after one request before a new one", prefix)
		if tls {
			b = append(b, ", nor a TLS connection after one round trip"...)
		}
		b = append(b, a.notes()...)
	case Inconclusive:
		if a.Judged() == 0 {
			b = fmt.Appendf(b, "%sinconclusive: %s", prefix, a.Reason())
			if a.untrackedEntries > 0 {
				b = fmt.Appendf(b, " (and %d connection%s not checked: table full)", a.untrackedConns, plural(a.untrackedConns))
			}
			break
		}
		if a.evicted > 0 || a.openDropped > 0 {
			b = fmt.Appendf(b, "%sinconclusive: %d connection%s evicted from the connection table (raise -s); no connection seen whole offered keep-alive was closed by the client after one request before a new one",
				prefix, a.evicted+a.openDropped, plural(a.evicted+a.openDropped))
			break
		}
		b = fmt.Appendf(b, "%sinconclusive: %d connection%s not checked (table full: %d client -> server pair%s tracked); no tracked connection offered keep-alive was closed by the client after one request before a new one",
			prefix, a.untrackedConns, plural(a.untrackedConns), a.maxPairs, plural(a.maxPairs))
	case NotReused:
		if a.untrackedEntries+a.untrackedConns > 0 {
			b = fmt.Appendf(b, " (and %d connection%s not checked: table full)", a.untrackedConns, plural(a.untrackedConns))
		}
	}
	b = append(b, '\n')
	_, err := w.Write(b)
	return v, err
}

// appendLatency appends the latency line of p, if it has latencies.
func appendLatency(b []byte, prefix string, p *Pair) []byte {
	if p.ResponseTime.Count()+p.NewConn.Count()+p.Reused.Count() == 0 {
		return b
	}
	b = fmt.Appendf(b, "%s  %s: response time ", prefix, p.Label())
	if p.ResponseTime.Count() == 0 {
		b = append(b, "none"...)
	} else {
		b = fmt.Appendf(b, "p50 %s p95 %s max %s", formatDuration(p.ResponseTime.Quantile(0.5)),
			formatDuration(p.ResponseTime.Quantile(0.95)), formatDuration(p.ResponseTime.Max()))
	}
	b = append(b, "; new connection "...)
	b = appendP50(b, &p.NewConn)
	b = append(b, ", reused "...)
	b = appendP50(b, &p.Reused)
	return append(b, '\n')
}

func appendP50(b []byte, s *Sketch) []byte {
	if s.Count() == 0 {
		return append(b, "none"...)
	}
	return fmt.Appendf(b, "%s (p50, %d)", formatDuration(s.Quantile(0.5)), s.Count())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralY(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

// KeepAliveOffered reports whether the response m offered to keep the
// connection alive (HTTP/1.1 without Connection: close, HTTP/1.0 with
// Connection: keep-alive, HTTP/2 always); http is false when m is not an HTTP response,
// or of another protocol version.
func KeepAliveOffered(m *entry.Message) (offered, http bool) {
	proto, _, _ := logformat.LineParts(m, true)
	var v11 bool
	switch {
	case bytes.EqualFold(proto, []byte("HTTP/1.1")):
		v11 = true
	case bytes.EqualFold(proto, []byte("HTTP/1.0")):
	case bytes.EqualFold(proto, []byte("HTTP/2.0")):
		// An HTTP/2 connection is persistent by design: every response
		// offers its connection for more streams.
		return true, true
	default:
		return false, false
	}
	closeTok, keepTok := false, false
	var buf [32]entry.Field
	for _, f := range m.HeaderFields(buf[:]) {
		name, value, ok := f.Split(m.Bytes)
		if !ok || !bytes.EqualFold(bytes.TrimLeft(name, " \t"), []byte("Connection")) {
			continue
		}
		for tok := range bytes.SplitSeq(value, []byte(",")) {
			tok = bytes.TrimSpace(tok)
			switch {
			case bytes.EqualFold(tok, []byte("close")):
				closeTok = true
			case bytes.EqualFold(tok, []byte("keep-alive")):
				keepTok = true
			}
		}
	}
	if v11 {
		return !closeTok, true
	}
	return keepTok && !closeTok, true
}
