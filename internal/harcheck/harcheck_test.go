package harcheck

import (
	"strings"
	"testing"
)

// valid is a minimal valid HAR 1.2 log of one entry.
const valid = `{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[
{"startedDateTime":"2026-01-02T03:04:05.001Z","time":3.5,
 "request":{"method":"GET","url":"http://a.test/x","httpVersion":"HTTP/1.1","cookies":[],"headers":[{"name":"Host","value":"a.test"}],"queryString":[],"headersSize":30,"bodySize":0},
 "response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[{"name":"a","value":"b"}],"headers":[],"content":{"size":2,"mimeType":"text/plain"},"redirectURL":"","headersSize":-1,"bodySize":-1},
 "cache":{},"timings":{"blocked":-1,"dns":-1,"connect":1,"send":0.5,"wait":1,"receive":1},"connection":"1"}]}}`

// TestValidate: the valid log passes, and each mutation that breaks a rule
// of the spec is caught, with the path of what is wrong.
func TestValidate(t *testing.T) {
	log, err := Validate([]byte(valid))
	if err != nil {
		t.Fatalf("valid log: %v", err)
	}
	if len(log.Entries) != 1 || log.Entries[0].Connect != 1 || log.Entries[0].Connection != "1" {
		t.Errorf("decoded %+v", log.Entries)
	}
	for _, c := range []struct{ old, new, want string }{
		{`"version":"1.2",`, ``, "log.version: missing"},
		{`"version":"1.2"`, `"version":"1.1"`, "log.version"},
		{`"cache":{},`, ``, "cache: missing"},
		{`"queryString":[],`, ``, "request.queryString: missing"},
		{`"redirectURL":"",`, ``, "response.redirectURL: missing"},
		{`"mimeType":"text/plain"`, `"mimeType":1`, "content.mimeType"},
		{`"status":200`, `"status":"200"`, "response.status"},
		{`"headersSize":30`, `"headersSize":30.5`, "request.headersSize"},
		{`"headersSize":30`, `"headersSize":-2`, "request.headersSize: -2"},
		{`"connection":"1"`, `"connection":1`, "connection"},
		{`{"name":"Host","value":"a.test"}`, `{"name":"Host"}`, "headers[0].value: missing"},
		{`"send":0.5,`, ``, "timings.send: missing"},
		{`"send":0.5`, `"send":-1`, "timings.send"},
		{`"connect":1`, `"connect":-2`, "timings.connect"},
		{`"time":3.5`, `"time":4.5`, "not the sum"},
		{`"url":"http://a.test/x"`, `"url":"/x"`, "not an absolute URL"},
		{`"startedDateTime":"2026-01-02T03:04:05.001Z"`, `"startedDateTime":"yesterday"`, "startedDateTime"},
		{`]}}`, `]}}x`, "after the JSON value"},
		{`]}}`, `]}`, "not JSON"},
	} {
		bad := strings.Replace(valid, c.old, c.new, 1)
		if bad == valid {
			t.Fatalf("mutation %q not applied", c.old)
		}
		if _, err := Validate([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: error %v; want one with %q", c.old, c.new, err, c.want)
		}
	}
}
