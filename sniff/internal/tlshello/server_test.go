package tlshello

import (
	"crypto/tls"
	"testing"

	"github.com/sniffer/sniffer/sniff/internal/tlstest"
)

// serverHello returns the first record of a Go TLS server's first flight.
func serverHello(t *testing.T, s tlstest.Session) []byte {
	t.Helper()
	for _, e := range tlstest.Run(t, s) {
		if !e.FromClient {
			b := e.Data
			n := 5 + (int(b[3])<<8 | int(b[4]))
			return b[:n]
		}
	}
	t.Fatal("no server bytes")
	return nil
}

func TestParseServerCryptoTLS(t *testing.T) {
	for _, tc := range []struct {
		s       tlstest.Session
		version uint16
		alpn    string
	}{
		{tlstest.Session{Version: tls.VersionTLS13, ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"h2"}}, VersionTLS13, ""},
		{tlstest.Session{Version: tls.VersionTLS12, ClientALPN: []string{"h2", "http/1.1"}, ServerALPN: []string{"http/1.1"}}, VersionTLS12, "http/1.1"},
		{tlstest.Session{Version: tls.VersionTLS12}, VersionTLS12, ""},
	} {
		b := serverHello(t, tc.s)
		h, ok := ParseServer(b)
		if !ok || h.Version != tc.version || string(AppendALPN(nil, h.ALPN)) != tc.alpn || h.HelloRetry {
			t.Errorf("%+v: ok %v, version %#x, ALPN %q, retry %v; want %#x %q", tc.s, ok, h.Version, AppendALPN(nil, h.ALPN), h.HelloRetry, tc.version, tc.alpn)
		}
		// Cut anywhere: never a panic, never more than was there.
		for n := range len(b) {
			h, _ := ParseServer(b[:n])
			if len(h.ALPN) > n {
				t.Fatalf("cut at %d: ALPN of %d bytes", n, len(h.ALPN))
			}
		}
		if _, ok := Parse(b); ok {
			t.Errorf("a ServerHello taken for a ClientHello")
		}
	}
}

func TestClientALPN(t *testing.T) {
	b := clientHello(t, &tls.Config{ServerName: "x.example", NextProtos: []string{"h2", "http/1.1"}})
	h, ok := Parse(b)
	if got := string(AppendALPN(nil, h.ALPN)); !ok || got != "h2,http/1.1" {
		t.Fatalf("ALPN %q", got)
	}
	if _, ok := ParseServer(b); ok {
		t.Errorf("a ClientHello taken for a ServerHello")
	}
	for _, tc := range []struct{ list, want string }{
		{"", ""}, {"\x02h2", "h2"}, {"\x02h2\x00\x08http/1.1", "h2,http/1.1"}, {"\x02h2\x09http", "h2"}, {"\x05", ""},
	} {
		if got := string(AppendALPN(nil, []byte(tc.list))); got != tc.want {
			t.Errorf("AppendALPN(%q) = %q, want %q", tc.list, got, tc.want)
		}
	}
}

func TestHelloRetry(t *testing.T) {
	// A ServerHello with the HelloRetryRequest random and supported_versions.
	b := []byte{22, 3, 3, 0, 0, 2, 0, 0, 0, 3, 3}
	b = append(b, helloRetryRandom[:]...)
	b = append(b, 0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4)
	b[3], b[4] = 0, byte(len(b)-5)
	b[8] = byte(len(b) - 9)
	h, ok := ParseServer(b)
	if !ok || !h.HelloRetry || h.Version != VersionTLS13 {
		t.Fatalf("%+v %v", h, ok)
	}
}

func FuzzParseServer(f *testing.F) {
	f.Add([]byte{22, 3, 3, 0, 10, 2, 0, 0, 6, 3, 3, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, _ := ParseServer(b)
		if len(h.ALPN) > len(b) {
			t.Fatalf("ALPN longer than the input")
		}
		AppendALPN(nil, h.ALPN)
		AppendALPN(nil, b)
	})
}
