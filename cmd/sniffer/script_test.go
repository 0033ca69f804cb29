package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sniffer/sniffer/internal/require"
)

// TestMain lets the scripts run "sniffer" in-process, the way
// FiloSottile/age tests its commands.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sniffer": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line behaviour described in
// testdata/script/*.txtar. $ORACLE is the directory of the oracle captures;
// mkpcap builds a capture from a description (capture_test.go). The
// condition [tool:NAME] says whether NAME is in PATH; when it is not and
// SNIFFER_REQUIRE_TOOLS=1, the script fails instead of going without.
func TestScripts(t *testing.T) {
	oracle, err := filepath.Abs("../../testdata/oracle")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"mkpcap": cmdMkpcap, // capture_test.go
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("ORACLE", oracle)
			env.Setenv("TZ", "UTC")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if name, ok := strings.CutPrefix(cond, "tool:"); ok {
				return require.ToolCondition(name)
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
