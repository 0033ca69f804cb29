// Package tlshello reads the server name (SNI) and the protocol version out of
// a TLS ClientHello, as %tls.sni and %tls.version print them.
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
	if len(b) < recordHeaderLen+handshakeHeaderLen+2 {
		return h, false
	}
	if b[0] != recordTypeHandshake || b[1] != 3 || b[2] > maxLegacyMinorVersion {
		return h, false
	}
	rec := b[recordHeaderLen:]
	if n := int(b[3])<<8 | int(b[4]); n < len(rec) {
		rec = rec[:n]
	}
	if len(rec) < handshakeHeaderLen+2 || rec[0] != handshakeClientHello {
		return h, false
	}
	body := rec[handshakeHeaderLen:]
	if n := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3]); n < len(body) {
		body = body[:n]
	}
	if len(body) < 2 || body[0] != 3 {
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
	p, ok := skipVector(p, 1)
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
	if len(p) < 2 {
		return h, true
	}
	exts := p[2:]
	if n := int(be16(p)); n < len(exts) {
		exts = exts[:n]
	}
	for len(exts) >= 4 {
		typ := be16(exts)
		n := int(be16(exts[2:]))
		exts = exts[4:]
		if n > len(exts) {
			break // cut short
		}
		data := exts[:n]
		exts = exts[n:]
		switch typ {
		case extServerName:
			if h.SNI == nil {
				h.SNI = serverName(data)
			}
		case extSupportedVersions:
			if v, ok := highestVersion(data); ok {
				h.Version = v
			}
		}
	}
	return h, true
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
