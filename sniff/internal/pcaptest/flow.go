package pcaptest

import (
	"net/netip"
	"time"

	"github.com/sniffer/sniffer/sniff/decode"
)

// Flow plays one TCP connection into a Capture. It tracks the next
// sequence number of each side and a clock that advances by Step for every
// segment written. Nothing is sent implicitly: data segments are not
// acknowledged until Ack is called.
//
// Set ClientISN, ServerISN and Step before the first segment; the ISNs are
// read when it is written. A flow that never calls Handshake starts
// with each side's next sequence number at its ISN+1, which is how a
// capture that picks up a connection mid-stream looks.
type Flow struct {
	// ClientISN and ServerISN are the initial sequence numbers of the two
	// sides (the sequence numbers of their SYNs). Defaults: 1000 and 5000.
	ClientISN, ServerISN uint32
	// Step is how far the clock moves for each segment. Default 10µs.
	Step time.Duration

	c              *Capture
	client, server netip.AddrPort
	now            time.Time
	started        bool
	cNext, sNext   uint32 // next sequence number each side sends
}

// Flow starts a connection between client and server whose first segment
// is stamped start.
func (c *Capture) Flow(client, server netip.AddrPort, start time.Time) *Flow {
	return &Flow{ClientISN: 1000, ServerISN: 5000, Step: 10 * time.Microsecond,
		c: c, client: client, server: server, now: start}
}

// start fixes the sequence numbers from the ISNs on first use.
func (f *Flow) start() {
	if !f.started {
		f.started = true
		f.cNext, f.sNext = f.ClientISN+1, f.ServerISN+1
	}
}

// send writes one segment at the current time and moves the clock on.
func (f *Flow) send(fromClient bool, seq, ack uint32, flags decode.Flags, payload []byte) {
	src, dst := f.client, f.server
	if !fromClient {
		src, dst = dst, src
	}
	if !flags.Has(decode.ACK) {
		ack = 0
	}
	f.c.TCP(f.now, src, dst, seq, ack, flags, payload)
	f.now = f.now.Add(f.Step)
}

// sides returns a pointer to the sending side's next sequence number and
// the other side's next sequence number.
func (f *Flow) sides(fromClient bool) (mine *uint32, theirs uint32) {
	f.start()
	if fromClient {
		return &f.cNext, f.sNext
	}
	return &f.sNext, f.cNext
}

// Handshake writes SYN, SYN-ACK and ACK.
func (f *Flow) Handshake() {
	f.started = true
	f.send(true, f.ClientISN, 0, decode.SYN, nil)
	f.send(false, f.ServerISN, f.ClientISN+1, decode.SYN|decode.ACK, nil)
	f.cNext, f.sNext = f.ClientISN+1, f.ServerISN+1
	f.send(true, f.cNext, f.sNext, decode.ACK, nil)
}

// ClientSend writes one PSH|ACK data segment from the client and advances
// the client's sequence number by len(b).
func (f *Flow) ClientSend(b []byte) { f.Send(true, b) }

// ServerSend writes one PSH|ACK data segment from the server and advances
// the server's sequence number by len(b).
func (f *Flow) ServerSend(b []byte) { f.Send(false, b) }

// Send writes one PSH|ACK data segment from the given side and advances its
// sequence number by len(b).
func (f *Flow) Send(fromClient bool, b []byte) {
	mine, theirs := f.sides(fromClient)
	f.send(fromClient, *mine, theirs, decode.PSH|decode.ACK, b)
	*mine += uint32(len(b))
}

// Ack writes a bare ACK from the given side acknowledging everything the
// other side has sent.
func (f *Flow) Ack(fromClient bool) {
	mine, theirs := f.sides(fromClient)
	f.send(fromClient, *mine, theirs, decode.ACK, nil)
}

// Segment writes an arbitrary segment from the given side with sequence
// number ISN+1+relSeq of that side, acknowledging what the other side has
// sent (if flags has ACK). The tracked sequence numbers do not move: use it
// for retransmissions, overlaps and out-of-order segments.
func (f *Flow) Segment(fromClient bool, relSeq uint32, b []byte, flags decode.Flags) {
	_, theirs := f.sides(fromClient)
	isn := f.ServerISN
	if fromClient {
		isn = f.ClientISN
	}
	f.send(fromClient, isn+1+relSeq, theirs, flags, b)
}

// Advance moves the given side's next sequence number on by n without
// writing anything, as if n bytes had been lost.
func (f *Flow) Advance(fromClient bool, n uint32) {
	mine, _ := f.sides(fromClient)
	*mine += n
}

// Next returns the sequence number the given side sends next.
func (f *Flow) Next(fromClient bool) uint32 {
	mine, _ := f.sides(fromClient)
	return *mine
}

// Close writes the four-way close started by the given side: FIN|ACK, the
// other side's ACK, its FIN|ACK, and the final ACK.
func (f *Flow) Close(fromClient bool) {
	f.Fin(fromClient)
	f.Ack(!fromClient)
	f.Fin(!fromClient)
	f.Ack(fromClient)
}

// Fin writes a FIN|ACK from the given side, which consumes one sequence
// number.
func (f *Flow) Fin(fromClient bool) {
	mine, theirs := f.sides(fromClient)
	f.send(fromClient, *mine, theirs, decode.FIN|decode.ACK, nil)
	*mine++
}

// Reset writes an RST|ACK from the given side.
func (f *Flow) Reset(fromClient bool) {
	mine, theirs := f.sides(fromClient)
	f.send(fromClient, *mine, theirs, decode.RST|decode.ACK, nil)
}

// Sleep moves the clock on by d.
func (f *Flow) Sleep(d time.Duration) { f.now = f.now.Add(d) }

// Now returns the timestamp the next segment gets.
func (f *Flow) Now() time.Time { return f.now }
