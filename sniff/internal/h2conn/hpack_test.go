package h2conn

import "testing"

// TestReadInt checks RFC 7541 5.1 integers, with redundant zero
// continuations as x/net accepts them (FuzzHPACKAgainstXNet found a size
// update padded with four), and their bounds.
func TestReadInt(t *testing.T) {
	for _, tc := range []struct {
		b      []byte
		prefix uint
		v      uint64
		n      int
		err    error
	}{
		{[]byte{0x0a}, 5, 10, 1, nil},
		{[]byte{0x1f, 0x9a, 0x0a}, 5, 1337, 3, nil}, // RFC 7541 C.1.2
		{[]byte{0x3f, 0x80, 0x80, 0x80, 0x80, 0x00}, 5, 31, 6, nil},
		{[]byte{0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 7, 127 + 1<<56, 10, nil},
		{[]byte{0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 7, 0, 0, errInteger},
		{[]byte{0x1f, 0x80}, 5, 0, 0, errTruncated},
		{nil, 5, 0, 0, errTruncated},
	} {
		v, n, err := readInt(tc.b, tc.prefix)
		if v != tc.v || n != tc.n || err != tc.err {
			t.Errorf("readInt(%x, %d) = %d, %d, %v; want %d, %d, %v", tc.b, tc.prefix, v, n, err, tc.v, tc.n, tc.err)
		}
	}
}
