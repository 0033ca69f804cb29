package decode_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/decode"
)

// FuzzDecode checks that no input makes Decode panic and that a decoded
// payload always lies within the input.
func FuzzDecode(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(uint16(s.link), s.data)
	}
	f.Add(uint16(layers.LinkTypeEthernet), bigFrame(f))
	f.Add(uint16(12), []byte{0x45})
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		var p decode.Packet
		if err := decode.Decode(layers.LinkType(link), data, &p); err != nil {
			switch err {
			case decode.ErrUnsupportedLink, decode.ErrNotIP, decode.ErrNotTCP, decode.ErrFragment, decode.ErrMalformed:
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(p.Payload) > len(data) || cap(p.Payload) != len(p.Payload) {
			t.Fatalf("payload %d/%d bytes from %d", len(p.Payload), cap(p.Payload), len(data))
		}
		if len(p.Payload) > 0 && &p.Payload[len(p.Payload)-1] != &data[len(data)-1] {
			// The payload must be a sub-slice of data: find its end.
			end := &p.Payload[len(p.Payload)-1]
			found := false
			for i := range data {
				if &data[i] == end {
					found = true
					break
				}
			}
			if !found {
				t.Fatal("payload is not part of the input")
			}
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
			t.Fatalf("addresses %v %v", p.Src, p.Dst)
		}
	})
}
