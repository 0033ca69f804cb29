package ascii

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// TestFoldEveryByte checks Lower, Upper and EqualFold on every byte and
// every pair of bytes against the standard library, which folds the same
// way for ASCII, and leaves every other byte alone.
func TestFoldEveryByte(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		wantLower, wantUpper := c, c
		if c < utf8.RuneSelf {
			wantLower = bytes.ToLower([]byte{c})[0]
			wantUpper = bytes.ToUpper([]byte{c})[0]
		}
		if got := Lower(c); got != wantLower {
			t.Errorf("Lower(%#x) = %#x; want %#x", c, got, wantLower)
		}
		if got := Upper(c); got != wantUpper {
			t.Errorf("Upper(%#x) = %#x; want %#x", c, got, wantUpper)
		}
		for j := range 256 {
			d := byte(j)
			want := c == d || (c < utf8.RuneSelf && d < utf8.RuneSelf && bytes.EqualFold([]byte{c}, []byte{d}))
			if got := EqualFold([]byte{c}, string([]byte{d})); got != want {
				t.Errorf("EqualFold(%#x, %#x) = %v; want %v", c, d, got, want)
			}
		}
	}
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		b, s string
		want bool
	}{
		{"", "", true},
		{"Content-Length", "content-length", true},
		{"CONTENT-LENGTH", "Content-Length", true},
		{"Content-Lengt", "content-length", false},
		{"content-length", "content-lengthx", false},
		{"Content_Length", "content-length", false},
		{"chunked", "CHUNKED", true},
		{"\xc3\xa9", "\xc3\x89", false}, // é and É: not ASCII, not folded
		{"k", "\u212a", false},          // the Kelvin sign folds to k in Unicode only
	} {
		if got := EqualFold([]byte(tc.b), tc.s); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v; want %v", tc.b, tc.s, got, tc.want)
		}
	}
}
