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
	"github.com/sniffer/sniffer/sniff/entry"
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
		IndexHeaders: [2][]string{f.HeaderNames(false), f.HeaderNames(true)},
		KeepBodies:   f.NeedsBodies(),
		NoPureACKs:   drop,
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
	_ = strings.TrimSpace
}
