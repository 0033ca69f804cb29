package decode_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/internal/require"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
)

const oracleDir = "../../testdata/oracle"

// readPackets returns copies of the packets of a capture file.
func readPackets(t testing.TB, path string) ([][]byte, layers.LinkType) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := capfile.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, r.LinkType()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(p.Data))
	}
}

// TestOracleCaptures decodes every packet of the oracle captures and
// compares the fields with what tshark reads.
func TestOracleCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(oracleDir, "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no oracle captures")
	}
	// Without tshark (and SNIFFER_REQUIRE_TOOLS not 1) the packets are
	// only decoded, the comparison is left out and logged.
	tshark, haveTshark := require.HaveTool(t, "tshark")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel() // tshark takes a while to start
			checkOracle(t, f, tshark, haveTshark)
		})
	}
}

// checkOracle decodes the packets of f and compares them with tshark's
// reading (at path tshark) if haveTshark.
func checkOracle(t *testing.T, f, tshark string, haveTshark bool) {
	frames, link := readPackets(t, f)
	var lines []string
	if haveTshark {
		out := require.Output(t, tshark, "-r", f, "-T", "fields", "-E", "separator=,",
			"-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
			"-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.flags", "-e", "tcp.window_size_value", "-e", "tcp.len")
		lines = strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(frames) {
			t.Fatalf("%s: tshark shows %d packets, capfile reads %d", f, len(lines), len(frames))
		}
	}
	for i, fr := range frames {
		var p decode.Packet
		if err := decode.Decode(link, fr, &p); err != nil {
			t.Fatalf("%s packet %d: %v", f, i+1, err)
		}
		if haveTshark {
			got := fmt.Sprintf("%v,%d,%v,%d,%d,%d,0x%04x,%d,%d", p.Src, p.SrcPort, p.Dst, p.DstPort, p.Seq, p.Ack, uint8(p.Flags), p.Window, len(p.Payload))
			if got != lines[i] {
				t.Errorf("%s packet %d:\n got    %s\n tshark %s", filepath.Base(f), i+1, got, lines[i])
			}
		}
	}
}

// bigFrame returns the largest frame of big-response.pcap, cut to an
// Ethernet frame of a 1448-byte TCP payload with TCP timestamps, as on a
// 1500-byte MTU link.
func bigFrame(t testing.TB) []byte {
	frames, _ := readPackets(t, filepath.Join(oracleDir, "big-response.pcap"))
	var big []byte
	for _, f := range frames {
		if len(f) > len(big) {
			big = f
		}
	}
	// Ethernet 14 + IPv4 20 + TCP 32 + 1448 payload = 1514.
	f := bytes.Clone(big[:1514])
	f[16], f[17] = 1500>>8, 1500&0xff // IPv4 total length
	return f
}

// BenchmarkDecode compares Decode with gopacket's DecodingLayerParser
// (the fastest way gopacket offers, with preallocated layers) on an
// Ethernet/IPv4/TCP frame carrying 1448 bytes.
func BenchmarkDecode(b *testing.B) {
	frame := bigFrame(b)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var p decode.Packet
		for b.Loop() {
			if err := decode.Decode(layers.LinkTypeEthernet, frame, &p); err != nil {
				b.Fatal(err)
			}
		}
		if len(p.Payload) != 1448 {
			b.Fatalf("payload %d bytes", len(p.Payload))
		}
	})
	b.Run("gopacket", func(b *testing.B) {
		b.ReportAllocs()
		var (
			eth     layers.Ethernet
			dot1q   layers.Dot1Q
			ip4     layers.IPv4
			ip6     layers.IPv6
			tcp     layers.TCP
			payload gopacket.Payload
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &payload)
		parser.IgnoreUnsupported = true
		decoded := make([]gopacket.LayerType, 0, 8)
		for b.Loop() {
			if err := parser.DecodeLayers(frame, &decoded); err != nil {
				b.Fatal(err)
			}
		}
		if len(tcp.Payload) != 1448 {
			b.Fatalf("payload %d bytes", len(tcp.Payload))
		}
	})
}
