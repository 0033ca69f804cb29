package logformat

import "unicode/utf8"

// printable reports whether the encodings keep the byte c: '\n', '\t' and
// the ASCII graphic characters and space.
func printable(c byte) bool {
	return 0x20 <= c && c < 0x7f || c == '\n' || c == '\t'
}

// appendEncoded appends the captured bytes b to dst in the encoding enc.
func appendEncoded[T ~[]byte | ~string](dst []byte, b T, enc Encoding) []byte {
	if enc == Verbatim {
		return append(dst, b...)
	}
	if enc == Escaped {
		return appendEscaped(dst, b)
	}
	start := 0 // b[start:i] is printable and not yet appended
	for i := 0; i < len(b); i++ {
		c := b[i]
		if printable(c) {
			continue
		}
		dst = append(dst, b[start:i]...)
		start = i + 1
		switch enc {
		case Dots:
			dst = append(dst, '.')
		case Hex:
			const hex = "0123456789abcdef"
			dst = append(dst, '[', '0', 'x')
			if c >= 0x10 {
				dst = append(dst, hex[c>>4])
			}
			dst = append(dst, hex[c&0xf], ']')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, b[start:]...)
}

// appendEscaped appends b with control characters (below 0x20 but tab and
// newline, and 0x7f) and the bytes of invalid UTF-8 written as Go-style
// escapes (\r, \x1b, \xff), so that captured bytes cannot act on a
// terminal. Valid UTF-8 text, tabs and newlines are kept.
func appendEscaped[T ~[]byte | ~string](dst []byte, b T) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if 0x20 <= c && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c >= 0x80 {
			var r rune
			var n int
			switch v := any(b).(type) {
			case []byte:
				r, n = utf8.DecodeRune(v[i:])
			case string:
				r, n = utf8.DecodeRuneInString(v[i:])
			default:
				r, n = utf8.DecodeRuneInString(string(b[i:min(i+utf8.UTFMax, len(b))]))
			}
			// C1 controls (U+0080–U+009F) are escapes too on some
			// terminals.
			if r != utf8.RuneError && r >= 0xa0 {
				i += n
				continue
			}
			if r != utf8.RuneError {
				dst = append(dst, b[start:i]...)
				for k := 0; k < n; k++ {
					dst = append(dst, '\\', 'x', hex[b[i+k]>>4], hex[b[i+k]&0xf])
				}
				i += n
				start = i
				continue
			}
		}
		dst = append(dst, b[start:i]...)
		switch c {
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	return append(dst, b[start:]...)
}
