package h2conn

import "encoding/binary"

// Frame types (RFC 9113 6).
const (
	FrameData         = 0x0
	FrameHeaders      = 0x1
	FramePriority     = 0x2
	FrameRSTStream    = 0x3
	FrameSettings     = 0x4
	FramePushPromise  = 0x5
	FramePing         = 0x6
	FrameGoAway       = 0x7
	FrameWindowUpdate = 0x8
	FrameContinuation = 0x9
	// FrameUnknown is the index of Stats.Frames counting frames of types
	// this package does not know (they are skipped, as RFC 9113 4.1 says).
	FrameUnknown = 0xa
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// FrameHeaderLen is the size of a frame header.
const FrameHeaderLen = 9

// MaxFrameLen is the largest frame payload the 24-bit length field allows
// (and the largest SETTINGS_MAX_FRAME_SIZE).
const MaxFrameLen = 1<<24 - 1

// Preface is the client connection preface.
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// FrameHeader is a decoded frame header.
type FrameHeader struct {
	Length   uint32
	Type     uint8
	Flags    uint8
	StreamID uint32
}

// ParseFrameHeader decodes the 9-byte header at the start of b (which must
// hold at least FrameHeaderLen bytes). The reserved bit is dropped.
func ParseFrameHeader(b []byte) FrameHeader {
	_ = b[8]
	return FrameHeader{
		Length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		Type:     b[3],
		Flags:    b[4],
		StreamID: binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff,
	}
}

// allowedFlags are the flags defined per known type.
var allowedFlags = [...]uint8{
	FrameData:         flagEndStream | flagPadded,
	FrameHeaders:      flagEndStream | flagEndHeaders | flagPadded | flagPriority,
	FramePriority:     0,
	FrameRSTStream:    0,
	FrameSettings:     flagAck,
	FramePushPromise:  flagEndHeaders | flagPadded,
	FramePing:         flagAck,
	FrameGoAway:       0,
	FrameWindowUpdate: 0,
	FrameContinuation: flagEndHeaders,
}

// Plausible reports whether h looks like the header of a frame a real peer
// sends: a known type, only that type's flags, the reserved bit clear, a
// stream id where the type needs one (and none where it must not), the
// fixed lengths of the fixed-size types, and a length at most maxLen. It
// is the test used to find frame boundaries in bytes of unknown alignment
// (a pickup, a gap): it is stricter than the RFC's reader, which must skip
// unknown types and ignore unknown flags, because a false boundary costs
// more than a frame missed.
func Plausible(b []byte, maxLen uint32) bool {
	if len(b) < FrameHeaderLen || b[5]&0x80 != 0 {
		return false
	}
	h := ParseFrameHeader(b)
	if h.Type > FrameContinuation || h.Flags&^allowedFlags[h.Type] != 0 || h.Length > maxLen {
		return false
	}
	switch h.Type {
	case FrameSettings, FramePing, FrameGoAway:
		if h.StreamID != 0 {
			return false
		}
	case FrameWindowUpdate:
	default:
		if h.StreamID == 0 {
			return false
		}
	}
	switch h.Type {
	case FramePriority:
		return h.Length == 5
	case FrameRSTStream, FrameWindowUpdate:
		return h.Length == 4
	case FramePing:
		return h.Length == 8
	case FrameSettings:
		return h.Length%6 == 0 && (h.Flags&flagAck == 0 || h.Length == 0)
	case FrameGoAway:
		return h.Length >= 8
	case FrameHeaders, FramePushPromise, FrameContinuation:
		return h.Length > 0
	}
	return true
}

// probeMaxLen is the largest frame length accepted when the peers'
// SETTINGS_MAX_FRAME_SIZE is unknown: 1 MiB covers the common settings
// (16 KiB default, 1 MiB of Go's server) while a random 24-bit length is
// rarely below it.
const probeMaxLen = 1 << 20

// Chain walks the frame headers from the start of b while they are
// plausible. It returns the number of plausible headers, and whether the
// walk ended exactly at the end of b (the frames tile b), or at a frame
// that runs past the end (its header plausible, counted), rather than at
// an implausible header.
func Chain(b []byte, maxLen uint32) (n int, ok bool) {
	for len(b) > 0 {
		if len(b) < FrameHeaderLen {
			return n, true
		}
		if !Plausible(b, maxLen) {
			return n, false
		}
		n++
		l := FrameHeaderLen + int(ParseFrameHeader(b).Length)
		if l >= len(b) {
			return n, true
		}
		b = b[l:]
	}
	return n, true
}

// Probe reports whether b, the first bytes of one direction of a
// connection picked up at an unknown point, looks like HTTP/2: the client
// preface (or a prefix of it), or frames from its first byte on — at least
// two plausible frame headers in a row, or one whose frame ends exactly at
// the end of b. It is what an engine can use to choose this decoder for a
// connection whose start it did not see.
func Probe(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if n := min(len(b), len(Preface)); string(b[:n]) == Preface[:n] {
		return true
	}
	n, ok := Chain(b, probeMaxLen)
	if !ok || n == 0 {
		return false
	}
	if n >= 2 {
		return true
	}
	return FrameHeaderLen+int(ParseFrameHeader(b).Length) == len(b)
}
