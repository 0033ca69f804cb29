package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/internal/require"
)

// TestReadme runs the examples of README.md and compares what they print
// with what the README shows, so that the first thing a reader tries works
// as written. The code blocks are taken as follows:
//
//   - A block fenced as ```sh is a script, run as it is (sh -e) from the
//     root of a fresh copy of the repository; its standard output must be
//     the next code block. The Quick start's block is one, and it must
//     build ./sniffer: the other examples run that binary.
//   - A block with "$ " lines is a terminal session: each "$ " command runs
//     (sh -c, from the copy's root, with ./sniffer first in PATH) and what
//     it prints (standard output and error) must be the lines under it.
//   - A block preceded by <!-- TestReadme runs: COMMAND --> is the output of
//     COMMAND (run as a "$ " command is), when the README gives the command
//     in its text; a ```json block is compared compacted (the README
//     indents it), in the same order.
//   - A block preceded by <!-- not run by TestReadme: REASON --> is skipped
//     for REASON (live capture, Docker, a cluster: other tests cover them).
//   - Any other block that runs sniffer, docker or kubectl is a failure: an
//     example must be run here, or say why not.
//
// Blocks that run nothing (output alone, go test) are not examples.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	require.Tool(t, "go") // the Quick start builds with it
	require.Tool(t, "sh")
	root := copyRepo(t, "../..")
	env := append(os.Environ(), "PATH="+root+string(os.PathListSeparator)+os.Getenv("PATH"))

	// Scripts first: they build the sniffer the sessions run.
	scripts := 0
	for i, b := range blocks {
		if b.skip != "" || b.info != "sh" {
			continue
		}
		scripts++
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			if i+1 == len(blocks) {
				t.Fatalf("README.md:%d: the script's output block is missing", b.line)
			}
			cmd := exec.Command("sh", "-e", "-c", strings.Join(b.lines, "\n"))
			cmd.Dir = root
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("README.md:%d: %v\n%s", b.line, err, stderr.Bytes())
			}
			if got, want := stdout.String(), blocks[i+1].text(); got != want {
				t.Errorf("README.md:%d: the script prints\n%s\nREADME.md:%d shows\n%s\n(stderr: %s)", b.line, got, blocks[i+1].line, want, stderr.Bytes())
			}
		})
	}
	if scripts == 0 {
		t.Fatal("README.md has no sh block (the Quick start's, which builds ./sniffer)")
	}
	if _, err := os.Stat(filepath.Join(root, "sniffer")); err != nil {
		t.Fatalf("the README's scripts did not build ./sniffer: %v", err)
	}

	for _, b := range blocks {
		name := fmt.Sprintf("line%d", b.line)
		switch {
		case b.skip != "":
			t.Run(name, func(t *testing.T) { t.Skipf("README.md:%d: not run: %s", b.line, b.skip) })
		case b.info == "sh":
		case b.run != "":
			t.Run(name, func(t *testing.T) {
				got, want := runSession(root, env, b.run), b.text()
				if b.info == "json" {
					got, want = compactJSON(t, got), compactJSON(t, want)
				}
				if got != want {
					t.Errorf("README.md:%d: %s\nprints\n%s\nREADME.md shows\n%s", b.line, b.run, got, want)
				}
			})
		case b.session():
			t.Run(name, func(t *testing.T) {
				cmds, err := b.commands()
				if err != nil {
					t.Fatalf("README.md:%d: %v", b.line, err)
				}
				for _, c := range cmds {
					if got := runSession(root, env, c.cmd); got != c.want {
						t.Errorf("README.md:%d: $ %s\nprints\n%s\nREADME.md shows\n%s", c.line, c.cmd, got, c.want)
					}
				}
			})
		case b.runsSomething():
			t.Errorf("README.md:%d: this block runs sniffer, docker or kubectl but TestReadme cannot run it: "+
				"write it as \"$ \" commands with their output, or a ```sh block followed by its output, "+
				"or mark it <!-- not run by TestReadme: REASON -->", b.line)
		}
	}
}

// runSession runs the shell command c in dir with env and returns what it
// prints, standard output and error together, as a terminal shows them.
// The exit status is not compared: a README session shows output alone
// (--expect-reuse exits 1 on purpose), and what it prints is compared.
func runSession(dir string, env []string, c string) string {
	cmd := exec.Command("sh", "-c", c)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			fmt.Fprintf(&out, "(running sh: %v)\n", err)
		}
	}
	return out.String()
}

// compactJSON returns the JSON text s without its insignificant blanks,
// one line; text that is not JSON fails the test.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return b.String()
}

// mdBlock is one fenced code block of a Markdown file.
type mdBlock struct {
	line  int      // line of the opening fence, from 1
	info  string   // the fence's info string (sh, json, ...)
	lines []string // the lines between the fences
	skip  string   // the reason of a <!-- not run by TestReadme: ... --> before it
	run   string   // the command of a <!-- TestReadme runs: ... --> before it
}

// The comments that say what the next block is: skipMarker exempts it,
// runMarker gives the command whose output it is.
var (
	skipMarker = regexp.MustCompile(`^<!-- not run by TestReadme: (.+) -->$`)
	runMarker  = regexp.MustCompile(`^<!-- TestReadme runs: (.+) -->$`)
)

// readmeBlocks returns the fenced code blocks of md (``` fences, not
// indented), with the skip marker that precedes each, if any.
func readmeBlocks(md string) ([]mdBlock, error) {
	var blocks []mdBlock
	var cur *mdBlock
	prev := "" // the last non-blank line outside blocks
	for i, l := range strings.Split(md, "\n") {
		switch {
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur, prev = nil, l // a marker is for the block right after it
		case cur != nil:
			cur.lines = append(cur.lines, l)
		case strings.HasPrefix(l, "```"):
			cur = &mdBlock{line: i + 1, info: strings.TrimSpace(l[3:])}
			if m := skipMarker.FindStringSubmatch(prev); m != nil {
				cur.skip = m[1]
			}
			if m := runMarker.FindStringSubmatch(prev); m != nil {
				cur.run = m[1]
			}
		case strings.TrimSpace(l) != "":
			prev = strings.TrimSpace(l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the code block is not closed", cur.line)
	}
	return blocks, nil
}

// text returns the block's content as a program's output would be: each
// line ends in a newline.
func (b mdBlock) text() string {
	if len(b.lines) == 0 {
		return ""
	}
	return strings.Join(b.lines, "\n") + "\n"
}

// session reports whether the block is a terminal session ("$ " lines).
func (b mdBlock) session() bool {
	for _, l := range b.lines {
		if strings.HasPrefix(l, "$ ") {
			return true
		}
	}
	return false
}

// sessionCmd is one "$ " command of a session and what it prints.
type sessionCmd struct {
	line int // README line of the command
	cmd  string
	want string
}

// commands splits a session into its commands and their output.
func (b mdBlock) commands() ([]sessionCmd, error) {
	var cmds []sessionCmd
	for i, l := range b.lines {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			cmds = append(cmds, sessionCmd{line: b.line + 1 + i, cmd: c})
			continue
		}
		if len(cmds) == 0 {
			return nil, fmt.Errorf("output before the first \"$ \" command")
		}
		cmds[len(cmds)-1].want += l + "\n"
	}
	return cmds, nil
}

// shellSeparators split a shell line into its commands.
var shellSeparators = regexp.MustCompile(`\||&&|;`)

// runsSomething reports whether a line of the block runs sniffer, docker,
// docker-compose, kubectl or a script, in any command of a pipeline or list
// (after variable assignments and sudo).
func (b mdBlock) runsSomething() bool {
	for _, l := range b.lines {
		l, _, _ = strings.Cut(l, "#")
		for _, c := range shellSeparators.Split(l, -1) {
			words := strings.Fields(c)
			for len(words) > 0 && (words[0] == "sudo" || strings.Contains(words[0], "=")) {
				words = words[1:]
			}
			if len(words) == 0 {
				continue
			}
			switch w := words[0]; {
			case filepath.Base(w) == "sniffer", w == "docker", w == "docker-compose", w == "kubectl", strings.HasSuffix(w, ".sh"):
				return true
			}
		}
	}
	return false
}

// copyRepo copies the repository at src (its files, not .git nor what the
// build and tests leave there) into a new directory, as a fresh clone has
// it, and returns the directory.
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	left := map[string]bool{".git": true, "sniffer": true, "bench/out": true, "examples/keepalive/bin": true}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if left[filepath.ToSlash(rel)] || strings.HasSuffix(rel, ".test") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			return copyFile(path, to)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return dst
}

// copyFile copies the regular file from to to, with its permissions.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestReadmeBlocks checks the parsing TestReadme relies on, so that a block
// it misreads cannot pass unnoticed.
func TestReadmeBlocks(t *testing.T) {
	md := "text\n<!-- not run by TestReadme: live -->\n\n```\nsniffer -i eth0\n```\n" +
		"```sh\ngo build\n./sniffer -f x\n```\n```\nout\n```\n" +
		"```\n$ sniffer -f a\nline 1\nline 2\n$ true\n```\n" +
		"```\ntcpdump -w - | sudo X=1 sniffer -f -\n```\n```\nsniffer: summary: x\n```\n" +
		"<!-- TestReadme runs: sniffer -f y --json -->\n```json\n{\"a\": 1,\n \"b\": [2, 3]}\n```\n"
	blocks, err := readmeBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 7 {
		t.Fatalf("%d blocks, want 7: %+v", len(blocks), blocks)
	}
	if b := blocks[6]; b.run != "sniffer -f y --json" || b.info != "json" || compactJSON(t, b.text()) != `{"a":1,"b":[2,3]}` || blocks[5].run != "" {
		t.Errorf("block 6: %+v", b)
	}
	if b := blocks[0]; b.skip != "live" || b.line != 4 || !b.runsSomething() {
		t.Errorf("block 0: %+v", b)
	}
	if b := blocks[1]; b.info != "sh" || b.skip != "" || blocks[2].text() != "out\n" {
		t.Errorf("blocks 1, 2: %+v %+v", b, blocks[2])
	}
	cmds, err := blocks[3].commands()
	if err != nil || len(cmds) != 2 || cmds[0].cmd != "sniffer -f a" || cmds[0].want != "line 1\nline 2\n" || cmds[1].want != "" || cmds[0].line != 15 {
		t.Errorf("session: %+v, %v", cmds, err)
	}
	if !blocks[4].runsSomething() || blocks[4].session() {
		t.Errorf("block 4 runs sniffer in a pipeline: %+v", blocks[4])
	}
	if blocks[5].runsSomething() {
		t.Errorf("block 5 is output: %+v", blocks[5])
	}
	if _, err := readmeBlocks("```\nopen\n"); err == nil {
		t.Error("an unclosed block is not an error")
	}
	if _, err := (mdBlock{lines: []string{"out", "$ x"}}).commands(); err == nil {
		t.Error("output before a command is not an error")
	}
}
