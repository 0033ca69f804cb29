// Package capfile reads capture files: classic pcap (either byte order,
// microsecond or nanosecond timestamps) and pcapng.
//
// A file compressed with gzip (a .pcap.gz or .pcapng.gz, recognised by its
// magic number 1f 8b, as tshark does) is decompressed as it is read, with
// compress/gzip: no temporary file, no whole-file buffer.
//
// Both formats are read by small readers of this package (pcap.go,
// ngreader.go) that hand out packet data straight from their read buffer
// and allocate nothing per packet. gopacket's pcapgo readers are not used:
// pcapgo.NgReader allocates on the packet path in two common cases,
// measured with testing.AllocsPerRun on pcapgo v1.7.7:
//
//   - enhanced packet blocks that carry options (epb_flags, comments, ...):
//     1 allocation per packet (readPacketOptions builds an NgPacketOptions,
//     even for ZeroCopyReadPacketData);
//   - WantMixedLinkType, needed to learn each packet's link type: 1
//     allocation per packet for link types >= 256, such as Linux SLL2,
//     boxed into CaptureInfo.AncillaryData. Without WantMixedLinkType,
//     packets of interfaces whose link type differs from the first one are
//     silently dropped, and LinkType() is 0 with it.
//
// and pcapgo.Reader ends the file at a record whose captured length
// exceeds its original length, where tcpdump skips that record and reads
// on (see Reader.Skipped).
//
// Both readers return packet data that stays valid until the next call to
// Next.
package capfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// bufSize is the size of the read buffer. The pcapng reader hands out
// packet data straight from it, so it must hold the largest block accepted:
// a packet of MaxCaptureLength bytes with room for its block header and
// options.
const bufSize = 512 << 10

// MaxCaptureLength is the longest packet record accepted: libpcap's
// MAXIMUM_SNAPLEN, beyond which tcpdump refuses a record too. Longer
// records are reported as errors rather than allocated.
const MaxCaptureLength = 262144

// Magic numbers at the start of the files, as read little-endian.
const (
	magicMicro       = 0xA1B2C3D4
	magicNano        = 0xA1B23C4D
	magicMicroSwap   = 0xD4C3B2A1
	magicNanoSwap    = 0x4D3CB2A1
	magicSectionHead = 0x0A0D0D0A
)

// The first two bytes of a gzip file (RFC 1952).
const gzipID1, gzipID2 = 0x1f, 0x8b

// Packet is one packet record of a capture file.
type Packet struct {
	// Data holds the captured bytes. It is only valid until the next call
	// to Next: the Reader reuses its storage.
	Data []byte
	// Timestamp is when the packet was captured (UTC). pcapng simple
	// packet blocks carry none: it is the zero Time for them.
	Timestamp time.Time
	// CaptureLength is len(Data); Length is the packet's length on the wire,
	// which is larger when the capture's snap length cut the packet short.
	// CaptureLength is never larger than Length: such records are skipped
	// (see Reader.Skipped).
	CaptureLength, Length int
	// LinkType is the packet's link type. In pcapng it is the link type of
	// the interface the packet was captured on, which may differ between
	// packets.
	LinkType layers.LinkType
}

// Reader reads the packets of a pcap or pcapng file.
type Reader struct {
	pcap     *pcapReader // classic pcap, or nil
	ng       *ngReader   // pcapng, or nil
	linkType layers.LinkType
	n        int   // packets returned so far
	skipped  int   // records skipped (captured length > original length)
	err      error // sticky error: once set, Next returns it again
}

// NewReader reads the file header from r, which must be a pcap or pcapng
// file, or one of them compressed with gzip, and returns a Reader for its
// packets. r is read through a buffer of its own; the Reader reads ahead of
// the packets it returns.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	head, err := br.Peek(4)
	if len(head) == 0 {
		if err == io.EOF {
			return nil, errors.New("capfile: empty input")
		}
		return nil, fmt.Errorf("capfile: reading file header: %w", err)
	}
	if len(head) >= 2 && head[0] == gzipID1 && head[1] == gzipID2 {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("capfile: reading gzip header: %w", err)
		}
		// The decompressed stream gets a buffer of its own (the pcapng
		// reader hands out packets from it); gzip inside gzip is not
		// unpacked again, and is reported as not a capture.
		br = bufio.NewReaderSize(zr, bufSize)
		head, err = br.Peek(4)
		switch {
		case len(head) == 0 && err == io.EOF:
			return nil, errors.New("capfile: empty input (a gzip file that holds nothing)")
		case len(head) < 4 && err != nil && err != io.EOF:
			// The compressed stream itself was cut short or is corrupt.
			return nil, fmt.Errorf("capfile: reading gzip-compressed file header: %w", err)
		}
	}
	if len(head) < 4 {
		return nil, fmt.Errorf("capfile: not a pcap or pcapng file (%d bytes: %s)", len(head), hex.EncodeToString(head))
	}
	switch magic := binary.LittleEndian.Uint32(head); magic {
	case magicMicro, magicNano, magicMicroSwap, magicNanoSwap:
		pr, err := newPcapReader(br)
		if err != nil {
			return nil, err
		}
		return &Reader{pcap: pr, linkType: pr.linkType}, nil
	case magicSectionHead:
		ng, err := newNgReader(br)
		if err != nil {
			return nil, err
		}
		return &Reader{ng: ng, linkType: ng.linkType}, nil
	}
	more, _ := br.Peek(16)
	return nil, fmt.Errorf("capfile: not a pcap or pcapng file (starts with %s)", hex.EncodeToString(more))
}

// LinkType returns the file's link type: for pcapng, that of the first
// interface of the first section (0, LinkTypeNull, if there is none before
// the first packet). Use Packet.LinkType to decode packets.
func (r *Reader) LinkType() layers.LinkType { return r.linkType }

// Skipped returns the number of records skipped so far because their
// captured length exceeds their original length (caplen > len), in pcap
// and pcapng alike.
//
// Such a record is impossible in a capture that a capturing program wrote,
// so the file is damaged there. tcpdump 4.99 (libpcap 1.10) reads the
// record's caplen bytes, prints "[Invalid header: len(L) < caplen(C)]"
// instead of decoding it, and goes on with the next record; Next does the
// same: it moves past the record's data and returns the next record, so
// that the rest of the file is read. (Wireshark reads such records as they
// are; pcapgo ends the file there.) A caller that wants to tell the user
// checks Skipped at the end.
func (r *Reader) Skipped() int { return r.skipped }

// Next returns the next packet. Its Data is valid until the next call. At
// the end of a well-formed file Next returns io.EOF. A file that ends in the
// middle of a record (a capture cut short) yields all its complete packets,
// then an error wrapping io.ErrUnexpectedEOF (test with errors.Is). After
// any error, Next keeps returning it. Records whose captured length
// exceeds their original length are skipped and counted (Skipped).
func (r *Reader) Next() (Packet, error) {
	var p Packet
	if err := r.Read(&p); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// Read is Next into p, which a loop over a whole file reuses (no Packet is
// copied on the way). After an error p's fields are unspecified.
func (r *Reader) Read(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	if pr := r.pcap; pr != nil && !pr.big && pr.lengths == lengthsInOrder {
		// The usual record, read here rather than by pcapReader.next: a
		// little-endian file whose record is whole in the window and is
		// not skipped. Any other takes next.
		if rest := pr.win[pr.used:]; len(rest) >= pcapRecordLen {
			h := rest[:pcapRecordLen:pcapRecordLen]
			capLen, origLen := binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
			if total := pcapRecordLen + int(capLen); capLen <= origLen && capLen <= MaxCaptureLength && total <= len(rest) {
				pr.used += total
				nsec := int64(binary.LittleEndian.Uint32(h[4:8]))
				if !pr.nanos {
					nsec *= 1000
				}
				p.Data = rest[pcapRecordLen:total:total]
				p.Timestamp = time.Unix(int64(binary.LittleEndian.Uint32(h[0:4])), nsec).UTC()
				p.CaptureLength, p.Length = int(capLen), int(origLen)
				p.LinkType = pr.linkType
				r.n++
				return nil
			}
		}
	}
	for {
		var err error
		if r.ng != nil {
			*p, err = r.ng.next()
		} else {
			err = r.pcap.next(r.n+r.skipped+1, p)
		}
		if err != nil {
			r.err = err
			return err
		}
		if p.CaptureLength > p.Length {
			r.skipped++
			continue
		}
		r.n++
		return nil
	}
}
