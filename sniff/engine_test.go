package sniff_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

var (
	cli4 = netip.MustParseAddrPort("10.0.0.1:40000")
	srv4 = netip.MustParseAddrPort("10.0.0.2:8080")
	cli6 = netip.MustParseAddrPort("[2001:db8::1]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8::2]:80")
	t0   = time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
)

// brief is a format that shows what the scenarios check.
const brief = "%connection %session.requests %request.line|%response.code|%request.size %response.size|%close.originator"

func get(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: hh\r\n\r\n")
}

func ok(body string) []byte {
	return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}

// play renders a built capture with format.
func play(t *testing.T, c *pcaptest.Capture, format string, cfg sniff.Config) string {
	t.Helper()
	return runCapture(t, c.Pcap(), format, cfg)
}

func check(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// keepAlive plays a connection with the given exchanges, then a client close.
func keepAlive(c *pcaptest.Capture, client, server netip.AddrPort, paths ...string) *pcaptest.Flow {
	f := c.Flow(client, server, t0)
	f.Handshake()
	for _, p := range paths {
		f.ClientSend(get(p))
		f.Ack(false)
		f.ServerSend(ok("hello " + p))
		f.Ack(true)
	}
	f.Close(true)
	return f
}

func TestLinkTypesAndIPVersions(t *testing.T) {
	want := "start 1 GET /a HTTP/1.1|200|29 46|-\nlast 2 GET /b HTTP/1.1|200|29 46|client\n"
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkType(276), layers.LinkTypeRaw, layers.LinkTypeNull} {
		for _, ip6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/ipv6=%v", link, ip6), func(t *testing.T) {
				c := pcaptest.New(link)
				cl, sv := cli4, srv4
				if ip6 {
					cl, sv = cli6, srv6
				}
				keepAlive(c, cl, sv, "/a", "/b")
				check(t, play(t, c, brief, sniff.Config{}), want)
			})
		}
	}
}

func TestIPv6Addresses(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	keepAlive(c, cli6, srv6, "/six")
	check(t, play(t, c, "%source.ip %source.port %dest.ip %dest.port %request.url", sniff.Config{}),
		"2001:db8::1 40000 2001:db8::2 80 /six\n")
}

func TestVLAN(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet).VLAN(42)
	keepAlive(c, cli4, srv4, "/tagged")
	check(t, play(t, c, brief, sniff.Config{}), "unique 1 GET /tagged HTTP/1.1|200|34 52|client\n")
}

func TestPcapng(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	keepAlive(c, cli4, srv4, "/ng")
	check(t, runCapture(t, c.Pcapng(), brief, sniff.Config{}), "unique 1 GET /ng HTTP/1.1|200|30 47|client\n")
}

// segments splits b into pieces of n bytes.
func segments(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestReorderRetransmitOverlap(t *testing.T) {
	req := []byte("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz")
	resp := ok("stored")
	for _, tc := range []struct {
		name  string
		order func(n int) []int
		isn   uint32
	}{
		{"reversed", func(n int) []int {
			o := make([]int, n)
			for i := range o {
				o[i] = n - 1 - i
			}
			return o
		}, 1000},
		{"retransmitted", func(n int) []int {
			var o []int
			for i := 0; i < n; i++ {
				o = append(o, i, i)
			}
			return o
		}, 1000},
		{"odd then even", func(n int) []int {
			var o []int
			for i := 1; i < n; i += 2 {
				o = append(o, i)
			}
			for i := 0; i < n; i += 2 {
				o = append(o, i)
			}
			return o
		}, 1000},
		{"wraparound", func(n int) []int {
			o := make([]int, n)
			for i := range o {
				o[i] = i
			}
			return o
		}, 0xffffffff - 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pcaptest.New(layers.LinkTypeEthernet)
			f := c.Flow(cli4, srv4, t0)
			f.ClientISN = tc.isn
			f.Handshake()
			segs := segments(req, 10)
			offs := make([]int, len(segs))
			for i := range segs {
				if i > 0 {
					offs[i] = offs[i-1] + len(segs[i-1])
				}
			}
			for _, i := range tc.order(len(segs)) {
				f.Segment(true, uint32(offs[i]), segs[i], decode.PSH|decode.ACK)
			}
			// Overlapping retransmission spanning three segments.
			f.Segment(true, 5, req[5:35], decode.PSH|decode.ACK)
			f.Advance(true, uint32(len(req)))
			f.Ack(false)
			f.ServerSend(resp)
			f.Ack(true)
			f.Close(false)
			got := play(t, c, brief+"|%request.body", sniff.Config{})
			check(t, got, "unique 1 POST /upload HTTP/1.1|200|"+fmt.Sprint(len(req))+" "+fmt.Sprint(len(resp))+"|server|abcdefghijklmnopqrstuvwxyz\n")
		})
	}
}

func TestWraparoundMidMessage(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.ClientISN = 0xffffffff - 20 // the sequence space wraps inside the request
	f.ServerISN = 0xfffffff0
	f.Handshake()
	for _, p := range []string{"/one", "/two"} {
		for _, s := range segments(get(p), 7) {
			f.ClientSend(s)
		}
		f.Ack(false)
		for _, s := range segments(ok(strings.Repeat("z", 40)), 9) {
			f.ServerSend(s)
		}
		f.Ack(true)
	}
	f.Close(true)
	check(t, play(t, c, brief, sniff.Config{}), "start 1 GET /one HTTP/1.1|200|31 79|-\nlast 2 GET /two HTTP/1.1|200|31 79|client\n")
}

// A segment never captured inside a Content-Length body: the entry is still
// logged with its true size, and the next exchange is intact.
func TestLossInsideBody(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/big"))
	f.Ack(false)
	body := ok(strings.Repeat("x", 3000))
	segs := segments(body, 1000)
	f.ServerSend(segs[0])
	f.Advance(false, uint32(len(segs[1]))) // lost
	f.ServerSend(segs[2])
	for _, s := range segs[3:] {
		f.ServerSend(s)
	}
	f.Ack(true) // the client acknowledges past the lost segment
	f.ClientSend(get("/next"))
	f.Ack(false)
	f.ServerSend(ok("fine"))
	f.Ack(true)
	f.Close(true)
	check(t, play(t, c, brief, sniff.Config{}),
		fmt.Sprintf("start 1 GET /big HTTP/1.1|200|31 %d|-\nlast 2 GET /next HTTP/1.1|200|32 42|client\n", len(body)))
}

// A segment never captured inside a head: the framing is lost; the entry is
// logged, and parsing resumes at the next message boundary.
func TestLossInsideHead(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	f.Ack(false)
	resp := []byte("HTTP/1.1 200 OK\r\nX-Pad: 0123456789\r\nContent-Length: 2\r\n\r\nok")
	f.ServerSend(resp[:20])
	f.Advance(false, 20) // lost: part of the headers
	f.ServerSend(resp[40:])
	f.Ack(true)
	f.ClientSend(get("/b"))
	f.Ack(false)
	f.ServerSend(ok("b"))
	f.Ack(true)
	f.Close(true)
	check(t, play(t, c, brief+"|%response.line", sniff.Config{}),
		"start 1 GET /a HTTP/1.1|200|29 40|-|HTTP/1.1 200 OK\nlast 2 GET /b HTTP/1.1|200|29 39|client|HTTP/1.1 200 OK\n")
}

func TestLostTailDeclaredAtClose(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	f.Ack(false)
	body := ok("0123456789")
	f.ServerSend(body[:30])
	f.Advance(false, uint32(len(body)-30))
	f.Close(false)
	check(t, play(t, c, brief, sniff.Config{}), fmt.Sprintf("unique 1 GET /a HTTP/1.1|200|29 %d|server\n", len(body)))
}

func TestMidStreamPickup(t *testing.T) {
	for _, firstFromServer := range []bool{false, true} {
		t.Run(fmt.Sprint("server first=", firstFromServer), func(t *testing.T) {
			c := pcaptest.New(layers.LinkTypeEthernet)
			f := c.Flow(cli4, srv4, t0) // no handshake
			if firstFromServer {
				// The tail of a response to a request never seen.
				f.ServerSend([]byte("ody of an earlier response"))
				f.Ack(true)
			}
			for _, p := range []string{"/1", "/2", "/3"} {
				f.ClientSend(get(p))
				f.Ack(false)
				f.ServerSend(ok(p))
				f.Ack(true)
			}
			f.Close(true)
			got := play(t, c, brief+"|%connection.time|%idle.time.0|%connection.timestamp|%session.time", sniff.Config{})
			check(t, got, "continue 1 GET /1 HTTP/1.1|200|29 40|-|-|-|-|-\n"+
				"continue 2 GET /2 HTTP/1.1|200|29 40|-|-|-|-|-\n"+
				"last 3 GET /3 HTTP/1.1|200|29 40|client|-|-|-|-\n")
		})
	}
}

func TestMidStreamPickupInsideBody(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.ClientSend([]byte("rest of an upload body\r\nGETTING no"))
	f.ServerSend(ok("done"))
	f.ClientSend(get("/after"))
	f.ServerSend(ok("x"))
	f.Close(true)
	check(t, play(t, c, brief, sniff.Config{}), "continue 1 |200|0 42|-\nlast 2 GET /after HTTP/1.1|200|33 39|client\n")
}

func TestChunkedSplitAtEveryByte(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
	for cut := 1; cut < len(resp); cut++ {
		c := pcaptest.New(layers.LinkTypeEthernet)
		f := c.Flow(cli4, srv4, t0)
		f.Handshake()
		f.ClientSend(get("/c"))
		f.ServerSend(resp[:cut])
		f.ServerSend(resp[cut:])
		f.ClientSend(get("/d"))
		f.ServerSend(ok("d"))
		f.Close(true)
		got := play(t, c, brief, sniff.Config{})
		want := fmt.Sprintf("start 1 GET /c HTTP/1.1|200|29 %d|-\nlast 2 GET /d HTTP/1.1|200|29 39|client\n", len(resp))
		if got != want {
			t.Fatalf("cut at %d:\n%s", cut, got)
		}
	}
}

func TestChunkedEverySegmentOneByte(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n")
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	for _, b := range get("/bytes") {
		f.ClientSend([]byte{b})
	}
	for _, b := range resp {
		f.ServerSend([]byte{b})
	}
	f.Close(true)
	check(t, play(t, c, brief+"|%response.body", sniff.Config{}),
		fmt.Sprintf("unique 1 GET /bytes HTTP/1.1|200|33 %d|client|a\r\n0123456789\r\n0\r\n\r\n\n", len(resp)))
}

func TestPipelineHundred(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	var reqs, resps []byte
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		p := fmt.Sprintf("/%d", i)
		reqs = append(reqs, get(p)...)
		resps = append(resps, ok(p)...)
		ann := "continue"
		switch i {
		case 1:
			ann = "start"
		case 100:
			ann = "last"
		}
		orig := "-"
		if i == 100 {
			orig = "client"
		}
		fmt.Fprintf(&want, "%s %d GET %s HTTP/1.1|200|%d %d|%s\n", ann, i, p, len(get(p)), len(ok(p)), orig)
	}
	for _, s := range segments(reqs, 1400) {
		f.ClientSend(s)
	}
	f.Ack(false)
	for _, s := range segments(resps, 1400) {
		f.ServerSend(s)
	}
	f.Ack(true)
	f.Close(true)
	check(t, play(t, c, brief, sniff.Config{}), want.String())
}

func TestBodilessResponses(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.ServerSend([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
	f.ClientSend(get("/n"))
	f.ServerSend([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	f.ClientSend(get("/m"))
	f.ServerSend([]byte("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"))
	f.ClientSend(get("/z"))
	f.ServerSend(ok("z"))
	f.Close(true)
	check(t, play(t, c, "%request.method %response.code %response.message %response.size", sniff.Config{}),
		"HEAD 200 OK 41\nGET 204 No Content 27\nGET 304 Not Modified 48\nGET 200 OK 39\n")
}

func TestCloseDelimitedResponse(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("GET /old HTTP/1.0\r\n\r\n"))
	f.ServerSend([]byte("HTTP/1.0 200 OK\r\n\r\nuntil "))
	f.ServerSend([]byte("the close"))
	f.Close(false)
	check(t, play(t, c, brief+"|%response.body", sniff.Config{}), "unique 1 GET /old HTTP/1.0|200|21 34|server|until the close\n")
}

func TestUpgradeThenRaw(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.ServerSend([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f.ClientSend([]byte("\x81\x05hello"))
	f.ServerSend([]byte("\x81\x05hello"))
	f.ClientSend([]byte("\x81\x03bye"))
	f.Close(true)
	check(t, play(t, c, "%connection %request.line|%response.code|%response.message|%request.size %response.size", sniff.Config{}),
		"start GET /ws HTTP/1.1|101|Switching Protocols|61 56\n"+
			"continue \x81\x05hello|-|-|7 7\n"+
			"last \x81\x03bye|-|-|5 0\n")
}

func TestNonHTTPProtocol(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, netip.MustParseAddrPort("10.0.0.2:6379"), t0)
	f.Handshake()
	f.ClientSend([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.ServerSend([]byte("$1\r\n"))
	f.ServerSend([]byte("v\r\n"))
	f.ClientSend([]byte("*1\r\n$4\r\nPING\r\n"))
	f.ServerSend([]byte("+PONG\r\n"))
	f.Close(true)
	check(t, play(t, c, "%connection %request.size %response.size %request.method %response.code %request.line", sniff.Config{}),
		"start 20 7 - - *2\nlast 14 7 - - *1\n")
}

func TestServerSpeaksFirst(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, netip.MustParseAddrPort("10.0.0.2:25"), t0)
	f.Handshake()
	f.ServerSend([]byte("220 mail ESMTP\r\n"))
	f.ClientSend([]byte("EHLO x\r\n"))
	f.ServerSend([]byte("250 ok\r\n"))
	f.Close(true)
	check(t, play(t, c, "%connection %session.requests [%request.line] [%response.line]", sniff.Config{}),
		"start 1 [] [220 mail ESMTP]\nlast 2 [EHLO x] [250 ok]\n")
}

func TestTLSClientHello(t *testing.T) {
	hello := clientHello(t, "api.example.com")
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, netip.MustParseAddrPort("10.0.0.2:443"), t0)
	f.Handshake()
	f.ClientSend(hello)
	f.ServerSend([]byte("\x16\x03\x03\x00\x02xx"))
	f.Close(true)
	check(t, play(t, c, "%connection %tls.sni %tls.version %request.method %response.code", sniff.Config{}),
		"unique api.example.com TLS_1.3 - -\n")
}

// clientHello returns the first record a Go TLS client writes.
func clientHello(t *testing.T, name string) []byte {
	a, b := net.Pipe()
	go func() {
		tls.Client(a, &tls.Config{ServerName: name}).Handshake()
		a.Close()
	}()
	buf := make([]byte, 4096)
	n, _ := b.Read(buf)
	b.Close()
	if n < 5 || buf[0] != 0x16 {
		t.Fatalf("no ClientHello: %x", buf[:n])
	}
	return buf[:n]
}

func TestNewSYNOnClosedTupleIsNewConnection(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/first"))
	f.ServerSend(ok("1"))
	f.Close(true)
	g := c.Flow(cli4, srv4, f.Now().Add(time.Second))
	g.ClientISN, g.ServerISN = 777777, 888888
	g.Handshake()
	g.ClientSend(get("/second"))
	g.ServerSend(ok("2"))
	g.Close(false)
	check(t, play(t, c, brief, sniff.Config{}), "unique 1 GET /first HTTP/1.1|200|33 39|client\nunique 1 GET /second HTTP/1.1|200|34 39|server\n")
}

func TestNewSYNOnOpenTuple(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/first"))
	f.ServerSend(ok("1"))
	// The close was never captured; the port is reused.
	g := c.Flow(cli4, srv4, f.Now().Add(time.Second))
	g.ClientISN = 99999
	g.Handshake()
	g.ClientSend(get("/second"))
	g.ServerSend(ok("2"))
	g.Close(true)
	check(t, play(t, c, brief, sniff.Config{}), "start 1 GET /first HTTP/1.1|200|33 39|timedout\nunique 1 GET /second HTTP/1.1|200|34 39|client\n")
}

func TestTruncatedAtEnd(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	f.ServerSend(ok("a"))
	f.ClientSend(get("/b"))
	f.ServerSend(ok("b"))
	check(t, play(t, c, brief+"|%idle.time.1|%close.time", sniff.Config{}),
		"start 1 GET /a HTTP/1.1|200|29 39|-|0.000010|-\ncontinue 2 GET /b HTTP/1.1|200|29 39|truncated|-|-\n")
}

func TestEvictionWhenTableFull(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	now := t0
	var flows []*pcaptest.Flow
	for i := 0; i < 3; i++ {
		f := c.Flow(netip.AddrPortFrom(cli4.Addr(), uint16(50000+i)), srv4, now)
		f.Handshake()
		f.ClientSend(get(fmt.Sprintf("/%d", i)))
		f.ServerSend(ok("x"))
		now = f.Now().Add(time.Millisecond)
		flows = append(flows, f)
	}
	got := play(t, c, "%source.port "+brief+"|%streams", sniff.Config{MaxConns: 2})
	check(t, got, "50000 start 1 GET /0 HTTP/1.1|200|29 39|timedout|2\n"+
		"50001 start 1 GET /1 HTTP/1.1|200|29 39|truncated|2\n"+
		"50002 start 1 GET /2 HTTP/1.1|200|29 39|truncated|1\n")
}

func TestIdleTimeout(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/idle"))
	f.ServerSend(ok("x"))
	g := c.Flow(netip.MustParseAddrPort("10.0.0.3:1234"), srv4, t0.Add(10*time.Minute))
	g.Handshake()
	g.ClientSend(get("/later"))
	g.ServerSend(ok("y"))
	g.Close(true)
	check(t, play(t, c, brief, sniff.Config{IdleTimeout: time.Minute}),
		"start 1 GET /idle HTTP/1.1|200|32 39|timedout\nunique 1 GET /later HTTP/1.1|200|33 39|client\n")
}

func TestConnectionWithoutPayload(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.Close(true)
	check(t, play(t, c, brief+"|%connection.time|%session.time", sniff.Config{}), "unique 0 |-|0 0|client|0.000020|0.000060\n")
}

func TestFilterApplies(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	keepAlive(c, cli4, srv4, "/kept")
	keepAlive(c, netip.MustParseAddrPort("10.0.0.9:1111"), netip.MustParseAddrPort("10.0.0.2:9999"), "/dropped")
	got := play(t, c, brief, sniff.Config{Filter: portFilter(8080)})
	check(t, got, "unique 1 GET /kept HTTP/1.1|200|32 50|client\n")
}

// portFilter matches TCP over IPv4 on Ethernet with either port p.
type portFilter uint16

func (p portFilter) Match(_ layers.LinkType, frame []byte) bool {
	if len(frame) < 38 {
		return false
	}
	ihl := int(frame[14]&0xf) * 4
	sp := uint16(frame[14+ihl])<<8 | uint16(frame[15+ihl])
	dp := uint16(frame[16+ihl])<<8 | uint16(frame[17+ihl])
	return sp == uint16(p) || dp == uint16(p)
}

func TestKeptBytesAreBounded(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("GET /h HTTP/1.1\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\n\r\n"))
	body := bytes.Repeat([]byte("b"), 100000)
	f.ServerSend([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))))
	for _, s := range segments(body, 1400) {
		f.ServerSend(s)
	}
	f.Close(true)
	cfg := sniff.Config{HeaderCap: 1000, BodyCap: 2000}
	got := play(t, c, "%request.size %response.size %request.line %response.code", cfg)
	check(t, got, fmt.Sprintf("%d %d GET /h HTTP/1.1 200\n", 5000+29, 100000+43))
	raw := play(t, c, "%request%response", cfg)
	if len(raw) != 1000+43+2000+1 {
		t.Errorf("kept %d bytes, want %d", len(raw), 1000+43+2000+1)
	}
	// The entry says what was cut: the request's header block, and the
	// response body only when the format prints bodies.
	check(t, play(t, c, "%request.truncated %response.truncated %request.header.x-long", cfg), "header - -\n")
	check(t, play(t, c, "%request.truncated %response.truncated(whole) %response.body", cfg),
		"header body "+strings.Repeat("b", 2000)+"\n")
	check(t, play(t, c, "%request.truncated %response.truncated %request.header.x-long", sniff.Config{}),
		"- - "+strings.Repeat("a", 5000)+"\n")
}

// A header line cut by the header cap is not printed as a whole value.
func TestHeaderCutMidLine(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	req := "GET /h HTTP/1.1\r\nHost: hh\r\nX-Token: 0123456789\r\n\r\n"
	f.ClientSend([]byte(req))
	f.ServerSend(ok("x"))
	f.Close(true)
	cut := strings.Index(req, "0123") + 4 // cut inside X-Token's value
	cfg := sniff.Config{HeaderCap: cut}
	check(t, play(t, c, "%request.truncated|%request.header.host|%request.header.x-token|%request.header", cfg),
		"header|hh|-|"+req[:cut]+"\n")
	cfg.Emit = func(*entry.Entry) {}
	eng := sniff.New(cfg)
	pcaptest.Replay(t, c.Pcap(), eng.Packet)
	eng.Finish()
	if st := eng.Stats(); st.HeadsTruncated != 1 {
		t.Errorf("HeadsTruncated = %d, want 1", st.HeadsTruncated)
	}
}

// Data of a connection captured after its RST (in flight, or reordered
// across CPUs) must not start a phantom connection picked up mid-stream.
func TestSegmentsAfterResetAreNotANewConnection(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend(get("/a"))
	f.ServerSend(ok("a"))
	f.Reset(true)
	f.ServerSend(ok("late"))
	f.Sleep(3 * time.Second)
	f.ServerSend(ok("much later"))
	check(t, play(t, c, brief, sniff.Config{}),
		"unique 1 GET /a HTTP/1.1|200|29 39|client\n"+
			"continue 1 |200|0 49|truncated\n") // past the linger: picked up
}

// Pipelined requests past the bound on waiting exchanges are printed
// early, without their response; the responses that come later still meet
// their own requests.
func TestQueueBoundKeepsResponsesWithTheirRequests(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	for _, p := range []string{"/1", "/2", "/3", "/4"} {
		f.ClientSend(get(p))
	}
	f.ServerSend([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"))
	f.ServerSend(ok("bb"))
	f.ServerSend(ok("ccc"))
	f.ServerSend(ok("dddd"))
	f.Close(true)
	// MaxConns 1: at most 2 exchanges wait in all.
	check(t, play(t, c, "%connection %request.url %response.code %response.size", sniff.Config{MaxConns: 1}),
		"start /1 - 0\n"+
			"continue /2 - 0\n"+
			"continue /3 200 41\n"+
			"last /4 200 42\n")
	// With room, every response is printed with its request.
	check(t, play(t, c, "%connection %request.url %response.code %response.size", sniff.Config{}),
		"start /1 200 58\n"+
			"continue /2 200 40\n"+
			"continue /3 200 41\n"+
			"last /4 200 42\n")
}
