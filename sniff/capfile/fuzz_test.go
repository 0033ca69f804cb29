package capfile_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sniffer/sniffer/sniff/capfile"
)

// FuzzReader checks that no input makes the reader panic, loop or hand out
// inconsistent packets.
func FuzzReader(f *testing.F) {
	f.Add(readFile(f, filepath.Join(oracleDir, "refused.pcap")))
	f.Add(readFile(f, filepath.Join(oracleDir, "noresp.pcap"))[:500])
	f.Add(readFile(f, "testdata/post-editcap.pcapng")[:600])
	f.Add(readFile(f, "testdata/dumpcap-lo.pcapng"))
	f.Add(convertPcap(readFile(f, filepath.Join(oracleDir, "refused.pcap")), binary.BigEndian, true))
	w := &ngWriter{bo: binary.BigEndian}
	f.Add(w.shb().idb(layers.LinkTypeEthernet, 0, w.opt(9, []byte{0x85})).epb(0, 1, []byte("x"), 1).spb([]byte("y"), 1).pb(0, 2, []byte("z")).b)
	f.Add(pcapFile(0, pcapRecord(4, 4, []byte("abcd")), pcapRecord(8, 4, []byte("12345678")), pcapRecord(2, 2, []byte("ok"))))
	v23 := pcapFile(0, pcapRecord(6, 4, []byte("abcd")))
	v23[6] = 3 // version 2.3: lengths maybe interchanged
	f.Add(v23)
	f.Add([]byte{})
	f.Add([]byte("\x0a\x0d\x0d\x0a"))
	f.Add(gz(f, readFile(f, filepath.Join(oracleDir, "refused.pcap"))))
	f.Add(gz(f, readFile(f, "testdata/post-editcap.pcapng")[:600]))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := capfile.NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; ; i++ {
			p, err := r.Next()
			if err != nil {
				if _, err2 := r.Next(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				return
			}
			if len(p.Data) != p.CaptureLength || p.CaptureLength > capfile.MaxCaptureLength || p.CaptureLength > p.Length {
				t.Fatalf("packet %d: %d bytes, CaptureLength %d", i, len(p.Data), p.CaptureLength)
			}
			// deflate expands at most about 1032 times.
			if limit := len(data); i > limit && (len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b || i > 1100*limit) {
				t.Fatalf("more packets (%d) than input bytes", i)
			}
		}
	})
}

// BenchmarkReader reads the largest oracle capture (29 packets, 300 KB)
// as pcap and as pcapng, opening it anew each time, and the same packets
// repeated 100 times in one file (2900 packets, 30 MB) for the per-packet
// cost without the reader's setup, and 3003 packets of 54 to 1453 bytes
// (the per-packet overhead rather than the copying).
func BenchmarkReader(b *testing.B) {
	pcapFile := readFile(b, filepath.Join(oracleDir, "big-response.pcap"))
	ps := mustReadAll(b, pcapFile)
	var many []pkt
	for range 100 {
		many = append(many, ps...)
	}
	small := manyPackets(layers.LinkTypeEthernet, 3000) // 3003 packets of 54 to 1453 bytes
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"pcap", pcapFile},
		{"pcapng", writeNg(b, layers.LinkTypeEthernet, ps)},
		{"pcap-x100", writePcap(b, layers.LinkTypeEthernet, many)},
		{"pcapng-x100", writeNg(b, layers.LinkTypeEthernet, many)},
		{"pcap-small", small.Pcap()},
		{"pcapng-small", small.Pcapng()},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.file)))
			b.ReportAllocs()
			packets := 0
			for b.Loop() {
				r, err := capfile.NewReader(bytes.NewReader(c.file))
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					packets++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
		})
	}
}

// writePcap writes packets as a microsecond pcap file with pcapgo.
func writePcap(t testing.TB, link layers.LinkType, ps []pkt) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: p.capLen, Length: p.len}, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
