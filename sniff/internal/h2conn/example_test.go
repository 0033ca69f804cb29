package h2conn_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sniffer/sniffer/sniff/internal/h2conn"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// printer is what an engine's handler does: label a stream when it
// begins, render it into an entry when it ends (the Stream is reused
// after End returns).
type printer struct{}

func (printer) Begin(s *h2conn.Stream) { fmt.Println("begin", s.ID) }

func (printer) End(s *h2conn.Stream) {
	head, spans, _ := h2conn.AppendHead(nil, nil, s, 0)
	resp, _, _ := h2conn.AppendHead(nil, nil, s, 1)
	fmt.Printf("end %d (%s): %q, %d header lines\n", s.ID, s.End, bytes.SplitN(head, []byte("\r\n"), 2)[0], len(spans))
	fmt.Printf("  %q size %d/%d grpc-status %d\n", bytes.SplitN(resp, []byte("\r\n"), 2)[0], s.Request.Size, s.Response.Size, s.GRPCStatus)
}

func Example() {
	// A conversation made with x/net's Framer, as the two peers send it.
	var client, server, hb bytes.Buffer
	client.WriteString(h2conn.Preface)
	cf, sf := http2.NewFramer(&client, nil), http2.NewFramer(&server, nil)
	cf.WriteSettings()
	sf.WriteSettings()
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/x"}} {
		enc.WriteField(f)
	}
	cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	hb.Reset()
	hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: ":status", Value: "404"})
	sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	sf.WriteData(1, true, []byte("not found"))

	// The engine: one Conn per connection, the bytes of each direction in
	// order as reassembly hands them (any split), Gap for lost bytes,
	// Close at the connection's end.
	c := h2conn.New(printer{}, h2conn.Limits{}, h2conn.StartPreface)
	now := time.Now()
	b := client.Bytes()
	c.Data(0, b[:10], now)
	c.Data(0, b[10:], now)
	c.Data(1, server.Bytes(), now)
	c.Close(now)
	// Output:
	// begin 1
	// end 1 (end-stream): "GET /x HTTP/2.0", 4 header lines
	//   "HTTP/2.0 404" size 25/28 grpc-status -1
}
