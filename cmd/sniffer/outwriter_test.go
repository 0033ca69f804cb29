package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// shortWriter takes at most n bytes of each write, then fails with err.
type shortWriter struct {
	bytes.Buffer
	n   int
	err error
}

func (w *shortWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		w.Buffer.Write(b[:w.n])
		return w.n, w.err
	}
	return w.Buffer.Write(b)
}

// TestOutWriter checks that outWriter writes what it is given in order, as
// a bufio.Writer does: through its buffer, long writes directly, entries
// rendered into the buffer (wrote), and a write error sticky, the bytes not
// written kept.
func TestOutWriter(t *testing.T) {
	var out bytes.Buffer
	w := newOutWriter(&out)
	var want []byte
	long := bytes.Repeat([]byte("x"), outBufSize+10)
	for i := range 3000 {
		b := []byte("entry\n")
		switch i % 1000 {
		case 10:
			b = long
		case 20:
			b = long[:outBufSize-3]
		}
		if i%2 == 0 {
			w.Write(b)
		} else {
			w.buf = append(w.buf, b...)
			w.wrote(len(b))
		}
		want = append(want, b...)
		if cap(w.buf)-len(w.buf) < 0 {
			t.Fatal("buffer overflow")
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) || w.Buffered() != 0 {
		t.Fatalf("wrote %d bytes, want %d", out.Len(), len(want))
	}

	fail := errors.New("fail")
	sw := &shortWriter{n: 4, err: fail}
	w.Reset(sw)
	w.Write([]byte("abcdefgh"))
	if err := w.Flush(); err != fail || sw.String() != "abcd" || w.Buffered() != 4 {
		t.Fatalf("Flush = %v, wrote %q, %d buffered", err, sw.String(), w.Buffered())
	}
	if n, err := w.Write([]byte("ij")); n != 0 || err != fail || w.Flush() != fail || w.Buffered() != 4 {
		t.Fatalf("after the error: Write = %d, %v; %d buffered", n, err, w.Buffered())
	}
	sw = &shortWriter{n: 1 << 30}
	w.Reset(sw)
	if n, err := w.Write(long); n != len(long) || err != nil || w.Flush() != nil || sw.Len() != len(long) {
		t.Fatalf("long Write = %d, %v", n, err)
	}
	sw = &shortWriter{n: 5}
	w = newOutWriter(sw)
	if _, err := w.Write(long); err != io.ErrShortWrite {
		t.Fatalf("short long Write: %v, want io.ErrShortWrite", err)
	}
}
