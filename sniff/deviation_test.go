package sniff_test

import (
	"testing"

	"github.com/sniffer/sniffer/sniff"
)

// Where justniffer is wrong (testdata/oracle/README.md), sniffer is right.
// Each deviation has its own test saying what sniffer prints instead.

// justniffer merges two pipelined requests (and their responses) into one
// entry; sniffer logs one entry per request, paired with its own response.
func TestDeviationPipelinedRequestsAreSeparateEntries(t *testing.T) {
	got := runCapture(t, readFile(t, "../testdata/oracle/pipeline.pcap"),
		"%connection %session.requests %request.line|%response.code %request.size %response.size %idle.time.1", sniff.Config{})
	want := "start 1 GET /p1 HTTP/1.1|200 29 148 0.000000\n" + // p2 was already sent: no idle time
		"continue 2 GET /p2 HTTP/1.1|200 29 148 0.500658\n" +
		"last 3 GET /p3 HTTP/1.1|200 48 148 0.000075\n"
	if got != want {
		t.Errorf("got:\n%swant:\n%s", got, want)
	}
}

// justniffer splits a request with Expect: 100-continue into two entries, the
// second with the request body as its "request line"; sniffer logs one entry
// whose code is the final status and whose response holds all server bytes.
func TestDeviationExpect100IsOneEntry(t *testing.T) {
	got := runCapture(t, readFile(t, "../testdata/oracle/post-expect100.pcap"),
		"%connection %request.line|%response.code %response.message|%request.size %response.size|%response.line|%response.header.content-length", sniff.Config{})
	want := "unique POST /upload HTTP/1.1|201 Created|3156 183|HTTP/1.1 201 Created|15\n"
	if got != want {
		t.Errorf("got:\n%swant:\n%s", got, want)
	}
	full := runCapture(t, readFile(t, "../testdata/oracle/post-expect100.pcap"), "%response", sniff.Config{})
	if len(full) < 25 || full[:25] != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Errorf("%%response does not start with the interim response: %q", full[:min(40, len(full))])
	}
}

// justniffer left-justifies the microseconds of its default timestamp
// (.031856 printed as .318560); sniffer zero-pads them.
func TestDeviationTimestampsZeroPadded(t *testing.T) {
	got := runCapture(t, readFile(t, "../testdata/oracle/refused.pcap"),
		"%connection.timestamp %close.timestamp %connection.timestamp2 %close.timestamp2", sniff.Config{})
	want := "2026-11-23 19:28:03.031856 2026-11-23 19:28:03.031874 1795462083.031856 1795462083.031874\n"
	if got != want {
		t.Errorf("got  %qwant %q", got, want)
	}
}
