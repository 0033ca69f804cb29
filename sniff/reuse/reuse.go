// Package reuse aggregates log entries per client → server pair to answer
// "does this client reuse its connections?": it counts connections and
// requests, and finds the connections a client closed after a single
// request although the server had offered to keep them alive, when another
// connection to the same server followed — the leak of an HTTP client that
// does not reuse connections (Go's, when response bodies are not drained).
//
// A pair is a client IP address and a server address and port. An entry
// opens a connection when it is its connection's first (start or unique,
// which is also how the first entry of a connection picked up mid-stream is
// annotated). A connection served a single request when its first entry is
// also its final one: unique, or start closed as timed out or truncated.
// It was closed by the client when that final entry's originator is
// client (a FIN or RST from the client); truncated entries (still open when
// the capture ended) and timed-out ones never count as closed by the client.
//
// The server offered keep-alive in a response of protocol HTTP/1.1 without
// a "close" token in Connection, or HTTP/1.0 with a "keep-alive" token.
package reuse

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// Pair holds the figures of one client → server pair.
type Pair struct {
	// Client is the client's IP address, Server the server's address.
	Client netip.Addr
	Server netip.AddrPort
	// Connections counts the connections seen (their first entry).
	Connections int
	// Requests counts the entries that carried a request.
	Requests int
	// Single counts the connections that served exactly one request.
	Single int
	// Offered and NotOffered count the HTTP responses that offered
	// keep-alive and those that did not.
	Offered, NotOffered int
	// Leaked counts the connections the server offered to keep alive that
	// the client closed after a single request, with another connection
	// to the same server after them.
	Leaked int

	// pending holds the start times of single-request connections closed
	// by the client after a keep-alive offer, that started after every
	// connection seen so far: they become leaks when a later one starts.
	pending []time.Time
	// latest is the start of the latest connection seen.
	latest time.Time
}

// PerConnection returns Requests / Connections (0 without connections).
func (p *Pair) PerConnection() float64 {
	if p.Connections == 0 {
		return 0
	}
	return float64(p.Requests) / float64(p.Connections)
}

// SingleShare returns the share of connections that served one request,
// from 0 to 1.
func (p *Pair) SingleShare() float64 {
	if p.Connections == 0 {
		return 0
	}
	return float64(p.Single) / float64(p.Connections)
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

// Aggregator collects the figures of every pair. It is not safe for
// concurrent use; the zero value is not ready, use New.
type Aggregator struct {
	pairs map[pairKey]*Pair
}

// New returns an empty Aggregator.
func New() *Aggregator { return &Aggregator{pairs: map[pairKey]*Pair{}} }

// Add counts one entry. It keeps nothing of e's bytes.
func (a *Aggregator) Add(e *entry.Entry) {
	k := pairKey{e.Client.Addr().Unmap(), netip.AddrPortFrom(e.Server.Addr().Unmap(), e.Server.Port())}
	p := a.pairs[k]
	if p == nil {
		p = &Pair{Client: k.client, Server: k.server}
		a.pairs[k] = p
	}
	offered, http := KeepAliveOffered(&e.Response)
	if http {
		if offered {
			p.Offered++
		} else {
			p.NotOffered++
		}
	}
	if e.Index >= 1 {
		p.Requests++
	}
	first := e.Annotation == entry.Start || e.Annotation == entry.Unique
	if !first {
		return
	}
	p.Connections++
	start := connStart(e)
	if start.After(p.latest) {
		p.latest = start
		// Every pending candidate that started before this connection is
		// followed by it.
		n := 0
		for _, t := range p.pending {
			if t.Before(start) {
				p.Leaked++
			} else {
				p.pending[n] = t
				n++
			}
		}
		p.pending = p.pending[:n]
	}
	final := e.Annotation == entry.Unique || e.Originator != entry.None
	if !final || e.Index != 1 {
		return
	}
	p.Single++
	if e.Originator != entry.Client || !offered {
		return
	}
	if start.Before(p.latest) {
		p.Leaked++ // a later connection was already seen
		return
	}
	p.pending = append(p.pending, start)
}

// connStart returns when e's connection started: its SYN, else its first
// packet.
func connStart(e *entry.Entry) time.Time {
	for _, t := range []time.Time{e.ConnStart, e.Request.First, e.Response.First, e.Flushed, e.Close} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
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
// and ", 4 not reused" when connections leaked. Without pairs it writes
// one line saying so.
func (a *Aggregator) WriteSummary(w io.Writer, prefix string) error {
	ps := a.Pairs()
	if len(ps) == 0 {
		_, err := fmt.Fprintf(w, "%sno connections\n", prefix)
		return err
	}
	var b []byte
	for _, p := range ps {
		b = fmt.Appendf(b, "%s%s -> %s: %d connection%s, %d request%s, %.2f requests/connection, %.0f%% single-request, keep-alive offered: %s",
			prefix, p.Client, p.Server, p.Connections, plural(p.Connections), p.Requests, plural(p.Requests),
			p.PerConnection(), 100*p.SingleShare(), p.KeepAlive())
		if p.Leaked > 0 {
			b = fmt.Appendf(b, ", %d not reused", p.Leaked)
		}
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// WriteVerdict writes the --expect-reuse verdict in one line, prefixed
// with prefix, and reports whether it passed.
func (a *Aggregator) WriteVerdict(w io.Writer, prefix string) (bool, error) {
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
		b = fmt.Appendf(b, " %s -> %s: %d connection%s offered keep-alive closed by the client after one request, then a new connection",
			p.Client, p.Server, p.Leaked, plural(p.Leaked))
	}
	if n == 0 {
		b = fmt.Appendf(b, "%sok: no connection offered keep-alive was closed by the client after one request before a new one\n", prefix)
	} else {
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return n == 0, err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// KeepAliveOffered reports whether the response m offered to keep the
// connection alive (HTTP/1.1 without Connection: close, HTTP/1.0 with
// Connection: keep-alive); http is false when m is not an HTTP response,
// or of another protocol version.
func KeepAliveOffered(m *entry.Message) (offered, http bool) {
	proto, _, _ := logformat.LineParts(m, true)
	var v11 bool
	switch {
	case bytes.EqualFold(proto, []byte("HTTP/1.1")):
		v11 = true
	case bytes.EqualFold(proto, []byte("HTTP/1.0")):
	default:
		return false, false
	}
	closeTok, keepTok := false, false
	lines := logformat.HeaderLines(m)
	for {
		name, value, rest, ok := logformat.NextHeader(lines)
		if !ok {
			break
		}
		lines = rest
		if !bytes.EqualFold(name, []byte("Connection")) {
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
