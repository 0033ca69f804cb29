package sniff

import (
	"time"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/tlsconn"
	"github.com/sniffer/sniffer/sniff/tlshello"
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

// tlsState is what a TLS connection keeps. A conn keeps its tlsState for
// the next TLS connection of its slot.
type tlsState struct {
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

// startTLS switches c to the TLS rules. It is called on the client's first
// bytes, before any exchange; midStream says they were an application data
// record (tlsconn.LooksMidStream) rather than a ClientHello.
func (c *conn) startTLS(midStream bool) {
	if c.tls == nil {
		c.tls = new(tlsState)
	} else {
		*c.tls = tlsState{}
	}
	c.tlsOn = true
	c.newExchange()
	if midStream {
		c.tls.t.PickUp()
		c.tls.helloRead = [2]bool{true, true} // not captured
	}
}

// tlsMessage returns the side and the message of direction dir of c's one
// exchange.
func (c *conn) tlsMessage(dir int) (*side, *entry.Message) {
	x := c.queue[0]
	if dir == 0 {
		return &x.req, &x.x.Request
	}
	return &x.resp, &x.x.Response
}

// tlsData takes bytes of direction dir of a TLS connection.
func (c *conn) tlsData(dir int, b []byte, ts time.Time) {
	if len(c.queue) == 0 {
		return
	}
	_, m := c.tlsMessage(dir)
	account(m, len(b), ts)
	c.tls.t.Feed(dir, b, c)
	if c.tls.t.DirLost(dir) && !c.tls.helloRead[dir] {
		c.tlsHelloEnd(dir)
	}
}

// tlsGap takes a gap of n bytes in direction dir of a TLS connection: the
// record framing of that direction is lost.
func (c *conn) tlsGap(dir int, n int64) {
	if len(c.queue) == 0 {
		return
	}
	x := c.queue[0]
	x.x.Gap = true
	_, m := c.tlsMessage(dir)
	m.Size += n
	c.tls.t.Gap(dir)
	if !c.tls.helloRead[dir] {
		c.tlsHelloEnd(dir)
	}
}

// Hello keeps the bytes of a side's first handshake record
// (tlsconn.Sink).
func (c *conn) Hello(dir int, b []byte, end bool) {
	if c.tls.helloRead[dir] {
		return
	}
	s, m := c.tlsMessage(dir)
	c.appendKept(s, m, b, tlsconn.HeaderLen+tlsconn.MaxRecord-len(s.buf))
	if end {
		c.tlsHelloEnd(dir)
	}
}

// tlsHelloEnd reads what was kept of a side's hello and lets the bytes go.
func (c *conn) tlsHelloEnd(dir int) {
	st := c.tls
	st.helloRead[dir] = true
	s, m := c.tlsMessage(dir)
	if dir == 0 {
		if h, ok := tlshello.Parse(s.buf); ok {
			st.offered = h.Version
			st.t.ClientOffers13 = h.Version == tlshello.VersionTLS13
			st.sniLen = copy(st.sni[:], h.SNI)
			if h.ALPN != nil && !st.info.ALPNNegotiated {
				st.alpnLen = joinALPN(st.alpn[:], h.ALPN)
			}
		}
	} else if h, ok := tlshello.ParseServer(s.buf); ok {
		st.t.SetServerVersion(h.Version)
		if h.ALPN != nil {
			st.alpnLen = joinALPN(st.alpn[:], h.ALPN)
			st.info.ALPNNegotiated = true
		}
	}
	s.buf = s.buf[:0]
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

// tlsFinish fills the entry of a TLS connection that ends.
func (c *conn) tlsFinish() {
	if len(c.queue) == 0 {
		return
	}
	st := c.tls
	for dir := range st.helloRead {
		if !st.helloRead[dir] {
			c.tlsHelloEnd(dir)
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
		c.e.stats.TLSLostSync++
	}
	x := c.queue[0]
	x.x.TLS = in
	x.x.Request.HTTP, x.x.Response.HTTP = false, false
	x.x.Request.Bytes, x.x.Response.Bytes = nil, nil
}

// tlsConnEnd sets the TLS figures of a TLS connection's life.
func (c *conn) tlsConnEnd(ce *entry.ConnEnd) {
	ce.TLS = true
	ce.Exchanges = c.tls.t.RoundTrips
	ce.LowerBound = c.tls.t.Lost
}
