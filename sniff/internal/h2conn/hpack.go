package h2conn

import (
	"bytes"
	"errors"
	"unsafe"

	"golang.org/x/net/http2/hpack"

	"github.com/sniffer/sniffer/sniff/internal/ascii"
)

// The header block decoder of one direction (RFC 7541).
//
// It is not hpack.Decoder because a passive observer must go on where
// hpack.Decoder stops: after a pickup or a capture gap the dynamic table
// is unknown, and hpack.Decoder ends a block at the first reference to an
// entry it lacks, losing the static-table and literal fields after it and
// the insertions that would resynchronise later blocks. This decoder
// resolves what it can — the static table (taken from hpack at init),
// literals, and the entries inserted since the state was lost, which are
// the newest and so sit at known indices — and reports the rest as
// unknown. Strings are decoded into the caller's buffer (Huffman with
// hpack.HuffmanDecode), so a block allocates nothing but the entries it
// inserts. FuzzHPACKAgainstXNet checks it against hpack.Decoder on blocks
// hpack.Decoder accepts.

// staticTable holds RFC 7541's static table, index 1 at [0], read from
// golang.org/x/net/http2/hpack once.
var staticTable = func() [61]hpack.HeaderField {
	var t [61]hpack.HeaderField
	var got hpack.HeaderField
	d := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = f })
	for i := range t {
		if _, err := d.Write([]byte{0x80 | byte(i+1)}); err != nil {
			panic("hpack static table: " + err.Error())
		}
		t[i] = got
	}
	return t
}()

// staticLines holds staticTable's entries as rendered lines.
var staticLines = func() [61]tableEntry {
	var t [61]tableEntry
	for i, f := range staticTable {
		t[i] = tableEntry{f.Name + ": " + f.Value + "\r\n", len(f.Name), splitsAsLine(view(f.Name), view(f.Value)), pseudoOf(view(f.Name))}
	}
	return t
}()

// entryOverhead is the per-entry size overhead of RFC 7541 4.1.
const entryOverhead = 32

// tableEntry holds name and value in one string, rendered as the line
// "name: value\r\n" that Fields keeps: one allocation per insertion, and
// one copy of an indexed field into its Fields. plain (splitsAsLine of
// its name and value) and pseudo (pseudoOf its name) are worked out once
// per insertion instead of once per reference.
type tableEntry struct {
	line   string
	nlen   int
	plain  bool
	pseudo pseudo
}

func (e tableEntry) name() string { return e.line[:e.nlen] }

// size is the entry's RFC 7541 4.1 size.
func (e tableEntry) size() int { return len(e.line) - 4 + entryOverhead }

// dynTable is a dynamic table: entries[len-1] is the newest (index 62).
type dynTable struct {
	entries []tableEntry
	size    uint32
	// max is the table size the encoder set (a dynamic table size update,
	// or the default 4096); maxKnown is false after the state was lost
	// until an update says it again.
	max      uint32
	maxKnown bool
	// allowed is the largest size the encoder may set: the receiver's
	// SETTINGS_HEADER_TABLE_SIZE (4096 until seen).
	allowed uint32
	// limit bounds the memory kept, whatever max says.
	limit uint32
	// unknownTail: entries older than those held may exist (state lost,
	// or evicted here to stay under limit): a reference past the held
	// entries is unknown, not an error.
	unknownTail bool
}

func (t *dynTable) reset(limit uint32) {
	t.entries = t.entries[:0]
	t.size = 0
	t.max, t.maxKnown, t.allowed, t.limit = 4096, true, 4096, limit
	t.unknownTail = false
}

// lose forgets the table: what was in it and its size are unknown.
func (t *dynTable) lose() {
	clear(t.entries)
	t.entries = t.entries[:0]
	t.size = 0
	t.maxKnown = false
	t.unknownTail = true
}

func (t *dynTable) evictOldest() {
	e := t.entries[0]
	t.size -= uint32(e.size())
	copy(t.entries, t.entries[1:])
	t.entries[len(t.entries)-1] = tableEntry{}
	t.entries = t.entries[:len(t.entries)-1]
}

// setMax applies a dynamic table size update.
func (t *dynTable) setMax(n uint32) {
	t.max, t.maxKnown = n, true
	if n == 0 {
		// Empty for certain: whatever was unknown is gone.
		for len(t.entries) > 0 {
			t.evictOldest()
		}
		t.unknownTail = false
		return
	}
	for len(t.entries) > 0 && t.size > n {
		t.evictOldest()
	}
}

// add inserts the field whose rendered line is line, its name line[:nlen].
func (t *dynTable) add(line []byte, nlen int) {
	sz := uint64(len(line)) - 4 + entryOverhead
	if t.maxKnown && sz > uint64(t.max) {
		// RFC 7541 4.4: an entry larger than the table empties it.
		for len(t.entries) > 0 {
			t.evictOldest()
		}
		t.unknownTail = false
		return
	}
	if t.maxKnown {
		for len(t.entries) > 0 && uint64(t.size)+sz > uint64(t.max) {
			t.evictOldest()
		}
	}
	if sz > uint64(t.limit) {
		for len(t.entries) > 0 {
			t.evictOldest()
		}
		t.unknownTail = true
		return
	}
	for len(t.entries) > 0 && uint64(t.size)+sz > uint64(t.limit) {
		t.evictOldest()
		t.unknownTail = true
	}
	t.entries = append(t.entries, tableEntry{string(line), nlen, splitsAsLine(line[:nlen], line[nlen+2:len(line)-2]), pseudoOf(line[:nlen])})
	t.size += uint32(sz)
}

var (
	errTruncated  = errors.New("hpack: block ends inside a field")
	errInteger    = errors.New("hpack: integer overflow")
	errIndex      = errors.New("hpack: index out of range")
	errHuffman    = errors.New("hpack: bad Huffman string")
	errSizeUpdate = errors.New("hpack: table size update above the allowed size")
)

// readInt reads an integer with an n-bit prefix (RFC 7541 5.1) from b.
// Continuation bytes are read while the next one's bits would still start
// below bit 63, as x/net's decoder reads them: an encoder may pad a small
// value with redundant zero continuations (0x80), and a block x/net
// accepts must decode here too. Every caller bounds the value it gets
// (an index in range, a size allowed, a length within the block).
func readInt(b []byte, n uint) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, errTruncated
	}
	mask := uint64(1)<<n - 1
	v := uint64(b[0]) & mask
	if v < mask {
		return v, 1, nil
	}
	var m uint
	for i := 1; i < len(b); i++ {
		c := b[i]
		v += uint64(c&0x7f) << m
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		m += 7
		if m >= 63 {
			return 0, 0, errInteger
		}
	}
	return 0, 0, errTruncated
}

// field is what the block decoder hands to its sink: name and value point
// into scratch storage valid until the next field; unknown means the field
// referenced a dynamic entry that is not known (name and value empty, or
// only the value known when the name's index was unknown).
//
// line is the field rendered, "name: value\r\n" (name and value are in
// it), nil when the name is unknown: set exactly when unknown is not.
type field struct {
	name, value, line []byte
	unknown           bool
	sensitive         bool
	// plain is splitsAsLine(name, value), set when line is.
	plain bool
	// pseudo is pseudoOf(name), set when line is.
	pseudo pseudo
}

// sink takes the fields decode decodes: into fields (nil: the block is
// decoded for the HPACK state only) while the header list stays within
// limit bytes (RFC 9113 sizes: name, value and 32 per field); past it,
// side is marked Truncated (counted in *truncated, once per side) and the
// fields are not kept. each, when set, is handed every field instead
// (tests compare the decoder with x/net's).
type sink struct {
	fields    *Fields
	side      *Side
	limit     int
	truncated *uint64
	each      func(*field)
}

func (k *sink) add(f *field) {
	if k.each != nil {
		k.each(f)
		return
	}
	if k.fits(len(f.name) + len(f.value)) {
		k.fields.add(f)
	}
}

// addEntry is add of an indexed field whose entry is known, without a
// field made for it.
func (k *sink) addEntry(e *tableEntry) {
	if k.fits(len(e.line) - 4) {
		k.fields.addLine(view(e.line), e.nlen, e.plain)
		k.fields.note(e.pseudo)
	}
}

// fits reports whether a field of n bytes of name and value is kept, and
// counts it in the list's size when it is.
func (k *sink) fits(n int) bool {
	fl := k.fields
	if fl == nil {
		return false
	}
	sz := n + entryOverhead
	if fl.size+sz > k.limit {
		k.truncate()
		return false
	}
	fl.size += sz
	return true
}

// truncate marks the side's header list truncated: a field went past the
// limit.
func (k *sink) truncate() {
	if !k.side.Truncated {
		k.side.Truncated = true
		*k.truncated++
	}
}

// blockDecoder decodes header blocks of one direction.
type blockDecoder struct {
	table dynTable
	// scratch holds the decoded strings of the current field, f the
	// field handed to the sink (a field of its own would escape).
	scratch byteWriter
	f       field
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readString reads a string literal into w, returning the bytes used.
func readString(b []byte, w *byteWriter) (int, error) {
	if len(b) == 0 {
		return 0, errTruncated
	}
	huff := b[0]&0x80 != 0
	n, used, err := readInt(b, 7)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(b)-used) {
		return 0, errTruncated
	}
	s := b[used : used+int(n)]
	if huff {
		// Huffman decoding expands at most 8/5: bounded by the block size.
		if _, err := hpack.HuffmanDecode(w, s); err != nil {
			return 0, errHuffman
		}
	} else {
		w.b = append(w.b, s...)
	}
	return used + int(n), nil
}

// view returns the bytes of s without copying them: the sink and the
// table only read a field's name and value (the table copies what it
// inserts), and a table entry's string stays as it is while viewed.
func view(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// entry returns the entry at index i (1-based): ok false with known true is
// an index error; known false is a reference to an entry that is unknown.
func (d *blockDecoder) entry(i uint64) (e *tableEntry, ok bool) {
	if i == 0 {
		return nil, false
	}
	if i <= uint64(len(staticLines)) {
		return &staticLines[i-1], true
	}
	j := i - uint64(len(staticLines)) - 1
	if j < uint64(len(d.table.entries)) {
		return &d.table.entries[len(d.table.entries)-1-int(j)], true
	}
	return nil, false
}

// decode decodes one complete header block, calling sink for every field.
// It returns the number of fields whose name or value was unknown, and an
// error when the block is malformed (the fields before it were handed on;
// the table may then be out of step, which the caller handles by losing it).
func (d *blockDecoder) decode(b []byte, k *sink) (unknown int, err error) {
	f := &d.f
	for len(b) > 0 {
		c := b[0]
		switch {
		case c&0x80 != 0: // indexed
			i, n := uint64(c&0x7f), 1
			if i == 0x7f {
				if i, n, err = readInt(b, 7); err != nil {
					return unknown, err
				}
			}
			b = b[n:]
			e, ok := d.entry(i)
			if ok && k.each == nil {
				// The usual field: an entry copied as it is.
				k.addEntry(e)
				continue
			}
			*f = field{}
			if !ok {
				if i == 0 || !d.table.unknownTail {
					return unknown, errIndex
				}
				f.unknown = true
				unknown++
			} else {
				f.line = view(e.line)
				f.name = f.line[:e.nlen]
				f.value = f.line[e.nlen+2 : len(f.line)-2]
				f.plain, f.pseudo = e.plain, e.pseudo
			}
			k.add(f)
		case c&0xe0 == 0x20: // dynamic table size update
			v, n, err := readInt(b, 5)
			if err != nil {
				return unknown, err
			}
			b = b[n:]
			if v > uint64(d.table.allowed) {
				// Applied (bounded by limit) so that decoding goes on,
				// but reported.
				err = errSizeUpdate
				if v > 1<<31 {
					v = 1 << 31
				}
				d.table.setMax(uint32(v))
				return unknown, err
			}
			d.table.setMax(uint32(v))
		default: // literals
			*f = field{}
			var prefix uint = 4
			index := false
			if c&0xc0 == 0x40 {
				prefix, index = 6, true
			} else if c&0xf0 == 0x10 {
				f.sensitive = true
			}
			i, n, err := readInt(b, prefix)
			if err != nil {
				return unknown, err
			}
			b = b[n:]
			d.scratch.b = d.scratch.b[:0]
			nameUnknown := false
			if i == 0 {
				n, err := readString(b, &d.scratch)
				if err != nil {
					return unknown, err
				}
				b = b[n:]
			} else {
				e, ok := d.entry(i)
				if !ok {
					if !d.table.unknownTail {
						return unknown, errIndex
					}
					nameUnknown = true
				} else {
					d.scratch.b = append(d.scratch.b, e.name()...)
				}
			}
			// scratch: the line rendered, or the value alone when the
			// name is unknown.
			nl := len(d.scratch.b)
			if !nameUnknown {
				d.scratch.b = append(d.scratch.b, ": "...)
			}
			vs := len(d.scratch.b)
			n, err = readString(b, &d.scratch)
			if err != nil {
				return unknown, err
			}
			b = b[n:]
			ve := len(d.scratch.b)
			if !nameUnknown {
				d.scratch.b = append(d.scratch.b, "\r\n"...)
				f.line = d.scratch.b
			}
			f.name = d.scratch.b[:nl]
			f.value = d.scratch.b[vs:ve]
			if f.line != nil {
				f.plain, f.pseudo = splitsAsLine(f.name, f.value), pseudoOf(f.name)
			}
			if nameUnknown {
				f.unknown = true
				unknown++
			}
			if index {
				if nameUnknown {
					// An entry of unknown name still takes its place: the
					// indices of older entries move on. It is kept with an
					// empty name... which would be wrong to hand out: the
					// table is lost below it instead.
					d.table.lose()
				} else {
					d.table.add(f.line, len(f.name))
				}
			}
			k.add(f)
		}
	}
	return unknown, nil
}

// splitsAsLine reports whether the line "name: value" is split by
// entry.LineField into this name and this value, so that the field can be
// handed on as its line, unsplit (entry.Field with Name.Len < 0), the form
// the log format's header look-ups read fastest: the name is not empty, has
// no colon but a pseudo-header's leading one and no trailing blank, and the
// value has no leading or trailing blank.
func splitsAsLine(name, value []byte) bool {
	if len(name) == 0 || isBlank(name[len(name)-1]) {
		return false
	}
	rest := name
	if rest[0] == ':' {
		rest = rest[1:]
	}
	if bytes.IndexByte(rest, ':') >= 0 {
		return false
	}
	return len(value) == 0 || !isBlank(value[0]) && !isBlank(value[len(value)-1])
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// pseudo names the pseudo-header fields a head's first line is made of
// (Side.firstLine): Fields notes where the first of each is as it is
// added, so that rendering a head does not look them up.
type pseudo uint8

const (
	notPseudo pseudo = iota
	pseudoMethod
	pseudoPath
	pseudoAuthority
	pseudoStatus
	nPseudo = pseudoStatus
)

// pseudoOf returns which of the first line's pseudo-header fields name
// names, ASCII case-insensitively as Fields.Get compares.
func pseudoOf(name []byte) pseudo {
	if len(name) < len(":path") || name[0] != ':' {
		return notPseudo
	}
	switch {
	case ascii.EqualFold(name, ":method"):
		return pseudoMethod
	case ascii.EqualFold(name, ":path"):
		return pseudoPath
	case ascii.EqualFold(name, ":authority"):
		return pseudoAuthority
	case ascii.EqualFold(name, ":status"):
		return pseudoStatus
	}
	return notPseudo
}
