package sniff_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
	"github.com/sniffer/sniffer/sniff/live"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// ipOffset returns where the IP header of a frame starts, as the cooked
// live socket hands it over (past the link header and VLAN tags); -1 if
// the frame is not IP.
func ipOffset(link layers.LinkType, b []byte) int {
	off, et := 0, uint16(0)
	switch link {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return -1
		}
		off, et = 14, binary.BigEndian.Uint16(b[12:])
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return -1
		}
		off, et = 16, binary.BigEndian.Uint16(b[14:])
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return -1
		}
		off, et = 20, binary.BigEndian.Uint16(b[0:])
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return 4
	default:
		return 0
	}
	for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
		if len(b) < off+4 {
			return -1
		}
		et, off = binary.BigEndian.Uint16(b[off+2:]), off+4
	}
	if et != 0x0800 && et != 0x86dd {
		return -1
	}
	return off
}

// replayPureACKs feeds the packets of a capture file to packet, leaving
// out those live.PureACKRejector rejects (run in the Go BPF VM on the
// bytes from the IP header, as the kernel runs it on a cooked socket's)
// when drop is set. It returns the number left out.
func replayPureACKs(t testing.TB, data []byte, drop bool, packet func(layers.LinkType, time.Time, []byte)) int {
	t.Helper()
	vm, err := bpf.NewVM(append(live.PureACKRejector(0), bpf.RetConstant{Val: 1}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := capfile.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return dropped
		}
		if err != nil {
			t.Fatal(err)
		}
		if drop {
			if off := ipOffset(p.LinkType, p.Data); off >= 0 && off <= len(p.Data) {
				n, err := vm.Run(p.Data[off:])
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					dropped++
					continue
				}
			}
		}
		packet(p.LinkType, p.Timestamp, p.Data)
	}
}

// runPureACKs renders a capture with format, every packet in, or with the
// pure ACKs left out and the engine told so (Config.NoPureACKs).
func runPureACKs(t testing.TB, data []byte, format string, drop bool) (string, int) {
	t.Helper()
	f, err := logformat.Parse(format)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	opts := &logformat.Options{NotFound: "-", Location: time.UTC}
	cfg := sniff.Config{
		KeepBodies: f.NeedsBodies(),
		NoPureACKs: drop,
	}
	cfg.Emit = func(e *entry.Entry) {
		out = f.Append(out, e, opts)
		out = append(out, '\n')
	}
	eng := sniff.New(cfg)
	n := replayPureACKs(t, data, drop, eng.Packet)
	eng.Finish()
	return string(out), n
}

// pureACKCaptures are the capture files of the repository the pure-ACK
// proof runs over: the oracle's, the README's, the escape test's, the
// reuse verdict's.
func pureACKCaptures(t *testing.T) []string {
	var all []string
	for _, g := range []string{"../testdata/oracle/*.pcap", "../testdata/readme/*.pcap*", "../testdata/*.pcap", "reuse/testdata/*.pcap*"} {
		m, _ := filepath.Glob(g)
		all = append(all, m...)
	}
	if len(all) < 15 {
		t.Fatalf("found %d captures", len(all))
	}
	return all
}

// TestPureACKsDefaultFormat is the proof behind dropping pure ACKs in the
// kernel for the default format: on every capture of the repository, the
// entries printed with the pure ACKs left out (by the very program the
// kernel runs) are those printed with every packet, byte for byte and in
// the same order. So is a format of every keyword that
// logformat.Format.NeedsPureACKs does not count.
func TestPureACKsDefaultFormat(t *testing.T) {
	total := 0
	for _, path := range pureACKCaptures(t) {
		data := readFile(t, path)
		for _, format := range []string{logformat.Default, logformat.PureACKFree} {
			f, err := logformat.Parse(format)
			if err != nil {
				t.Fatal(err)
			}
			if f.NeedsPureACKs() {
				t.Fatalf("%q needs pure ACKs", format)
			}
			want, _ := runPureACKs(t, data, format, false)
			got, n := runPureACKs(t, data, format, true)
			total += n
			if got != want {
				t.Errorf("%s, %.40q…: %d pure ACKs left out change the output\n%s", path, format, n, diff(want, got))
			}
		}
	}
	if total == 0 {
		t.Fatal("no capture has a pure ACK: the test proves nothing")
	}
	t.Logf("%d pure ACKs left out in all", total)
}

// TestPureACKsChangeTheFullFormat shows why the filter is not applied to
// every format: on the oracle captures, the FULL format (handshake and
// close times, the close's originator) prints something else without the
// pure ACKs, and NeedsPureACKs says so.
func TestPureACKsChangeTheFullFormat(t *testing.T) {
	f, err := logformat.Parse(fullFormat)
	if err != nil {
		t.Fatal(err)
	}
	if !f.NeedsPureACKs() {
		t.Error("the FULL format does not need pure ACKs, says NeedsPureACKs")
	}
	changed := 0
	for _, path := range pureACKCaptures(t) {
		data := readFile(t, path)
		want, _ := runPureACKs(t, data, fullFormat, false)
		got, _ := runPureACKs(t, data, fullFormat, true)
		if got != want {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no capture's FULL output changes without pure ACKs")
	}
}

// TestPureACKsHostile runs the pure-ACK proof over built connections where
// pure ACKs carry evidence: a lost response segment that only a pure ACK
// acknowledges, every segment acknowledged alone, FINs captured in the
// wrong order, a connection picked up mid-stream or while idle (seen
// through pure ACKs only, or those and a close), a challenged RST the
// sender answers with an ACK, a port reused at once. The default format
// prints the same entries in the same order with and without them.
func TestPureACKsHostile(t *testing.T) {
	for name, build := range map[string]func(c *pcaptest.Capture){
		"keep-alive, every segment acked alone": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			for _, p := range []string{"/1", "/2", "/3"} {
				f.ClientSend(get(p))
				f.Ack(false)
				f.ServerSend(ok(p))
				f.Ack(true)
			}
			f.Close(true)
		},
		"lost response segment acked by a pure ACK": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/a"))
			f.Advance(false, uint32(len(ok("a"))))
			f.Ack(true)
			f.ClientSend(get("/b"))
			f.ServerSend(ok("b"))
			f.Ack(true)
			f.Close(false)
		},
		"lost last segment, then the close": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/a"))
			f.ServerSend([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"))
			f.Advance(false, 5)
			f.Ack(true)
			f.Close(true)
		},
		"FINs captured in the wrong order": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/a"))
			f.ServerSend(ok("a"))
			f.Ack(true)
			cfin := f.Next(true)
			f.Advance(true, 1) // the client's FIN, captured later
			f.Fin(false)
			f.Segment(true, cfin-f.ClientISN-1, nil, decode.FIN|decode.ACK)
			f.Ack(false)
		},
		"picked up mid-stream": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.ClientSend(get("/a"))
			f.Ack(false)
			f.ServerSend(ok("a"))
			f.Ack(true)
			f.ClientSend(get("/b"))
			f.ServerSend(ok("b"))
			f.Close(false)
		},
		"challenged RST answered by an ACK": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/a"))
			f.ServerSend(ok("a"))
			f.Ack(true)
			f.Segment(false, f.Next(false)-f.ServerISN-1+100, nil, decode.RST)
			f.Ack(false)
			f.ClientSend(get("/b"))
			f.ServerSend(ok("b"))
			f.Close(true)
		},
		"RST after the exchange": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/a"))
			f.ServerSend(ok("a"))
			f.Ack(true)
			f.Segment(true, f.Next(true)-f.ClientISN-1, nil, decode.RST|decode.ACK)
		},
		"port reused after a clean close": func(c *pcaptest.Capture) {
			for i := range 3 {
				f := c.Flow(cli4, srv4, t0.Add(time.Duration(i)*time.Millisecond))
				f.ClientISN, f.ServerISN = uint32(1000*(i+1)), uint32(50000*(i+1))
				f.Handshake()
				f.ClientSend(get("/" + itoa(i)))
				f.ServerSend(ok(itoa(i)))
				f.Close(i%2 == 0)
			}
		},
		"picked up idle: pure ACKs only": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Ack(true)
			f.Ack(false)
		},
		"picked up idle: pure ACKs, then the close": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Ack(true)
			f.Ack(false)
			f.Close(false)
		},
		"response in segments, each acked": func(c *pcaptest.Capture) {
			f := c.Flow(cli4, srv4, t0)
			f.Handshake()
			f.ClientSend(get("/big"))
			body := strings.Repeat("x", 4000)
			f.ServerSend([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n"))
			for i := 0; i < 4000; i += 1000 {
				f.ServerSend([]byte(body[i : i+1000]))
				f.Ack(true)
			}
			f.Close(false)
		},
	} {
		c := pcaptest.New(layers.LinkTypeEthernet).WindowScale(7)
		build(c)
		want, _ := runPureACKs(t, c.Pcap(), logformat.Default, false)
		got, n := runPureACKs(t, c.Pcap(), logformat.Default, true)
		if n == 0 {
			t.Errorf("%s: no pure ACK left out", name)
		}
		if got != want {
			t.Errorf("%s: %d pure ACKs left out change the output\n%s", name, n, diff(want, got))
		}
	}
}
