// Package ascii folds the case of ASCII letters, as HTTP compares its
// tokens: field names, methods, URI schemes, transfer codings and upgrade
// protocols are case-insensitive (RFC 9110), and only ASCII letters fold.
// Its functions are small enough to be inlined where HTTP is framed and
// rendered; unlike bytes.EqualFold they do not fold Unicode.
package ascii

// Lower returns c in lower case when it is an ASCII upper-case letter, and
// c unchanged otherwise.
func Lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// Upper returns c in upper case when it is an ASCII lower-case letter, and
// c unchanged otherwise.
func Upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	return c
}

// EqualFold reports whether b and s are equal once their ASCII letters
// are folded to one case. Bytes that are equal are passed over without
// folding: most names compared are spelled alike or differ at once.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if x, y := b[i], s[i]; x != y && Lower(x) != Lower(y) {
			return false
		}
	}
	return true
}
