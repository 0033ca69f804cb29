package reuse

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.pcap")

var (
	client = netip.MustParseAddr("10.0.0.2")
	server = netip.MustParseAddrPort("10.0.0.3:8080")
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	request  = "GET /leaky HTTP/1.1\r\nHost: app:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
	response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	closeRsp = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
)

// exchange plays one request and its response on f.
func exchange(f *pcaptest.Flow, resp string) {
	f.ClientSend([]byte(request))
	f.Ack(false)
	f.ServerSend([]byte(resp))
	f.Ack(true)
}

// leaky is the leaky client: n connections, one request each, closed by
// the client after a response that offered keep-alive.
func leaky(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range n {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Close(true)
	}
	return c
}

// fixed is the fixed client: one connection, n requests, closed by the
// client at the end.
func fixed(n int) *pcaptest.Capture {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(netip.AddrPortFrom(client, 40000), server, t0)
	f.Handshake()
	for range n {
		exchange(f, response)
		f.Sleep(time.Second)
	}
	f.Close(true)
	return c
}

// run plays a capture through the engine into an Aggregator.
func run(t *testing.T, c *pcaptest.Capture) *Aggregator {
	t.Helper()
	a := New()
	eng := sniff.New(sniff.Config{MaxConns: 64, HeaderCap: 4096, IdleTimeout: -1, Emit: a.Add})
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	return a
}

func summary(t *testing.T, a *Aggregator) (string, bool) {
	var b bytes.Buffer
	a.WriteSummary(&b, "")
	ok, _ := a.WriteVerdict(&b, "reuse: ")
	return b.String(), ok
}

func TestLeaky(t *testing.T) {
	a := run(t, leaky(5))
	got, ok := summary(t, a)
	want := "10.0.0.2 -> 10.0.0.3:8080: 5 connections, 5 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes, 4 not reused\n" +
		"reuse: FAIL: connections not reused: 10.0.0.2 -> 10.0.0.3:8080: 4 connections offered keep-alive closed by the client after one request, then a new connection\n"
	if got != want || ok {
		t.Errorf("got (ok %v)\n%s\nwant\n%s", ok, got, want)
	}
	if a.Leaked() != 4 {
		t.Errorf("Leaked() = %d", a.Leaked())
	}
}

func TestFixed(t *testing.T) {
	got, ok := summary(t, run(t, fixed(5)))
	want := "10.0.0.2 -> 10.0.0.3:8080: 1 connection, 5 requests, 5.00 requests/connection, 0% single-request, keep-alive offered: yes\n" +
		"reuse: ok: no connection offered keep-alive was closed by the client after one request before a new one\n"
	if got != want || !ok {
		t.Errorf("got (ok %v)\n%s\nwant\n%s", ok, got, want)
	}
}

// TestOneConnection: a single connection of one request is no leak: no
// connection followed it.
func TestOneConnection(t *testing.T) {
	if _, ok := summary(t, run(t, leaky(1))); !ok {
		t.Error("verdict failed")
	}
}

// TestServerClose: the server said Connection: close; the client had to
// open new connections.
func TestServerClose(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, closeRsp)
		f.Close(i%2 == 0)
	}
	got, ok := summary(t, run(t, c))
	if !ok || !strings.Contains(got, "3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: no\n") {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestServerClosed: keep-alive was offered but the server closed each
// connection (its idle timeout): not the client's doing.
func TestServerClosed(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Close(false)
	}
	if got, ok := summary(t, run(t, c)); !ok {
		t.Errorf("verdict failed:\n%s", got)
	}
}

// TestTruncated: connections still open when the capture ends (their entry
// is truncated) are not closed by the client, whatever follows them.
func TestTruncated(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	var flows []*pcaptest.Flow
	for i := range 3 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		flows = append(flows, f)
	}
	got, ok := summary(t, run(t, c))
	if !ok || !strings.Contains(got, "3 connections, 3 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: yes\n") {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestClientReset: a RST from the client after one request is a close by
// the client.
func TestClientReset(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	for i := range 2 {
		f := c.Flow(netip.AddrPortFrom(client, uint16(40000+i)), server, t0.Add(time.Duration(i)*time.Second))
		f.Handshake()
		exchange(f, response)
		f.Reset(true)
	}
	a := run(t, c)
	if got, ok := summary(t, a); ok || a.Leaked() != 1 {
		t.Errorf("got (ok %v)\n%s", ok, got)
	}
}

// TestPairs: clients and servers are told apart, HTTP/1.0 needs
// keep-alive, entries without a response count as requests.
func TestPairs(t *testing.T) {
	a := New()
	mk := func(cli string, port uint16, srv string, ann entry.Annotation, idx int, orig entry.Originator, resp string, at int) {
		head := resp
		e := &entry.Entry{
			Client: netip.AddrPortFrom(netip.MustParseAddr(cli), port), Server: netip.MustParseAddrPort(srv),
			Annotation: ann, Index: idx, Originator: orig,
			ConnStart: t0.Add(time.Duration(at) * time.Second),
		}
		if resp != "" {
			e.Response = entry.Message{Bytes: []byte(resp), Size: int64(len(resp)), HeaderLen: len(head), HTTP: true}
		}
		a.Add(e)
	}
	const v10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
	const v10ka = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
	mk("10.0.0.9", 1, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10, 0)
	mk("10.0.0.9", 2, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10, 1)
	mk("10.0.0.8", 1, "10.0.0.3:80", entry.Unique, 1, entry.Client, v10ka, 0)
	mk("10.0.0.8", 2, "10.0.0.3:80", entry.Start, 1, entry.None, v10ka, 1)
	mk("10.0.0.8", 2, "10.0.0.3:80", entry.Last, 2, entry.Client, "", 1)
	mk("10.0.0.8", 3, "10.0.0.4:80", entry.Unique, 0, entry.Client, "", 2)
	var b bytes.Buffer
	a.WriteSummary(&b, "s: ")
	want := "s: 10.0.0.8 -> 10.0.0.3:80: 2 connections, 3 requests, 1.50 requests/connection, 50% single-request, keep-alive offered: yes, 1 not reused\n" +
		"s: 10.0.0.8 -> 10.0.0.4:80: 1 connection, 0 requests, 0.00 requests/connection, 0% single-request, keep-alive offered: unknown\n" +
		"s: 10.0.0.9 -> 10.0.0.3:80: 2 connections, 2 requests, 1.00 requests/connection, 100% single-request, keep-alive offered: no\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteTestdata writes the leaky and fixed captures the command's
// scripts use (go test ./sniff/reuse -run WriteTestdata -update), and
// checks that the committed ones are current.
func TestWriteTestdata(t *testing.T) {
	for name, c := range map[string]*pcaptest.Capture{"leaky.pcap": leaky(5), "fixed.pcap": fixed(5)} {
		path := filepath.Join("testdata", name)
		if *update {
			os.MkdirAll("testdata", 0o755)
			c.WriteFile(t, path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(b, c.Pcap()) {
			t.Errorf("%s is stale: go test ./sniff/reuse -run WriteTestdata -update", path)
		}
	}
}
