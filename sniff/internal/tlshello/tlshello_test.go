package tlshello

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// clientHello returns the first TLS record a crypto/tls client writes with
// the given configuration: its ClientHello.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cli.Close()
		_ = cli.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tls.Client(cli, cfg).Handshake() // fails: nobody answers
	}()
	_ = srv.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(srv, hdr); err != nil {
		t.Fatalf("reading the record header: %v", err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(srv, body); err != nil {
		t.Fatalf("reading the record: %v", err)
	}
	srv.Close()
	<-done
	return append(hdr, body...)
}

func TestParseCryptoTLS(t *testing.T) {
	tests := []struct {
		name     string
		cfg      *tls.Config
		sni      string
		version  uint16
		legacy   uint16
		wantName string
	}{
		{"tls13", &tls.Config{ServerName: "example.com", MinVersion: tls.VersionTLS12}, "example.com", VersionTLS13, VersionTLS12, "TLS_1.3"},
		{"tls12", &tls.Config{ServerName: "www.example.org", MaxVersion: tls.VersionTLS12}, "www.example.org", VersionTLS12, VersionTLS12, "TLS_1.2"},
		{"tls11", &tls.Config{ServerName: "old.example", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "old.example", VersionTLS11, VersionTLS11, "TLS_1.1"},
		{"tls10", &tls.Config{ServerName: "older.example", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, "older.example", VersionTLS10, VersionTLS10, "TLS_1.0"},
		// An IP address as ServerName is not sent as SNI (RFC 6066).
		{"no-sni", &tls.Config{ServerName: "192.0.2.1", InsecureSkipVerify: true}, "", VersionTLS13, VersionTLS12, "TLS_1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := clientHello(t, tt.cfg)
			h, ok := Parse(b)
			if !ok {
				t.Fatalf("Parse(% x…) = false", b[:16])
			}
			if string(h.SNI) != tt.sni || (tt.sni == "" && h.SNI != nil) {
				t.Errorf("SNI = %q, want %q", h.SNI, tt.sni)
			}
			if h.Version != tt.version || h.LegacyVersion != tt.legacy {
				t.Errorf("Version = %#04x legacy %#04x, want %#04x legacy %#04x", h.Version, h.LegacyVersion, tt.version, tt.legacy)
			}
			if got := string(AppendVersion(nil, h.Version)); got != tt.wantName {
				t.Errorf("AppendVersion = %q, want %q", got, tt.wantName)
			}
			// Trailing bytes (the rest of the stream) change nothing.
			h2, ok := Parse(append(append([]byte(nil), b...), "trailing application data"...))
			if !ok || string(h2.SNI) != tt.sni || h2.Version != tt.version {
				t.Errorf("with trailing data: %+v %v", h2, ok)
			}
			// Every truncation is handled without panicking; once the
			// handshake header and version are there it is a ClientHello.
			for n := range len(b) {
				h, ok := Parse(b[:n])
				if want := n >= 11; ok != want {
					t.Fatalf("Parse(b[:%d]) ok = %v, want %v", n, ok, want)
				}
				if h.SNI != nil && string(h.SNI) != tt.sni {
					t.Fatalf("Parse(b[:%d]).SNI = %q", n, h.SNI)
				}
			}
		})
	}
}

func TestParseNotClientHello(t *testing.T) {
	for _, in := range []string{
		"",
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x03\x03",     // ServerHello
		"\x17\x03\x03\x00\x06\x01\x00\x00\x02\x03\x03",     // application data
		"\x16\x02\x00\x00\x06\x01\x00\x00\x02\x03\x03",     // SSL 2 record version
		"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x02\x00",     // client_version 2.0
		"\x16\x03\x01\x00\x01\x01\x00\x00\x02\x03\x03\x00", // record shorter than the handshake header
	} {
		if h, ok := Parse([]byte(in)); ok {
			t.Errorf("Parse(%q) = %+v, true", in, h)
		}
	}
}

// hello builds a ClientHello record with the given extensions.
func hello(legacy uint16, exts ...[]byte) []byte {
	var body []byte
	body = append(body, byte(legacy>>8), byte(legacy))
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // cipher suites
	body = append(body, 1, 0)                // compression
	all := bytes.Join(exts, nil)
	body = append(body, byte(len(all)>>8), byte(len(all)))
	body = append(body, all...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func ext(typ uint16, data ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
}

func TestParseHandmade(t *testing.T) {
	sni := func(names ...string) []byte {
		var list []byte
		for i, n := range names {
			typ := byte(0)
			if i == 0 && len(names) > 1 {
				typ = 7 // an unknown name type first
			}
			list = append(list, typ, byte(len(n)>>8), byte(len(n)))
			list = append(list, n...)
		}
		return ext(extServerName, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)...)
	}
	tests := []struct {
		name    string
		in      []byte
		sni     string
		version uint16
	}{
		{"plain", hello(0x0303, sni("a.example")), "a.example", VersionTLS12},
		{"skip-unknown-name-type", hello(0x0303, sni("ignored", "b.example")), "b.example", VersionTLS12},
		{"grease-versions", hello(0x0303, ext(0x0a0a), ext(extSupportedVersions, 6, 0x1a, 0x1a, 3, 4, 3, 3), sni("c.example")), "c.example", VersionTLS13},
		{"only-grease", hello(0x0303, ext(extSupportedVersions, 2, 0x2a, 0x2a)), "", VersionTLS12},
		{"unknown-version", hello(0x0303, ext(extSupportedVersions, 2, 0x7f, 0x1c)), "", 0x7f1c},
		{"no-extensions", hello(0x0301)[:5+4+2+32+1+4+2], "", VersionTLS10},
		{"bad-sni-length", hello(0x0303, ext(extServerName, 0, 9, 0, 0, 200, 'x')), "", VersionTLS12},
		{"empty-sni", hello(0x0303, sni("")), "", VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.name == "no-extensions" {
				// Fix the record and handshake lengths for the cut.
				in[3], in[4] = 0, byte(len(in)-5)
				in[6], in[7], in[8] = 0, 0, byte(len(in)-9)
			}
			h, ok := Parse(in)
			if !ok {
				t.Fatal("Parse = false")
			}
			if string(h.SNI) != tt.sni || h.Version != tt.version {
				t.Errorf("got SNI %q version %#04x, want %q %#04x", h.SNI, h.Version, tt.sni, tt.version)
			}
		})
	}
}

func TestAppendVersion(t *testing.T) {
	for v, want := range map[uint16]string{
		0x0300: "SSL_3.0", 0x0301: "TLS_1.0", 0x0302: "TLS_1.1", 0x0303: "TLS_1.2", 0x0304: "TLS_1.3",
		0x7f1c: "0x7f1c", 0x0002: "0x0002",
	} {
		if got := string(AppendVersion(nil, v)); got != want {
			t.Errorf("AppendVersion(%#04x) = %q, want %q", v, got, want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := hello(0x0303, ext(extSupportedVersions, 4, 3, 4, 3, 3), ext(extServerName, 0, 12, 0, 0, 9, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'))
	if n := testing.AllocsPerRun(100, func() { Parse(b) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(hello(0x0303, ext(extSupportedVersions, 4, 3, 4, 3, 3), ext(extServerName, 0, 6, 0, 0, 3, 'a', '.', 'b')))
	f.Add(hello(0x0301))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 3, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := Parse(b)
		if !ok && (h.SNI != nil || h.Version != 0) {
			t.Fatalf("not a ClientHello but %+v", h)
		}
		if h.SNI != nil {
			// SNI must alias the input.
			if len(h.SNI) == 0 || cap(h.SNI) != len(h.SNI) {
				t.Fatalf("SNI %q: len %d cap %d", h.SNI, len(h.SNI), cap(h.SNI))
			}
			if !bytes.Contains(b, h.SNI) {
				t.Fatalf("SNI %q not in the input", h.SNI)
			}
		}
		_ = AppendVersion(nil, h.Version)
	})
}
