// Package jsonlog renders a log entry as one JSON object (JSON Lines, one
// object per line): every value the log-format keywords can print, typed.
//
// # Schema
//
// Values that are missing — what a keyword prints as the not-found value —
// are omitted, never null. Durations are seconds as numbers with six
// decimals (microseconds); timestamps are RFC 3339 strings with
// microseconds in the Options' zone (local time by default: TZ chooses it),
// e.g. "2024-05-01T12:00:00.123456Z" or "...+02:00". Strings are the bytes
// as captured; bytes that are not valid UTF-8 become U+FFFD, except in
// bodies (see below).
//
//	connection           string  %connection: start, continue, last, unique, or open (printed before the connection's fate was known)
//	connection_final     bool    false when connection is open: the label is provisional
//	connection_id        number  %connection.id: the connection's number, in order of appearance (omitted if 0)
//	session_requests     number  %session.requests: the entry's index in its connection (0: no payload)
//	streams              number  %streams
//	container            string  %container: the container the entry was captured in (sniffer attach)
//	source               object  {"ip": string, "port": number, "name": string}: the client
//	                             (%source.ip, %source.port, %source.name: name omitted when unknown)
//	dest                 object  {"ip": string, "port": number, "name": string}: the server (%dest.…)
//	connection_time      number  %connection.time (first entry only)
//	connection_timestamp string  %connection.timestamp: the SYN (first entry only)
//	idle_time_0          number  %idle.time.0
//	idle_time_1          number  %idle.time.1
//	close_time           number  %close.time (final entries)
//	close_timestamp      string  %close.timestamp
//	close_originator     string  %close.originator: client, server, timedout, truncated
//	session_time         number  %session.time
//	gap                  bool    true when bytes of the entry were never captured (else omitted)
//	tls                  object  a TLS connection's entry (one per connection, see logformat):
//	                             {"version": string, "sni": string, "alpn": string,
//	                             "alpn_negotiated": bool, "round_trips": number,
//	                             "round_trips_lower_bound": true} — %tls.version, %tls.sni,
//	                             %tls.alpn (alpn_negotiated false: the client's offers),
//	                             %tls.round-trips (lower bound: a gap lost the record
//	                             framing; else omitted); the bytes each way are request.size
//	                             and response.size, the duration session_time, who closed
//	                             close_originator. For other entries whose request is a TLS
//	                             ClientHello: {"version": string, "sni": string}
//	stream_id            number  %stream.id: an HTTP/2 entry's stream (else omitted)
//	grpc                 object  {"status": number, "message": string}: %grpc.status,
//	                             %grpc.message (message omitted when none; grpc omitted
//	                             when the response had no grpc-status)
//	request              object  the request, below
//	response             object  the response, below
//
// request and response (always present; their fields omitted as above):
//
//	timestamp      string  %request.timestamp / %response.timestamp: the last packet
//	size           number  %….size: payload bytes (0 if none)
//	time           number  %request.time / %response.time
//	time_begin     number  %response.time.begin (response only)
//	time_end       number  %response.time.end (response only)
//	line           string  %….line
//	method url protocol   strings (request)    %request.method, .url, .protocol
//	protocol code message (response)           %response.protocol; code is a number
//	                                           (omitted when not one), message a string
//	header_truncated bool  true when the header block was longer than the header
//	                       cap (--max-header): headers lists what fits; else omitted
//	headers        array   [{"name": string, "value": string}, ...] in order, as
//	                       %….header.NAME reads them (lines without ':' skipped;
//	                       HTTP/2: pseudo-headers included, ":authority" first)
//	headers_incomplete bool true when the decoder could not decode the whole header
//	                       block (HTTP/2: HPACK state lost to a pickup or a gap):
//	                       headers lists what was decoded; else omitted
//	body           string  with Options.Bodies only: %….body (the whole bytes of
//	                       a message that is not HTTP), as sent, not de-chunked
//	body_encoding  string  with body: "utf8" (the body as a JSON string) or "base64"
//	                       (standard encoding, when the bytes are not valid UTF-8)
//	body_truncated bool    with body: true when bytes were not kept (a cap, or
//	                       bodies not kept); else omitted
//
// Append does not allocate when dst has room.
package jsonlog

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/tlshello"
	"github.com/sniffer/sniffer/sniff/logformat"
)

// Options tune the rendering.
type Options struct {
	// Location is the zone of the timestamps; nil means time.Local.
	Location *time.Location
	// Bodies adds the bodies (body, body_encoding, body_truncated).
	Bodies bool
}

// Append renders e as one JSON object, without a newline, and appends it to
// dst. A nil o means the default options.
func Append(dst []byte, e *entry.Entry, o *Options) []byte {
	var def Options
	if o == nil {
		o = &def
	}
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	dst = append(dst, `{"connection":"`...)
	dst = append(dst, e.Annotation.String()...)
	dst = append(dst, `","connection_final":`...)
	dst = strconv.AppendBool(dst, e.Annotation.Known())
	if e.Conn != 0 {
		dst = append(dst, `,"connection_id":`...)
		dst = strconv.AppendUint(dst, e.Conn, 10)
	}
	dst = append(dst, `,"session_requests":`...)
	dst = strconv.AppendInt(dst, int64(e.Index), 10)
	dst = append(dst, `,"streams":`...)
	dst = strconv.AppendInt(dst, int64(e.Streams), 10)
	if e.Container != "" {
		dst = append(dst, `,"container":`...)
		dst = AppendString(dst, []byte(e.Container))
	}
	dst = appendEndpoint(dst, `,"source":`, e.Client, e.SourceName)
	dst = appendEndpoint(dst, `,"dest":`, e.Server, e.DestName)
	dst = appendDuration(dst, `,"connection_time":`, e, logformat.ConnectionTime)
	dst = appendTime(dst, `,"connection_timestamp":`, e.SYN, loc)
	dst = appendDuration(dst, `,"idle_time_0":`, e, logformat.IdleTime0)
	dst = appendDuration(dst, `,"idle_time_1":`, e, logformat.IdleTime1)
	dst = appendDuration(dst, `,"close_time":`, e, logformat.CloseTime)
	dst = appendTime(dst, `,"close_timestamp":`, e.Close, loc)
	if e.Originator != entry.None {
		dst = append(dst, `,"close_originator":"`...)
		dst = append(dst, e.Originator.String()...)
		dst = append(dst, '"')
	}
	dst = appendDuration(dst, `,"session_time":`, e, logformat.SessionTime)
	if e.Gap {
		dst = append(dst, `,"gap":true`...)
	}
	if t := e.TLS; t != nil {
		dst = appendTLS(dst, t)
	} else if h, ok := tlshello.Parse(e.Request.Bytes); ok {
		dst = append(dst, `,"tls":{"version":"`...)
		dst = tlshello.AppendVersion(dst, h.Version)
		dst = append(dst, '"')
		if h.SNI != nil {
			dst = append(dst, `,"sni":`...)
			dst = AppendString(dst, h.SNI)
		}
		dst = append(dst, '}')
	}
	if e.StreamID != 0 {
		dst = append(dst, `,"stream_id":`...)
		dst = strconv.AppendUint(dst, uint64(e.StreamID), 10)
	}
	if e.GRPC {
		dst = append(dst, `,"grpc":{"status":`...)
		dst = strconv.AppendInt(dst, int64(e.GRPCStatus), 10)
		if e.GRPCMessage != nil {
			dst = append(dst, `,"message":`...)
			dst = AppendString(dst, e.GRPCMessage)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"request":`...)
	dst = appendMessage(dst, e, &e.Request, false, o, loc)
	dst = append(dst, `,"response":`...)
	dst = appendMessage(dst, e, &e.Response, true, o, loc)
	return append(dst, '}')
}

// appendTLS appends the tls object of a TLS connection's entry.
func appendTLS(dst []byte, t *entry.TLS) []byte {
	dst = append(dst, `,"tls":{`...)
	comma := false
	if t.Version != 0 {
		dst = append(dst, `"version":"`...)
		dst = tlshello.AppendVersion(dst, t.Version)
		dst = append(dst, '"')
		comma = true
	}
	if t.SNI != nil {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"sni":`...)
		dst = AppendString(dst, t.SNI)
		comma = true
	}
	if t.ALPN != nil {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"alpn":`...)
		dst = AppendString(dst, t.ALPN)
		dst = append(dst, `,"alpn_negotiated":`...)
		dst = strconv.AppendBool(dst, t.ALPNNegotiated)
		comma = true
	}
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"round_trips":`...)
	dst = strconv.AppendInt(dst, int64(t.RoundTrips), 10)
	if t.LowerBound {
		dst = append(dst, `,"round_trips_lower_bound":true`...)
	}
	return append(dst, '}')
}

func appendEndpoint(dst []byte, key string, ap netip.AddrPort, name string) []byte {
	if !ap.Addr().IsValid() {
		return dst
	}
	dst = append(dst, key...)
	dst = append(dst, `{"ip":"`...)
	dst = ap.Addr().AppendTo(dst)
	dst = append(dst, `","port":`...)
	dst = strconv.AppendUint(dst, uint64(ap.Port()), 10)
	if name != "" {
		dst = append(dst, `,"name":`...)
		dst = AppendString(dst, []byte(name))
	}
	return append(dst, '}')
}

func appendMessage(dst []byte, e *entry.Entry, m *entry.Message, response bool, o *Options, loc *time.Location) []byte {
	dst = append(dst, `{"size":`...)
	dst = strconv.AppendInt(dst, m.Size, 10)
	dst = appendTime(dst, `,"timestamp":`, m.Last, loc)
	if response {
		dst = appendDuration(dst, `,"time":`, e, logformat.ResponseTime)
		dst = appendDuration(dst, `,"time_begin":`, e, logformat.ResponseTimeBegin)
		dst = appendDuration(dst, `,"time_end":`, e, logformat.ResponseTimeEnd)
	} else {
		dst = appendDuration(dst, `,"time":`, e, logformat.RequestTime)
	}
	if line := logformat.FirstLine(m); len(m.Bytes) > 0 {
		dst = append(dst, `,"line":`...)
		dst = AppendString(dst, line)
	}
	a, b, c := logformat.LineParts(m, response)
	if response {
		dst = appendField(dst, `,"protocol":`, a)
		if code, ok := parseCode(b); ok {
			dst = append(dst, `,"code":`...)
			dst = strconv.AppendInt(dst, int64(code), 10)
		}
		dst = appendField(dst, `,"message":`, c)
	} else {
		dst = appendField(dst, `,"method":`, a)
		dst = appendField(dst, `,"url":`, b)
		dst = appendField(dst, `,"protocol":`, c)
	}
	if m.HeadTruncated {
		dst = append(dst, `,"header_truncated":true`...)
	}
	if m.HeadersIncomplete {
		dst = append(dst, `,"headers_incomplete":true`...)
	}
	var buf [32]entry.Field
	fields := m.HeaderFields(buf[:])
	n := 0
	for _, f := range fields {
		name, value, ok := f.Split(m.Bytes)
		if !ok {
			continue
		}
		if n == 0 {
			dst = append(dst, `,"headers":[`...)
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"name":`...)
		dst = AppendString(dst, bytes.TrimLeft(name, " \t"))
		dst = append(dst, `,"value":`...)
		dst = AppendString(dst, value)
		dst = append(dst, '}')
	}
	if n > 0 {
		dst = append(dst, ']')
	}
	if o.Bodies {
		body, ok := logformat.Body(m), true
		if !m.HTTP {
			body = m.Bytes
		} else if m.HeaderLen < 0 {
			ok = false
		}
		if ok && (len(body) > 0 || m.BytesTruncated) {
			if utf8.Valid(body) {
				dst = append(dst, `,"body":`...)
				dst = AppendString(dst, body)
				dst = append(dst, `,"body_encoding":"utf8"`...)
			} else {
				dst = append(dst, `,"body":"`...)
				dst = base64.StdEncoding.AppendEncode(dst, body)
				dst = append(dst, `","body_encoding":"base64"`...)
			}
			if m.BytesTruncated {
				dst = append(dst, `,"body_truncated":true`...)
			}
		}
	}
	return append(dst, '}')
}

// parseCode reads a status code: 1 to 9 decimal digits.
func parseCode(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func appendField(dst []byte, key string, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = append(dst, key...)
	return AppendString(dst, v)
}

func appendDuration(dst []byte, key string, e *entry.Entry, d logformat.Duration) []byte {
	us, ok := logformat.EntryDuration(e, d)
	if !ok {
		return dst
	}
	dst = append(dst, key...)
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	f := us % 1e6
	for div := int64(1e5); div > 0; div /= 10 {
		dst = append(dst, byte('0'+f/div%10))
	}
	return dst
}

// rfc3339Micro is RFC 3339 with microseconds.
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

func appendTime(dst []byte, key string, t time.Time, loc *time.Location) []byte {
	if t.IsZero() {
		return dst
	}
	dst = append(dst, key...)
	dst = append(dst, '"')
	dst = t.In(loc).AppendFormat(dst, rfc3339Micro)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendString appends b as a JSON string: quotes, backslash and control
// characters escaped (and <, >, & left alone), invalid UTF-8 replaced by
// U+FFFD, U+2028 and U+2029 escaped.
func AppendString(dst, b []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, b[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, b[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}
