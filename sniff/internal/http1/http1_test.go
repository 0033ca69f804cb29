package http1

import (
	"reflect"
	"testing"

	"github.com/sniffer/sniffer/sniff/internal/exchange"
	"github.com/sniffer/sniffer/sniff/internal/httpframe"
	"github.com/sniffer/sniffer/sniff/internal/tcp"
)

// TestResetClearsEveryField checks that Reset, which resets the Decoder
// field by field, leaves nothing of the previous connection: a field added
// to Decoder must be added to Reset (and here).
func TestResetClearsEveryField(t *testing.T) {
	if n := reflect.TypeOf(Decoder{}).NumField(); n != 6 {
		t.Fatalf("Decoder has %d fields: Reset resets 6 (c, raw, req, resp, skipped, orphans)", n)
	}
	old := &exchange.Conn{T: &tcp.Conn{}}
	var d Decoder
	d.Reset(old)
	d.raw, d.skipped, d.orphans = true, 5, []httpframe.Method{httpframe.Method(1)}
	d.req.Feed([]byte("GET / HTTP/1.1\r\nHost: a\r\n"))
	c := &exchange.Conn{T: &tcp.Conn{}}
	d.Reset(c)
	var want Decoder
	want.Reset(c)
	if d.c != c || d.raw || d.skipped != 0 || d.orphans != nil {
		t.Fatalf("Reset left c %p raw %v skipped %d orphans %v", d.c, d.raw, d.skipped, d.orphans)
	}
	if d.req.InMessage() || d.req.StartLineRead() || d.req.Consumed() != want.req.Consumed() {
		t.Fatalf("Reset left the request parser in a message")
	}
}
