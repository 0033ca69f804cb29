package sniff_test

import (
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// exchange is one request and its response, each sent in one segment.
type exchange struct{ req, resp string }

// playExchanges plays a keep-alive connection carrying the exchanges, then a
// client close, and returns what format prints for it.
func playExchanges(t *testing.T, format string, xs ...exchange) string {
	t.Helper()
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	for _, x := range xs {
		if x.req != "" {
			f.ClientSend([]byte(x.req))
			f.Ack(false)
		}
		if x.resp != "" {
			f.ServerSend([]byte(x.resp))
			f.Ack(true)
		}
	}
	f.Close(true)
	return play(t, c, format, sniff.Config{})
}

// normal are the exchanges that follow the odd one in each scenario: they
// must be logged with their own codes.
var normal = []exchange{
	{string(get("/next")), "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nnext"},
	{string(get("/last")), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
}

const normalWant = "continue 2 GET /next HTTP/1.1|201|32 47|-\nlast 3 GET /last HTTP/1.1|404|32 45|client\n"

// A list of identical Content-Length values (RFC 9110 section 8.6), in one
// header line or several, frames the message; the connection goes on.
func TestContentLengthList(t *testing.T) {
	for _, cl := range []string{"Content-Length: 5, 5\r\n", "Content-Length: 5,5,\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n"} {
		t.Run(fmt.Sprintf("%q", cl), func(t *testing.T) {
			post := "POST /up HTTP/1.1\r\nHost: hh\r\n" + cl + "\r\nhello"
			resp := "HTTP/1.1 200 OK\r\n" + cl + "\r\nworld"
			for _, tc := range []struct {
				name string
				x    exchange
				want string
			}{
				{"request", exchange{post, string(ok("fine"))}, fmt.Sprintf("start 1 POST /up HTTP/1.1|200|%d 42|-|hello|fine\n", len(post))},
				{"response", exchange{string(get("/a")), resp}, fmt.Sprintf("start 1 GET /a HTTP/1.1|200|29 %d|-||world\n", len(resp))},
			} {
				got := playExchanges(t, brief+"|%request.body|%response.body", append([]exchange{tc.x}, normal...)...)
				check(t, got, tc.want+
					"continue 2 GET /next HTTP/1.1|201|32 47|-||next\n"+
					"last 3 GET /last HTTP/1.1|404|32 45|client||\n")
			}
		})
	}
}

// Differing Content-Length values are a framing error: the message is
// logged with its head, and parsing resumes at the next message, so that
// the exchanges after it are paired right.
func TestContentLengthConflictResyncs(t *testing.T) {
	for _, tc := range []struct{ cl, value string }{
		{"Content-Length: 5, 6\r\n", "5, 6"},
		{"Content-Length: 5\r\nContent-Length: 6\r\n", "5"},
		{"Content-Length: five\r\n", "five"},
	} {
		t.Run(fmt.Sprintf("%q", tc.cl), func(t *testing.T) {
			head := "POST /up HTTP/1.1\r\nHost: hh\r\n" + tc.cl + "\r\n"
			got := playExchanges(t, brief, append([]exchange{{head + "hello", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}}, normal...)...)
			check(t, got, fmt.Sprintf("start 1 POST /up HTTP/1.1|400|%d 47|-\n", len(head))+normalWant)

			rhead := "HTTP/1.1 200 OK\r\n" + tc.cl + "\r\n"
			got = playExchanges(t, brief+"|%response.header.content-length", append([]exchange{{string(get("/a")), rhead + "world"}}, normal...)...)
			check(t, got, fmt.Sprintf("start 1 GET /a HTTP/1.1|200|29 %d|-|%s\n", len(rhead), tc.value)+
				"continue 2 GET /next HTTP/1.1|201|32 47|-|4\nlast 3 GET /last HTTP/1.1|404|32 45|client|0\n")
		})
	}
}

// After a 101 or a 2xx answer to CONNECT, the connection is a tunnel: its
// payload stays raw even where it looks like HTTP, and also when the
// client's payload is captured before the answer.
func TestTunnelPayloadStaysRaw(t *testing.T) {
	payload := "\x81\x05hello\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
	answer := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	const format = "%connection %request.method|%request.url|%response.code|%request.size %response.size"
	for _, tc := range []struct {
		name, req, resp string
	}{
		{"101", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"},
		{"CONNECT", "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n", "HTTP/1.1 200 Connection established\r\n\r\n"},
	} {
		method, url := "GET", "/ws"
		if tc.name == "CONNECT" {
			method, url = "CONNECT", "example.com:80"
		}
		first := fmt.Sprintf("start %s|%s|%s|%d %d\n", method, url, tc.resp[9:12], len(tc.req), len(tc.resp))
		t.Run(tc.name, func(t *testing.T) {
			got := playExchanges(t, format, exchange{tc.req, tc.resp}, exchange{payload, answer}, exchange{payload, ""})
			check(t, got, first+
				fmt.Sprintf("continue -|-|-|%d %d\n", len(payload), len(answer))+
				fmt.Sprintf("last -|-|-|%d 0\n", len(payload)))
		})
		t.Run(tc.name+" payload first", func(t *testing.T) {
			got := playExchanges(t, format, exchange{tc.req, ""}, exchange{payload, tc.resp}, exchange{"", answer}, exchange{payload, ""})
			check(t, got, first+
				fmt.Sprintf("continue -|-|-|%d %d\n", len(payload), len(answer))+
				fmt.Sprintf("last -|-|-|%d 0\n", len(payload)))
		})
	}
}

// Bytes that are not a request after a request (a body sent without
// Content-Length) are logged as an entry of their own, paired with the
// server's answer to them; the exchanges after it are paired right.
func TestMalformedAfterHTTPResyncs(t *testing.T) {
	post := "POST /form HTTP/1.1\r\nHost: hh\r\n\r\na=1&b=2"
	bad := "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
	got := playExchanges(t, brief+"|%request.method|%request",
		append([]exchange{{post, string(ok("posted"))}, {"", bad}}, normal...)...)
	check(t, got, "start 1 POST /form HTTP/1.1|200|33 44|-|POST|POST /form HTTP/1.1\r\nHost: hh\r\n\r\n\n"+
		"continue 2 a=1&b=2|400|7 47|-|-|a=1&b=2\n"+
		"continue 3 GET /next HTTP/1.1|201|32 47|-|GET|GET /next HTTP/1.1\r\nHost: hh\r\n\r\n\n"+
		"last 4 GET /last HTTP/1.1|404|32 45|client|GET|GET /last HTTP/1.1\r\nHost: hh\r\n\r\n\n")

	// A response longer than its Content-Length: the rest is logged on its
	// own, and the next response is paired with its request.
	got = playExchanges(t, brief+"|%response.code|%response",
		append([]exchange{{string(get("/a")), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nabc\r\n"}}, normal...)...)
	check(t, got, "start 1 GET /a HTTP/1.1|200|29 39|-|200|HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\n"+
		"continue 2 |-|0 4|-|-|bc\r\n\n"+
		"continue 3 GET /next HTTP/1.1|201|32 47|-|201|HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nnext\n"+
		"last 4 GET /last HTTP/1.1|404|32 45|client|404|HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n\n")
}

// After lost framing, a request line split between segments right at its
// start is found whole (its first bytes were held while resynchronising).
func TestResyncAtSplitRequestLine(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("POST /up HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello"))
	f.ServerSend([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
	next := get("/next")
	f.ClientSend(next[:2])
	f.ClientSend(next[2:])
	f.ServerSend([]byte("HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nnext"))
	f.Close(true)
	check(t, play(t, c, brief+"|%request.header.host", sniff.Config{}),
		"start 1 POST /up HTTP/1.1|400|43 47|-|-\nlast 2 GET /next HTTP/1.1|201|32 47|client|hh\n")
}
