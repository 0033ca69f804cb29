package capfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sniffer/sniffer/internal/require"
	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/internal/pcaptest"
)

const oracleDir = "../../testdata/oracle"

// oracleCounts are the packet counts `tcpdump -r X | wc -l` gives.
var oracleCounts = map[string]int{
	"big-response.pcap":   29,
	"client-rst.pcap":     10,
	"close3.pcap":         36,
	"keepalive3.pcap":     22,
	"noresp.pcap":         8,
	"pipeline.pcap":       21,
	"post-expect100.pcap": 15,
	"post.pcap":           12,
	"refused.pcap":        2,
}

// pkt is a Packet with its data copied out of the reader's buffer.
type pkt struct {
	data        []byte
	ts          time.Time
	capLen, len int
	link        layers.LinkType
}

// readAll reads every packet of file and returns them with the error that
// ended the reading (io.EOF for a clean end).
func readAll(t testing.TB, file []byte) ([]pkt, error) {
	t.Helper()
	r, err := capfile.NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	var out []pkt
	for {
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		if len(p.Data) != p.CaptureLength {
			t.Fatalf("packet %d: len(Data) %d != CaptureLength %d", len(out)+1, len(p.Data), p.CaptureLength)
		}
		out = append(out, pkt{bytes.Clone(p.Data), p.Timestamp, p.CaptureLength, p.Length, p.LinkType})
	}
}

// mustReadAll is readAll for files that must read cleanly.
func mustReadAll(t testing.TB, file []byte) []pkt {
	t.Helper()
	ps, err := readAll(t, file)
	if err != io.EOF {
		t.Fatalf("reading: got error %v, want io.EOF", err)
	}
	return ps
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tcpdumpCount returns the number of packets tcpdump reads from path, or
// -1 when tcpdump is not installed (a failure with SNIFFER_REQUIRE_TOOLS=1).
func tcpdumpCount(t *testing.T, path string) int {
	t.Helper()
	tcpdump, ok := require.HaveTool(t, "tcpdump")
	if !ok {
		return -1
	}
	return strings.Count(string(require.Output(t, tcpdump, "-nn", "-r", path)), "\n")
}

func TestOracleCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(oracleDir, "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no oracle captures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file := readFile(t, f)
			r, err := capfile.NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("LinkType() = %v, want Ethernet", r.LinkType())
			}
			ps := mustReadAll(t, file)
			want, ok := oracleCounts[filepath.Base(f)]
			if n := tcpdumpCount(t, f); n >= 0 {
				want, ok = n, true
			}
			if !ok {
				t.Fatalf("no known packet count for %s", f)
			}
			if len(ps) != want {
				t.Errorf("read %d packets, tcpdump reads %d", len(ps), want)
			}
			var prev time.Time
			for i, p := range ps {
				if p.link != layers.LinkTypeEthernet || p.capLen != p.len || p.ts.Before(prev) || p.ts.Year() < 2020 {
					t.Errorf("packet %d: %+v", i+1, p)
				}
				prev = p.ts
			}
		})
	}
}

// TestOracleTimestamps compares the timestamps with tcpdump's.
func TestOracleTimestamps(t *testing.T) {
	tcpdump := require.Tool(t, "tcpdump")
	f := filepath.Join(oracleDir, "post.pcap")
	out := require.Output(t, tcpdump, "-nn", "-tt", "-r", f)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	ps := mustReadAll(t, readFile(t, f))
	if len(lines) != len(ps) {
		t.Fatalf("%d lines, %d packets", len(lines), len(ps))
	}
	for i, p := range ps {
		us := p.ts.UnixMicro()
		got := fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
		if want, _, _ := strings.Cut(lines[i], " "); got != want {
			t.Errorf("packet %d: timestamp %s, tcpdump says %s", i+1, got, want)
		}
	}
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapRecordEnds returns the file offset at which each record of a
// little-endian pcap file ends.
func pcapRecordEnds(file []byte) []int {
	var ends []int
	for off := 24; off+16 <= len(file); {
		off += 16 + int(binary.LittleEndian.Uint32(file[off+8:]))
		ends = append(ends, off)
	}
	return ends
}

// convertPcap rewrites a little-endian microsecond pcap file in the given
// byte order, with nanosecond timestamps if nano is set.
func convertPcap(file []byte, bo byteOrder, nano bool) []byte {
	le := binary.LittleEndian
	out := make([]byte, 0, len(file))
	magic := uint32(0xA1B2C3D4)
	if nano {
		magic = 0xA1B23C4D
	}
	out = bo.AppendUint32(out, magic)
	out = bo.AppendUint16(out, le.Uint16(file[4:]))
	out = bo.AppendUint16(out, le.Uint16(file[6:]))
	for i := 8; i < 24; i += 4 {
		out = bo.AppendUint32(out, le.Uint32(file[i:]))
	}
	for off := 24; off+16 <= len(file); {
		frac := le.Uint32(file[off+4:])
		if nano {
			frac *= 1000
		}
		caplen := int(le.Uint32(file[off+8:]))
		out = bo.AppendUint32(out, le.Uint32(file[off:]))
		out = bo.AppendUint32(out, frac)
		out = bo.AppendUint32(out, uint32(caplen))
		out = bo.AppendUint32(out, le.Uint32(file[off+12:]))
		out = append(out, file[off+16:off+16+caplen]...)
		off += 16 + caplen
	}
	return out
}

func samePackets(t *testing.T, got, want []pkt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.data, w.data) || !g.ts.Equal(w.ts) || g.capLen != w.capLen || g.len != w.len || g.link != w.link {
			t.Fatalf("packet %d differs:\n got  %v %d/%d %v %x\n want %v %d/%d %v %x", i+1,
				g.ts, g.capLen, g.len, g.link, g.data, w.ts, w.capLen, w.len, w.link, w.data)
		}
	}
}

func TestPcapByteOrderAndResolution(t *testing.T) {
	file := readFile(t, filepath.Join(oracleDir, "post.pcap"))
	want := mustReadAll(t, file)
	for _, c := range []struct {
		name string
		bo   byteOrder
		nano bool
	}{
		{"little-micro", binary.LittleEndian, false},
		{"big-micro", binary.BigEndian, false},
		{"little-nano", binary.LittleEndian, true},
		{"big-nano", binary.BigEndian, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			conv := convertPcap(file, c.bo, c.nano)
			if c.bo == binary.LittleEndian && !c.nano && !bytes.Equal(conv, file) {
				t.Fatal("identity conversion changed the file")
			}
			samePackets(t, mustReadAll(t, conv), want)
		})
	}
}

func TestPcapNanosecondTimestamps(t *testing.T) {
	c := pcaptest.New(layers.LinkTypeRaw)
	ts := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	c.TCP(ts, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 1, 2, decode.SYN, nil)
	for _, f := range []struct {
		name string
		file []byte
		want time.Time
	}{
		{"pcap-nanos", c.PcapNanos(), ts},
		{"pcap-micros", c.Pcap(), ts.Truncate(time.Microsecond)},
		{"pcapng", c.Pcapng(), ts},
	} {
		ps := mustReadAll(t, f.file)
		if len(ps) != 1 || !ps[0].ts.Equal(f.want) || ps[0].ts.Location() != time.UTC {
			t.Errorf("%s: got %v, want %v", f.name, ps, f.want)
		}
	}
}

// writeNg rewrites packets as a pcapng file with pcapgo's writer.
func writeNg(t testing.TB, link layers.LinkType, ps []pkt) []byte {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, link)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: p.capLen, Length: p.len}, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPcapng(t *testing.T) {
	// Every oracle capture rewritten as pcapng by pcapgo reads the same.
	files, _ := filepath.Glob(filepath.Join(oracleDir, "*.pcap"))
	for _, f := range files {
		want := mustReadAll(t, readFile(t, f))
		got := mustReadAll(t, writeNg(t, layers.LinkTypeEthernet, want))
		samePackets(t, got, want)
	}

	// post.pcap converted by editcap -F pcapng (Wireshark 4.0).
	want := mustReadAll(t, readFile(t, filepath.Join(oracleDir, "post.pcap")))
	samePackets(t, mustReadAll(t, readFile(t, "testdata/post-editcap.pcapng")), want)

	// A capture written by dumpcap 4.0 (nanosecond if_tsresol, section and
	// interface options, an interface statistics block at the end).
	path := "testdata/dumpcap-lo.pcapng"
	ps := mustReadAll(t, readFile(t, path))
	if n := tcpdumpCount(t, path); len(ps) != 6 || (n >= 0 && n != 6) {
		t.Errorf("dumpcap capture: read %d packets, tcpdump %d, want 6", len(ps), n)
	}
	if ps[1].ts.Sub(ps[0].ts) != 275530*time.Nanosecond {
		t.Errorf("dumpcap capture: nanosecond timestamps lost: %v, %v", ps[0].ts, ps[1].ts)
	}
}

// ngWriter builds pcapng files block by block, in either byte order.
type ngWriter struct {
	bo byteOrder
	b  []byte
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (w *ngWriter) block(typ uint32, body []byte) *ngWriter {
	body = pad4(bytes.Clone(body))
	total := uint32(12 + len(body))
	w.b = w.bo.AppendUint32(w.b, typ)
	w.b = w.bo.AppendUint32(w.b, total)
	w.b = append(w.b, body...)
	w.b = w.bo.AppendUint32(w.b, total)
	return w
}

func (w *ngWriter) opt(code uint16, v []byte) []byte {
	b := w.bo.AppendUint16(nil, code)
	b = w.bo.AppendUint16(b, uint16(len(v)))
	return pad4(append(b, v...))
}

func (w *ngWriter) shb() *ngWriter {
	body := w.bo.AppendUint32(nil, 0x1A2B3C4D)
	body = w.bo.AppendUint16(body, 1)
	body = w.bo.AppendUint16(body, 0)
	body = append(body, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	body = append(body, w.opt(4, []byte("test"))...)
	return w.block(0x0A0D0D0A, body)
}

func (w *ngWriter) idb(link layers.LinkType, snaplen uint32, opts ...[]byte) *ngWriter {
	body := w.bo.AppendUint16(nil, uint16(link))
	body = w.bo.AppendUint16(body, 0)
	body = w.bo.AppendUint32(body, snaplen)
	for _, o := range opts {
		body = append(body, o...)
	}
	return w.block(1, body)
}

func (w *ngWriter) epb(ifid uint32, ts uint64, data []byte, origLen uint32, opts ...[]byte) *ngWriter {
	body := w.bo.AppendUint32(nil, ifid)
	body = w.bo.AppendUint32(body, uint32(ts>>32))
	body = w.bo.AppendUint32(body, uint32(ts))
	body = w.bo.AppendUint32(body, uint32(len(data)))
	body = w.bo.AppendUint32(body, origLen)
	body = pad4(append(body, data...))
	for _, o := range opts {
		body = append(body, o...)
	}
	return w.block(6, body)
}

func (w *ngWriter) spb(data []byte, origLen uint32) *ngWriter {
	return w.block(3, append(w.bo.AppendUint32(nil, origLen), data...))
}

func (w *ngWriter) pb(ifid uint16, ts uint64, data []byte) *ngWriter {
	body := w.bo.AppendUint16(nil, ifid)
	body = w.bo.AppendUint16(body, 0)
	body = w.bo.AppendUint32(body, uint32(ts>>32))
	body = w.bo.AppendUint32(body, uint32(ts))
	body = w.bo.AppendUint32(body, uint32(len(data)))
	body = w.bo.AppendUint32(body, uint32(len(data)))
	return w.block(2, append(body, data...))
}

func TestPcapngBlocks(t *testing.T) {
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(bo.String(), func(t *testing.T) {
			w := &ngWriter{bo: bo}
			tsoff := bo.AppendUint64(nil, 1000) // if_tsoffset: +1000 s
			w.shb().
				block(4, []byte{0, 0, 0, 0}). // name resolution block: skipped
				idb(layers.LinkTypeEthernet, 65535, w.opt(2, []byte("eth0")), w.opt(0, nil)).
				idb(layers.LinkTypeLinuxSLL2, 0, w.opt(9, []byte{0x80 | 20}), w.opt(14, tsoff)). // 2^-20 s units
				idb(layers.LinkTypeRaw, 0, w.opt(9, []byte{3})).                                 // milliseconds
				epb(0, 1_500_000, []byte("abc"), 10, w.opt(2, []byte{1, 0, 0, 0}), w.opt(1, []byte("comment"))).
				block(0xBAD, []byte("custom block")).
				epb(1, 3<<19, []byte("defgh"), 5).
				epb(2, 1234, []byte("i"), 1).
				spb([]byte("jklmnop"), 7).
				pb(1, 1<<20, []byte("qr")).
				block(5, make([]byte, 12)) // interface statistics: skipped
			// A second section, in the other byte order, with one interface.
			w2 := &ngWriter{bo: binary.LittleEndian}
			if bo == binary.LittleEndian {
				w2.bo = binary.BigEndian
			}
			w2.shb().idb(layers.LinkTypeIPv6, 0).epb(0, 7e6, []byte("s"), 1)
			file := append(w.b, w2.b...)

			r, err := capfile.NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("LinkType() = %v", r.LinkType())
			}
			ps := mustReadAll(t, file)
			type want struct {
				data string
				ts   time.Time
				len  int
				link layers.LinkType
			}
			wants := []want{
				{"abc", time.Unix(1, 500_000_000), 10, layers.LinkTypeEthernet},
				{"defgh", time.Unix(1001, 500_000_000), 5, layers.LinkTypeLinuxSLL2},
				{"i", time.Unix(1, 234_000_000), 1, layers.LinkTypeRaw},
				{"jklmnop", time.Time{}, 7, layers.LinkTypeEthernet},
				{"qr", time.Unix(1001, 0), 2, layers.LinkTypeLinuxSLL2},
				{"s", time.Unix(7, 0), 1, layers.LinkTypeIPv6},
			}
			if len(ps) != len(wants) {
				t.Fatalf("got %d packets, want %d", len(ps), len(wants))
			}
			for i, w := range wants {
				p := ps[i]
				if string(p.data) != w.data || !p.ts.Equal(w.ts) || p.len != w.len || p.capLen != len(w.data) || p.link != w.link {
					t.Errorf("packet %d: got %q %v %d/%d %v, want %+v", i+1, p.data, p.ts, p.capLen, p.len, p.link, w)
				}
			}
		})
	}
}

func TestPcapngErrors(t *testing.T) {
	le := &ngWriter{bo: binary.LittleEndian}
	good := bytes.Clone(le.shb().idb(layers.LinkTypeEthernet, 0).epb(0, 0, []byte("ok"), 2).b)
	cases := []struct {
		name string
		tail func(w *ngWriter) []byte
		want string
	}{
		{"unknown interface", func(w *ngWriter) []byte { return w.epb(5, 0, []byte("x"), 1).b }, "interface 5 not described"},
		{"interfaces reset by a new section", func(w *ngWriter) []byte {
			return w.shb().epb(0, 0, []byte("x"), 1).b
		}, "interface 0 not described"},
		{"caplen beyond block", func(w *ngWriter) []byte {
			b := w.epb(0, 0, []byte("xyzw"), 4).b
			binary.LittleEndian.PutUint32(b[len(b)-16:], 1<<30) // captured length field
			return b
		}, "captured length 1073741824 exceeds the block"},
		{"trailer mismatch", func(w *ngWriter) []byte {
			b := w.epb(0, 0, []byte("xyzw"), 4).b
			b[len(b)-4]++
			return b
		}, "trailing length"},
		{"bad block length", func(w *ngWriter) []byte {
			return append(w.b, 6, 0, 0, 0, 13, 0, 0, 0)
		}, "bad block length 13"},
		{"huge packet block", func(w *ngWriter) []byte {
			return append(w.b, 6, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff)
		}, "exceeds the"},
		{"huge skipped block", func(w *ngWriter) []byte {
			return append(w.b, 0xAD, 0x0B, 0, 0, 0xfc, 0xff, 0xff, 0xff)
		}, "not believable"},
		{"bad tsresol", func(w *ngWriter) []byte {
			return w.idb(layers.LinkTypeEthernet, 0, w.opt(9, []byte{20})).b
		}, "unsupported timestamp resolution"},
		{"bad byte order magic", func(w *ngWriter) []byte {
			return append(w.b, 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4)
		}, "bad byte-order magic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &ngWriter{bo: binary.LittleEndian, b: bytes.Clone(good)}
			file := c.tail(w)
			ps, err := readAll(t, file)
			if len(ps) != 1 || string(ps[0].data) != "ok" {
				t.Errorf("packets before the error: %v", ps)
			}
			if err == nil || err == io.EOF || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "capfile: ") {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestNgPacketBeforeInterface: a packet block before any interface
// description is an error, not a panic, and so is an empty section.
func TestNgPacketBeforeInterface(t *testing.T) {
	w := &ngWriter{bo: binary.LittleEndian}
	ps, err := readAll(t, w.shb().epb(0, 0, []byte("x"), 1).b)
	if len(ps) != 0 || err == nil || !strings.Contains(err.Error(), "interface 0 not described") {
		t.Errorf("got %v, %v", ps, err)
	}
	w = &ngWriter{bo: binary.LittleEndian}
	r, err := capfile.NewReader(bytes.NewReader(w.shb().b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF || r.LinkType() != layers.LinkTypeNull {
		t.Errorf("empty section: %v, link %v", err, r.LinkType())
	}
}

// ngBlockEnds returns the end offsets of the blocks of a little-endian
// pcapng file, and which of them are packets.
func ngBlockEnds(file []byte) (ends []int, packet []bool) {
	for off := 0; off+8 <= len(file); {
		typ := binary.LittleEndian.Uint32(file[off:])
		off += int(binary.LittleEndian.Uint32(file[off+4:]))
		ends = append(ends, off)
		packet = append(packet, typ == 6 || typ == 3 || typ == 2)
	}
	return ends, packet
}

// checkCut reads file[:cut] and checks it returns the first wantN packets
// of full, then io.EOF if clean, else an error wrapping
// io.ErrUnexpectedEOF.
func checkCut(t *testing.T, file []byte, cut int, full []pkt, wantN int, clean bool) {
	t.Helper()
	ps, err := readAll(t, file[:cut])
	if len(ps) != wantN {
		t.Fatalf("cut at %d: got %d packets, want %d (err %v)", cut, len(ps), wantN, err)
	}
	samePackets(t, ps, full[:wantN])
	if clean && err != io.EOF {
		t.Fatalf("cut at %d (record boundary): err %v, want io.EOF", cut, err)
	}
	if !clean && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut at %d: err %v, want one wrapping io.ErrUnexpectedEOF", cut, err)
	}
	if !clean && !strings.HasPrefix(err.Error(), "capfile: ") {
		t.Fatalf("cut at %d: error %q lacks the package prefix", cut, err)
	}
}

func TestTruncatedPcap(t *testing.T) {
	file := readFile(t, filepath.Join(oracleDir, "post.pcap"))
	full := mustReadAll(t, file)
	ends := pcapRecordEnds(file)
	for cut := 0; cut <= len(file); cut++ {
		if cut < 24 {
			_, err := capfile.NewReader(bytes.NewReader(file[:cut]))
			switch {
			case cut == 0 && (err == nil || err.Error() != "capfile: empty input"),
				cut > 0 && cut < 4 && (err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng file")),
				cut >= 4 && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("cut at %d: NewReader error %v", cut, err)
			}
			continue
		}
		n := 0
		clean := cut == 24
		for _, e := range ends {
			if e <= cut {
				n++
				clean = clean || e == cut
			}
		}
		checkCut(t, file, cut, full, n, clean)
	}
}

func TestTruncatedPcapng(t *testing.T) {
	for _, path := range []string{"testdata/post-editcap.pcapng", "testdata/dumpcap-lo.pcapng"} {
		file := readFile(t, path)
		full := mustReadAll(t, file)
		ends, isPacket := ngBlockEnds(file)
		for cut := 0; cut <= len(file); cut++ {
			if cut < ends[0] || (cut > ends[0] && cut < ends[1]) { // in the SHB or the IDB
				_, err := capfile.NewReader(bytes.NewReader(file[:cut]))
				if err == nil || (cut >= 4 && !errors.Is(err, io.ErrUnexpectedEOF)) {
					t.Fatalf("%s cut at %d: NewReader error %v", path, cut, err)
				}
				continue
			}
			n, clean := 0, false
			for i, e := range ends {
				if e <= cut && isPacket[i] {
					n++
				}
				clean = clean || e == cut
			}
			checkCut(t, file, cut, full, n, clean)
		}
	}
}

func TestNotACapture(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.1\r\n\r\n", "\xd4\xc3\xb2", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"} {
		_, err := capfile.NewReader(strings.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), "capfile: not a pcap or pcapng file (") {
			t.Errorf("%q: error %v", in, err)
		}
	}
	_, err := capfile.NewReader(strings.NewReader("GET / HTTP/1.1\r\n\r\n"))
	if want := "474554202f20485454502f312e310d0a"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not show the first bytes %s", err, want)
	}
	if _, err := capfile.NewReader(strings.NewReader("")); err == nil || err.Error() != "capfile: empty input" {
		t.Errorf("empty input: %v", err)
	}
	// pcap magic, bad version: libpcap's choice of versions (2.0 to 2.4,
	// 543.0), as an error about the header.
	bad := []byte{0xd4, 0xc3, 0xb2, 0xa1, 9, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	if _, err := capfile.NewReader(bytes.NewReader(bad)); err == nil || !strings.HasPrefix(err.Error(), "capfile: reading pcap file header: ") {
		t.Errorf("bad version: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := capfile.NewReader(errReader{boom})
	if !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
	file := readFile(t, filepath.Join(oracleDir, "refused.pcap"))
	for _, f := range [][]byte{file, readFile(t, "testdata/post-editcap.pcapng")} {
		r, err := capfile.NewReader(io.MultiReader(bytes.NewReader(f[:130]), errReader{boom}))
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "capfile: ") {
			t.Errorf("got %v", err)
		}
		if _, err2 := r.Next(); err2 != err {
			t.Errorf("error not sticky: %v then %v", err, err2)
		}
	}
}

// pcapFile builds a little-endian microsecond pcap with the given snaplen
// and records; a record's captured length may lie about its data.
func pcapFile(snaplen uint32, recs ...[]byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xA1B2C3D4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, snaplen)
	b = le.AppendUint32(b, uint32(layers.LinkTypeEthernet))
	for _, r := range recs {
		b = append(b, r...)
	}
	return b
}

func pcapRecord(caplen, length uint32, data []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 1700000000)
	b = le.AppendUint32(b, 5)
	b = le.AppendUint32(b, caplen)
	b = le.AppendUint32(b, length)
	return append(b, data...)
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestAbsurdLengths(t *testing.T) {
	small := pcapRecord(4, 4, []byte("abcd"))
	big := pcapRecord(2000, 2000, make([]byte, 2000))
	for _, snaplen := range []uint32{0, 1500, 65535, 0xffffffff} {
		// caplen above the declared snaplen but within libpcap's maximum:
		// read whole, like Wireshark (libpcap reads it cut to the snaplen).
		ps := mustReadAll(t, pcapFile(snaplen, small, big, small))
		if len(ps) != 3 || ps[1].capLen != 2000 {
			t.Errorf("snaplen %d: %d packets", snaplen, len(ps))
		}
		for _, c := range []struct {
			rec  []byte
			want string
		}{
			{pcapRecord(1<<30, 1<<30, []byte("tiny")), "capture length 1073741824 exceeds the maximum 262144"},
			{pcapRecord(0xffffffff, 0xffffffff, []byte("tiny")), "capture length 4294967295 exceeds the maximum 262144"},
			{pcapRecord(capfile.MaxCaptureLength+1, capfile.MaxCaptureLength+1, make([]byte, capfile.MaxCaptureLength+1)), "capture length 262145 exceeds the maximum"},
		} {
			var ps []pkt
			var err error
			alloc := allocatedBytes(func() { ps, err = readAll(t, pcapFile(snaplen, small, c.rec, small)) })
			if len(ps) != 1 || err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "capfile: reading packet 2: ") {
				t.Errorf("snaplen %#x: got %d packets, error %v; want 1 and %q", snaplen, len(ps), err, c.want)
			}
			if alloc > 8<<20 {
				t.Errorf("snaplen %#x: reading allocated %d bytes", snaplen, alloc)
			}
		}
	}
	// pcapng: an absurd interface snaplen and an absurd captured length.
	w := &ngWriter{bo: binary.LittleEndian}
	file := w.shb().idb(layers.LinkTypeEthernet, 0xffffffff).epb(0, 0, []byte("ok"), 2).b
	file = append(file, w.epb(0, 0, make([]byte, capfile.MaxCaptureLength+4), 1).b[len(file):]...)
	ps, err := readAll(t, file)
	if len(ps) != 1 || err == nil || !strings.Contains(err.Error(), "exceeds the maximum") {
		t.Errorf("pcapng: %d packets, %v", len(ps), err)
	}
}

// manyPackets returns a capture of n data segments.
func manyPackets(link layers.LinkType, n int) *pcaptest.Capture {
	c := pcaptest.New(link)
	f := c.Flow(netip.MustParseAddrPort("10.1.1.1:40000"), netip.MustParseAddrPort("10.1.1.2:80"), time.Unix(1e9, 0))
	f.Handshake()
	payload := bytes.Repeat([]byte("x"), 1400)
	for i := 0; i < n; i++ {
		f.ServerSend(payload[:100+i%1300])
	}
	return c
}

func TestNoAllocations(t *testing.T) {
	c := manyPackets(layers.LinkTypeLinuxSLL2, 3000)
	// pcapng with two interfaces of different link types and EPB options.
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeLinuxSLL2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, TimestampResolution: 6}); err != nil {
		t.Fatal(err)
	}
	flags := pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	for i, frame := range c.Frames() {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(frame), Length: len(frame), InterfaceIndex: i % 2}
		if err := w.WritePacketWithOptions(ci, frame, pcapgo.NgPacketOptions{Flags: &flags, Comments: []string{"hi"}}); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	for name, file := range map[string][]byte{"pcap": c.Pcap(), "pcap-nanos": c.PcapNanos(), "pcapng": c.Pcapng(), "pcapng-mixed-options": ng.Bytes()} {
		r, err := capfile.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		allocs := testing.AllocsPerRun(2000, func() {
			p, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if name == "pcapng-mixed-options" && p.LinkType != []layers.LinkType{layers.LinkTypeLinuxSLL2, layers.LinkTypeEthernet}[n%2] {
				t.Fatalf("packet %d: link type %v", n, p.LinkType)
			}
			n++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per packet", name, allocs)
		}
	}
}

// TestCaplenExceedsLength checks that a record claiming more captured
// bytes than the packet's original length is skipped and counted, and the
// records after it read, as tcpdump does, in pcap (both byte orders, both
// resolutions) and pcapng; and, with tcpdump installed, that tcpdump reads
// the same files that way.
func TestCaplenExceedsLength(t *testing.T) {
	good := manyPackets(layers.LinkTypeEthernet, 2)
	pcap := good.Pcap() // header, SYN, SYN-ACK, ACK, 2 data segments
	ends := pcapRecordEnds(pcap)
	// Record 2 (the SYN-ACK) claims an original length of 20.
	bad := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(bad[ends[0]+12:], 20)
	want := mustReadAll(t, pcap)
	want = append(want[:1:1], want[2:]...)
	files := map[string][]byte{"le-micro.pcap": bad}
	for _, nanos := range []bool{false, true} {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			if !nanos && bo == binary.LittleEndian {
				continue
			}
			files[fmt.Sprintf("%v-nanos=%v.pcap", bo, nanos)] = convertPcap(bad, bo, nanos)
		}
	}
	w := &ngWriter{bo: binary.BigEndian}
	w.shb().idb(layers.LinkTypeEthernet, 0)
	for i, p := range mustReadAll(t, pcap) {
		orig := uint32(p.len)
		if i == 1 {
			orig = 20
		}
		w.epb(0, uint64(p.ts.UnixMicro()), p.data, orig)
	}
	files["be.pcapng"] = w.b
	dir := t.TempDir()
	for name, file := range files {
		r, err := capfile.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		var got []pkt
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, pkt{bytes.Clone(p.Data), p.Timestamp, p.CaptureLength, p.Length, p.LinkType})
		}
		if r.Skipped() != 1 || len(got) != len(want) {
			t.Fatalf("%s: %d packets, %d skipped; want %d and 1", name, len(got), r.Skipped(), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].capLen > got[i].len {
				t.Errorf("%s: packet %d differs", name, i+1)
			}
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		tcpdump, ok := require.HaveTool(t, "tcpdump")
		if !ok {
			continue
		}
		out := require.Output(t, tcpdump, "-nn", "-r", path)
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != len(want)+1 || !strings.HasPrefix(lines[1], "[Invalid header: len(20) < caplen(") {
			t.Errorf("%s: tcpdump reads it differently:\n%s", name, out)
		}
	}
}

// TestPcapHeaderFields checks the header fields read the way libpcap reads
// them: versions 2.0 to 2.4 and 543.0 (with the lengths of versions before
// 2.4 possibly interchanged), the FCS bits of the link type masked off.
func TestPcapHeaderFields(t *testing.T) {
	data := []byte("0123456789abcdef0123456789")
	// A record cut to 20 bytes of 26, with its two length fields in the
	// given order.
	rec := func(capFirst bool) []byte {
		if capFirst {
			return pcapRecord(20, 26, data[:20])
		}
		return pcapRecord(26, 20, data[:20])
	}
	file := func(major, minor uint16, link uint32, r []byte) []byte {
		f := pcapFile(0, r)
		binary.LittleEndian.PutUint16(f[4:], major)
		binary.LittleEndian.PutUint16(f[6:], minor)
		binary.LittleEndian.PutUint32(f[20:], link)
		return f
	}
	for _, c := range []struct {
		major, minor uint16
		capFirst     bool
	}{{2, 4, true}, {2, 3, true}, {2, 3, false}, {2, 2, false}, {2, 0, false}, {543, 0, false}} {
		ps := mustReadAll(t, file(c.major, c.minor, 1, rec(c.capFirst)))
		if len(ps) != 1 || ps[0].capLen != 20 || ps[0].len != 26 || !bytes.Equal(ps[0].data, data[:20]) {
			t.Errorf("version %d.%d: %+v", c.major, c.minor, ps)
		}
	}
	for _, v := range [][2]uint16{{2, 5}, {1, 4}, {3, 0}, {543, 1}} {
		_, err := capfile.NewReader(bytes.NewReader(file(v[0], v[1], 1, nil)))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unsupported pcap version %d.%d", v[0], v[1])) {
			t.Errorf("version %d.%d: %v", v[0], v[1], err)
		}
	}
	r, err := capfile.NewReader(bytes.NewReader(file(2, 4, 1|0x10000000|4<<26, nil)))
	if err != nil || r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type with FCS bits: %v, %v", r, err)
	}
	_, err = capfile.NewReader(bytes.NewReader(file(2, 4, 70000, nil)))
	if err == nil || !strings.Contains(err.Error(), "link type 70000 (unknown) is not supported") {
		t.Errorf("link type 70000: %v", err)
	}
}

func TestLinkTypeNames(t *testing.T) {
	for link, want := range map[layers.LinkType]string{
		1: "1 (LINKTYPE_ETHERNET)", 101: "101 (LINKTYPE_RAW)", 113: "113 (LINKTYPE_LINUX_SLL)",
		276: "276 (LINKTYPE_LINUX_SLL2)", 147: "147 (LINKTYPE_USER0)", 0: "0 (LINKTYPE_NULL)",
		127: "127 (LINKTYPE_IEEE802_11_RADIOTAP)", 9999: "9999 (unknown)",
	} {
		if got := capfile.DescribeLinkType(link); got != want {
			t.Errorf("DescribeLinkType(%d) = %q, want %q", link, got, want)
		}
	}
}
