// Package tlsconn follows the records of a TLS connection, in both
// directions, as its bytes stream in: it reads each record's header (type,
// version, length) across segment boundaries and counts the application
// round trips, with a small fixed state per direction. It never keeps
// ciphertext: the bytes of a record's body are only counted (skipped), but
// for the first handshake record of each direction (the ClientHello, the
// ServerHello), which it hands to a Sink so that the caller can keep them,
// within its own bounds, and read the server name, version and ALPN out of
// them (tlshello).
//
// # Round trips
//
// A round trip is a request and its answer: the heuristic counts the turns
// of application data, not records.
//
//   - A client application_data record (type 23) starts a round trip when
//     it is the first after the handshake, or when server application data
//     came since the client's previous one. Several client records in a row
//     (a request written in several pieces) are one round trip; so are
//     several server records in a row (a long response).
//   - Handshake records (22), change_cipher_spec (20) and alerts (21) are
//     never round trips.
//   - In TLS 1.3 the handshake after the ServerHello is encrypted and sent as
//     type-23 records: the client's first type-23 record after the
//     ServerHello is its Finished, not a request; the server's type-23
//     records before the client's first request (EncryptedExtensions …
//     Finished, then NewSessionTicket, which a Go server sends without
//     waiting for the client's Finished and others send after it) are not
//     answers. Encrypted alerts (close_notify) are type-23 records too, of
//     a known size: CloseNotifyLen (measured with Go's crypto/tls in the
//     tests: AES-GCM and ChaCha20-Poly1305 both give 19) is taken for an
//     alert, not data (also when the version is not known).
//   - A connection picked up in the middle (PickUp) starts after the
//     handshake: its client's first application data record is a request.
//
// Limits, by construction: a protocol whose client answers the server's
// own messages (HTTP/2's SETTINGS acknowledgment, PING, WINDOW_UPDATE)
// counts those answers as round trips, so an HTTP/2 connection shows more
// round trips than requests (measured with Go's net/http: 3 or 4 for one
// request, 5 to 10 for three); a client certificate in TLS 1.3 (Certificate,
// CertificateVerify, Finished: several type-23 records) makes a connection
// that carried no request count one; a NewSessionTicket sent after a
// request that the client wrote in two records with the ticket in between
// splits it in two; an application record of exactly CloseNotifyLen bytes
// (two bytes of data, in TLS 1.3) is taken for an alert. A capture gap
// loses the record framing of its direction: from there on the count stops
// (Tracker.Lost) and is a lower bound.
package tlsconn

// Content types of TLS records (RFC 8446 §5.1).
const (
	TypeChangeCipherSpec = 20
	TypeAlert            = 21
	TypeHandshake        = 22
	TypeApplicationData  = 23
	TypeHeartbeat        = 24
)

// HeaderLen is the length of a record header.
const HeaderLen = 5

// MaxRecord is the longest record body accepted: TLSCiphertext's bound of
// RFC 5246 §6.2.3 (2^14+2048; TLS 1.3 allows only 2^14+256). A header that
// announces more is not TLS, or sync was lost.
const MaxRecord = 1<<14 + 2048

// CloseNotifyLen is the length of a TLS 1.3 record carrying an encrypted
// alert with an AEAD of 16-byte tags (AES-GCM, ChaCha20-Poly1305): two
// bytes of alert, one of inner content type, sixteen of tag.
const CloseNotifyLen = 2 + 1 + 16

// versionTLS13 is TLS 1.3 on the wire.
const versionTLS13 = 0x0304

// Looks reports whether b, the first bytes a client sent on a connection,
// may begin a TLS handshake record: type 22, major version 3, minor 0 to 4,
// a length from 1 to MaxRecord, and a ClientHello (handshake type 1). Only
// the bytes present are checked: a single 0x16 byte is enough.
func Looks(b []byte) bool {
	if len(b) == 0 || b[0] != TypeHandshake {
		return false
	}
	if len(b) > 1 && b[1] != 3 {
		return false
	}
	if len(b) > 2 && b[2] > 4 {
		return false
	}
	if len(b) > 4 {
		if n := int(b[3])<<8 | int(b[4]); n == 0 || n > MaxRecord {
			return false
		}
	}
	if len(b) > 5 && b[5] != 1 {
		return false
	}
	return true
}

// LooksMidStream reports whether b, the first bytes a client was seen to
// send on a connection picked up in the middle, begin a TLS application
// data record: type 23, version 3.1 to 3.4, a length from 1 to MaxRecord.
// The whole header must be there.
func LooksMidStream(b []byte) bool {
	if len(b) < HeaderLen || b[0] != TypeApplicationData || b[1] != 3 || b[2] == 0 || b[2] > 4 {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	return n > 0 && n <= MaxRecord
}

// Sink receives the bytes of the first record of each direction when it is
// a handshake record (header included), as they stream in: end is set on
// the call with its last bytes (b may then be empty). The caller keeps
// them to parse the hello; b is only valid during the call.
type Sink interface {
	Hello(dir int, b []byte, end bool)
}

// turn says who sent the last application data counted.
type turn uint8

const (
	turnNone turn = iota
	turnClient
	turnServer
)

// half is the state of one direction.
type half struct {
	hdr     [HeaderLen]byte
	hn      uint8 // header bytes read of the next record
	typ     uint8 // type of the record being read
	rem     int   // body bytes of the record being read not yet seen
	records uint32
	hello   bool // the record being read is handed to the Sink
	lost    bool // a gap or a header that is not TLS: framing lost
}

// Tracker is the state of one TLS connection. Direction 0 is client to
// server, 1 server to client. The zero value is ready; Reset makes it so
// again.
type Tracker struct {
	dir [2]half
	// Version is the version the ServerHello negotiated (SetServerVersion),
	// 0 until it is known.
	Version uint16
	// ClientOffers13 is set by the caller when the ClientHello offered TLS
	// 1.3: it decides how records are read while Version is not known.
	ClientOffers13 bool
	// RoundTrips is the number of application round trips counted.
	RoundTrips int
	// Lost reports that the record framing of a direction was lost (a
	// gap, or bytes that are not TLS records): RoundTrips stopped there
	// and is a lower bound.
	Lost bool
	// Records counts the records whose header was read, per direction.
	Records [2]uint32
	// Alerts counts the alert records seen, per direction (type 21, and in
	// TLS 1.3 type-23 records of CloseNotifyLen bytes).
	Alerts [2]uint32
	// FirstAlert is 1 + the direction of the first alert seen (0: none):
	// the side that closed the TLS session (close_notify), or gave up on
	// it (a fatal alert). Its peer often sends the first FIN, answering
	// the close_notify.
	FirstAlert uint8

	clientFinished bool // TLS 1.3: the client's Finished went by
	serverHello    bool // the server's first record was read
	turn           turn
}

// alert counts an alert record of direction dir.
func (t *Tracker) alert(dir int) {
	t.Alerts[dir]++
	if t.FirstAlert == 0 {
		t.FirstAlert = uint8(1 + dir)
	}
}

// Reset clears t for a new connection.
func (t *Tracker) Reset() { *t = Tracker{} }

// PickUp tells t that the connection was picked up in the middle, its
// handshake done (LooksMidStream): the client's first application data
// record is a request, and the version stays unknown.
func (t *Tracker) PickUp() {
	t.clientFinished = true
	t.serverHello = true
}

// tls13 reports whether records are read by TLS 1.3's rules: the version
// negotiated, or while it is not known, the one the client offered.
func (t *Tracker) tls13() bool {
	if t.Version != 0 {
		return t.Version == versionTLS13
	}
	return t.ClientOffers13
}

// SetServerVersion records the version the ServerHello negotiated.
func (t *Tracker) SetServerVersion(v uint16) { t.Version = v }

// Gap tells t that bytes of direction dir were never captured: its record
// framing is lost.
func (t *Tracker) Gap(dir int) {
	h := &t.dir[dir&1]
	h.lost = true
	t.Lost = true
	if h.hello {
		h.hello = false
	}
}

// DirLost reports whether the framing of direction dir was lost.
func (t *Tracker) DirLost(dir int) bool { return t.dir[dir&1].lost }

// Feed reads bytes of direction dir, in order. s receives the first
// handshake record's bytes (see Sink); it may be nil.
func (t *Tracker) Feed(dir int, b []byte, s Sink) {
	dir &= 1
	h := &t.dir[dir]
	for len(b) > 0 && !h.lost {
		if h.rem == 0 {
			// A record header, maybe across calls.
			n := copy(h.hdr[h.hn:], b)
			h.hn += uint8(n)
			b = b[n:]
			if h.hn < HeaderLen {
				return
			}
			h.hn = 0
			if !t.header(dir, s) {
				return
			}
			continue
		}
		n := min(h.rem, len(b))
		h.rem -= n
		if h.hello && s != nil {
			s.Hello(dir, b[:n], h.rem == 0)
		}
		if h.rem == 0 {
			h.hello = false
		}
		b = b[n:]
	}
}

// header takes the record header just read in direction dir. It returns
// false when it is not one: the direction's framing is lost.
func (t *Tracker) header(dir int, s Sink) bool {
	h := &t.dir[dir]
	typ, n := h.hdr[0], int(h.hdr[3])<<8|int(h.hdr[4])
	if typ < TypeChangeCipherSpec || typ > TypeHeartbeat || h.hdr[1] != 3 || h.hdr[2] > 4 || n > MaxRecord {
		h.lost = true
		t.Lost = true
		return false
	}
	h.typ, h.rem = typ, n
	first := h.records == 0
	h.records++
	t.Records[dir] = h.records
	if first && typ == TypeHandshake && s != nil {
		h.hello = n > 0
		s.Hello(dir, h.hdr[:], n == 0)
	}
	if dir == 1 && first {
		t.serverHello = true
	}
	t.classify(dir, typ, n)
	return true
}

// classify applies the round-trip rules (see the package doc) to a record.
func (t *Tracker) classify(dir int, typ uint8, n int) {
	if typ == TypeAlert {
		t.alert(dir)
		return
	}
	if typ != TypeApplicationData {
		return
	}
	tls13 := t.tls13()
	// In TLS 1.2 a record of CloseNotifyLen bytes could only be three
	// bytes of ChaCha20-Poly1305 data (AES-GCM adds 24, CBC whole blocks):
	// with the version unknown, it is taken for an alert too.
	if (tls13 || t.Version == 0) && n == CloseNotifyLen {
		t.alert(dir)
		return
	}
	if dir == 0 {
		if tls13 && !t.clientFinished {
			if t.serverHello {
				t.clientFinished = true
			}
			return // the client's Finished (or early data, before the ServerHello)
		}
		if t.turn != turnClient {
			t.turn = turnClient
			if !t.Lost {
				t.RoundTrips++
			}
		}
		return
	}
	if t.turn == turnClient {
		t.turn = turnServer
	}
	// Server records before the first request are handshake messages (TLS
	// 1.3), session tickets, or a server speaking first: no answer.
}
