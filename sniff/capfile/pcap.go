package capfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapHeaderLen and pcapRecordLen are the sizes of the classic pcap file
// header and record header.
const (
	pcapHeaderLen = 24
	pcapRecordLen = 16
)

// How the captured and original lengths of a record are ordered, as
// libpcap's sf-pcap.c decides from the file's version: the fields were
// interchanged at version 2.3, and some 2.3 writers did not follow.
const (
	lengthsInOrder = iota // 2.4 and later: caplen, then len
	lengthsSwapped        // before 2.3, and DG/UX tcpdump's 543.0: len, then caplen
	lengthsMaybe          // 2.3: swapped if caplen > len
)

// pcapReader reads classic pcap records. Packet data is handed out as a
// slice of the bufio.Reader's buffer, like the pcapng reader. Records are
// cut from a window of what the buffer holds (win; its first used bytes
// were handed out and not yet Discarded, an offset rather than a resliced
// window so that a record costs no slice store): the buffer
// is only Discarded and Peeked again when the window holds no whole
// record, i.e. once per buffer of records rather than twice per record.
type pcapReader struct {
	br       *bufio.Reader
	win      []byte
	used     int
	order    binary.ByteOrder
	big      bool // order is big endian
	nanos    bool // nanosecond timestamps
	lengths  int  // lengthsInOrder, lengthsSwapped or lengthsMaybe
	linkType layers.LinkType
}

// newPcapReader reads the file header. The versions accepted are libpcap's:
// 2.0 to 2.4, and 543.0.
func newPcapReader(br *bufio.Reader) (*pcapReader, error) {
	h, err := br.Peek(pcapHeaderLen)
	if len(h) < pcapHeaderLen {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("capfile: reading pcap file header: %d of %d bytes: %w", len(h), pcapHeaderLen, err)
	}
	r := &pcapReader{br: br, order: binary.LittleEndian}
	switch binary.LittleEndian.Uint32(h) {
	case magicMicroSwap:
		r.order = binary.BigEndian
	case magicNano:
		r.nanos = true
	case magicNanoSwap:
		r.order, r.nanos = binary.BigEndian, true
	}
	r.big = r.order == binary.BigEndian
	major, minor := r.order.Uint16(h[4:6]), r.order.Uint16(h[6:8])
	switch {
	case major == 2 && minor < 3, major == 543 && minor == 0:
		r.lengths = lengthsSwapped
	case major == 2 && minor == 3:
		r.lengths = lengthsMaybe
	case major == 2 && minor == 4:
	default:
		return nil, fmt.Errorf("capfile: reading pcap file header: unsupported pcap version %d.%d", major, minor)
	}
	// The upper 6 bits of the link type field carry the FCS length and
	// flags (LT_FCS_LENGTH_PRESENT); libpcap masks them off.
	link := r.order.Uint32(h[20:24]) & 0x03FFFFFF
	if link > 0xFFFF {
		return nil, fmt.Errorf("capfile: pcap file header: link type %d (unknown) is not supported", link)
	}
	r.linkType = layers.LinkType(link)
	br.Discard(pcapHeaderLen) // cannot fail: the bytes are buffered
	return r, nil
}

// next reads the next record into p; n is its number in the file, from 1, for
// error messages.
//
// Records are read whole whatever the file's snap length says, up to
// MaxCaptureLength (libpcap's maximum; it fails on longer ones too), as
// Wireshark reads them: writers that do not cut packets to the snap length
// they declare exist (dpkt, old pcapgo). libpcap 1.10 cuts such a record
// to the snap length instead (tcpdump shows the rest as missing); sniffer
// keeps the bytes. A record whose captured length exceeds its original
// length is returned as it is: Reader.Next skips it.
func (r *pcapReader) next(n int, p *Packet) error {
	rest := r.win[r.used:] // the window's unread bytes
	if len(rest) < pcapRecordLen {
		var err error
		if rest, err = r.refill(pcapRecordLen); len(rest) < pcapRecordLen {
			if len(rest) == 0 && err == io.EOF {
				return io.EOF
			}
			return r.readErr(n, "record header", err)
		}
	}
	// The record header's fields, read without the ByteOrder interface's
	// dynamic calls (this runs for every packet).
	h := rest[:pcapRecordLen:pcapRecordLen]
	var sec, frac, capLen, origLen uint32
	if r.big {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		capLen, origLen = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
		capLen, origLen = binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
	}
	if r.lengths == lengthsSwapped || r.lengths == lengthsMaybe && capLen > origLen {
		capLen, origLen = origLen, capLen
	}
	if capLen > MaxCaptureLength {
		return fmt.Errorf("capfile: reading packet %d: capture length %d exceeds the maximum %d", n, capLen, MaxCaptureLength)
	}
	total := pcapRecordLen + int(capLen) // at most bufSize
	if len(rest) < total {
		var err error
		if rest, err = r.refill(total); len(rest) < total {
			return r.readErr(n, fmt.Sprintf("data (%d bytes)", capLen), err)
		}
	}
	r.used += total
	nsec := int64(frac)
	if !r.nanos {
		nsec *= 1000
	}
	data := rest[pcapRecordLen:total:total]
	p.Data = data
	p.Timestamp = time.Unix(int64(sec), nsec).UTC()
	p.CaptureLength, p.Length = int(capLen), int(origLen)
	p.LinkType = r.linkType
	return nil
}

// refill refills the window when its unread bytes hold fewer than n (at
// most bufSize): it returns them, at least n unless the input ends first
// (then what is left, and the read's error). Bytes handed out before are
// Discarded, so a packet's data stays valid until the next call.
func (r *pcapReader) refill(n int) ([]byte, error) {
	r.br.Discard(r.used) // cannot fail: the bytes are buffered
	r.win, r.used = nil, 0
	b, err := r.br.Peek(n)
	if len(b) < n {
		return b, err
	}
	r.win, _ = r.br.Peek(r.br.Buffered()) // cannot fail: the bytes are buffered
	return r.win, nil
}

// readErr describes a failed read of record n. A short read is reported as
// wrapping io.ErrUnexpectedEOF.
func (r *pcapReader) readErr(n int, what string, err error) error {
	if err == nil || err == io.EOF {
		return fmt.Errorf("capfile: reading packet %d %s: file cut short: %w", n, what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("capfile: reading packet %d %s: %w", n, what, err)
}
