package readmecap

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var update = flag.Bool("update", false, "rewrite the captures in testdata/readme")

// dir is where the captures go, from this package's directory.
var dir = filepath.Join("..", "..", "..", "testdata", "readme")

var (
	client = netip.MustParseAddr("10.0.0.2")
	server = netip.MustParseAddrPort("10.0.0.3:8080")
	t0     = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
)

// Timing of the conversation, close to a Go client on a local network.
const (
	rtt      = 120 * time.Microsecond // one network round trip
	work     = 2 * time.Millisecond   // the server's time to answer
	interval = 200 * time.Millisecond // between the client's requests
)

// request is what Go's net/http client sends for GET path.
func request(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: app:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n")
}

// response is the server's answer for item n: HTTP/1.1 without
// Connection: close, so it offers keep-alive.
func response(n int, at time.Time) []byte {
	body := fmt.Sprintf("{\"id\":%d,\"name\":\"item %d\"}\n", n, n)
	return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s",
		at.UTC().Format(time.RFC1123[:len(time.RFC1123)-3]+"GMT"), len(body), body))
}

// exchange plays GET /items/n and its answer on f.
func exchange(f *pcaptest.Flow, n int) {
	f.ClientSend(request(fmt.Sprintf("/items/%d", n)))
	f.Sleep(rtt / 2)
	f.Ack(false)
	f.Sleep(work)
	f.ServerSend(response(n, f.Now()))
	f.Sleep(rtt / 2)
	f.Ack(true)
}

// handshake plays the three-way handshake with the network's delays.
func handshake(f *pcaptest.Flow) {
	f.Step = rtt / 2
	f.Handshake()
	f.Step = 10 * time.Microsecond
}

// leaky is the client that closes response bodies without reading them:
// /items/1 to /items/n, each on a new connection, which the client closes
// after the server's keep-alive response.
func leaky(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := 1; i <= n; i++ {
		f := c.Flow(netip.AddrPortFrom(client, uint16(41000+i)), server, t0.Add(time.Duration(i-1)*interval))
		f.ClientISN, f.ServerISN = uint32(0x1000_0000*i), uint32(0x8000_0000+0x0100_0000*i)
		handshake(f)
		exchange(f, i)
		f.Sleep(100 * time.Microsecond)
		f.Close(true)
	}
	return c
}

// fixed is the same client draining each body before closing it: the same
// requests on one connection, which the client closes at the end.
func fixed(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(netip.AddrPortFrom(client, 41001), server, t0)
	f.ClientISN, f.ServerISN = 0x1000_0000, 0x8100_0000
	handshake(f)
	for i := 1; i <= n; i++ {
		if i > 1 {
			f.Sleep(interval)
		}
		exchange(f, i)
	}
	f.Sleep(100 * time.Microsecond)
	f.Close(true)
	return c
}

// TestCaptures checks that testdata/readme holds what the generator
// writes (with -update, it writes them).
func TestCaptures(t *testing.T) {
	for name, c := range map[string]*pcaptest.Capture{
		"leaky-client.pcap": leaky(3),
		"fixed-client.pcap": fixed(3),
	} {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.WriteFile(t, path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./sniff/internal/readmecap -update writes it)", err)
		}
		if !bytes.Equal(b, c.Pcap()) {
			t.Errorf("%s is not what the generator writes: go test ./sniff/internal/readmecap -update", path)
		}
	}
}
