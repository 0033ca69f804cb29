// Package tlsdec is the engine's TLS decoder: a connection whose client's
// first bytes are a ClientHello (or, picked up in the middle, a TLS
// application data record) is one exchange.
package tlsdec

import (
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/tlsconn"
	"github.com/sniffer/sniffer/sniff/internal/tlshello"
)

// A TLS connection (its client's first bytes are a ClientHello, or, for a
// connection picked up in the middle, a TLS application data record) is one
// entry, printed when the connection ends: its records are followed by a
// tlsconn.Tracker, the bytes each way are counted and not kept, but for the
// first handshake record of each side (ClientHello, ServerHello), kept in
// the exchange's buffers (within the kept-bytes budget) until it is read
// and then let go. The fields of HTTP print the not-found value.

// maxSNI and maxALPN bound what is kept of the server name and of the ALPN
// protocols (a DNS name is at most 253 bytes; longer ones are cut).
const (
	maxSNI  = 255
	maxALPN = 255
)

// Factory registers the decoder (exchange.Factory).
var Factory = exchange.Factory{
	Name: "tls",
	Probe: func(b []byte, pickup bool) bool {
		return tlsconn.Looks(b) || pickup && tlsconn.LooksMidStream(b)
	},
	New: func() exchange.Decoder { return new(Decoder) },
}

// Decoder is what a TLS connection keeps (exchange.Decoder). A connection
// slot keeps it for its next TLS connection.
type Decoder struct {
	c    *exchange.Conn
	t    tlsconn.Tracker
	info entry.TLS
	// helloRead says whether each side's hello was read.
	helloRead [2]bool
	// offered is the version the ClientHello offered.
	offered uint16
	sni     [maxSNI]byte
	sniLen  int
	alpn    [maxALPN]byte
	alpnLen int
}

// Start implements exchange.Decoder: the connection is one exchange. first
// are the client's first bytes: an application data record
// (tlsconn.LooksMidStream) rather than a ClientHello means the handshake
// was not captured.
func (d *Decoder) Start(c *exchange.Conn, up *exchange.Exchange, first []byte) {
	*d = Decoder{c: c}
	c.Begin()
	if len(first) > 0 && first[0] == tlsconn.TypeApplicationData {
		d.t.PickUp()
		d.helloRead = [2]bool{true, true} // not captured
	}
}

// message returns the side and the message of direction dir of the
// connection's one exchange.
func (d *Decoder) message(dir int) (*exchange.Side, *entry.Message) {
	x := d.c.At(0)
	if dir == 0 {
		return &x.Req, &x.X.Request
	}
	return &x.Resp, &x.X.Response
}

// Data implements exchange.Decoder.
func (d *Decoder) Data(dir int, b []byte, ts time.Time) {
	if d.c.Len() == 0 {
		return
	}
	_, m := d.message(dir)
	exchange.Account(m, len(b), ts)
	d.t.Feed(dir, b, d)
	if d.t.DirLost(dir) && !d.helloRead[dir] {
		d.helloEnd(dir)
	}
}

// Gap implements exchange.Decoder: the record framing of that direction is
// lost.
func (d *Decoder) Gap(dir int, n int64, ts time.Time) {
	if d.c.Len() == 0 {
		return
	}
	x := d.c.At(0)
	x.X.Gap = true
	_, m := d.message(dir)
	m.Size += n
	d.t.Gap(dir)
	if !d.helloRead[dir] {
		d.helloEnd(dir)
	}
}

// HalfClosed implements exchange.Decoder.
func (d *Decoder) HalfClosed(dir int, ts time.Time) {}

// Segment implements exchange.Decoder.
func (d *Decoder) Segment(ts time.Time) { d.c.Advance(ts) }

// Idle implements exchange.Decoder: the entry waits for the connection's
// end.
func (d *Decoder) Idle(now time.Time) {}

// Early implements exchange.Decoder (a TLS connection has one exchange).
func (d *Decoder) Early(x *exchange.Exchange) {}

// Closer implements exchange.Decoder: a TLS connection was closed by the
// side that sent the first alert (its close_notify), when there was one:
// the peer's stack often sends the first FIN, or a RST, in answer to it.
func (d *Decoder) Closer(origin entry.Originator) entry.Originator {
	if origin == entry.Client || origin == entry.Server {
		switch d.t.FirstAlert {
		case 1:
			origin = entry.Client
		case 2:
			origin = entry.Server
		}
	}
	return origin
}

// End implements exchange.Decoder: it fills the entry.
func (d *Decoder) End(closed bool, ts time.Time) { d.finish() }

// ConnEnd implements exchange.Decoder.
func (d *Decoder) ConnEnd(ce *entry.ConnEnd) {
	ce.TLS = true
	ce.Exchanges = d.t.RoundTrips
	ce.LowerBound = d.t.Lost
}

// Hello keeps the bytes of a side's first handshake record
// (tlsconn.Sink).
func (d *Decoder) Hello(dir int, b []byte, end bool) {
	if d.helloRead[dir] {
		return
	}
	s, m := d.message(dir)
	d.c.AppendKept(s, m, b, tlsconn.HeaderLen+tlsconn.MaxRecord-len(s.Buf))
	if end {
		d.helloEnd(dir)
	}
}

// helloEnd reads what was kept of a side's hello and lets the bytes go.
func (d *Decoder) helloEnd(dir int) {
	st := d
	st.helloRead[dir] = true
	s, m := d.message(dir)
	if dir == 0 {
		if h, ok := tlshello.Parse(s.Buf); ok {
			st.offered = h.Version
			st.t.ClientOffers13 = h.Version == tlshello.VersionTLS13
			st.sniLen = copy(st.sni[:], h.SNI)
			if h.ALPN != nil && !st.info.ALPNNegotiated {
				st.alpnLen = joinALPN(st.alpn[:], h.ALPN)
			}
		}
	} else if h, ok := tlshello.ParseServer(s.Buf); ok {
		st.t.SetServerVersion(h.Version)
		if h.ALPN != nil {
			st.alpnLen = joinALPN(st.alpn[:], h.ALPN)
			st.info.ALPNNegotiated = true
		}
	}
	s.Buf = s.Buf[:0]
	m.Bytes = nil
	m.BytesTruncated = false
}

// joinALPN writes the names of an ALPN protocol_name_list into dst,
// separated by commas, as many whole names as fit, and returns the length.
func joinALPN(dst, list []byte) int {
	n := 0
	for len(list) > 0 {
		l := int(list[0])
		list = list[1:]
		if l > len(list) {
			break
		}
		name := list[:l]
		list = list[l:]
		if l == 0 {
			continue
		}
		sep := 0
		if n > 0 {
			sep = 1
		}
		if n+sep+l > len(dst) {
			break
		}
		if sep == 1 {
			dst[n] = ','
		}
		n += sep + copy(dst[n+sep:], name)
	}
	return n
}

// finish fills the entry of a TLS connection that ends.
func (d *Decoder) finish() {
	if d.c.Len() == 0 {
		return
	}
	st := d
	for dir := range st.helloRead {
		if !st.helloRead[dir] {
			d.helloEnd(dir)
		}
	}
	in := &st.info
	in.Version = st.t.Version
	if in.Version == 0 {
		in.Version = st.offered
	}
	in.SNI, in.ALPN = nil, nil
	if st.sniLen > 0 {
		in.SNI = st.sni[:st.sniLen:st.sniLen]
	}
	if st.alpnLen > 0 {
		in.ALPN = st.alpn[:st.alpnLen:st.alpnLen]
	}
	in.RoundTrips = st.t.RoundTrips
	in.LowerBound = st.t.Lost
	if st.t.Lost {
		d.c.S.TLSLostSync++
	}
	x := d.c.At(0)
	x.X.TLS = in
	x.X.Request.HTTP, x.X.Response.HTTP = false, false
	x.X.Request.Bytes, x.X.Response.Bytes = nil, nil
}
