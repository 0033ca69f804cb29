package logformat

import (
	"encoding/binary"
	"math/bits"
	"strings"

	"github.com/sniffer/sniffer/sniff/entry"
	"github.com/sniffer/sniffer/sniff/internal/ascii"
	"github.com/sniffer/sniffer/sniff/internal/httpframe"
)

// headerBlock returns the header block of m: the bytes at Head, through the
// blank line when the block is complete (HeaderLen >= 0), else up to the end
// of what was kept. Offsets out of range give an empty or shorter block.
func headerBlock(m *entry.Message) []byte {
	b := m.Bytes
	if m.Head < 0 || m.Head > len(b) {
		return nil
	}
	b = b[m.Head:]
	if m.HeaderLen >= 0 && m.HeaderLen <= len(b) {
		b = b[:m.HeaderLen]
	}
	return b
}

// headerComplete reports whether m's header block is complete and in range.
func headerComplete(m *entry.Message) bool {
	return m.HeaderLen >= 0 && m.Head >= 0 && m.Head <= len(m.Bytes) && m.HeaderLen <= len(m.Bytes)-m.Head
}

// headerText returns what %…header prints: the header block without its
// final blank line, so that it ends with the CRLF of the last header line.
// An incomplete block prints as it is.
func headerText(m *entry.Message) []byte {
	b := headerBlock(m)
	if !headerComplete(m) {
		return b
	}
	n := len(b)
	if n == 0 || b[n-1] != '\n' {
		return b
	}
	k := n - 1
	if k > 0 && b[k-1] == '\r' {
		k--
	}
	if k == 0 || b[k-1] == '\n' {
		return b[:k]
	}
	return b
}

// body returns the bytes after m's header block; nil when the block is not
// complete.
func body(m *entry.Message) []byte {
	if !headerComplete(m) {
		return nil
	}
	return m.Bytes[m.Head+m.HeaderLen:]
}

// firstLine returns the bytes at m.Head up to the first CR or LF.
func firstLine(m *entry.Message) []byte { return cutLine(headerBlock(m)) }

// cutLine returns b up to its first CR or LF. It skips eight bytes at a
// time while none is below 0x0e (CR), then goes byte by byte: a first line
// is some tens of bytes, which two bytes.IndexByte calls cost more to set
// up than to scan.
func cutLine(b []byte) []byte {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i : i+8])
		if (x-ones*0x0e)&^x&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			return b[:i]
		}
	}
	return b
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// lineField returns a part of an HTTP first line. Parts 0 and 1 are the
// first two blank-separated words (method and URL, or protocol and status
// code); part 2 is the third word of a request line (its protocol) or
// everything after the status code of a status line (the reason phrase,
// which may contain blanks), trimmed.
func lineField(line []byte, part uint8, s side) []byte {
	for n := uint8(0); ; n++ {
		for len(line) > 0 && isBlank(line[0]) {
			line = line[1:]
		}
		if n == 2 && s == response {
			return trimBlanks(line)
		}
		i := 0
		for i < len(line) && !isBlank(line[i]) {
			i++
		}
		if n == part {
			return line[:i]
		}
		line = line[i:]
	}
}

// linePart returns lineField(line, part, s) for the first line of the
// header block b (the line being b up to its first CR or LF), or an empty
// slice where lineField's is empty. The parts but a reason phrase are read
// without first looking for the end of the line: %response.code needs
// only the first bytes of a status line.
func linePart(b []byte, part uint8, s side) []byte {
	if part == 2 && s == response {
		return lineField(cutLine(b), part, s)
	}
	if part == 1 && s == response {
		if code, ok := statusCode(b); ok {
			return code
		}
	}
	return linePartLoop(b, part)
}

// statusCode returns the status code of a status line shaped as nearly all
// are, "HTTP/d.d ddd" and a blank or the line's end, which it checks byte
// by byte: what linePartLoop(b, 1) returns for it. ok is false for any
// other shape.
func statusCode(b []byte) (code []byte, ok bool) {
	if len(b) < 13 || string(b[:5]) != "HTTP/" || wordEnd[b[5]] || wordEnd[b[6]] || wordEnd[b[7]] ||
		b[8] != ' ' || wordEnd[b[9]] || wordEnd[b[10]] || wordEnd[b[11]] || !wordEnd[b[12]] {
		return nil, false
	}
	return b[9:12], true
}

// linePartLoop is linePart word by word: part 0 or 1, or 2 of a request
// line.
func linePartLoop(b []byte, part uint8) []byte {
	for n := uint8(0); ; n++ {
		i := 0
		for i < len(b) && isBlank(b[i]) {
			i++
		}
		b = b[i:]
		i = 0
		for i < len(b) && !wordEnd[b[i]] {
			i++
		}
		if n == part {
			return b[:i]
		}
		if i < len(b) && !isBlank(b[i]) {
			return b[i:i] // the line ended before the part
		}
		b = b[i:]
	}
}

// wordEnd holds the bytes that end a word of a first line: blanks, CR, LF.
var wordEnd = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

func trimBlanks(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// plainName reports whether a name may be looked up together with others
// (Format.keys): it is not empty, has no colon or LF and does not end in a
// blank, so that it can be a field's name. Other names are looked up alone
// (only the empty one can match at all).
func plainName(name string) bool {
	return name != "" && !isBlank(name[len(name)-1]) &&
		strings.IndexByte(name, ':') < 0 && strings.IndexByte(name, '\n') < 0
}

// headerKey is a header name that lookupFields looks for.
type headerKey struct {
	name string             // a plainName
	fold *httpframe.FoldKey // name, to compare; nil: compared byte by byte
	slot uint8              // where lookupFields puts its value
	// words: the name is at most 16 bytes, and is compared as two
	// 8-byte words (little-endian) read at 0 and at second: a name of
	// more than 8 bytes as its first and last eight, a shorter one twice
	// as its first word, span (8 or the length) bytes being read. That
	// costs a few instructions where a loop over the bytes costs some per
	// byte. w is the name in lower case, m has 0x20 at its letters (OR-ing
	// folds them to lower case) and keep the bytes of the name.
	words        bool
	second, span uint8
	w, m, keep   [2]uint64
}

// newHeaderKey returns the headerKey of name (a plainName) and slot.
func newHeaderKey(name string, slot uint8) headerKey {
	k := httpframe.NewFoldKey(name)
	key := headerKey{name: name, fold: &k, slot: slot}
	switch n := len(name); {
	case n <= 8:
		key.words, key.span = true, 8
		w, m := foldWord(name)
		keep := ^uint64(0) >> (64 - 8*n)
		key.w, key.m, key.keep = [2]uint64{w, w}, [2]uint64{m, m}, [2]uint64{keep, keep}
	case n <= 16:
		key.words, key.second, key.span = true, uint8(n-8), uint8(n)
		key.w[0], key.m[0] = foldWord(name[:8])
		key.w[1], key.m[1] = foldWord(name[n-8:])
		key.keep = [2]uint64{^uint64(0), ^uint64(0)}
	}
	return key
}

// foldWord returns s (at most 8 bytes) in lower case as a little-endian
// word, and the mask with 0x20 at its letters.
func foldWord(s string) (w, m uint64) {
	for i := len(s) - 1; i >= 0; i-- {
		c := ascii.Lower(s[i])
		w, m = w<<8|uint64(c), m<<8
		if 'a' <= c && c <= 'z' {
			m |= 0x20
		}
	}
	return w, m
}

// match reports whether b (as long as the name) is the name under ASCII
// case folding.
func (k *headerKey) match(b []byte) bool {
	if k.fold != nil {
		return k.fold.Match(b)
	}
	return ascii.EqualFold(b, k.name)
}

// maxLookups bounds the header look-ups that Append resolves together.
const maxLookups = 8

// fieldBuf is how many fields the look-ups of a message without Fields
// (entry.Message.HasFields false) find in its bytes without allocating.
const fieldBuf = 32

// findHeader returns the value of the first header field of m named name
// (compared whole and case-insensitively; continuation lines are not
// joined), as %…header.NAME prints it.
func findHeader(m *entry.Message, name string) ([]byte, bool) {
	fields := m.Fields
	if !m.HasFields {
		var buf [fieldBuf]entry.Field
		fields = m.HeaderFields(buf[:])
	}
	if !m.HTTP {
		return nil, false
	}
	if !plainName(name) {
		// Split every field: only the empty name can match.
		for _, f := range fields {
			if n, v, ok := f.Split(m.Bytes); ok && ascii.EqualFold(n, name) {
				return v, true
			}
		}
		return nil, false
	}
	// A keySet of one key, built without add's append, which allocates.
	one := [1]headerKey{{name: name}}
	ks := keySet{keys: one[:], all: 1}
	ks.first[ascii.Lower(name[0])], ks.first[ascii.Upper(name[0])] = 1, 1
	var v [maxLookups][]byte
	if lookupFields(m.Bytes, fields, &ks, &v) == 0 {
		return nil, false
	}
	return v[0], true
}

// keySet is the header names lookupFields looks for in one pass.
type keySet struct {
	keys []headerKey
	// first has bit j set at the bytes keys[j] starts with (either case):
	// most fields cost one look-up in it.
	first [256]uint8
	all   uint8 // a bit for each key
}

// add adds k to the set, which holds fewer than maxLookups keys.
func (ks *keySet) add(k headerKey) {
	bit := uint8(1) << len(ks.keys)
	ks.first[ascii.Lower(k.name[0])] |= bit
	ks.first[ascii.Upper(k.name[0])] |= bit
	ks.all |= bit
	ks.keys = append(ks.keys, k)
}

// lookupFields finds the values of the first fields named by the keys of
// ks (each a plainName, compared whole and case-insensitively) among
// fields, whose spans are in b: the value of a key goes to values[its
// slot], and bit slot of the result is set when it was found.
//
// It is the inner loop of every %…header.NAME, hence one pass for all the
// names of a message, and the way fields are read: a field's first byte
// (that of its name, split or not) is looked up in ks.first, so that most
// cost one test, and a line not split is compared with a name where it
// starts (a plainName is what precedes a line's first colon, right-trimmed,
// exactly when the line starts with it, blanks and a colon) rather than
// split. A line not split as decoders leave it (at its name's offset, in
// b) is read here, compared with the keys that start with its first byte,
// as words (headerKey.words); other fields go through otherField.
func lookupFields(b []byte, fields []entry.Field, ks *keySet, values *[maxLookups][]byte) (found uint) {
	var done uint8 // bit j: keys[j] was found
	for i := range fields {
		f := &fields[i]
		off := uint(f.Name.Off)
		if off >= uint(len(b)) {
			continue
		}
		starts := ks.first[b[off]]
		if starts == 0 {
			continue
		}
		if f.Name.Len >= 0 || f.Value.Off != f.Name.Off {
			if done = otherField(b, f, ks, values, done, &found); done == ks.all {
				return found
			}
			continue
		}
		// The line is b[off:end], if that is in b.
		end := off + uint(f.Value.Len)
		for cand := starts &^ done; cand != 0; cand &= cand - 1 {
			j := bits.TrailingZeros8(cand)
			k := &ks.keys[j]
			kn := uint(len(k.name))
			// The byte after the name first (fieldValue).
			if int(f.Value.Len) <= int(kn) || off+kn >= uint(len(b)) {
				continue
			}
			if c := b[off+kn]; c != ':' && !isBlank(c) {
				continue
			}
			if k.words && off+uint(k.span) <= uint(len(b)) {
				if (binary.LittleEndian.Uint64(b[off:])|k.m[0])&k.keep[0] != k.w[0] ||
					(binary.LittleEndian.Uint64(b[off+uint(k.second):])|k.m[1])&k.keep[1] != k.w[1] {
					continue
				}
			} else if !k.match(b[off : off+kn]) {
				continue
			}
			if end > uint(len(b)) {
				continue
			}
			// Most lines are "Name: value": that case without a call.
			var v []byte
			if rest := b[off+kn : end]; len(rest) > 2 && rest[0] == ':' && rest[1] == ' ' && !isBlank(rest[2]) && !isBlank(rest[len(rest)-1]) {
				v = rest[2:len(rest):len(rest)]
			} else {
				var ok bool
				if v, ok = colonValue(rest); !ok {
					continue
				}
			}
			values[k.slot&(maxLookups-1)] = v
			found |= 1 << k.slot
			if done |= 1 << j; done == ks.all {
				return found
			}
		}
	}
	return found
}

// otherField is lookupFields for one field that is split, or not where a
// decoder leaves the line (at its name's offset, within b), whose first
// byte one of the keys starts with: it tries every key not found yet
// (done) and returns done updated.
func otherField(b []byte, f *entry.Field, ks *keySet, values *[maxLookups][]byte, done uint8, found *uint) uint8 {
	off := uint(f.Name.Off)
	for j := range ks.keys {
		k := &ks.keys[j]
		if done&(1<<j) != 0 {
			continue
		}
		if f.Name.Len < 0 {
			// The byte after the name first (fieldValue).
			if kn := uint(len(k.name)); int(f.Value.Len) <= int(kn) || off+kn >= uint(len(b)) || b[off+kn] != ':' && !isBlank(b[off+kn]) {
				continue
			}
		}
		v, ok := fieldValue(b, f, k)
		if !ok {
			continue
		}
		values[k.slot&(maxLookups-1)] = v
		*found |= 1 << k.slot
		done |= 1 << j
	}
	return done
}

// fieldValue returns the value of f in b if its name is key's (a
// plainName, compared case-insensitively).
func fieldValue(b []byte, f *entry.Field, key *headerKey) ([]byte, bool) {
	name := key.name
	if f.Name.Len >= 0 {
		n, v := f.Name.Bytes(b), f.Value.Bytes(b)
		if n == nil || v == nil || !ascii.EqualFold(n, name) {
			return nil, false
		}
		return v[:len(v):len(v)], true
	}
	line := f.Value.Bytes(b)
	k := len(name)
	// The byte after the name first: it rules out most lines that share
	// the name's first letters (Content-Type for Content-Length).
	if len(line) <= k || line[k] != ':' && !isBlank(line[k]) {
		return nil, false
	}
	if !key.match(line[:k]) {
		return nil, false
	}
	return colonValue(line[k:])
}

// colonValue returns the value of a header line from the end of its name
// on (rest): after blanks and a colon, trimmed. ok is false when no colon
// follows the blanks.
func colonValue(rest []byte) ([]byte, bool) {
	k := 0
	for k < len(rest) && isBlank(rest[k]) {
		k++
	}
	if k == len(rest) || rest[k] != ':' {
		return nil, false
	}
	v := trimBlanks(rest[k+1:])
	return v[:len(v):len(v)], true
}

// authority returns the :authority of an HTTP/2 request, the host an
// HTTP/2 client names (it sends no Host header), for the look-ups of
// "host" that found none.
func authority(e *entry.Entry, m *entry.Message, name string) ([]byte, bool) {
	if e.StreamID == 0 || m != &e.Request || !ascii.EqualFold([]byte(name), "host") {
		return nil, false
	}
	return findHeader(m, ":authority")
}
