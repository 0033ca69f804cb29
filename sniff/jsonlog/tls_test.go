package jsonlog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

func TestTLSObject(t *testing.T) {
	for _, tc := range []struct {
		tls  entry.TLS
		want string
	}{
		{entry.TLS{SNI: []byte("api.example.com"), Version: 0x0303, ALPN: []byte("h2"), ALPNNegotiated: true, RoundTrips: 4},
			`"tls":{"version":"TLS_1.2","sni":"api.example.com","alpn":"h2","alpn_negotiated":true,"round_trips":4}`},
		{entry.TLS{Version: 0x0304, ALPN: []byte("h2,http/1.1"), RoundTrips: 1},
			`"tls":{"version":"TLS_1.3","alpn":"h2,http/1.1","alpn_negotiated":false,"round_trips":1}`},
		{entry.TLS{RoundTrips: 2, LowerBound: true},
			`"tls":{"round_trips":2,"round_trips_lower_bound":true}`},
		{entry.TLS{SNI: []byte("a\"b")}, `"tls":{"sni":"a\"b","round_trips":0}`},
	} {
		e := &entry.Entry{Index: 1, Request: entry.Message{Size: 10, HeaderLen: -1}, Response: entry.Message{Size: 20, HeaderLen: -1}, TLS: &tc.tls}
		got := string(Append(nil, e, &Options{Bodies: true}))
		if !strings.Contains(got, tc.want) {
			t.Errorf("got %s\nwant %s in it", got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("not JSON: %s", got)
		}
		for _, bad := range []string{`"line"`, `"body"`} {
			if strings.Contains(got, bad) {
				t.Errorf("%s has %s", got, bad)
			}
		}
	}
}
