package filter

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/sniffer/sniffer/internal/require"
)

// The differential test compiles each expression of diffExprs with this
// package and with tcpdump ("tcpdump -ddd -r file.pcap EXPR", where the
// empty capture file sets the link type), runs both programs in the
// x/net/bpf virtual machine over the packet corpus and requires the same
// verdict (accept or reject) for every packet.

// diffLinks are the link types of the differential test.
var diffLinks = []struct {
	name string
	link layers.LinkType
}{
	{"EN10MB", layers.LinkTypeEthernet},
	{"LINUX_SLL", layers.LinkTypeLinuxSLL},
	{"LINUX_SLL2", layers.LinkTypeLinuxSLL2},
	{"RAW", layers.LinkTypeRaw},
	{"NULL", layers.LinkTypeNull},
	{"LOOP", layers.LinkTypeLoop},
	{"IPV4", layers.LinkTypeIPv4},
	{"IPV6", layers.LinkTypeIPv6},
}

// handExprs cover each feature on its own.
var handExprs = []string{
	// Protocols.
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "rarp", "sctp", "igmp",
	"pim", "ah", "esp", "vrrp", "igrp", "carp",
	// Hosts.
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2",
	"src or dst host 1.2.3.4", "dst or src host 1.2.3.4", "src and dst host 1.2.3.4",
	"dst and src host 10.0.0.1", "ip host 10.0.0.1", "arp host 10.0.0.1",
	"rarp host 10.0.0.1", "ip src host 192.168.1.10", "arp src host 10.0.0.1",
	"arp dst host 10.0.0.2", "src 10.0.0.1", "dst 1.2.3.4", "ip dst 8.8.8.8",
	"host ::1", "host 2001:db8::1", "src host 2001:db8::1", "dst host 2001:db8::2",
	"ip6 host fe80::1", "ip6 src host 2001:db8::1", "src and dst host ::1",
	"host ff02::fb", "host ::ffff:10.0.0.1", "dst 2001:db9::1",
	// Networks.
	"net 10.0.0.0/8", "src net 192.168.0.0/16", "dst net 10.0.0.0 mask 255.0.0.0",
	"net 10", "net 172.16", "net 192.168.1", "net 0.0.0.0/0", "net 10.0.0.0/31",
	"net 2001:db8::/32", "src net 2001:db8::/48", "ip6 net fe80::/10",
	"net 1.2.3.4", "ip net 10.0.0.0/24", "arp net 10.0.0.0/8", "dst net 224.0.0.0/4",
	"net ::/0", "net 2001:db8::/127", "net 2001:db8::1/128", "host 2001:db8::1/128",
	"net 10.1.0.0 mask 255.255.0.0", "src and dst net 10.0.0.0/8",
	// Ports.
	"port 80", "port 443", "src port 80", "dst port 443", "tcp port 80",
	"udp port 53", "tcp src port 1024", "udp dst port 123", "sctp port 80",
	"port 0", "port 65535", "src or dst port 22", "src and dst port 53",
	"tcp src and dst port 80", "port 0x50", "port 0120", "sctp dst port 53",
	"port http", "port https", "port domain", "port ntp", "port ssh", "port www",
	"tcp port https", "udp port https", "udp port domain", "port bootps",
	"tcp port ftp-data", "sctp port domain",
	"portrange 1000-2000", "tcp portrange 1-1024", "udp src portrange 50-60",
	"portrange 2000-1000", "dst portrange 440-450", "portrange 80", "portrange ftp-ssh",
	"tcp dst portrange 0-79", "src and dst portrange 20-25", "sctp portrange 80-443",
	// Protocol numbers.
	"proto 6", "ip proto 17", "ip6 proto 58", "ip proto 1", "proto 47", `ip proto \tcp`,
	`ip6 proto \udp`, "ip proto gre", "proto 44", "ip6 proto 0", "ip6 proto 44",
	`proto \sctp`, "ip proto 300", `proto \ipv6-icmp`,
	// Length.
	"greater 100", "less 60", "greater 0", "less 1500", "len > 100", "len <= 64",
	"len = 54", "length >= 80", "len != 74", "len < 40",
	// VLAN.
	"vlan", "vlan 10", "vlan 100", "vlan and tcp", "vlan 10 and port 80",
	"vlan and vlan", "vlan 10 and vlan 20 and tcp", "tcp or vlan", "vlan or tcp",
	"vlan 10 or tcp", "not vlan", "vlan and host 10.0.0.1", "vlan and ip6 and udp port 53",
	"vlan 4095", "vlan (20)", "vlan and vlan 20 and vlan 100", "vlan and not tcp",
	"(vlan and ip) or ip", "vlan 0x14 and vlan 10", "ip or vlan and ip",
	// Byte and word tests.
	"tcp[13] & 2 != 0", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
	"tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0", "tcp[13] = 18",
	"tcp[tcpflags] == tcp-rst", "tcp[0:2] > 1024", "tcp[2:2] = 80", "tcp[0:4] = 0x005001bb",
	"tcp[12] >> 4 > 5", "tcp[tcp[0]] = 1", "tcp[(tcp[12]>>4)*4] = 0x47",
	"tcp[tcpflags] & (tcp-push|tcp-ack) = tcp-push|tcp-ack", "tcp[13] & tcp-urg != 0",
	"tcp[13] & (tcp-ece|tcp-cwr) != 0", "udp[0:2] = 53", "udp[8:2] = 0x4745",
	"udp[4:2] > 100", "icmp[icmptype] = icmp-echo", "icmp[icmptype] == icmp-echoreply",
	"icmp[0] != 8 and icmp[0] != 0", "icmp[icmpcode] = 1", "icmp[icmptype] = icmp-unreach",
	"ip[0] & 0xf != 5", "ip[0] & 0xf > 5", "ip[6:2] & 0x1fff != 0", "ip[6] & 0x20 != 0",
	"ip[8] < 64", "ip[2:2] > 100", "ip[9] = 6", "ip[12:4] = 0x0a000001", "ip[16] >= 224",
	"ip6[6] = 17", "ip6[6] == 58", "ip6[0] & 0xf0 = 0x60", "ip6[4:2] > 20", "ip6[40] = 6",
	"icmp6[0] = 128", "icmp6[icmp6type] = icmp6-echo", "icmp6[0] = icmp6-neighborsolicit",
	"icmp6[icmp6code] = 4", "arp[6:2] = 1", "arp[7] = 2", "rarp[7] = 3",
	"ether[0] & 1 != 0", "ether[12:2] = 0x800", "link[14] = 0x45", "ether[0:4] = 0x00112233",
	"ip[1:2] - ip[0] < 3", "ip[0] = ip[1]", "ip[2:2] - 20 > len", "len - 14 = ip[2:2]",
	"ip[2:2] + 14 = len", "ip[0] % 3 + 1 = 2", "ip[0] ^ 1 & 3 = 2", "ip[0] * 2 = 0x8a",
	"ip[0] / 16 = 4", "ip[0] << 1 = 0x8a", "ip[2:2] >> 8 = 0", "ip[0] | 0x40 = 0x45",
	"tcp[13] & 0x3f = 2", "tcp[4:4] = 1000", "tcp[0] = ip[0]", "igmp[0] = 0x11",
	"pim[0] = 0x20", "sctp[0:2] = 80", "vrrp[0] = 0x21", "ip[0] / ip[1] = 0",
	"ip[ip[0] & 0xf] = 1", "ip6[ip6[6] - 17] = 0", "udp[ip[9] - 9] = 0",
	"tcp[0:2] + tcp[2:2] = 1104", "1 = 1", "0 = 1", "2 > 1 and tcp", "ip[0] - 1 - 1 = 0x43",
	"ip[0] & 1 ^ 3 = 2", "ip[0] * 2 % 3 = 0x8a", "ip[9] + 1 % 3 = 7", "(ip[0]) = 0x45",
	"(ip[0] & 0xf) * 4 > 20", "ip[0] & 0xf0 == 0x40 and ip[0] != 0x45", "len >= ip[2:2]",
	"icmp6[1] = 0 and icmp6[0] = 129", "ip6[7] = 64 and ip6[8:4] = 0x20010db8",
	"udp[0:2] = udp[2:2]", "ether[ip[9]] = 0", "tcp[13] = 0xff or tcp[13] = 0",
	"ip[2:2] < 60 or ip[2:2] > 1000", "ip[3] >= 0x30 and ip[3] <= 0x40",
	"ip[0] = 0X45", "host FE80::1", "TCP", "tcp PORT 80",
	"ip[100] & 0 = 0", "ip[100] * 0 = 1", "ip[100] + 0 = 1", "0 & ip[100] = ip[1]",
	"tcp[ip[100] & 0] = 0", "ip[60:4] - ip[60:4] = 0", "udp[8:4] = 0x47455420",
	// Combinations and qualifier inheritance.
	"tcp and port 80", "tcp or udp", "not tcp", "! udp", "tcp && port 80", "tcp || icmp",
	"host 10.0.0.1 and port 80", "host 10.0.0.1 or 10.0.0.2",
	"host 10.0.0.1 or 10.0.0.2 or 1.2.3.4", "port 80 or 443", "port 80 or 443 and tcp",
	"tcp port 80 or 443", "src port 80 or 443", "not port 80 or 443", "not (port 80 or 443)",
	"not host 10.0.0.1 and 10.0.0.2", "host 10.0.0.1 and not 10.0.0.2",
	"host 10.0.0.1 and not 10.0.0.2 and not 1.2.3.4", "host (10.0.0.1 or 10.0.0.2)",
	"host (10.0.0.1 or 10.0.0.2) and port (80 or 443)", "port (80 or 443)",
	"host 10.0.0.1 or (tcp) or 1.2.3.4", "(tcp or udp) and not port 22",
	"tcp and (port 80 or port 443)", "ip and not ip6", "ip6 and (tcp or udp)",
	"icmp or icmp6", "arp or rarp", "not arp and not ip",
	"(host 10.0.0.1 and port 80) or (host 10.0.0.2 and port 443)",
	"tcp and tcp[13] & 2 != 0 and not src net 10.0.0.0/8",
	"udp and (port 53 or port 123) and greater 60", "not not tcp", "not (tcp and not port 80)",
	"tcp or (udp and not port 53) or icmp", "net 10.0.0.0/8 and not net 10.0.0.0/24",
	"dst host 10.0.0.2 and src port 1024", "ip and tcp[13] & 0x12 = 0x12",
	"port 80 and not ip6", "host 2001:db8::1 or 10.0.0.1", "ip6 host ::1 or ::2",
	"host 10.0.0.1 and (port 80 or 443)", "tcp port 80 and (tcp[13] & 2 != 0)",
	"src net 10.0.0.0/8 or 192.168.0.0/16", "net 10 or 172.16", "udp port 53 or 123 or 5353",
	"tcp dst port 80 or 443 or 8080", "portrange 1-100 or 1000-2000", "proto 6 or 17",
	"ip proto 6 or 17 or 1",
	"tcp and src host 10.0.0.1 and (dst port 80 or 443)", "not host 10.0.0.1 or 10.0.0.2",
	"(port 80) or 443", "not tcp and not udp and not icmp", "host 10.0.0.1 and ! 10.0.0.2",
	"((tcp))", "(not (not (udp)))", "vlan or arp or tcp", "less 100 or greater 1000",
	"greater 60 and less 100", "tcp and len > 100 or udp and len < 100",
	"ip6 and not (host ::1 or fe80::1)", "host 10.0.0.1 and host 10.0.0.2",
	"src host 10.0.0.1 and dst host 10.0.0.2 and tcp src port 80",
	"ether[0] = 0 and tcp", "icmp and icmp[icmptype] != icmp-echo",
	"tcp[tcpflags] & tcp-syn != 0 or udp port 53 or icmp6[0] = 128",
	"src portrange 1-1023 and dst portrange 1024-65535",
	"port 53 and (udp or tcp) and not host ::1",
	// libpcap 1.10.3's optimizer gets these wrong (fixed in 1.10.5 and
	// later); the test then compares with tcpdump -O.
	"(src host 1.2.3.4 and tcp) or ((host 10.0.0.1 or host 1.2.3.4) and udp)",
	"ip[1] & 0xffffffff != 0", "ip[1] & 0xffffffff = 0",
	longExpr("port", 1, 60), "not (" + longExpr("host", 1, 40) + ")",
	longExpr("tcp port", 2000, 70) + " or " + longExpr("udp dst port", 3000, 70),
}

// longExpr returns "kw v1 or v2 or ..." with n values, to exercise long
// jumps.
func longExpr(kw string, start, n int) string {
	var b strings.Builder
	b.WriteString(kw)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(" or")
		}
		v := strconv.Itoa(start + i)
		if kw == "host" {
			v = fmt.Sprintf("10.0.%d.%d", (start+i)/256, (start+i)%256)
		}
		fmt.Fprintf(&b, " %s", v)
	}
	return b.String()
}

// comboAtoms are combined pairwise into more expressions.
var comboAtoms = []string{
	"tcp", "udp", "icmp", "ip6", "arp", "port 80", "port 53", "host 10.0.0.1",
	"src net 10.0.0.0/8", "host 2001:db8::1", "tcp[13] & 2 != 0", "greater 100",
	"vlan", "udp port 53", "dst port 443", "ip proto 1", "net 2001:db8::/32",
	"portrange 1000-2000", "icmp6", "ip[8] < 64",
}

// randomAtoms are the primitives of randomly generated expressions.
var randomAtoms = []string{
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "sctp",
	"host 10.0.0.1", "host 10.0.0.2", "src host 1.2.3.4", "dst host 10.0.0.1",
	"host 2001:db8::1", "src host ::1", "net 10.0.0.0/8", "dst net 192.168.0.0/16",
	"net 2001:db8::/32", "port 80", "port 443", "src port 1024", "dst port 53",
	"tcp port 80", "udp port 53", "portrange 1000-2000", "tcp[13] & 2 != 0",
	"tcp[tcpflags] & tcp-ack = 0", "ip[8] < 64", "icmp[0] = 8", "ip6[6] = 17",
	"udp[0:2] = 53", "greater 100", "less 80", "ip proto 1", "proto 17", "len > 70",
	"host 10.0.0.1 or 1.2.3.4", "port 80 or 443 or 53", "src net 10.0.0.0/8 or 172.16.0.0/12",
	"tcp dst port 80 or 1024", "host ::1 or 2001:db8::2", "ip[2:2] > ip[0] * 4",
}

// randomExprs returns n random combinations of randomAtoms.
func randomExprs(seed int64, n int, vlan bool) []string {
	rng := rand.New(rand.NewSource(seed))
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || rng.Intn(10) < 3 {
			if vlan && rng.Intn(30) == 0 {
				return []string{"vlan", "vlan 10"}[rng.Intn(2)]
			}
			return randomAtoms[rng.Intn(len(randomAtoms))]
		}
		paren := func(s string) string {
			if rng.Intn(10) < 7 {
				return "(" + s + ")"
			}
			return s // left to tcpdump's left-associative and/or
		}
		switch rng.Intn(5) {
		case 0, 1:
			return gen(depth-1) + " and " + paren(gen(depth-1))
		case 2, 3:
			return gen(depth-1) + " or " + paren(gen(depth-1))
		}
		return "not " + paren(gen(depth-1))
	}
	out := make([]string, n)
	for i := range out {
		out[i] = gen(1 + rng.Intn(4))
	}
	return out
}

// diffExprs returns all expressions of the differential test.
func diffExprs() []string {
	exprs := append([]string(nil), handExprs...)
	exprs = append(exprs, randomExprs(1, 150, true)...)
	// FILTER_RANDOM=seed:n adds n more random expressions, for longer runs.
	if v := os.Getenv("FILTER_RANDOM"); v != "" {
		var seed int64
		var n int
		if _, err := fmt.Sscanf(v, "%d:%d", &seed, &n); err == nil {
			exprs = append(exprs, randomExprs(seed, n, true)...)
		}
	}
	forms := []string{"%s and %s", "%s or %s", "not %s and %s", "%s and not %s", "not (%s or %s)"}
	k := 0
	for i, a := range comboAtoms {
		for j, b := range comboAtoms {
			if i == j {
				continue
			}
			// Take a deterministic selection of pairs and forms.
			if (i*7+j*3)%4 == 0 {
				exprs = append(exprs, fmt.Sprintf(forms[k%len(forms)], a, b))
				k++
			}
		}
	}
	return exprs
}

// tcpdumpResult is tcpdump's compilation of one expression.
type tcpdumpResult struct {
	insns []bpf.Instruction // nil if tcpdump rejected the expression
	err   string            // tcpdump's error message
}

// runTcpdump compiles expr with tcpdump for the link type of pcapFile,
// without libpcap's optimizer if noOpt (tcpdump -O).
func runTcpdump(tcpdump, pcapFile, expr string, noOpt bool) (tcpdumpResult, error) {
	args := []string{"-ddd", "-r", pcapFile}
	if noOpt {
		args = append(args, "-O")
	}
	cmd := exec.Command(tcpdump, append(args, "--", expr)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	if err != nil {
		if strings.Contains(msg, "expression rejects all packets") {
			return tcpdumpResult{insns: []bpf.Instruction{bpf.RetConstant{Val: 0}}}, nil
		}
		// Keep only the error line, not the "reading from file" note.
		var lines []string
		for _, l := range strings.Split(msg, "\n") {
			if !strings.HasPrefix(l, "reading from file") && !strings.HasPrefix(l, "Warning:") {
				lines = append(lines, l)
			}
		}
		return tcpdumpResult{err: strings.Join(lines, "; ")}, nil
	}
	insns, err := parseDDD(stdout.String())
	if err != nil {
		return tcpdumpResult{}, fmt.Errorf("tcpdump -ddd %q: %v\n%s", expr, err, stdout.String())
	}
	return tcpdumpResult{insns: insns}, nil
}

// parseDDD parses tcpdump -ddd output: an instruction count, then one
// "code jt jf k" line per instruction, in decimal.
func parseDDD(out string) ([]bpf.Instruction, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		return nil, fmt.Errorf("empty output")
	}
	n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return nil, fmt.Errorf("bad count line %q", sc.Text())
	}
	var raw []bpf.RawInstruction
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("bad instruction line %q", sc.Text())
		}
		var v [4]uint64
		for i := range f {
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				return nil, fmt.Errorf("bad instruction line %q", sc.Text())
			}
		}
		raw = append(raw, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if len(raw) != n {
		return nil, fmt.Errorf("count %d but %d instructions", n, len(raw))
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, fmt.Errorf("cannot disassemble all instructions")
	}
	return insns, nil
}

// writeEmptyPcap writes a capture file with no packets and the given link
// type, for "tcpdump -r".
func writeEmptyPcap(path string, link layers.LinkType) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, link); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// findTcpdump returns the tcpdump binary ($FILTER_TCPDUMP if set, to test
// against another build), or skips (or fails, if SNIFFER_REQUIRE_TOOLS=1)
// the test.
func findTcpdump(t testing.TB) string {
	name := "tcpdump"
	if v := os.Getenv("FILTER_TCPDUMP"); v != "" {
		name = v
	}
	return require.Tool(t, name)
}

func TestDifferentialTcpdump(t *testing.T) {
	tcpdump := findTcpdump(t)
	exprs := diffExprs()
	if testing.Short() {
		exprs = handExprs
	}
	if len(exprs) < 200 {
		t.Fatalf("only %d expressions in the differential table, want >= 200", len(exprs))
	}
	corpus := buildCorpus()
	dir := t.TempDir()

	type job struct {
		li, ei int
	}
	type outcome struct {
		td  tcpdumpResult
		err error
	}
	results := make([][]outcome, len(diffLinks))
	var jobs []job
	for li, l := range diffLinks {
		results[li] = make([]outcome, len(exprs))
		if err := writeEmptyPcap(filepath.Join(dir, l.name+".pcap"), l.link); err != nil {
			t.Fatal(err)
		}
		for ei := range exprs {
			jobs = append(jobs, job{li, ei})
		}
	}
	// Run tcpdump in parallel.
	ch := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				td, err := runTcpdump(tcpdump, filepath.Join(dir, diffLinks[j.li].name+".pcap"), exprs[j.ei], false)
				results[j.li][j.ei] = outcome{td, err}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()

	var (
		mu                                                    sync.Mutex
		pairs, bothErr, runs, failures, sizeOurs, sizeTcpdump int
	)
	packets := map[layers.LinkType]int{}
	type frameSet struct {
		frames [][]byte
		descs  []string
		// complete are the untruncated packets, padded so that every
		// load a filter makes is within the packet.
		complete [][]byte
	}
	sets := make([]frameSet, len(diffLinks))
	pad := make([]byte, 600)
	for li, l := range diffLinks {
		for _, p := range corpus {
			if f := p.frame(l.link); f != nil {
				sets[li].frames = append(sets[li].frames, f)
				sets[li].descs = append(sets[li].descs, p.desc)
				if p.trunc < 0 {
					sets[li].complete = append(sets[li].complete, append(f[:len(f):len(f)], pad...))
				}
			}
		}
		packets[l.link] = len(sets[li].frames)
	}
	var libpcapBugs []string
	// libpcapBug checks whether a mismatch is due to a bug of libpcap's
	// optimizer (libpcap 1.10.3 has several, fixed in 1.10.5): tcpdump's
	// optimized program then rejects or accepts a complete packet that
	// its unoptimized program (tcpdump -O) does not. If so, our program
	// must agree with the unoptimized one on complete packets, and the
	// expression is reported but not counted as a failure.
	libpcapBug := func(li, ei int, tvm *bpf.VM, prog *Program) (bool, error) {
		l, expr := diffLinks[li], exprs[ei]
		unopt, err := runTcpdump(tcpdump, filepath.Join(dir, l.name+".pcap"), expr, true)
		if err != nil || unopt.insns == nil {
			return false, err
		}
		uvm, err := bpf.NewVM(unopt.insns)
		if err != nil {
			return false, nil // uses an instruction the VM lacks
		}
		bug := false
		for _, f := range sets[li].complete {
			a, _ := tvm.Run(f)
			b, _ := uvm.Run(f)
			if (a > 0) != (b > 0) {
				bug = true
				break
			}
		}
		if !bug {
			return false, nil
		}
		for _, f := range sets[li].complete {
			if b, _ := uvm.Run(f); (b > 0) != prog.Match(f) {
				return false, fmt.Errorf("%s %q: tcpdump's optimizer is wrong here, but we also differ from its unoptimized program on complete packet %x", l.name, expr, f)
			}
		}
		return true, nil
	}
	// check compares the two compilations of one expression for one link
	// type, over all packets.
	check := func(li, ei int) {
		l, expr, res := diffLinks[li], exprs[ei], results[li][ei]
		fail := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			failures++
			if failures <= 20 {
				t.Errorf(format, args...)
			}
		}
		if res.err != nil {
			fail("%v", res.err)
			return
		}
		ours, err := Compile(expr, l.link, 0)
		switch {
		case err != nil && res.td.insns == nil:
			mu.Lock()
			bothErr++
			mu.Unlock()
			return
		case err != nil:
			fail("%s %q: we fail (%v), tcpdump compiles it:\n%s", l.name, expr, err, dumpProg(res.td.insns))
			return
		case res.td.insns == nil:
			fail("%s %q: tcpdump fails (%s), we compile it:\n%s", l.name, expr, res.td.err, dumpProg(ours))
			return
		}
		prog, err := NewProgram(ours)
		if err != nil {
			fail("%s %q: NewProgram: %v", l.name, expr, err)
			return
		}
		tvm, err := bpf.NewVM(res.td.insns)
		if err != nil {
			fail("%s %q: tcpdump's program does not load in the VM: %v\n%s", l.name, expr, err, dumpProg(res.td.insns))
			return
		}
		n := 0
		for pi, f := range sets[li].frames {
			n++
			r, err := tvm.Run(f)
			if err != nil {
				fail("%s %q: running tcpdump's program: %v", l.name, expr, err)
				return
			}
			if want, got := r > 0, prog.Match(f); got != want {
				bug, err := libpcapBug(li, ei, tvm, prog)
				if err != nil {
					fail("%v", err)
					return
				}
				if bug {
					mu.Lock()
					libpcapBugs = append(libpcapBugs, l.name+" "+strconv.Quote(expr))
					mu.Unlock()
					break
				}
				note := "complete packets agree; the programs read different bytes of truncated ones"
				for _, c := range sets[li].complete {
					if r, _ := tvm.Run(c); (r > 0) != prog.Match(c) {
						note = "complete packets differ too"
						break
					}
				}
				fail("%s %q: packet %q: tcpdump accepts=%v, we accept=%v (%s)\npacket: %s\ntcpdump's program:\n%s\nour program:\n%s",
					l.name, expr, sets[li].descs[pi], want, got, note, hex.EncodeToString(f), dumpProg(res.td.insns), dumpProg(ours))
				break // one report per expression and link type
			}
		}
		mu.Lock()
		pairs++
		runs += n
		sizeOurs += len(ours)
		sizeTcpdump += len(res.td.insns)
		mu.Unlock()
	}
	ch = make(chan job)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				check(j.li, j.ei)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()

	var pk []string
	for _, l := range diffLinks {
		pk = append(pk, fmt.Sprintf("%s=%d", l.name, packets[l.link]))
	}
	if len(libpcapBugs) > 0 {
		sort.Strings(libpcapBugs)
		t.Logf("%d (link type, expression) pairs where tcpdump's own optimizer is wrong (we match tcpdump -O on complete packets instead):\n  %s",
			len(libpcapBugs), strings.Join(libpcapBugs, "\n  "))
	}
	t.Logf("%d expressions x %d link types: %d compiled by both, %d rejected by both; packets per link type: %s; %d verdicts compared, %d mismatches; program size %d instructions (tcpdump %d)",
		len(exprs), len(diffLinks), pairs, bothErr, strings.Join(pk, " "), runs, failures, sizeOurs, sizeTcpdump)
}

// dumpProg formats a program for failure messages.
func dumpProg(insns []bpf.Instruction) string {
	var b strings.Builder
	for i, in := range insns {
		fmt.Fprintf(&b, "  (%03d) %v\n", i, in)
	}
	return b.String()
}
