package tcp

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsNoDecoder checks the layering: the transport knows no
// application protocol, nor the exchange layer above it.
func TestImportsNoDecoder(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("reading the package: %v", err)
	}
	allowed := map[string]bool{
		"github.com/sniffer/sniffer/sniff/decode":              true,
		"github.com/sniffer/sniffer/sniff/entry":               true,
		"github.com/sniffer/sniffer/sniff/internal/reassembly": true,
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/sniffer/sniffer/") && !allowed[imp] {
			t.Errorf("package tcp imports %s: the transport must not depend on what runs above it", imp)
		}
	}
}
