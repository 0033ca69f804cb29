package capfile_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/sniffer/sniffer/sniff/capfile"
)

// record is what one packet of a file says, its data copied.
type record struct {
	data        []byte
	ts          int64
	capLen, len int
}

// readRecords reads every packet of src with Read (reusing one Packet) or
// Next, and the error that ended the file.
func readRecords(t *testing.T, src io.Reader, useRead bool) ([]record, error) {
	t.Helper()
	r, err := capfile.NewReader(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	var p capfile.Packet
	for {
		if useRead {
			err = r.Read(&p)
		} else {
			p, err = r.Next()
		}
		if err != nil {
			return out, err
		}
		out = append(out, record{bytes.Clone(p.Data), p.Timestamp.UnixNano(), p.CaptureLength, p.Length})
	}
}

// TestReadMatchesNext: Read into one reused Packet yields what Next
// yields, packet for packet, also when the input arrives a byte at a time
// (the pcap reader's window is refilled in the middle of records) and when
// it is cut short in the middle of a record.
func TestReadMatchesNext(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(oracleDir, "*.pcap"))
	files = append(files, filepath.Join("testdata", "dumpcap-lo.pcapng"))
	if len(files) < 2 {
		t.Fatal("no captures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file := readFile(t, f)
			want, wantErr := readRecords(t, bytes.NewReader(file), false)
			if wantErr != io.EOF || len(want) == 0 {
				t.Fatalf("Next: %d packets, then %v", len(want), wantErr)
			}
			cut := file[:len(file)-3]
			for name, src := range map[string]func() io.Reader{
				"whole":    func() io.Reader { return bytes.NewReader(file) },
				"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(file)) },
				"cut":      func() io.Reader { return bytes.NewReader(cut) },
			} {
				got, err := readRecords(t, src(), true)
				w, we := want, wantErr
				if name == "cut" {
					w, we = readRecords(t, bytes.NewReader(cut), false)
					// (a pcapng file may end in a block that is no packet)
					if filepath.Ext(f) == ".pcap" && len(w) != len(want)-1 {
						t.Errorf("%s: Next read %d packets of a file cut in its last record, want %d", name, len(w), len(want)-1)
					}
				}
				if (err == io.EOF) != (we == io.EOF) || err == nil {
					t.Errorf("%s: Read ended with %v, Next with %v", name, err, we)
				}
				if len(got) != len(w) {
					t.Fatalf("%s: Read %d packets, Next %d", name, len(got), len(w))
				}
				for i := range got {
					g, x := got[i], w[i]
					if !bytes.Equal(g.data, x.data) || g.ts != x.ts || g.capLen != x.capLen || g.len != x.len {
						t.Fatalf("%s: packet %d: Read %+v, Next %+v", name, i+1, g, x)
					}
				}
			}
		})
	}
}
