package filter

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzCompile compiles arbitrary expressions: the compiler must return a
// program or an error, never panic, and what it returns must load in the VM.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"tcp port 80", "host 10.0.0.1 or (ip6 and net 2001:db8::/32)", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "vlan 10 and udp", "not portrange 1-1024 && less 100", "ip[0] & 0xf != 5", "((tcp", "port"} {
		f.Add(s, uint8(0))
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkType(276), layers.LinkTypeRaw, layers.LinkTypeNull}
	f.Fuzz(func(t *testing.T, expr string, link uint8) {
		insns, err := Compile(expr, links[int(link)%len(links)], 0)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok && insns != nil {
				t.Fatalf("error %v with a program", err)
			}
			return
		}
		p, err := NewProgram(insns)
		if err != nil {
			t.Fatalf("%q compiled to a program the VM rejects: %v", expr, err)
		}
		p.Match(make([]byte, 64))
	})
}
