// Package tlshello reads the server name (SNI), the protocol version and the
// ALPN protocols out of a TLS ClientHello, and the negotiated version and
// ALPN protocol out of a ServerHello, as %tls.sni, %tls.version and
// %tls.alpn print them.
//
// Parse works on the bytes a client sent first on a connection. It never
// allocates and never reads outside its input: every length field is checked
// against the bytes actually present, so truncated or hostile input only
// shortens what is found.
package tlshello

// Hello is what Parse found in a ClientHello.
type Hello struct {
	// SNI is the first host_name of the server_name extension. It is a
	// sub-slice of the input given to Parse (no copy is made), nil when the
	// extension is absent or could not be read.
	SNI []byte
	// Version is the highest protocol version the client offers: the
	// largest non-GREASE entry of the supported_versions extension when
	// there is one (TLS 1.3 clients put 0x0303 in the legacy version
	// field), else the ClientHello's legacy client_version.
	Version uint16
	// LegacyVersion is the client_version field of the ClientHello.
	LegacyVersion uint16
	// ALPN is the protocol_name_list of the application_layer_protocol_
	// negotiation extension (RFC 7301): one-byte-length-prefixed names,
	// without the list's own length. A sub-slice of the input, nil when
	// the extension is absent or could not be read. AppendALPN prints it.
	ALPN []byte
}

// The protocol versions, as they appear on the wire.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

const (
	recordTypeHandshake   = 0x16
	handshakeClientHello  = 0x01
	extServerName         = 0x0000
	extSupportedVersions  = 0x002b
	extALPN               = 0x0010
	handshakeServerHello  = 0x02
	serverNameTypeHost    = 0x00
	recordHeaderLen       = 5
	handshakeHeaderLen    = 4
	clientRandomLen       = 32
	maxLegacyMinorVersion = 0x04
)

// Parse reads a ClientHello at the start of b: a TLS handshake record whose
// first message is a ClientHello. It reports false when b does not start
// with one.
//
// The ClientHello is read within the first record and within the bytes
// present: when it is cut short (a capture cap, or a ClientHello spread over
// several records) Parse still reports true with the version and whatever
// extensions were complete.
func Parse(b []byte) (Hello, bool) {
	var h Hello
	body, ok := helloBody(b, handshakeClientHello)
	if !ok {
		return h, false
	}
	h.LegacyVersion = be16(body)
	h.Version = h.LegacyVersion

	p := body[2:]
	if len(p) < clientRandomLen {
		return h, true
	}
	p = p[clientRandomLen:]
	// legacy_session_id<0..32>
	p, ok = skipVector(p, 1)
	if !ok {
		return h, true
	}
	// cipher_suites<2..2^16-2>
	if p, ok = skipVector(p, 2); !ok {
		return h, true
	}
	// legacy_compression_methods<1..2^8-1>
	if p, ok = skipVector(p, 1); !ok {
		return h, true
	}
	// extensions<8..2^16-1>, absent in old ClientHellos.
	exts, ok := extensions(p)
	if !ok {
		return h, true
	}
	for {
		typ, data, rest, ok := nextExtension(exts)
		if !ok {
			break // the end, or cut short
		}
		exts = rest
		switch typ {
		case extServerName:
			if h.SNI == nil {
				h.SNI = serverName(data)
			}
		case extSupportedVersions:
			if v, ok := highestVersion(data); ok {
				h.Version = v
			}
		case extALPN:
			if h.ALPN == nil {
				h.ALPN = alpnList(data)
			}
		}
	}
	return h, true
}

// ServerHello is what ParseServer found in a ServerHello.
type ServerHello struct {
	// Version is the negotiated protocol version: the supported_versions
	// extension's selected_version when there is one (TLS 1.3), else the
	// ServerHello's legacy server_version.
	Version uint16
	// ALPN is the protocol the server selected (RFC 7301), as a
	// protocol_name_list of one name like Hello.ALPN; nil when the
	// extension is absent (TLS 1.3 servers send it encrypted, in
	// EncryptedExtensions: it is never here).
	ALPN []byte
	// HelloRetry reports a TLS 1.3 HelloRetryRequest (a ServerHello with
	// the special random of RFC 8446 §4.1.3): the real ServerHello follows.
	HelloRetry bool
}

// helloRetryRandom is the random of a HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// extensions returns the extensions block at the start of p (a 16-bit
// length, then the extensions), within the bytes present; ok is false when
// not even its length is there.
func extensions(p []byte) ([]byte, bool) {
	if len(p) < 2 {
		return nil, false
	}
	exts := p[2:]
	if n := int(be16(p)); n < len(exts) {
		exts = exts[:n]
	}
	return exts, true
}

// nextExtension splits the first extension off exts: its type and data,
// and the extensions after it. ok is false at the end of exts, or when the
// extension is cut short.
func nextExtension(exts []byte) (typ uint16, data, rest []byte, ok bool) {
	if len(exts) < 4 {
		return 0, nil, nil, false
	}
	typ, n := be16(exts), int(be16(exts[2:]))
	exts = exts[4:]
	if n > len(exts) {
		return 0, nil, nil, false
	}
	return typ, exts[:n], exts[n:], true
}

// helloBody returns the body of the handshake message of type typ that
// starts the TLS handshake record at the start of b, within the record and
// the message's own length and the bytes present: at least its two version
// bytes, the first of them 3.
func helloBody(b []byte, typ byte) ([]byte, bool) {
	if len(b) < recordHeaderLen+handshakeHeaderLen+2 {
		return nil, false
	}
	if b[0] != recordTypeHandshake || b[1] != 3 || b[2] > maxLegacyMinorVersion {
		return nil, false
	}
	rec := b[recordHeaderLen:]
	if n := int(b[3])<<8 | int(b[4]); n < len(rec) {
		rec = rec[:n]
	}
	if len(rec) < handshakeHeaderLen+2 || rec[0] != typ {
		return nil, false
	}
	body := rec[handshakeHeaderLen:]
	if n := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3]); n < len(body) {
		body = body[:n]
	}
	if len(body) < 2 || body[0] != 3 {
		return nil, false
	}
	return body, true
}

// ParseServer reads a ServerHello at the start of b: a TLS handshake record
// whose first message is a ServerHello. It reports false when b does not
// start with one. Like Parse, it reads within the first record and the
// bytes present, never allocates, and a ServerHello cut short gives what
// was complete.
func ParseServer(b []byte) (ServerHello, bool) {
	var h ServerHello
	body, ok := helloBody(b, handshakeServerHello)
	if !ok {
		return h, false
	}
	h.Version = be16(body)
	p := body[2:]
	if len(p) < clientRandomLen {
		return h, true
	}
	h.HelloRetry = [32]byte(p[:clientRandomLen]) == helloRetryRandom
	p = p[clientRandomLen:]
	// legacy_session_id_echo<0..32>
	p, ok = skipVector(p, 1)
	// cipher_suite (2), legacy_compression_method (1)
	if !ok || len(p) < 3 {
		return h, true
	}
	exts, ok := extensions(p[3:])
	if !ok {
		return h, true
	}
	for {
		typ, data, rest, ok := nextExtension(exts)
		if !ok {
			break // the end, or cut short
		}
		exts = rest
		switch typ {
		case extSupportedVersions:
			if len(data) == 2 {
				h.Version = be16(data)
			}
		case extALPN:
			if h.ALPN == nil {
				h.ALPN = alpnList(data)
			}
		}
	}
	return h, true
}

// alpnList returns the protocol_name_list of an ALPN extension's data,
// without its length prefix, cut to the bytes present.
func alpnList(d []byte) []byte {
	if len(d) < 2 {
		return nil
	}
	list := d[2:]
	if n := int(be16(d)); n < len(list) {
		list = list[:n]
	}
	return list[:len(list):len(list)]
}

// AppendALPN appends the names of an ALPN protocol_name_list (Hello.ALPN,
// ServerHello.ALPN) to dst, separated by commas, as %tls.alpn prints them.
// A name cut short by the end of list is left out, as are empty names.
func AppendALPN(dst, list []byte) []byte {
	first := true
	for len(list) > 0 {
		n := int(list[0])
		list = list[1:]
		if n > len(list) {
			break
		}
		if n > 0 {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, list[:n]...)
		}
		list = list[n:]
	}
	return dst
}

// serverName returns the first host_name of a server_name extension's data.
func serverName(d []byte) []byte {
	if len(d) < 2 {
		return nil
	}
	list := d[2:]
	if n := int(be16(d)); n < len(list) {
		list = list[:n]
	}
	for len(list) >= 3 {
		typ := list[0]
		n := int(be16(list[1:]))
		list = list[3:]
		if n > len(list) {
			return nil
		}
		if typ == serverNameTypeHost && n > 0 {
			return list[:n:n]
		}
		list = list[n:]
	}
	return nil
}

// highestVersion returns the largest non-GREASE version of a ClientHello's
// supported_versions extension data.
func highestVersion(d []byte) (uint16, bool) {
	if len(d) < 1 {
		return 0, false
	}
	list := d[1:]
	if n := int(d[0]); n < len(list) {
		list = list[:n]
	}
	var best uint16
	found := false
	for ; len(list) >= 2; list = list[2:] {
		v := be16(list)
		if isGREASE(v) {
			continue
		}
		if !found || v > best {
			best, found = v, true
		}
	}
	return best, found
}

// isGREASE reports whether v is one of the reserved GREASE values of RFC
// 8701 (0x0a0a, 0x1a1a, … 0xfafa).
func isGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// skipVector skips a vector whose length prefix is lenBytes (1 or 2) long.
func skipVector(p []byte, lenBytes int) ([]byte, bool) {
	if len(p) < lenBytes {
		return nil, false
	}
	n := int(p[0])
	if lenBytes == 2 {
		n = int(be16(p))
	}
	p = p[lenBytes:]
	if n > len(p) {
		return nil, false
	}
	return p[n:], true
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// VersionName returns the name %tls.version prints for a protocol version:
// "SSL_3.0", "TLS_1.0", "TLS_1.1", "TLS_1.2" or "TLS_1.3"; "" for any other
// value.
func VersionName(v uint16) string {
	switch v {
	case VersionSSL30:
		return "SSL_3.0"
	case VersionTLS10:
		return "TLS_1.0"
	case VersionTLS11:
		return "TLS_1.1"
	case VersionTLS12:
		return "TLS_1.2"
	case VersionTLS13:
		return "TLS_1.3"
	}
	return ""
}

// AppendVersion appends VersionName(v) to dst, or "0x" and four lowercase
// hexadecimal digits for a version without a name.
func AppendVersion(dst []byte, v uint16) []byte {
	if s := VersionName(v); s != "" {
		return append(dst, s...)
	}
	const hex = "0123456789abcdef"
	return append(dst, '0', 'x', hex[v>>12], hex[v>>8&0xf], hex[v>>4&0xf], hex[v&0xf])
}
