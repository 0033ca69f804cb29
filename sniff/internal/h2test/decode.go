package h2test

import (
	"bytes"
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sniffer/sniffer/sniff/capfile"
	"github.com/sniffer/sniffer/sniff/decode"
	"github.com/sniffer/sniffer/sniff/internal/h2conn"
)

// recorder keeps what the tests compare of each ended stream.
type recorder struct {
	port    int
	streams map[uint32]*Stream
	// upMethod and upPath are the HTTP/1.1 request of an upgrade.
	upMethod, upPath string
}

func (r *recorder) Begin(s *h2conn.Stream) {}

func (r *recorder) End(s *h2conn.Stream) {
	st := &Stream{ClientPort: r.port, ID: s.ID, GRPCStatus: s.GRPCStatus, Late: s.Late,
		Incomplete: s.Request.HeadersIncomplete || s.Response.HeadersIncomplete}
	m, _ := s.Request.Pseudo(":method")
	p, _ := s.Request.Pseudo(":path")
	st.Method, st.Path = string(m), string(p)
	if s.Upgraded {
		st.Method, st.Path = r.upMethod, r.upPath
	}
	if v, ok := s.Response.Pseudo(":status"); ok {
		st.Status, _ = strconv.Atoi(string(v))
	}
	r.streams[s.ID] = st
}

// conn is one TCP connection of the capture, reassembled in order (the
// loopback captures of these scenarios have no loss or reordering; a
// jump forward is declared as a gap).
type conn struct {
	rec     recorder
	dec     *h2conn.Conn
	next    [2]uint32
	synced  [2]bool
	upgrade bool
	// pre holds each direction's HTTP/1.1 bytes before the switch.
	pre [2][]byte
	cut Cut
	// off counts the bytes of each direction seen.
	off [2]int
}

// Cut makes Decode see less than the capture holds, as a sniffer that
// started late or lost packets would.
type Cut struct {
	// Skip drops the first Skip[dir] bytes of each direction: the decoder
	// starts with StartMidstream (picked up) when either is not 0.
	Skip [2]int
	// GapAt and GapLen declare GapLen[dir] bytes from offset GapAt[dir]
	// of each direction lost (Conn.Gap), when GapLen[dir] is not 0.
	GapAt, GapLen [2]int
}

func (c *conn) data(dir int, b []byte, ts time.Time) {
	if c.dec != nil {
		start := c.off[dir]
		c.off[dir] += len(b)
		// Skipped bytes first, then the gap, then the rest.
		if skip := c.cut.Skip[dir] - start; skip > 0 {
			skip = min(skip, len(b))
			b, start = b[skip:], start+skip
		}
		if gl := c.cut.GapLen[dir]; gl > 0 {
			ga := c.cut.GapAt[dir]
			if start < ga+gl && start+len(b) > ga {
				if before := ga - start; before > 0 {
					c.dec.Data(dir, b[:before], ts)
					b, start = b[before:], ga
				}
				n := min(ga+gl-start, len(b))
				c.dec.Gap(dir, int64(n), ts)
				b = b[n:]
			}
		}
		if len(b) > 0 {
			c.dec.Data(dir, b, ts)
		}
		return
	}
	c.pre[dir] = append(c.pre[dir], b...)
	req := bytes.Index(c.pre[0], []byte("\r\n\r\n"))
	resp := bytes.Index(c.pre[1], []byte("\r\n\r\n"))
	if req < 0 || resp < 0 {
		return
	}
	if line, _, _ := strings.Cut(string(c.pre[0]), "\r\n"); true {
		f := strings.Fields(line)
		if len(f) == 3 {
			c.rec.upMethod, c.rec.upPath = f[0], f[1]
		}
	}
	if !bytes.HasPrefix(c.pre[1], []byte("HTTP/1.1 101")) {
		return
	}
	c.dec = h2conn.New(&c.rec, h2conn.Limits{}, h2conn.StartUpgrade)
	for _, line := range strings.Split(string(c.pre[0][:req]), "\r\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "http2-settings") {
			if p, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(v), "=")); err == nil {
				c.dec.ApplySettings(0, p)
			}
		}
	}
	c.dec.Data(0, c.pre[0][req+4:], ts)
	c.dec.Data(1, c.pre[1][resp+4:], ts)
}

// Decode reads c with h2conn, the connections reassembled in order, and
// returns its streams as Tshark does, so that the two can be compared.
func Decode(t testing.TB, c Capture) ([]Stream, []h2conn.Stats) {
	t.Helper()
	return DecodeCut(t, c, Cut{})
}

// DecodeCut is Decode with cut applied to every connection (cuts apply
// to the HTTP/2 bytes: not to an upgrade's HTTP/1.1 part).
func DecodeCut(t testing.TB, c Capture, cut Cut) ([]Stream, []h2conn.Stats) {
	t.Helper()
	f, err := os.Open(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := capfile.NewReader(f)
	if err != nil {
		t.Fatalf("read %s: %v", c.Path, err)
	}
	conns := map[int]*conn{}
	var order []int
	var p decode.Packet
	for {
		pk, err := rd.Next()
		if err != nil {
			break
		}
		if decode.Decode(pk.LinkType, pk.Data, &p) != nil {
			continue
		}
		dir, client := 0, int(p.SrcPort)
		if int(p.SrcPort) == c.Port {
			dir, client = 1, int(p.DstPort)
		} else if int(p.DstPort) != c.Port {
			continue
		}
		cn := conns[client]
		if p.Flags&decode.SYN != 0 && dir == 0 {
			cn = &conn{rec: recorder{port: client, streams: map[uint32]*Stream{}}, upgrade: c.Upgrade, cut: cut}
			if !c.Upgrade {
				start := h2conn.StartPreface
				if cut.Skip != [2]int{} {
					start = h2conn.StartMidstream
				}
				cn.dec = h2conn.New(&cn.rec, h2conn.Limits{}, start)
			}
			conns[client] = cn
			order = append(order, client)
		}
		if cn == nil {
			continue
		}
		if p.Flags&decode.SYN != 0 {
			cn.next[dir], cn.synced[dir] = p.Seq+1, true
			continue
		}
		if !cn.synced[dir] || len(p.Payload) == 0 {
			continue
		}
		b := p.Payload
		if d := int32(p.Seq - cn.next[dir]); d < 0 {
			if int(-d) >= len(b) {
				continue
			}
			b = b[-d:]
		} else if d > 0 && cn.dec != nil {
			cn.dec.Gap(dir, int64(d), pk.Timestamp)
		}
		cn.next[dir] = p.Seq + uint32(len(p.Payload))
		cn.data(dir, b, pk.Timestamp)
	}
	streams := map[[2]int]*Stream{}
	var stats []h2conn.Stats
	for _, port := range order {
		cn := conns[port]
		if cn.dec == nil {
			continue
		}
		cn.dec.Close(time.Time{})
		stats = append(stats, cn.dec.Stats())
		for id, s := range cn.rec.streams {
			streams[[2]int{port, int(id)}] = s
		}
	}
	return sorted(streams), stats
}
