package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// mkpcap builds a capture from a description (capture_test.go). The command
// "status N PROG ARGS..." runs PROG as exec does (stdout and stderr can be
// checked after it) and fails unless it exits with status N. The condition
// [tool:NAME] says whether NAME is in PATH; when it is not and
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
			"status": cmdStatus,
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

// cmdStatus is the script command "status N PROG ARGS...".
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
