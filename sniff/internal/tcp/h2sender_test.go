package tcp

import "testing"

// TestH2Sender: the first HEADERS frame of a segment tells a picked-up
// HTTP/2 connection's ends apart (a request's block starts with :method,
// :path, :scheme or :authority, a response's with :status), after other
// frames and PADDED/PRIORITY fields; what tells nothing says so.
func TestH2Sender(t *testing.T) {
	frame := func(typ, flags byte, payload ...byte) []byte {
		return append([]byte{0, 0, byte(len(payload)), typ, flags, 0, 0, 0, 1}, payload...)
	}
	windowUpdate := frame(8, 0, 0, 0, 0x10, 0)
	for _, tc := range []struct {
		name       string
		b          []byte
		h2, server bool
	}{
		{"preface", []byte("PRI * HTTP/2.0\r\n"), true, false},
		{"request, indexed :method", frame(1, 4, 0x82, 0x86), true, false},
		{"request, literal :authority", frame(1, 4, 0x41, 3, 'a', 'b', 'c'), true, false},
		{"response, indexed :status 200", frame(1, 4, 0x88), true, true},
		{"response, literal :status", frame(1, 4, 0x48, 3, '2', '0', '4'), true, true},
		{"after a WINDOW_UPDATE", append(windowUpdate, frame(1, 4, 0x88)...), true, true},
		{"PRIORITY and PADDED", frame(1, 0x2c, 1, 0, 0, 0, 3, 16, 0x88, 0), true, true},
		{"table size update first", frame(1, 4, 0x3f, 0xe1, 0x1f, 0x82), false, false},
		{"dynamic reference", frame(1, 4, 0xbe), false, false},
		{"no HEADERS", windowUpdate, false, false},
		{"not frames", []byte("hello, world\r\n"), false, false},
		{"HTTP/1 response", []byte("HTTP/1.1 200 OK\r\n"), false, false},
		{"short", []byte{0, 0, 1}, false, false},
	} {
		h2, server := h2Sender(tc.b)
		if h2 != tc.h2 || server != tc.server {
			t.Errorf("%s: h2Sender = %v, %v; want %v, %v", tc.name, h2, server, tc.h2, tc.server)
		}
	}
}

func FuzzH2Sender(f *testing.F) {
	f.Add([]byte("PRI * HTTP/2.0"))
	f.Add([]byte{0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88})
	f.Fuzz(func(t *testing.T, b []byte) { h2Sender(b) })
}
