package logformat

import (
	"bytes"

	"github.com/sniffer/sniffer/sniff/entry"
)

// Duration names one of the durations the keywords print, for renderers
// other than Format (sniff/jsonlog) that must compute the same values.
type Duration uint8

// The durations, in the order of their keywords.
const (
	ConnectionTime    Duration = Duration(durConnection)    // %connection.time
	IdleTime0         Duration = Duration(durIdle0)         // %idle.time.0
	RequestTime       Duration = Duration(durRequest)       // %request.time
	ResponseTimeBegin Duration = Duration(durResponseBegin) // %response.time.begin
	ResponseTimeEnd   Duration = Duration(durResponseEnd)   // %response.time.end
	ResponseTime      Duration = Duration(durResponse)      // %response.time
	IdleTime1         Duration = Duration(durIdle1)         // %idle.time.1
	CloseTime         Duration = Duration(durClose)         // %close.time
	SessionTime       Duration = Duration(durSession)       // %session.time
)

// EntryDuration returns the duration d of e in microseconds, never negative,
// as the keyword prints it; ok is false when the keyword would print the
// not-found value.
func EntryDuration(e *entry.Entry, d Duration) (us int64, ok bool) {
	from, to := durationBounds(e, uint8(d))
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	us = to.UnixMicro() - from.UnixMicro()
	if us < 0 {
		us = 0
	}
	return us, true
}

// HeaderText returns what %request.header / %response.header print: the
// header block at m.Head without its final blank line.
func HeaderText(m *entry.Message) []byte { return headerText(m) }

// Body returns what %request.body / %response.body print: the bytes after
// the header block (nil when the block is not complete).
func Body(m *entry.Message) []byte { return body(m) }

// FirstLine returns what %request.line / %response.line print.
func FirstLine(m *entry.Message) []byte { return firstLine(m) }

// LineParts returns the three parts of an HTTP first line as the keywords
// print them: method, URL and protocol of a request, or protocol, status
// code and reason phrase of a response (response true). All are nil when m
// is not HTTP; an empty part is missing.
func LineParts(m *entry.Message, response bool) (a, b, c []byte) {
	if !m.HTTP {
		return nil, nil, nil
	}
	s := request
	if response {
		s = side(1)
	}
	line := firstLine(m)
	if m.HeadersIncomplete {
		return exactPart(line, 0, s), exactPart(line, 1, s), exactPart(line, 2, s)
	}
	return lineField(line, 0, s), lineField(line, 1, s), lineField(line, 2, s)
}

// exactPart is lineField for the first line a decoder rendered from a head
// it could not decode whole (Message.HeadersIncomplete: an HTTP/2 request
// whose :path, say, was in the dynamic table a pickup never saw): its parts
// are separated by exactly one space, and a part it does not know is
// empty ("GET  HTTP/2.0"), which must print not-found rather than shift
// the next part into its place.
func exactPart(line []byte, part uint8, s side) []byte {
	for n := uint8(0); ; n++ {
		if n == 2 && s == response {
			return line
		}
		i := bytes.IndexByte(line, ' ')
		if n == part {
			if i < 0 {
				return line
			}
			return line[:i]
		}
		if i < 0 {
			return nil
		}
		line = line[i+1:]
	}
}

// Header returns the value of the first header of the given name, as
// %…header.NAME finds it.
func Header(m *entry.Message, name string) ([]byte, bool) {
	if !m.HTTP {
		return nil, false
	}
	return findHeader(m, name)
}
