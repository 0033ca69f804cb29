package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sniffer/sniffer/sniff/filter"
)

// TestDamagedCaptures feeds the command (run, in-process, as "-f -") a
// corpus of malformed and unusual captures made from a fixed seed: pcap
// (micro/nano, both byte orders) and pcapng (both byte orders, one to
// three interfaces, sometimes twenty, of every link type sniffer decodes
// and of unknown ones, sometimes with unknown blocks between the packets),
// each carrying HTTP exchanges, then damaged: cut anywhere (headers
// included), followed by garbage or by an impossible record or block
// (absurd captured lengths, caplen > len, zero lengths, bad block lengths,
// truncated blocks, undescribed interfaces, bad section headers), with
// impossible records inserted in the middle, huge timestamps, or random
// bit flips.
//
// For every file: no panic, no hang (each run has a deadline), exit status
// 0 or 4 (the input could not be read), and standard error made of lines
// that start with "sniffer: ": at most one error line (exactly one when the
// status is 4, none when it is 0) and any number, up to filter.MaxWarnedLinks+3, of warnings
// ("sniffer: warning: "; the ones sniffer gives are a capture cut short,
// records with caplen > len skipped, -p not compiled for a link type, the
// count of packets -p skipped, a header block longer than --max-header),
// and the lines of --summary ("sniffer: summary: "). Some captures are
// read with --json, --json-body, --summary or -a instead of the plain
// format, for the invariants.
// For the undamaged captures, the entries are exactly the expected ones;
// for a capture cut anywhere, the entries are those of the capture cut at
// the record boundary before; for a capture followed by damage, the
// entries of the undamaged capture come first, unchanged; a zero-length
// or caplen > len record inserted between records changes nothing but a
// warning.
func TestDamagedCaptures(t *testing.T) {
	seed, files := uint64(20261201), 1200
	// SNIFFER_SWEEP_SEED and SNIFFER_SWEEP_FILES explore other corpora;
	// the default one is fixed.
	if v := os.Getenv("SNIFFER_SWEEP_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SNIFFER_SWEEP_SEED: %v", err)
		}
		seed = n
	}
	if v := os.Getenv("SNIFFER_SWEEP_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SNIFFER_SWEEP_FILES: %v", err)
		}
		files = n
	}
	r := rand.New(rand.NewPCG(seed, 1105))
	s := &sweep{t: t}
	for i := 0; s.damaged < files; i++ {
		s.base(r, i)
	}
	t.Logf("%d captures, %d damaged, %d runs; exit status 4 for %d, warnings for %d; %d comparisons of entries, %d of them not empty",
		s.bases, s.damaged, s.runs, s.failed, s.warned, s.compared, s.nonEmpty)
	if s.failed == 0 || s.warned == 0 || s.failed > s.runs*3/4 || s.nonEmpty < s.compared/2 {
		t.Errorf("the corpus does not exercise every outcome: %d of %d runs failed, %d warned, %d of %d comparisons of entries not empty",
			s.failed, s.runs, s.warned, s.nonEmpty, s.compared)
	}
}

// sweepDeadline is how long one run may take before it counts as a hang:
// far more than any of these small files needs, even on a loaded machine.
const sweepDeadline = 60 * time.Second

// sweep runs the corpus and keeps counts.
type sweep struct {
	t *testing.T
	// bases and damaged count the undamaged and damaged captures; runs
	// the runs of the command (with the cut captures' prefixes), failed
	// and warned those with exit status 4 and with warnings; compared the
	// damaged captures whose entries are checked against those of an
	// undamaged one, nonEmpty those whose undamaged capture has entries.
	bases, damaged, runs, failed, warned, compared, nonEmpty int
}

// result is what one run of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

// Link types of the generated interfaces.
var (
	decodedLinks = []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeIPv4, 12}
	unknownLinks = []layers.LinkType{147, 105, 127, 9999, 0xFFFF, 300}
)

const sweepFormat = "%request.url %response.code %connection"

// base generates one undamaged capture, checks the command's output for
// it, then checks damaged versions of it.
func (s *sweep) base(r *rand.Rand, n int) {
	c := &genCapture{ng: r.IntN(2) == 0, nanos: r.IntN(2) == 0, bo: binary.LittleEndian}
	if r.IntN(2) == 0 {
		c.bo = binary.BigEndian
	}
	nIf := 1
	if c.ng {
		nIf = 1 + r.IntN(3)
		if r.IntN(40) == 0 {
			nIf = 20
		}
		c.extra = r.IntN(5) == 0
	}
	for range nIf {
		if r.IntN(5) == 0 {
			c.links = append(c.links, unknownLinks[r.IntN(len(unknownLinks))])
		} else {
			c.links = append(c.links, decodedLinks[r.IntN(len(decodedLinks))])
		}
	}
	args := []string{"-l", sweepFormat}
	withFilter := r.IntN(3) == 0
	if withFilter {
		args = append(args, "-p", "tcp port 8080")
	}
	// The other printers, for the invariants (the undamaged capture's
	// entries are checked in sweepFormat only).
	others := [][]string{{"--json"}, {"--json-body"}, {"--summary", "-l", sweepFormat}, {"-a", " %request.header.host %session.time %response.time"}}
	plain := r.IntN(4) != 0
	if !plain {
		args = append(args[2:], others[r.IntN(len(others))]...)
	}
	var want []string
	decodable := false
	for i := range 1 + r.IntN(3) {
		iface := r.IntN(nIf)
		port := 8080
		if r.IntN(3) == 0 {
			port = 9090
		}
		path := fmt.Sprintf("/b%d/x%d", n, i)
		start := t0.Add(time.Duration(i)*time.Millisecond + time.Duration(r.IntN(50))*time.Microsecond)
		c.exchange(iface, fmt.Sprintf("10.%d.%d.1:%d", n%200, i, 40000+i), fmt.Sprintf("10.%d.%d.2:%d", n%200, i, port), path, start)
		if slices.Contains(decodedLinks, c.links[iface]) {
			decodable = true
			if !withFilter || port == 8080 {
				want = append(want, path+" 200 unique")
			}
		}
	}
	c.sortRecs()
	file, lay := c.render()
	desc := fmt.Sprintf("capture %d (%s, %q)", n, c.describe(), args)
	s.bases++
	clean := s.check(desc, file, args)
	// The expected entries.
	got := strings.Split(strings.TrimSuffix(clean.stdout, "\n"), "\n")
	if clean.stdout == "" {
		got = nil
	}
	slices.Sort(got)
	slices.Sort(want)
	if (plain && !slices.Equal(got, want)) || (clean.code != 0) == decodable {
		s.t.Fatalf("%s: exit %d, entries %q, want %q (decodable: %v); stderr:\n%s", desc, clean.code, got, want, decodable, clean.stderr)
	}

	// Damaged versions.
	for range 4 {
		// Cut anywhere: the entries of the capture cut at the boundary
		// before.
		cut := r.IntN(len(file))
		if r.IntN(3) == 0 {
			cut = r.IntN(min(len(file), lay.ends[min(nIf, len(lay.ends)-1)]+1)) // in the headers
		}
		prefix := 0
		for _, e := range lay.ends {
			if e <= cut {
				prefix = e
			}
		}
		d := fmt.Sprintf("%s cut at %d", desc, cut)
		got := s.damage(d, file[:cut], args, clean)
		if want := s.check(d+" (prefix)", file[:prefix], args); got.stdout != want.stdout {
			s.t.Errorf("%s: entries\n%s\nwant those of the capture cut at %d:\n%s", d, got.stdout, prefix, want.stdout)
		}
	}
	for range 2 {
		// Followed by damage: the entries come first, unchanged.
		tail, what := damagedTail(r, c)
		d := fmt.Sprintf("%s followed by %s", desc, what)
		got := s.damage(d, append(bytes.Clone(file), tail...), args, clean)
		if !strings.HasPrefix(got.stdout, clean.stdout) {
			s.t.Errorf("%s: entries\n%s\nwant first:\n%s", d, got.stdout, clean.stdout)
		}
	}
	if len(lay.recStart) > 0 {
		// A zero-length or caplen > len record between two records:
		// the same entries.
		at := lay.recStart[r.IntN(len(lay.recStart))]
		rec, what := harmlessRecord(r, c)
		d := fmt.Sprintf("%s with %s at %d", desc, what, at)
		got := s.damage(d, slices.Concat(file[:at], rec, file[at:]), args, clean)
		if got.stdout != clean.stdout || got.code != clean.code {
			s.t.Errorf("%s: exit %d, entries\n%s\nwant %d and\n%s", d, got.code, got.stdout, clean.code, clean.stdout)
		}
	}
	// Huge or zero timestamps, impossible records in the middle, bit
	// flips: only the invariants.
	if len(lay.recStart) > 0 {
		f := bytes.Clone(file)
		for range 1 + r.IntN(3) {
			j := r.IntN(len(lay.recStart))
			off := lay.recStart[j] // pcap: seconds, fraction
			if c.ng {
				off += 12 // EPB: timestamp high, low
			}
			v := []uint32{0xFFFFFFFF, 0, 0x80000000, 999999999, 1000000}[r.IntN(5)]
			c.bo.PutUint32(f[off+4*r.IntN(2):], v)
		}
		if c.ng && c.nanos && r.IntN(2) == 0 {
			// The timestamp resolution of an interface: seconds, 2^-63 s,
			// 10^-19 s, or invalid.
			k := r.IntN(len(c.links))
			f[lay.ends[k]+20] = []byte{0x80, 0xBF, 19, 20, 0xC0}[r.IntN(5)]
		}
		s.damage(desc+" with timestamps changed", f, args, result{})

		// A header field: pcap version, snap length, link type (with FCS
		// bits); pcapng version, section length, link type, snap length.
		f = bytes.Clone(file)
		offs := []int{4, 6, 16, 20}
		if c.ng {
			offs = []int{12, 14, 16, 20, lay.ends[0] + 8, lay.ends[0] + 12}
		}
		off := offs[r.IntN(len(offs))]
		v := []uint32{0, 1, 0xFFFFFFFF, 0x10000001, 0x04000001, 276, 3, 0x00020004}[r.IntN(8)]
		c.bo.PutUint32(f[off:], v)
		s.damage(fmt.Sprintf("%s with header field at %d set to %#x", desc, off, v), f, args, result{})

		f = bytes.Clone(file)
		j := r.IntN(len(lay.recStart))
		off = lay.recStart[j] + 8 // pcap: caplen, len
		if c.ng {
			off = lay.recStart[j] + 4 + r.IntN(6)*4 // EPB: any field from the block length on
		}
		v = []uint32{0, 1, 3, 0xFFFFFFFF, 262145, 1 << 20, 60, 8}[r.IntN(8)]
		c.bo.PutUint32(f[off+4*r.IntN(2):], v)
		s.damage(fmt.Sprintf("%s with %d at %d", desc, v, off), f, args, result{})
	}
	for range 2 {
		f := bytes.Clone(file)
		from := 0
		if r.IntN(2) == 0 {
			from = lay.ends[0] // past the file header
		}
		var flips []int
		for range 1 + r.IntN(8) {
			bit := from*8 + r.IntN((len(f)-from)*8)
			f[bit/8] ^= 1 << (bit % 8)
			flips = append(flips, bit)
		}
		s.damage(fmt.Sprintf("%s with bits %v flipped", desc, flips), f, args, result{})
	}
}

// damagedTail returns bytes to append to a valid capture of c's format:
// garbage, or an impossible or truncated record or block.
func damagedTail(r *rand.Rand, c *genCapture) ([]byte, string) {
	bo := c.bo
	frame := c.recs[r.IntN(len(c.recs))].data
	if r.IntN(5) == 0 {
		g := make([]byte, 1+r.IntN(64))
		for i := range g {
			g[i] = byte(r.Uint32())
		}
		return g, fmt.Sprintf("garbage %x", g)
	}
	if !c.ng {
		lens := [][2]uint32{{0xFFFFFFFF, 0xFFFFFFFF}, {262145, 262145}, {1 << 30, 60}, {uint32(len(frame)), 10},
			{0, 0}, {0, 60}, {uint32(len(frame)), uint32(len(frame))}, {100000, 100000}}
		l := lens[r.IntN(len(lens))]
		data := frame
		if r.IntN(2) == 0 && len(data) > 1 {
			data = data[:r.IntN(len(data))] // a record cut short
		}
		rec := pcapRec(nil, bo, c.nanos, t0.Add(time.Hour), l[0], l[1], data)
		if r.IntN(4) == 0 {
			rec = rec[:r.IntN(16)] // a record header cut short
		}
		return rec, fmt.Sprintf("a record of caplen %d, len %d, %d bytes", l[0], l[1], len(rec))
	}
	var b []byte
	var what string
	switch k := r.IntN(10); k {
	case 0, 1: // a block whose length makes no sense
		total := []uint32{0, 4, 8, 13, 0xFFFFFFFF, 1 << 20, 600000, 1 << 31}[r.IntN(8)]
		b = bo.AppendUint32(nil, []uint32{6, 1, 3, 0x0A0D0D0A, 0x40000BAD}[r.IntN(5)])
		b = bo.AppendUint32(b, total)
		b = append(b, frame...)
		what = fmt.Sprintf("a block of length %d", total)
	case 2: // trailing length differs
		b = ngEPB(nil, bo, 0, ngTime(t0, c.nanos), uint32(len(frame)), frame)
		bo.PutUint32(b[len(b)-4:], 12)
		what = "a block whose trailing length differs"
	case 3: // undescribed interface
		b = ngEPB(nil, bo, uint32(len(c.links)+r.IntN(1000)), ngTime(t0, c.nanos), uint32(len(frame)), frame)
		what = "a packet of an undescribed interface"
	case 4: // captured length beyond the block
		b = ngEPB(nil, bo, 0, ngTime(t0, c.nanos), uint32(len(frame)), frame)
		bo.PutUint32(b[20:], uint32(len(frame))+1+uint32(r.IntN(1<<20)))
		what = "a packet whose captured length exceeds its block"
	case 5: // interface description too short, or with a bad timestamp resolution
		if r.IntN(2) == 0 {
			b = ngBlock(nil, bo, 1, []byte{1, 0})
			what = "a short interface description"
		} else {
			body := bo.AppendUint16(nil, 1)
			body = bo.AppendUint16(body, 0)
			body = bo.AppendUint32(body, 0)
			body = bo.AppendUint16(body, 9)
			body = bo.AppendUint16(body, 1)
			body = append(body, []byte{0x7F, 0xFF, 20, 0xC0}[r.IntN(4)], 0, 0, 0)
			b = ngBlock(nil, bo, 1, body)
			what = "an interface with a bad if_tsresol"
		}
	case 6: // a section header with a bad byte-order magic or version
		body := bo.AppendUint32(nil, 0x1A2B3C4D)
		if r.IntN(2) == 0 {
			bo.PutUint32(body, 0xDEADBEEF)
		}
		body = bo.AppendUint16(body, uint16(r.IntN(3)))
		body = bo.AppendUint16(body, 0)
		body = bo.AppendUint64(body, ^uint64(0))
		b = ngBlock(nil, bo, 0x0A0D0D0A, body)
		what = "a bad section header"
	case 7: // a new section with no interface, then a packet
		b = ngBlock(nil, bo, 0x0A0D0D0A, bo.AppendUint64(bo.AppendUint16(bo.AppendUint16(bo.AppendUint32(nil, 0x1A2B3C4D), 1), 0), ^uint64(0)))
		b = ngEPB(b, bo, 0, ngTime(t0, c.nanos), uint32(len(frame)), frame)
		what = "a section without interfaces, with a packet"
	case 8: // a simple packet block or an obsolete packet block
		if r.IntN(2) == 0 {
			b = ngBlock(nil, bo, 3, append(bo.AppendUint32(nil, uint32(r.IntN(2000))), frame...))
			what = "a simple packet block"
		} else {
			body := bo.AppendUint16(nil, uint16(r.IntN(3)))
			body = bo.AppendUint16(body, 0)
			body = bo.AppendUint64(body, ngTime(t0, c.nanos))
			body = bo.AppendUint32(body, uint32(len(frame)))
			body = bo.AppendUint32(body, uint32(len(frame)))
			b = ngBlock(nil, bo, 2, append(body, frame...))
			what = "an obsolete packet block"
		}
	default: // a block cut short
		b = ngEPB(nil, bo, 0, ngTime(t0, c.nanos), uint32(len(frame)), frame)
		b = b[:r.IntN(len(b))]
		what = fmt.Sprintf("a packet block cut at %d bytes", len(b))
	}
	return b, what
}

// harmlessRecord returns a record of c's format that tcpdump skips
// ("[Invalid header: ...]") and sniffer ignores: no captured byte, or a
// captured length larger than the original length.
func harmlessRecord(r *rand.Rand, c *genCapture) ([]byte, string) {
	// A copy of a record, on its interface: a zero-length frame on an
	// interface of a decoded link type would make a capture of packets of
	// unsupported link types only into one that has a decoded packet.
	like := c.recs[r.IntN(len(c.recs))]
	frame := like.data
	data, length, what := []byte(nil), uint32(r.IntN(2)*60), "a zero-length record"
	if r.IntN(2) == 0 {
		data, length, what = frame, uint32(r.IntN(len(frame))), "a record with caplen > len"
	}
	if !c.ng {
		return pcapRec(nil, c.bo, c.nanos, t0, uint32(len(data)), length, data), what
	}
	return ngEPB(nil, c.bo, uint32(like.iface), ngTime(t0, c.nanos), length, data), what
}

// damage is check for a damaged capture; clean is the undamaged
// capture's result when the caller compares the entries, else zero.
func (s *sweep) damage(desc string, file []byte, args []string, clean result) result {
	s.t.Helper()
	s.damaged++
	if clean != (result{}) {
		s.compared++
		if clean.stdout != "" {
			s.nonEmpty++
		}
	}
	return s.check(desc, file, args)
}

// check runs the command on file with args and checks the invariants.
func (s *sweep) check(desc string, file []byte, args []string) result {
	s.t.Helper()
	s.runs++
	res, panicked, ok := runDeadline(file, args)
	switch {
	case !ok:
		s.t.Fatalf("%s: no exit after %v (a hang)", desc, sweepDeadline)
	case panicked != "":
		s.t.Fatalf("%s: panic: %s", desc, panicked)
	case res.code != exitOK && res.code != exitFailed:
		s.t.Fatalf("%s: exit status %d; stderr:\n%s", desc, res.code, res.stderr)
	}
	errLines, warnings := 0, 0
	if res.stderr != "" {
		for _, l := range strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n") {
			switch {
			case !strings.HasPrefix(l, "sniffer: ") || len(l) > 500:
				s.t.Fatalf("%s: stderr line %q", desc, l)
			case strings.HasPrefix(l, "sniffer: warning: "):
				warnings++
			case strings.HasPrefix(l, "sniffer: summary: "): // --summary
			default:
				errLines++
			}
		}
		if !strings.HasSuffix(res.stderr, "\n") {
			s.t.Fatalf("%s: stderr does not end with a newline: %q", desc, res.stderr)
		}
	}
	if wantErr := min(res.code, 1); errLines != wantErr || warnings > filter.MaxWarnedLinks+3 {
		s.t.Fatalf("%s: exit status %d with %d error lines and %d warnings:\n%s", desc, res.code, errLines, warnings, res.stderr)
	}
	if res.code == exitFailed {
		s.failed++
	}
	if warnings > 0 {
		s.warned++
	}
	return res
}

// runDeadline runs the command on file as standard input, in a goroutine
// so that a hang is reported instead of stopping the test binary; ok is
// false if it did not return within sweepDeadline.
func runDeadline(file []byte, args []string) (res result, panicked string, ok bool) {
	type outcome struct {
		res      result
		panicked string
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				o.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
			}
			done <- o
		}()
		var stdout, stderr bytes.Buffer
		o.res.code = run(append([]string{"-f", "-"}, args...), bytes.NewReader(file), &stdout, &stderr)
		o.res.stdout, o.res.stderr = stdout.String(), stderr.String()
	}()
	timer := time.NewTimer(sweepDeadline)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.res, o.panicked, true
	case <-timer.C:
		return result{}, "", false
	}
}

// TestSegmentHalfTheSequenceSpaceAway is the first failure the sweep found:
// a data segment whose sequence number is exactly 2^31 from the one
// expected (a flipped top bit) must be taken as a stray segment, not make
// the command panic (sniff/internal/reassembly: -diff of math.MinInt32 is itself).
func TestSegmentHalfTheSequenceSpaceAway(t *testing.T) {
	c := &genCapture{bo: binary.LittleEndian, links: []layers.LinkType{layers.LinkTypeEthernet}}
	c.exchange(0, "10.0.0.1:40000", "10.0.0.2:8080", "/a", t0)
	// The request again, 2^31 bytes away from where the client is.
	cl, sv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:8080")
	req := c.recs[3]
	next := uint32(1001 + len("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
	stray := linkFrame(c.links[0], cl, sv, next+1<<31, 5001, fPSH|fACK, []byte("GET /b HTTP/1.1\r\n\r\n"))
	c.recs = slices.Insert(c.recs, 4, genRec{ts: req.ts, data: stray})
	file, _ := c.render()
	res, panicked, ok := runDeadline(file, []string{"-l", "%request.url %response.code"})
	if !ok || panicked != "" || res.code != 0 || !strings.HasPrefix(res.stdout, "/a 200\n") {
		t.Fatalf("finished %v, exit %d, output %q, panic: %s", ok, res.code, res.stdout, panicked)
	}
}
