package sniff_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// A connection whose handshake completed but that carried no data has its
// %close.time, from the handshake to the close, as justniffer prints it; a
// refused one has none.
func TestCloseTimeWithoutData(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.Close(true)
	check(t, play(t, c, "%connection %close.time %close.originator", sniff.Config{}), "unique 0.000040 client\n")
}

// A request whose header block never ended (the client closed before the
// blank line) has the header lines that did arrive readable by name; the
// line cut by the close is not printed as whole.
func TestHeadNeverEnded(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(cli4, srv4, t0)
	f.Handshake()
	f.ClientSend([]byte("GET /half HTTP/1.1\r\nHost: hh\r\nUser-Agent: cut-sh"))
	f.Close(true)
	check(t, play(t, c, "%request.line|%request.header.host|%request.header.user-agent|%close.originator", sniff.Config{}),
		"GET /half HTTP/1.1|hh|-|client\n")
}
