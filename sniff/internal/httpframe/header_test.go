package httpframe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/sniff/internal/ascii"
)

// refHeader is the plain reading of framing headers that header must agree
// with: the line split at its first colon and the name compared whole.
func refHeader(p *Parser, b []byte) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 {
		return
	}
	switch name := b[:colon]; {
	case ascii.EqualFold(name, "content-length"):
		n := int64(-1)
		for _, v := range strings.Split(string(b[colon+1:]), ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			m, err := strconv.ParseUint(v, 10, 63)
			if err != nil || len(v) > 18 || n >= 0 && int64(m) != n {
				p.clBad = true
				return
			}
			n = int64(m)
		}
		switch {
		case n < 0 || p.contentLength >= 0 && n != p.contentLength:
			p.clBad = true
		default:
			p.contentLength = n
		}
	case ascii.EqualFold(name, "transfer-encoding"):
		val := bytes.TrimSpace(b[colon+1:])
		last := val
		if k := bytes.LastIndexByte(val, ','); k >= 0 {
			last = bytes.TrimSpace(val[k+1:])
		}
		chunked := ascii.EqualFold(last, "chunked")
		p.chunked, p.teOther = chunked, !chunked
	}
}

// TestHeader compares header with refHeader over random lines.
func TestHeader(t *testing.T) {
	pieces := []string{"Content-Length", "content-length", "CONTENT-LENGTH", "Transfer-Encoding", "transfer-encoding",
		"Content-Type", "Connection", "content-lengthx", "Content-Lengt", "T", "c", ":", ": ", " ", "\t", "\r",
		"12", "0", "-1", "chunked", "gzip, chunked", ",", "chunked, gzip", "x", "12, 12", "12,0", " , ", "+1"}
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	framed := 0
	bad := 0
	for range 300000 {
		// One line, or two: Content-Length lines must agree.
		var got, want Parser
		got.Init(Request)
		want.Init(Request)
		var lines []string
		for range 1 + r.IntN(2) {
			b = b[:0]
			for range r.IntN(5) {
				b = append(b, pieces[r.IntN(len(pieces))]...)
			}
			lines = append(lines, string(b))
			got.header(b, 0, len(b), true)
			refHeader(&want, b)
		}
		if got.contentLength != want.contentLength || got.clBad != want.clBad || got.chunked != want.chunked || got.teOther != want.teOther {
			t.Fatalf("header(%q): contentLength %d bad %v chunked %v teOther %v; want %d %v %v %v", lines,
				got.contentLength, got.clBad, got.chunked, got.teOther, want.contentLength, want.clBad, want.chunked, want.teOther)
		}
		if want.contentLength >= 0 || want.chunked || want.teOther {
			framed++
		}
		if want.clBad {
			bad++
		}
	}
	if framed < 1000 || bad < 1000 {
		t.Errorf("only %d lines were framing headers, %d bad Content-Lengths", framed, bad)
	}
}

// TestPiecesAgree checks that random streams of well-framed messages frame
// the same whatever the pieces they are fed in (whole lines are read in
// place, cut ones copied).
func TestPiecesAgree(t *testing.T) {
	type start struct {
		line   string
		noBody bool // a response that has no body
	}
	starts := [2][]start{
		{{"GET / HTTP/1.1\r\n", false}, {"HEAD /x HTTP/1.0\n", false}, {"POST /p HTTP/1.1\r\n", false}, {"get / HTTP/1.1\r\n", false}},
		{{"HTTP/1.1 200 OK\r\n", false}, {"HTTP/1.1 204 No Content\n", true}, {"HTTP/1.0 100 Continue\r\n", true},
			{"HTTP/1.1 304\r\n", true}, {"HTTP/1.1 200 OK\r\r\n", false}, {"HTTP/1.1 404 Not Found\r\n", false}},
	}
	noise := []string{"Host: x\r\n", "Content-Length : 2\r\n", "X: y\r\n", "\r\r\n", "Content-Type: a\r\n",
		"Connection: keep-alive\n", "content-lengthy: 4\r\n", "Transfer-Encoding : chunked\r\n", "T\r\n"}
	framings := []struct{ header, body string }{
		{"", ""}, {"Content-Length: 0\r\n", ""}, {"content-length:3\n", "abc"}, {"CONTENT-LENGTH:  5 \r\n", "hello"},
		{"Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"},
		{"transfer-encoding: gzip, chunked\r\n", "2;x=y\r\nab\r\n0\r\nX: 1\r\n\r\n"},
		{"Transfer-Encoding: gzip\r\n", "rest of the stream"},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		kind := Kind(r.IntN(2))
		var s []byte
		for range r.IntN(4) + 1 {
			st := starts[kind][r.IntN(len(starts[kind]))]
			f := framings[r.IntN(len(framings))]
			s = append(s, st.line...)
			for range r.IntN(4) {
				s = append(s, noise[r.IntN(len(noise))]...)
			}
			s = append(s, f.header...)
			for range r.IntN(2) {
				s = append(s, noise[r.IntN(len(noise))]...)
			}
			s = append(s, "\r\n"...)
			if !st.noBody {
				s = append(s, f.body...)
			}
		}
		var want []mark
		for i, piece := range []int{1 << 20, 1, 2, 5, 16} {
			var p Parser
			p.Init(kind)
			got := run(&p, string(s), piece)
			if i == 0 {
				want = got
			} else if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%q in pieces of %d: %v; whole: %v", s, piece, got, want)
			}
		}
	}
}

// TestFoldKey compares FoldKey.match with a byte-by-byte ASCII case fold
// over random names and lines of letters, digits, '-', '_', '@', '`', CR,
// DEL and bytes above 0x7f: the bytes that differ from a letter or from
// each other by 0x20.
func TestFoldKey(t *testing.T) {
	alphabet := []byte("aAzZmM09-_@`[{\r\x7f\x80\xc3\xa4\x00 \t:")
	r := rand.New(rand.NewPCG(5, 6))
	matches := 0
	for range 200000 {
		name := make([]byte, 1+r.IntN(20))
		for i := range name {
			name[i] = alphabet[r.IntN(len(alphabet))]
		}
		k := NewFoldKey(string(name))
		b := []byte(string(name))
		for i := range b { // flip the case of some bytes, change others
			switch r.IntN(4) {
			case 0:
				b[i] ^= 0x20
			case 1:
				if r.IntN(8) == 0 {
					b[i] = alphabet[r.IntN(len(alphabet))]
				}
			}
		}
		if r.IntN(16) == 0 {
			b = b[:r.IntN(len(b)+1)]
		}
		want := len(b) == len(name)
		for i := 0; want && i < len(b); i++ {
			want = ascii.Lower(b[i]) == ascii.Lower(name[i])
		}
		if got := k.Match(b); got != want {
			t.Fatalf("NewFoldKey(%q).Match(%q) = %v, want %v", name, b, got, want)
		}
		if want {
			matches++
		}
	}
	if matches < 10000 {
		t.Errorf("only %d matches", matches)
	}
}
