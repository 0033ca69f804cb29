package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// runOn runs the command on a capture file written to a temporary
// directory, with the given flags, and returns its exit status, standard
// output and standard error (with the file's path replaced by name).
func runOn(t *testing.T, name string, file []byte, args ...string) (int, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-f", path}, args...), nil, &stdout, &stderr)
	return code, stdout.String(), strings.ReplaceAll(stderr.String(), path, name)
}

var t0 = time.Unix(1700000000, 0).UTC()

// twoInterfaces returns a pcapng capture with interfaces of the two link
// types, an exchange for /first on port 8080 on the first, one for /second
// on port 8080 and one for /other on port 9090 on the second.
func twoInterfaces(first, second layers.LinkType, bo byteOrder) *genCapture {
	c := &genCapture{ng: true, bo: bo, links: []layers.LinkType{first, second}}
	c.exchange(0, "10.0.0.1:40000", "10.0.0.2:8080", "/first", t0)
	c.exchange(1, "10.0.1.1:40001", "10.0.1.2:8080", "/second", t0.Add(5*time.Microsecond))
	c.exchange(1, "10.0.1.1:40002", "10.0.1.2:9090", "/other", t0.Add(7*time.Microsecond))
	c.sortRecs()
	return c
}

// TestFilterEachInterfaceLinkType: a pcapng with an Ethernet and a Linux
// SLL2 interface, each carrying an exchange on port 8080: -p is compiled
// for each interface's link type, so both exchanges pass it.
func TestFilterEachInterfaceLinkType(t *testing.T) {
	E, S := layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2
	for _, links := range [][2]layers.LinkType{{E, S}, {S, E}} {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			file, _ := twoInterfaces(links[0], links[1], bo).render()
			code, out, errs := runOn(t, "two.pcapng", file, "-p", "tcp port 8080", "-l", "%request.url %response.code")
			if code != 0 || errs != "" || out != "/first 200\n/second 200\n" {
				t.Errorf("%v: exit %d, output %q, stderr %q", links, code, out, errs)
			}
			// The filter filters on both: port 9090 passes alone.
			if _, out, _ = runOn(t, "two.pcapng", file, "-p", "port 9090", "-l", "%request.url"); out != "/other\n" {
				t.Errorf("%v: -p 'port 9090': output %q", links, out)
			}
		}
	}
}

// TestFilterUncompilableLinkType: an interface of a link type the filter
// compiler does not support gets one warning naming it, its frames are
// skipped and counted, and the other interface's exchange is printed.
func TestFilterUncompilableLinkType(t *testing.T) {
	c := twoInterfaces(layers.LinkTypeEthernet, 147, binary.LittleEndian)
	file, _ := c.render()
	code, out, errs := runOn(t, "user0.pcapng", file, "-p", "tcp port 8080", "-l", "%request.url")
	if code != 0 || out != "/first\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	want := "sniffer: warning: user0.pcapng: -p cannot be compiled for link type 147 (LINKTYPE_USER0), which it does not support: packets of that link type are skipped\n" +
		"sniffer: warning: user0.pcapng: 20 packets skipped: -p could not be compiled for their link type\n"
	if errs != want {
		t.Errorf("stderr\n%s\nwant\n%s", errs, want)
	}

	// "vlan" compiles for Ethernet, not for SLL2: a warning with the
	// compiler's message.
	file, _ = twoInterfaces(layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2, binary.LittleEndian).render()
	code, out, errs = runOn(t, "vlan.pcapng", file, "-p", "tcp or vlan", "-l", "%request.url")
	if code != 0 || out != "/first\n" || !regexp.MustCompile(`^sniffer: warning: vlan.pcapng: -p cannot be compiled for link type 276 \(LINKTYPE_LINUX_SLL2\) \(filter: position 7: "vlan" is not supported on Linux cooked v2 \(SLL2\) links\): packets of that link type are skipped\n`+
		`sniffer: warning: vlan.pcapng: 20 packets skipped: -p could not be compiled for their link type\n$`).MatchString(errs) {
		t.Errorf("vlan: exit %d, output %q, stderr\n%s", code, out, errs)
	}
	// The first link type's error is the expression's: exit status 2.
	file, _ = twoInterfaces(layers.LinkTypeLinuxSLL2, layers.LinkTypeEthernet, binary.LittleEndian).render()
	code, _, errs = runOn(t, "vlan.pcapng", file, "-p", "tcp or vlan")
	if code != 2 || !strings.HasPrefix(errs, `sniffer: filter: position 7: "vlan" is not supported`) || strings.Count(errs, "\n") != 1 {
		t.Errorf("vlan, SLL2 first: exit %d, stderr %q", code, errs)
	}
}

// TestUnsupportedLinkTypeError: a capture whose packets are all of a link
// type sniffer cannot decode is a one-line error naming it, with or
// without -p.
func TestUnsupportedLinkTypeError(t *testing.T) {
	for _, ng := range []bool{false, true} {
		c := &genCapture{ng: ng, bo: binary.LittleEndian, links: []layers.LinkType{147}}
		c.exchange(0, "10.0.0.1:40000", "10.0.0.2:8080", "/", t0)
		file, _ := c.render()
		for _, args := range [][]string{nil, {"-p", "tcp"}} {
			code, out, errs := runOn(t, "user0", file, args...)
			errLines := 0
			for _, l := range strings.Split(strings.TrimSuffix(errs, "\n"), "\n") {
				if !strings.HasPrefix(l, "sniffer: warning: ") {
					errLines++
				}
			}
			if code != exitFailed || out != "" || errLines != 1 || !strings.HasSuffix(errs, "sniffer: user0: link type 147 (LINKTYPE_USER0) is not supported\n") {
				t.Errorf("pcapng %v, %q: exit %d, output %q, stderr\n%s", ng, args, code, out, errs)
			}
		}
	}
}

// TestCaplenExceedsLength: a record claiming more captured bytes than the
// packet's length is skipped with a counted warning, as tcpdump skips it,
// and the exchanges around it are printed.
func TestCaplenExceedsLength(t *testing.T) {
	for _, ng := range []bool{false, true} {
		c := &genCapture{ng: ng, bo: binary.BigEndian, links: []layers.LinkType{layers.LinkTypeEthernet}}
		c.exchange(0, "10.0.0.1:40000", "10.0.0.2:8080", "/a", t0)
		c.exchange(0, "10.0.0.1:40001", "10.0.0.2:8080", "/b", t0.Add(time.Second))
		file, lay := c.render()
		// Record 11 (the second connection's SYN-ACK) gets an original
		// length of 10: its SYN is taken as a connection without
		// handshake.
		off := lay.recEnd[9] + 12 // pcap: the record's len field
		if ng {
			off = lay.recEnd[9] + 24 // pcapng: the EPB's original length
		}
		binary.BigEndian.PutUint32(file[off:], 10)
		code, out, errs := runOn(t, "bad", file, "-l", "%request.url")
		if code != 0 || out != "/a\n/b\n" {
			t.Errorf("pcapng %v: exit %d, output %q", ng, code, out)
		}
		if want := "sniffer: warning: bad: 1 records skipped: their captured length exceeds their original length (tcpdump prints \"[Invalid header: len(L) < caplen(C)]\" for them)\n"; errs != want {
			t.Errorf("pcapng %v: stderr %q, want %q", ng, errs, want)
		}
	}
}

// TestPcapOutMixedLinkTypes: -w writes one link type; the packets of the
// other interface are counted in a warning that names the one written.
func TestPcapOutMixedLinkTypes(t *testing.T) {
	file, _ := twoInterfaces(layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2, binary.LittleEndian).render()
	out := filepath.Join(t.TempDir(), "out.pcap")
	code, _, errs := runOn(t, "two.pcapng", file, "-w", out, "-l", "%request.url")
	if want := "sniffer: warning: -w: 20 packets were not written: their link type is not the file's, 1 (LINKTYPE_ETHERNET)\n"; code != 0 || errs != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errs, want)
	}
}
