// Package entry defines the log entry: one HTTP request/response exchange (or,
// for protocols that are not HTTP, one client turn and the server's answer)
// together with the annotation of its TCP connection.
//
// The engine fills entries; the log format renders them. An Entry and the
// byte slices it points to are only valid during the call that hands it out:
// the engine reuses their storage.
package entry

import (
	"net/netip"
	"time"
)

// Annotation is an entry's place in its connection, as justniffer's
// %connection prints it.
type Annotation uint8

// The annotations. Start and Continue are entries of a connection that goes
// on; Last and Unique are the final entry of a closed connection (Unique when
// it was also the first). Open is not justniffer's: it marks an entry
// printed while its connection was open and idle (live capture, after
// Config.FlushAfter), before its place in the connection was known — a
// label that does not claim what is not known. The connection's fate still
// reaches ConnEnd.
const (
	Start Annotation = iota
	Continue
	Last
	Unique
	Open
)

var annotationNames = [...]string{"start", "continue", "last", "unique", "open"}

// String returns the name %connection prints.
func (a Annotation) String() string {
	if int(a) < len(annotationNames) {
		return annotationNames[a]
	}
	return "?"
}

// Final reports whether the entry is the last of its connection.
func (a Annotation) Final() bool { return a == Last || a == Unique }

// Known reports whether the annotation is the entry's place in its
// connection, as opposed to Open, printed before that was known.
func (a Annotation) Known() bool { return a != Open }

// Originator says how a connection ended, as %close.originator prints it.
type Originator uint8

// The originators. None is for entries that are not the final one of their
// connection (%close.originator prints the not-found value).
const (
	None      Originator = iota
	Client               // the client sent the first FIN, or a RST
	Server               // the server did
	TimedOut             // evicted from the connection table, or idle too long
	Truncated            // still open at the end of input or at shutdown
)

var originatorNames = [...]string{"", "client", "server", "timedout", "truncated"}

// String returns the name %close.originator prints ("" for None).
func (o Originator) String() string {
	if int(o) < len(originatorNames) {
		return originatorNames[o]
	}
	return "?"
}

// Message is one side of an entry: the request (client bytes) or the response
// (server bytes).
type Message struct {
	// Bytes holds the bytes kept of this side, exactly as they were sent
	// (chunked bodies are not de-chunked). It may be shorter than Size when
	// bodies are not kept or a cap was reached.
	Bytes []byte
	// Size is the exact number of payload bytes of this side, kept or not,
	// including bytes lost to a capture gap when their count is known.
	Size int64
	// Head is the offset in Bytes of the message whose first line and
	// headers %…line, %…code, %…header… read. It is 0 but for responses
	// preceded by 1xx interim responses, where it points at the final one.
	Head int
	// HeaderLen is the length of the header block starting at Head,
	// including the final blank line (CRLF CRLF). It is -1 when the header
	// block is not complete in Bytes.
	HeaderLen int
	// HTTP reports whether the first line at Head is an HTTP request line
	// (requests) or status line (responses). Fields of the first line print
	// the not-found value when it is false.
	HTTP bool
	// First and Last are the capture times of the first and last packet
	// that carried bytes of this side; zero when it has none.
	First, Last time.Time
	// BytesTruncated reports that Bytes holds less than the message because
	// a cap was reached or bodies are not kept.
	BytesTruncated bool
	// HeadTruncated reports that the message's header block was longer
	// than the header cap (Config.HeaderCap, --max-header) or the kept-bytes
	// budget allowed, or has a hole (bytes the capture missed or its snap
	// length cut): Bytes holds its first bytes only, and headers past the
	// cut are not found.
	HeadTruncated bool
	// Fields are the header lines of the head at Head, in order, as the
	// decoder framed them: each names the bytes of its name and (trimmed)
	// value in Bytes (Field.Split). Every reader of headers (log format,
	// JSON, HAR, the reuse verdict) reads them instead of scanning Bytes.
	// A decoder that synthesizes a head (HTTP/2) fills them as it renders
	// the head. They hold only lines kept whole in Bytes, through their
	// line end: a value cut short is never read as whole. Name is the
	// bytes before the line's first colon, right-trimmed of blanks (SP,
	// HTAB); Value those after it, trimmed of blanks; a line with no colon
	// is no field, and a continuation line (obs-fold) with a colon is one,
	// its name starting with the blank. A decoder may leave a line unsplit
	// (Name.Len < 0: the line, without its line end, at Value), which
	// Split splits when it is read, at the first colon.
	Fields []Field
	// HeadersIncomplete reports that the decoder could not decode the
	// whole header block (HTTP/2: HPACK state lost to a pickup or a
	// capture gap, a block over the bounds), or that the block was never
	// seen although the message was: the headers present are right, some
	// are missing.
	HeadersIncomplete bool
	// HasFields reports that the decoder filled Fields. When it is false
	// (a message built by other means, or whose bytes were rewritten, as
	// redaction does), readers find the header lines in Bytes
	// (ScanFields).
	HasFields bool
}

// Field is one header line of a message: its name and value as offsets in
// Message.Bytes, or the line itself not yet split (see Message.Fields and
// Split).
type Field struct {
	Name, Value Span
}

// Span is Len bytes of Message.Bytes from Off.
type Span struct {
	Off, Len int32
}

// Bytes returns the bytes of s in b ("" when s lies outside b).
func (s Span) Bytes(b []byte) []byte {
	if s.Off < 0 || s.Len < 0 || int(s.Off)+int(s.Len) > len(b) {
		return nil
	}
	return b[s.Off : s.Off+s.Len]
}

// Entry is one log entry.
type Entry struct {
	// Client is the connection's client (the SYN sender), Server its server.
	Client, Server netip.AddrPort
	// Conn numbers the entry's connection: the same on every entry of a
	// connection, from 1 in order of appearance.
	Conn uint64
	// Annotation is start, continue, last, unique or open.
	Annotation Annotation
	// Index is the entry's position in its connection, from 1; 0 for a
	// connection that carried no payload.
	Index int
	// Streams is the number of connections tracked when the entry was
	// printed, its own included.
	Streams int

	// SYN is the time of the connection's SYN and HandshakeDone the time of
	// the client's ACK that completed the handshake. Both are set only on
	// the first entry of a connection whose handshake was captured.
	SYN, HandshakeDone time.Time
	// ConnStart is the time of the connection's SYN on every entry of the
	// connection; zero when the handshake was not captured.
	ConnStart time.Time

	// Request is what the client sent, Response what the server answered.
	Request, Response Message

	// Flushed is the time of the event that completed the entry (the next
	// request, the close, the eviction); zero when the entry was flushed
	// because input ended (truncated).
	Flushed time.Time
	// Close is the time the connection closed (the final ACK of the second
	// FIN, or the RST); set on final entries only.
	Close time.Time
	// Originator says who closed the connection; None on entries that are
	// not final (Truncated and TimedOut entries keep their start/continue
	// annotation).
	Originator Originator

	// Gap reports that bytes of this entry were never captured.
	Gap bool

	// TLS describes the connection when it is TLS (its client's first
	// bytes were a ClientHello, or on a connection picked up in the
	// middle a TLS application data record); nil otherwise. A TLS connection is one
	// entry: Request and Response count the bytes each way (Size, First,
	// Last) but hold none (Bytes is empty, HTTP false), so the fields of
	// HTTP print the not-found value rather than ciphertext.
	TLS *TLS

	// Container names where the entry was captured (sniffer attach: the
	// watched container's name); "" for a capture of the host's own
	// namespace or a file.
	Container string
	// SourceName and DestName name the client and the server: the
	// compose service, or else the container, that owns the address on
	// the engine's networks; "" when no container is known to own it.
	SourceName, DestName string

	// StreamID is the HTTP/2 stream identifier of the entry; 0 for
	// entries that are not HTTP/2 streams.
	StreamID uint32
	// GRPC reports that the response carried a grpc-status (in its
	// trailers, or a Trailers-Only response): GRPCStatus is its value and
	// GRPCMessage the grpc-message, percent-decoded (nil if none).
	GRPC        bool
	GRPCStatus  int
	GRPCMessage []byte
}

// TLS is what the records of a TLS connection showed (Entry.TLS).
type TLS struct {
	// SNI is the server name of the ClientHello; nil if none was read.
	SNI []byte
	// Version is the protocol version the ServerHello negotiated, or when
	// no ServerHello was read the highest the ClientHello offered; 0 when
	// neither was read.
	Version uint16
	// ALPN is the application protocol the server selected (visible in a
	// TLS 1.2 ServerHello), or when that is not visible (TLS 1.3 sends it
	// encrypted) the client's offers joined by commas; nil when neither.
	ALPN []byte
	// ALPNNegotiated reports that ALPN is the server's choice rather than
	// the client's offers.
	ALPNNegotiated bool
	// RoundTrips is the number of application round trips: client
	// application data after the handshake or after server application
	// data (see package tlsconn for the heuristic and its limits).
	RoundTrips int
	// LowerBound reports that record framing was lost (a capture gap, or
	// bytes that are not TLS records) and RoundTrips stopped counting
	// there: the connection carried at least as many.
	LowerBound bool
}

// LastEvent returns the time of the entry's last packet: the last response
// packet, or the last request packet when that came later or there was no
// response. It is zero for an entry with no payload.
func (e *Entry) LastEvent() time.Time {
	t := e.Request.Last
	if e.Response.Last.After(t) {
		t = e.Response.Last
	}
	return t
}

// ConnEnd is the whole life of a connection, handed out when it leaves the
// connection table (closed, timed out, evicted or still open at the end):
// what a verdict on connection reuse is computed from, rather than from the
// labels of entries, some of which are printed before the connection's
// fate is known.
type ConnEnd struct {
	// Conn is the connection's number (Entry.Conn).
	Conn uint64
	// Client and Server are as in Entry.
	Client, Server netip.AddrPort
	// Opened reports that the connection's SYN was captured: its first
	// exchange is the first it carried.
	Opened bool
	// Start is the time of the SYN, or of the first packet seen.
	Start time.Time
	// End is when it closed, or when it left the table.
	End time.Time
	// Exchanges is the number of exchanges it carried (requests, or
	// turns of a protocol that is not HTTP); for a TLS connection, its
	// application round trips (TLS.RoundTrips).
	Exchanges int
	// TLS reports a TLS connection (Entry.TLS).
	TLS bool
	// LowerBound reports that Exchanges is only a lower bound: TLS record
	// framing was lost (TLS.LowerBound).
	LowerBound bool
	// Originator is who closed it (Client, Server), or TimedOut (idle or
	// evicted) or Truncated (open when the input ended).
	Originator Originator
	// Evicted reports that the connection was flushed because the table
	// was full: its later packets, if any, were tracked as a new
	// connection picked up in the middle.
	Evicted bool
}
