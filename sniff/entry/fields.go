package entry

import "bytes"

// HeaderFields returns the header fields of m: Fields when the decoder
// filled them (HasFields), else those ScanFields finds in Bytes, appended
// to buf[:0]. It returns nil when m is not HTTP.
func (m *Message) HeaderFields(buf []Field) []Field {
	if !m.HTTP {
		return nil
	}
	if m.HasFields {
		return m.Fields
	}
	return ScanFields(buf[:0], m)
}

// Split returns the name and value of f in b (the message's Bytes): its
// spans, or for a line not split yet (Name.Len < 0) the line at Value split
// at its first colon (see LineField). ok is false when the line has no
// colon (it is no field) or the spans lie outside b.
func (f Field) Split(b []byte) (name, value []byte, ok bool) {
	if f.Name.Len < 0 {
		line := f.Value.Bytes(b)
		if line == nil {
			return nil, nil, false
		}
		var lf Field
		if lf, ok = LineField(line, int(f.Value.Off)); !ok {
			return nil, nil, false
		}
		f = lf
	}
	name, value = f.Name.Bytes(b), f.Value.Bytes(b)
	return name, value, name != nil && value != nil
}

// ScanFields appends to dst the fields of the head at m.Head as a decoder
// frames them (see Message.Fields), reading the bytes: the lines after the
// first one up to the blank line (a head cut short, HeaderLen < 0, up to
// the end of Bytes; when HeadTruncated, up to its last line end). It is the
// reading of messages without Fields (HasFields false).
func ScanFields(dst []Field, m *Message) []Field {
	b := m.Bytes
	if m.Head < 0 || m.Head > len(b) {
		return dst
	}
	end := len(b)
	if m.HeaderLen >= 0 && m.HeaderLen <= len(b)-m.Head {
		end = m.Head + m.HeaderLen
	}
	if m.HeadTruncated {
		end = m.Head + bytes.LastIndexByte(b[m.Head:end], '\n') + 1
	}
	i := bytes.IndexByte(b[m.Head:end], '\n')
	if i < 0 {
		return dst
	}
	for off := m.Head + i + 1; off < end; {
		stop, next := end, end
		if j := bytes.IndexByte(b[off:end], '\n'); j >= 0 {
			stop, next = off+j, off+j+1
		}
		if stop > off && b[stop-1] == '\r' {
			stop--
		}
		if stop == off {
			break // the blank line
		}
		if f, ok := LineField(b[off:stop], off); ok {
			dst = append(dst, f)
		}
		off = next
	}
	return dst
}

// LineField returns the field of the header line line (without its line
// end), found at offset off of the message's bytes: its name is what is
// before the first colon (for a line that starts with a colon and has a
// second, an HTTP/2 pseudo-header field, the second), right-trimmed of blanks, its value what
// is after, trimmed. ok is false when the line has no colon or the offsets do not
// fit a Span.
func LineField(line []byte, off int) (f Field, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon == 0 && len(line) > 1 {
		// An HTTP/2 head's pseudo-header field (":authority: example.com",
		// see h2conn.AppendHead): the name starts with its colon and ends
		// at the second. (In HTTP/1 a line with an empty name is not a
		// valid header either way.)
		if c := bytes.IndexByte(line[1:], ':'); c >= 0 {
			colon = c + 1
		}
	}
	if colon < 0 || off < 0 || off+len(line) > 1<<31-1 {
		return Field{}, false
	}
	n := colon
	for n > 0 && isBlank(line[n-1]) {
		n--
	}
	i, j := colon+1, len(line)
	for i < j && isBlank(line[i]) {
		i++
	}
	for j > i && isBlank(line[j-1]) {
		j--
	}
	return Field{
		Name:  Span{Off: int32(off), Len: int32(n)},
		Value: Span{Off: int32(off + i), Len: int32(j - i)},
	}, true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
