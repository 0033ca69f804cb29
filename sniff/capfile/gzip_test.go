package capfile_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/capfile"
)

// gz compresses b with gzip.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestGzip reads gzip-compressed pcap and pcapng files (built here, and an
// oracle capture): the same packets as the plain files.
func TestGzip(t *testing.T) {
	c := manyPackets(layers.LinkTypeEthernet, 300)
	oracle := readFile(t, filepath.Join(oracleDir, "post.pcap"))
	for name, file := range map[string][]byte{
		"pcap":        c.Pcap(),
		"pcap-nanos":  c.PcapNanos(),
		"pcapng":      c.Pcapng(),
		"oracle-post": oracle,
		"oracle-ng":   readFile(t, "testdata/dumpcap-lo.pcapng"),
	} {
		t.Run(name, func(t *testing.T) {
			want := mustReadAll(t, file)
			if len(want) == 0 {
				t.Fatal("no packets in the plain file")
			}
			zipped := gz(t, file)
			if zipped[0] != 0x1f || zipped[1] != 0x8b {
				t.Fatalf("not gzip: %x", zipped[:2])
			}
			samePackets(t, mustReadAll(t, zipped), want)
			// Two gzip members one after the other (cat a.gz b.gz) are
			// one stream, as gunzip reads them.
			half := len(file) / 2
			var two []byte
			two = append(two, gz(t, file[:half])...)
			two = append(two, gz(t, file[half:])...)
			samePackets(t, mustReadAll(t, two), want)
		})
	}
}

// TestGzipTruncated cuts a gzipped capture at every byte: the packets
// before the cut are read, then an error wrapping io.ErrUnexpectedEOF (a
// capture cut short), never a panic or a clean end.
func TestGzipTruncated(t *testing.T) {
	file := manyPackets(layers.LinkTypeRaw, 40).Pcap()
	full := mustReadAll(t, file)
	zipped := gz(t, file)
	for cut := 0; cut < len(zipped); cut++ {
		ps, err := readAll(t, zipped[:cut])
		if err == io.EOF {
			t.Fatalf("cut at %d of %d: a clean end", cut, len(zipped))
		}
		if err == nil || !strings.HasPrefix(err.Error(), "capfile: ") {
			t.Fatalf("cut at %d: error %v", cut, err)
		}
		if cut >= 2 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: error %v does not wrap io.ErrUnexpectedEOF", cut, err)
		}
		if len(ps) > len(full) {
			t.Fatalf("cut at %d: %d packets of %d", cut, len(ps), len(full))
		}
		samePackets(t, ps, full[:len(ps)])
	}
}

// TestGzipBad: what is gzip but not a capture, or a corrupt gzip stream, is
// a one-line error.
func TestGzipBad(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"http":        {gz(t, []byte("GET / HTTP/1.1\r\n\r\n")), "capfile: not a pcap or pcapng file (starts with 474554"},
		"empty":       {gz(t, nil), "capfile: empty input (a gzip file that holds nothing)"},
		"gzip-twice":  {gz(t, gz(t, manyPackets(layers.LinkTypeRaw, 2).Pcap())), "capfile: not a pcap or pcapng file (starts with 1f8b"},
		"bad-header":  {[]byte("\x1f\x8b\x08\x00gzip"), "capfile: reading gzip header: unexpected EOF"},
		"not-deflate": {[]byte("\x1f\x8b\x09\x00\x00\x00\x00\x00\x00\x00xxxxxxxx"), "capfile: reading gzip header: gzip: invalid header"},
	} {
		_, err := capfile.NewReader(bytes.NewReader(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	// A corrupt byte in the middle of the stream: the packets before it,
	// then an error (flate's, or the checksum's at the end).
	file := manyPackets(layers.LinkTypeRaw, 200).Pcap()
	full := mustReadAll(t, file)
	zipped := gz(t, file)
	for _, at := range []int{len(zipped) / 3, len(zipped) / 2, len(zipped) - 6} {
		bad := bytes.Clone(zipped)
		bad[at] ^= 0x55
		ps, err := readAll(t, bad)
		if err == io.EOF || err == nil || !strings.HasPrefix(err.Error(), "capfile: ") {
			t.Errorf("corrupt byte at %d: %d packets, error %v", at, len(ps), err)
			continue
		}
		if len(ps) > len(full) {
			t.Fatalf("corrupt byte at %d: %d packets of %d", at, len(ps), len(full))
		}
	}
}

// TestGzipNoAllocations: decompressing allocates nothing per packet either.
func TestGzipNoAllocations(t *testing.T) {
	c := manyPackets(layers.LinkTypeLinuxSLL2, 3000)
	for name, file := range map[string][]byte{"pcap": c.Pcap(), "pcapng": c.Pcapng()} {
		r, err := capfile.NewReader(bytes.NewReader(gz(t, file)))
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(2000, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s.gz: %v allocations per packet", name, allocs)
		}
	}
}
