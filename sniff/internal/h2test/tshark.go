package h2test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/sniffer/sniffer/internal/require"
)

// Stream is what a reading of a capture says of one HTTP/2 stream.
type Stream struct {
	// ClientPort identifies the connection (the server port is the
	// capture's).
	ClientPort int
	ID         uint32
	Method     string
	Path       string
	// Status is the final :status, 0 when none was seen.
	Status int
	// GRPCStatus is the grpc-status, -1 when there is none.
	GRPCStatus int
	// Late and Incomplete are h2conn's Stream.Late and "either side's
	// HeadersIncomplete" (false in tshark's reading).
	Late, Incomplete bool
}

func (s Stream) String() string {
	return fmt.Sprintf("conn %d stream %d: %s %s -> %d grpc %d", s.ClientPort, s.ID, s.Method, s.Path, s.Status, s.GRPCStatus)
}

// list makes a JSON value that tshark writes as one object or an array
// of them (--no-duplicate-keys) always an array.
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func str(v any) string {
	for _, x := range list(v) {
		if s, ok := x.(string); ok {
			return s
		}
	}
	return ""
}

// Tshark reads c with tshark's http2 dissector (the server port decoded as
// HTTP/2, or as HTTP when the connections start with Upgrade: h2c, so that
// the HTTP dissector hands the upgraded connection on to HTTP/2) and
// returns its streams ordered by connection and id. The upgraded stream 1
// takes its method and path from the HTTP/1.1 request.
func Tshark(t testing.TB, c Capture) []Stream {
	t.Helper()
	tshark := require.Tool(t, "tshark")
	proto := "http2"
	if c.Upgrade {
		proto = "http"
	}
	out := require.Output(t, tshark, "-r", c.Path, "-d", "tcp.port=="+strconv.Itoa(c.Port)+","+proto,
		"-Y", "http2 || http.request", "-T", "json", "--no-duplicate-keys", "-J", "tcp http http2")
	var pkts []struct {
		Source struct {
			Layers map[string]any `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark json: %v", err)
	}
	type key struct {
		port int
		id   uint32
	}
	streams := map[key]*Stream{}
	get := func(port int, id uint32) *Stream {
		k := key{port, id}
		if s := streams[k]; s != nil {
			return s
		}
		s := &Stream{ClientPort: port, ID: id, GRPCStatus: -1}
		streams[k] = s
		return s
	}
	for _, p := range pkts {
		l := p.Source.Layers
		tcp, _ := list(l["tcp"])[0].(map[string]any)
		src, _ := strconv.Atoi(str(tcp["tcp.srcport"]))
		dst, _ := strconv.Atoi(str(tcp["tcp.dstport"]))
		client := src
		if src == c.Port {
			client = dst
		}
		for _, h := range list(l["http"]) {
			hm, _ := h.(map[string]any)
			for k, v := range hm {
				// The request line is a key of its own holding the
				// request's fields.
				if rl, ok := v.(map[string]any); ok && rl["http.request.method"] != nil {
					s := get(client, 1)
					s.Method, s.Path = str(rl["http.request.method"]), str(rl["http.request.uri"])
					_ = k
				}
			}
		}
		for _, h2 := range list(l["http2"]) {
			hm, _ := h2.(map[string]any)
			for _, fr := range list(hm["http2.stream"]) {
				fm, _ := fr.(map[string]any)
				typ := str(fm["http2.type"])
				if typ != "1" {
					continue
				}
				id64, _ := strconv.ParseUint(str(fm["http2.streamid"]), 10, 32)
				s := get(client, uint32(id64))
				for _, hd := range list(fm["http2.header"]) {
					f, _ := hd.(map[string]any)
					name, value := str(f["http2.header.name"]), str(f["http2.header.value"])
					switch name {
					case ":method":
						s.Method = value
					case ":path":
						s.Path = value
					case ":status":
						if n, err := strconv.Atoi(value); err == nil && n >= 200 {
							s.Status = n
						}
					case "grpc-status":
						if n, err := strconv.Atoi(value); err == nil {
							s.GRPCStatus = n
						}
					}
				}
			}
		}
	}
	return sorted(streams)
}

func sorted[K comparable](m map[K]*Stream) []Stream {
	var r []Stream
	for _, s := range m {
		r = append(r, *s)
	}
	slices.SortFunc(r, func(a, b Stream) int {
		if a.ClientPort != b.ClientPort {
			return a.ClientPort - b.ClientPort
		}
		return int(a.ID) - int(b.ID)
	})
	return r
}

// Connections returns the number of distinct connections of streams.
func Connections(streams []Stream) int {
	seen := map[int]bool{}
	for _, s := range streams {
		seen[s.ClientPort] = true
	}
	return len(seen)
}
