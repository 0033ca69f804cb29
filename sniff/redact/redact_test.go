package redact

import (
	"strings"
	"testing"

	"github.com/sniffer/sniffer/sniff/entry"
)

func msg(s string, head int) entry.Message {
	end := strings.Index(s[head:], "\r\n\r\n")
	return entry.Message{Bytes: []byte(s), Size: int64(len(s)), Head: head, HeaderLen: end + 4, HTTP: true}
}

func TestEntry(t *testing.T) {
	r := New(append(Default, "X-Api-Key"))
	e := &entry.Entry{
		Request:  msg("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t\r\nx-api-key:k\r\nX-Authorization-Hint: keep\r\nCOOKIE: a=b\r\n\r\nbody", 0),
		Response: msg("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: id=42\r\n\r\nok", 25),
	}
	var scratch entry.Entry
	got := r.Entry(e, &scratch)
	wantReq := "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: [redacted]\r\nx-api-key: [redacted]\r\nX-Authorization-Hint: keep\r\nCOOKIE: [redacted]\r\n\r\nbody"
	if string(got.Request.Bytes) != wantReq {
		t.Errorf("request:\n%q\nwant\n%q", got.Request.Bytes, wantReq)
	}
	if got.Request.HeaderLen != len(wantReq)-4 || got.Request.Size != e.Request.Size {
		t.Errorf("request header len %d size %d", got.Request.HeaderLen, got.Request.Size)
	}
	wantResp := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: [redacted]\r\n\r\nok"
	if string(got.Response.Bytes) != wantResp || got.Response.Head != 25 || string(got.Response.Bytes[25:25+got.Response.HeaderLen]) != "HTTP/1.1 200 OK\r\nSet-Cookie: [redacted]\r\n\r\n" {
		t.Errorf("response: %q head %d len %d", got.Response.Bytes, got.Response.Head, got.Response.HeaderLen)
	}
	if !strings.Contains(string(e.Request.Bytes), "s3cr3t") {
		t.Error("the original entry was modified")
	}
}

func TestNothingToRedact(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{Request: msg("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0)}
	var scratch entry.Entry
	if r.Entry(e, &scratch) != e {
		t.Error("an entry without secrets was copied")
	}
	raw := &entry.Entry{Request: entry.Message{Bytes: []byte("Cookie: x\r\n\r\n"), HeaderLen: -1}}
	if r.Entry(raw, &scratch) != raw {
		t.Error("a message that is not HTTP was rewritten")
	}
}

func TestIncompleteHead(t *testing.T) {
	r := New(Default)
	e := &entry.Entry{Request: entry.Message{Bytes: []byte("GET / HTTP/1.1\r\nCookie: abc"), HeaderLen: -1, HTTP: true}}
	var scratch entry.Entry
	got := r.Entry(e, &scratch)
	if string(got.Request.Bytes) != "GET / HTTP/1.1\r\nCookie: [redacted]" || got.Request.HeaderLen != -1 {
		t.Errorf("got %q", got.Request.Bytes)
	}
}
