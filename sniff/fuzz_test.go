package sniff_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff"
	"github.com/sniffer/sniffer/sniff/entry"
)

// rawSegment builds a raw-IP (IPv4) TCP segment between 10.0.0.1:40000 and
// 10.0.0.2:80; checksums are left zero (the engine does not check them).
func rawSegment(fromClient bool, seq, ack uint32, flags byte, payload []byte) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = 6
	src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	sp, dp := uint16(40000), uint16(80)
	if !fromClient {
		src, dst, sp, dp = dst, src, dp, sp
	}
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	binary.BigEndian.PutUint16(b[20:], sp)
	binary.BigEndian.PutUint16(b[22:], dp)
	binary.BigEndian.PutUint32(b[24:], seq)
	binary.BigEndian.PutUint32(b[28:], ack)
	b[32] = 5 << 4
	b[33] = flags
	copy(b[40:], payload)
	return b
}

// FuzzEngine feeds the engine arbitrary sequences of segments of one
// connection: any flags, sequence numbers around two streams of HTTP text or
// anywhere in the 32-bit space (ops with bit 0x40), lengths and
// acknowledgments. It must not panic, and what it prints must be
// consistent.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 0x12, 0, 0, 0, 0x10, 0, 0, 0, 0x18, 0, 0, 40, 0x19, 0, 0, 60})
	f.Add([]byte{0x18, 0, 30, 20, 0x18, 0, 0, 30, 0x99, 0, 0, 90, 0x04, 0, 0, 0})
	// The segment 2^31 past the next expected byte that once panicked.
	f.Add([]byte{0x02, 0, 0, 0, 0x12 | 0x80, 0, 0, 0, 0x10, 0, 0, 0, 0x18, 0, 0, 20, 0x58, 0, 0, 20, 0x80, 0, 0, 0, 0, 0, 0, 0})
	// A RST in the window but not exact, then time passing.
	f.Add([]byte{0x02, 0, 0, 0, 0x12 | 0x80, 0, 0, 0, 0x10, 0, 0, 0, 0x18, 0, 0, 20, 0x54, 0, 0, 0, 0xff, 0xff, 0xf1, 0x00, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	stream := [2][]byte{
		[]byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
		[]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00HTTP/1.0 200 OK\r\n\r\nuntil close"),
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		n := 0
		eng := sniff.New(sniff.Config{MaxConns: 4, KeepBodies: true, BodyCap: 64, HeaderCap: 64, Emit: func(e *entry.Entry) {
			n++
			for _, m := range []*entry.Message{&e.Request, &e.Response} {
				if int64(len(m.Bytes)) > m.Size || m.Head > len(m.Bytes) || m.HeaderLen > len(m.Bytes)-m.Head {
					t.Fatalf("inconsistent message: %d bytes kept, size %d, head %d+%d", len(m.Bytes), m.Size, m.Head, m.HeaderLen)
				}
			}
		}})
		isn := [2]uint32{0xfffffff0, 1000}
		ts := time.Unix(1795462057, 0)
		for i := 0; i+3 < len(ops); {
			op, off, length := ops[i], int(ops[i+1])<<8|int(ops[i+2]), int(ops[i+3])
			i += 4
			dir := int(op>>7) & 1
			flags := op & 0x3f
			s := stream[dir]
			off %= len(s) + 1
			end := min(off+length, len(s))
			seq := isn[dir] + 1 + uint32(off)
			ack := isn[1-dir] + 1 + uint32(ops[i-1])
			if op&0x40 != 0 && i+7 < len(ops) {
				// Raw 32-bit sequence and acknowledgment numbers: the
				// whole sequence space, not only offsets into the
				// streams.
				seq = binary.BigEndian.Uint32(ops[i:])
				ack = binary.BigEndian.Uint32(ops[i+4:])
				i += 8
			}
			eng.Packet(layers.LinkTypeRaw, ts, rawSegment(dir == 0, seq, ack, flags, s[off:end]))
			ts = ts.Add(time.Millisecond)
			if op&0x40 != 0 && flags == 0 {
				eng.Tick(ts.Add(3 * time.Second)) // time passes: lingering RSTs and idle flushes
			}
		}
		eng.Finish()
		if eng.Conns() != 0 {
			t.Fatalf("%d connections left after Finish", eng.Conns())
		}
	})
}
