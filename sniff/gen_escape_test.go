package sniff_test

import (
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

// TestWriteEscapeCapture writes testdata/escape.pcap (with -update): a request
// whose header carries a terminal escape sequence, for the command's
// terminal-safety test.
func TestWriteEscapeCapture(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeEthernet)
	f := c.Flow(netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80"), t0)
	f.Handshake()
	f.ClientSend([]byte("GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: evil\x1b[2J\x1b]0;pwned\x07\r\nCookie: session=s3cr3t\r\n\r\n"))
	f.ServerSend(ok("done"))
	f.Close(true)
	want := c.Pcap()
	if *update {
		os.WriteFile("../testdata/escape.pcap", want, 0o644)
	}
	if got := readFile(t, "../testdata/escape.pcap"); string(got) != string(want) {
		t.Fatal("testdata/escape.pcap is stale: run go test ./sniff -run TestWriteEscapeCapture -update")
	}
}
