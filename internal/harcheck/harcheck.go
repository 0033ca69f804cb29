// Package harcheck validates HAR 1.2 files for tests (of sniff/har and of
// the command's --har): it is in the module's root internal directory so
// that both can use it.
//
// # Approach
//
// The file is decoded with encoding/json into generic values (numbers kept
// as json.Number), and each object is checked against a table, written
// from the HAR 1.2 specification
// (http://www.softwareishard.com/blog/har-12-spec/), of the fields it must
// have and of the JSON type of each field, required or optional: a
// missing required field, a field of the wrong type, or a number that
// should be an integer and is not, is an error naming its path
// (log.entries[3].request.headersSize). Beyond types, it checks what the
// spec states about values: timings send, wait and receive are not
// negative, blocked, dns, connect and ssl are -1 (not available) or not
// negative, entry.time is the sum of the timings that are not -1 (to the
// microsecond the writer prints), sizes are -1 or not negative,
// startedDateTime is ISO 8601 (RFC 3339), and request.url is absolute.
// Fields the table does not name (custom _fields) are allowed, as the spec
// allows them.
package harcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"time"
)

// kind is a JSON type, or a refinement of one.
type kind uint8

const (
	kString kind = iota
	kNumber
	kInteger // a number without a fraction
	kObject
	kArray
	kBool
)

func (k kind) String() string {
	return [...]string{"string", "number", "integer", "object", "array", "bool"}[k]
}

// field is one row of the table.
type field struct {
	name     string
	kind     kind
	required bool
	// of names the table of the object the field holds (kObject), or of
	// each element (kArray); "" for none.
	of string
}

// schema is the table: object name -> fields, from the HAR 1.2 spec.
var schema = map[string][]field{
	"root": {{"log", kObject, true, "log"}},
	"log": {
		{"version", kString, true, ""},
		{"creator", kObject, true, "creator"},
		{"browser", kObject, false, "creator"},
		{"pages", kArray, false, "page"},
		{"entries", kArray, true, "entry"},
		{"comment", kString, false, ""},
	},
	"creator": {
		{"name", kString, true, ""},
		{"version", kString, true, ""},
		{"comment", kString, false, ""},
	},
	"page": {
		{"startedDateTime", kString, true, ""},
		{"id", kString, true, ""},
		{"title", kString, true, ""},
		{"pageTimings", kObject, true, ""},
	},
	"entry": {
		{"pageref", kString, false, ""},
		{"startedDateTime", kString, true, ""},
		{"time", kNumber, true, ""},
		{"request", kObject, true, "request"},
		{"response", kObject, true, "response"},
		{"cache", kObject, true, "cache"},
		{"timings", kObject, true, "timings"},
		{"serverIPAddress", kString, false, ""},
		{"connection", kString, false, ""},
		{"comment", kString, false, ""},
	},
	"request": {
		{"method", kString, true, ""},
		{"url", kString, true, ""},
		{"httpVersion", kString, true, ""},
		{"cookies", kArray, true, "cookie"},
		{"headers", kArray, true, "pair"},
		{"queryString", kArray, true, "pair"},
		{"postData", kObject, false, "postData"},
		{"headersSize", kInteger, true, ""},
		{"bodySize", kInteger, true, ""},
		{"comment", kString, false, ""},
	},
	"response": {
		{"status", kInteger, true, ""},
		{"statusText", kString, true, ""},
		{"httpVersion", kString, true, ""},
		{"cookies", kArray, true, "cookie"},
		{"headers", kArray, true, "pair"},
		{"content", kObject, true, "content"},
		{"redirectURL", kString, true, ""},
		{"headersSize", kInteger, true, ""},
		{"bodySize", kInteger, true, ""},
		{"comment", kString, false, ""},
	},
	"cookie": {
		{"name", kString, true, ""},
		{"value", kString, true, ""},
		{"path", kString, false, ""},
		{"domain", kString, false, ""},
		{"expires", kString, false, ""},
		{"httpOnly", kBool, false, ""},
		{"secure", kBool, false, ""},
		{"comment", kString, false, ""},
	},
	"pair": { // headers and queryString
		{"name", kString, true, ""},
		{"value", kString, true, ""},
		{"comment", kString, false, ""},
	},
	"postData": {
		{"mimeType", kString, true, ""},
		{"params", kArray, false, ""},
		{"text", kString, false, ""},
		{"comment", kString, false, ""},
	},
	"content": {
		{"size", kInteger, true, ""},
		{"compression", kInteger, false, ""},
		{"mimeType", kString, true, ""},
		{"text", kString, false, ""},
		{"encoding", kString, false, ""},
		{"comment", kString, false, ""},
	},
	"cache": {
		{"beforeRequest", kObject, false, ""},
		{"afterRequest", kObject, false, ""},
		{"comment", kString, false, ""},
	},
	"timings": {
		{"blocked", kNumber, false, ""},
		{"dns", kNumber, false, ""},
		{"connect", kNumber, false, ""},
		{"send", kNumber, true, ""},
		{"wait", kNumber, true, ""},
		{"receive", kNumber, true, ""},
		{"ssl", kNumber, false, ""},
		{"comment", kString, false, ""},
	},
}

// Log is what a test checks beyond the schema: the entries' fields that
// matter to it, decoded.
type Log struct {
	Comment string
	Entries []Entry
}

// Entry is one decoded entry.
type Entry struct {
	StartedDateTime time.Time
	Time            float64
	Method, URL     string
	Status          int
	Connection      string
	ConnectionID    string // _connectionId, Chrome's
	ServerIP        string
	Annotation      string // _annotation
	Error           string // _error
	// Connect is timings.connect (-1 when absent).
	Connect, Send, Wait, Receive float64
	ReqHeadersSize, ReqBodySize  int64
	RespHeadersSize, RespBody    int64
	ContentSize                  int64
	MimeType                     string
	ReqHeaders, RespHeaders      [][2]string
	ReqCookies, RespCookies      [][2]string
	Query                        [][2]string
}

// Validate checks data as a HAR 1.2 file (see the package comment) and
// returns its entries.
func Validate(data []byte) (*Log, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var root any
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("bytes after the JSON value")
	}
	if err := check(root, "root", ""); err != nil {
		return nil, err
	}
	log := &Log{}
	l := root.(map[string]any)["log"].(map[string]any)
	if v, _ := l["version"].(string); v != "1.2" {
		return nil, fmt.Errorf("log.version %q, want 1.2", v)
	}
	log.Comment, _ = l["comment"].(string)
	for i, x := range l["entries"].([]any) {
		e, err := entry(x.(map[string]any))
		if err != nil {
			return nil, fmt.Errorf("log.entries[%d].%v", i, err)
		}
		log.Entries = append(log.Entries, e)
	}
	return log, nil
}

// check validates v as the object of the named table, at path.
func check(v any, table, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %T, want an object", orRoot(path), v)
	}
	for _, f := range schema[table] {
		p := f.name
		if path != "" {
			p = path + "." + f.name
		}
		x, ok := obj[f.name]
		if !ok {
			if f.required {
				return fmt.Errorf("%s: missing (required in %s)", p, table)
			}
			continue
		}
		if err := checkKind(x, f.kind, p); err != nil {
			return err
		}
		if f.of == "" {
			continue
		}
		if f.kind == kObject {
			if err := check(x, f.of, p); err != nil {
				return err
			}
			continue
		}
		for i, el := range x.([]any) {
			if err := check(el, f.of, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orRoot(p string) string {
	if p == "" {
		return "the file"
	}
	return p
}

func checkKind(x any, k kind, path string) error {
	ok := false
	switch k {
	case kString:
		_, ok = x.(string)
	case kNumber, kInteger:
		n, isNum := x.(json.Number)
		if isNum {
			f, err := n.Float64()
			ok = err == nil && !math.IsInf(f, 0)
			if ok && k == kInteger {
				_, err := n.Int64()
				ok = err == nil
			}
		}
	case kObject:
		_, ok = x.(map[string]any)
	case kArray:
		_, ok = x.([]any)
	case kBool:
		_, ok = x.(bool)
	}
	if !ok {
		return fmt.Errorf("%s: %#v is not of type %v", path, x, k)
	}
	return nil
}

func num(x any) float64 {
	f, _ := x.(json.Number).Float64()
	return f
}

func integer(x any) int64 {
	n, _ := x.(json.Number).Int64()
	return n
}

func pairs(x any) [][2]string {
	var out [][2]string
	for _, el := range x.([]any) {
		m := el.(map[string]any)
		out = append(out, [2]string{m["name"].(string), m["value"].(string)})
	}
	return out
}

// entry checks the values of a schema-valid entry and decodes it.
func entry(m map[string]any) (Entry, error) {
	var e Entry
	var err error
	if e.StartedDateTime, err = time.Parse(time.RFC3339Nano, m["startedDateTime"].(string)); err != nil {
		return e, fmt.Errorf("startedDateTime: %v", err)
	}
	e.Time = num(m["time"])
	req := m["request"].(map[string]any)
	resp := m["response"].(map[string]any)
	e.Method, e.URL = req["method"].(string), req["url"].(string)
	if u, err := url.Parse(e.URL); err != nil || !u.IsAbs() || u.Host == "" {
		return e, fmt.Errorf("request.url %q is not an absolute URL (%v)", e.URL, err)
	}
	e.ReqHeadersSize, e.ReqBodySize = integer(req["headersSize"]), integer(req["bodySize"])
	e.RespHeadersSize, e.RespBody = integer(resp["headersSize"]), integer(resp["bodySize"])
	content := resp["content"].(map[string]any)
	e.ContentSize, e.MimeType = integer(content["size"]), content["mimeType"].(string)
	for name, n := range map[string]int64{"request.headersSize": e.ReqHeadersSize, "request.bodySize": e.ReqBodySize,
		"response.headersSize": e.RespHeadersSize, "response.bodySize": e.RespBody} {
		if n < -1 {
			return e, fmt.Errorf("%s: %d, want -1 or more", name, n)
		}
	}
	if e.ContentSize < 0 {
		return e, fmt.Errorf("response.content.size: %d, want 0 or more", e.ContentSize)
	}
	e.Status = int(integer(resp["status"]))
	e.ReqHeaders, e.RespHeaders = pairs(req["headers"]), pairs(resp["headers"])
	e.ReqCookies, e.RespCookies = pairs(req["cookies"]), pairs(resp["cookies"])
	e.Query = pairs(req["queryString"])
	e.Connection, _ = m["connection"].(string)
	e.ConnectionID, _ = m["_connectionId"].(string)
	e.ServerIP, _ = m["serverIPAddress"].(string)
	e.Annotation, _ = m["_annotation"].(string)
	e.Error, _ = m["_error"].(string)

	t := m["timings"].(map[string]any)
	sum := 0.0
	e.Connect = -1
	for _, name := range []string{"blocked", "dns", "connect", "ssl", "send", "wait", "receive"} {
		x, ok := t[name]
		if !ok {
			continue
		}
		v := num(x)
		switch name {
		case "send", "wait", "receive":
			if v < 0 {
				return e, fmt.Errorf("timings.%s: %v, want 0 or more", name, v)
			}
		default:
			if v < 0 && v != -1 {
				return e, fmt.Errorf("timings.%s: %v, want -1 or 0 or more", name, v)
			}
		}
		if v != -1 {
			sum += v
		}
		switch name {
		case "connect":
			e.Connect = v
		case "send":
			e.Send = v
		case "wait":
			e.Wait = v
		case "receive":
			e.Receive = v
		}
	}
	if math.Abs(sum-e.Time) > 0.0015 {
		return e, fmt.Errorf("time %v is not the sum of the timings that are not -1 (%v)", e.Time, sum)
	}
	return e, nil
}
