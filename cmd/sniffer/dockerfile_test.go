package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sniffer/sniffer/internal/require"
)

// TestDockerfile builds the repository's Dockerfile — the real one, not
// Dockerfile.prebuilt — with the legacy builder (DOCKER_BUILDKIT=0, what
// Debian 12's docker.io 20.10 uses), which sets no BUILDPLATFORM, then runs
// the image. No registry is reachable, so the builder image is made here:
// a root file system holding this machine's Go toolchain, /bin/sh (with the
// libraries it loads) and the CA certificates (the build downloads the
// modules from the Go module proxy), imported into the engine and passed as
// GO_IMAGE. Every image it creates is removed at the end, failed or not.
func TestDockerfile(t *testing.T) {
	require.Docker(t)
	require.Tool(t, "go")
	goroot := strings.TrimSpace(string(require.Output(t, "go", "env", "GOROOT")))
	var rnd [4]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	goImage := "sniffer-dockerfile-go:" + id
	image := "sniffer-dockerfile:" + id
	version := "dockerfile-" + id

	// The builder image.
	rootfs := builderRootfs(t, goroot)
	imp := exec.Command("docker", "import", "--change", "ENV PATH=/usr/local/go/bin:/bin", "-", goImage)
	// A pipe of the OS: if docker dies, writing to it fails (no hang).
	stdin, err := imp.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var impOut bytes.Buffer
	imp.Stdout, imp.Stderr = &impOut, &impOut
	if err := imp.Start(); err != nil {
		t.Fatalf("docker import: %v", err)
	}
	werr := writeRootfs(stdin, rootfs)
	if err := stdin.Close(); werr == nil {
		werr = err
	}
	err = imp.Wait()
	t.Cleanup(func() { removeImages(t, goImage) })
	if werr != nil || err != nil {
		t.Fatalf("docker import: %v, %v: %s", werr, err, impOut.Bytes())
	}

	// The build. Its intermediate images (the Go stage's layers) are
	// children of the builder image and are removed before it.
	var buildOut bytes.Buffer
	t.Cleanup(func() {
		removeImages(t, image)
		ids := buildStepImages(buildOut.String())
		slices.Reverse(ids)
		removeImages(t, ids...)
	})
	build := exec.Command("docker", "build", "--force-rm", "--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "VERSION="+version, "-t", image, "../..")
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	build.Stdout, build.Stderr = &buildOut, &buildOut
	if err := build.Run(); err != nil {
		t.Fatalf("DOCKER_BUILDKIT=0 docker build: %v\n%s", err, buildOut.Bytes())
	}

	// The image: FROM scratch and one layer (the binary), of the host's
	// architecture (the legacy builder builds for its own platform).
	if got := dockerfileOutput(t, nil, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Os}}/{{.Architecture}}", image); got != "1 linux/"+runtime.GOARCH+"\n" {
		t.Errorf("image %s: layers and platform %q, want 1 linux/%s", image, got, runtime.GOARCH)
	}
	if got := dockerfileOutput(t, nil, "run", "--rm", image, "-V"); got != "sniffer "+version+"\n" {
		t.Errorf("docker run --rm %s -V printed %q, want %q", image, got, "sniffer "+version+"\n")
	}
	capture, err := os.ReadFile("../../testdata/readme/leaky-client.pcap")
	if err != nil {
		t.Fatal(err)
	}
	want := "unique GET /items/1 HTTP/1.1 200\nunique GET /items/2 HTTP/1.1 200\nunique GET /items/3 HTTP/1.1 200\n"
	if got := dockerfileOutput(t, capture, "run", "--rm", "-i", image, "-f", "-", "-l", "%connection %request.line %response.code"); got != want {
		t.Errorf("the image reading leaky-client.pcap printed\n%s\nwant\n%s", got, want)
	}
}

// dockerfileOutput runs docker with args and stdin, and returns its
// standard output; a failure fails the test.
func dockerfileOutput(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String()
}

// removeImages removes the images (names or IDs); one that cannot be
// removed is an error, one already gone is not.
func removeImages(t *testing.T, images ...string) {
	t.Helper()
	for _, img := range images {
		out, err := exec.Command("docker", "rmi", img).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "No such image") {
			t.Errorf("docker rmi %s: %v: %s", img, err, out)
		}
	}
}

// stepImage is how the legacy builder prints the image each step made.
var stepImage = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`)

// buildStepImages returns the images a legacy build printed, in order,
// each once.
func buildStepImages(out string) []string {
	var ids []string
	for _, m := range stepImage.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// rootfsFile is one file of the builder image: its path there and the
// host file it is read from.
type rootfsFile struct{ dst, src string }

// builderRootfs lists the builder image's files: the Go tree at goroot as
// /usr/local/go, /bin/sh and the shared libraries it loads (ldd's list),
// and the CA certificates.
func builderRootfs(t *testing.T, goroot string) []rootfsFile {
	t.Helper()
	files := []rootfsFile{{"/bin/sh", "/bin/sh"}, {"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt"}}
	// ldd exits 1 for a static shell ("not a dynamic executable"): then
	// there is nothing to add.
	out, _ := exec.Command(require.Tool(t, "ldd"), "/bin/sh").Output()
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			files = append(files, rootfsFile{f[2], f[2]})
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			files = append(files, rootfsFile{f[0], f[0]})
		}
	}
	err := filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(goroot, p)
		if err != nil {
			return err
		}
		files = append(files, rootfsFile{path.Join("/usr/local/go", filepath.ToSlash(rel)), p})
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", goroot, err)
	}
	return files
}

// writeRootfs writes the files as a tar archive to w, with the
// directories they need and a /tmp; symbolic links are followed (the
// image gets regular files), except inside the Go tree, where they are
// kept as links.
func writeRootfs(w io.Writer, files []rootfsFile) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	var mkdir func(dir string, mode int64) error
	mkdir = func(dir string, mode int64) error {
		if dir == "/" || dirs[dir] {
			return nil
		}
		if err := mkdir(path.Dir(dir), 0o755); err != nil {
			return err
		}
		dirs[dir] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: mode})
	}
	if err := mkdir("/tmp", 0o1777); err != nil {
		return err
	}
	for _, f := range files {
		if err := mkdir(path.Dir(f.dst), 0o755); err != nil {
			return err
		}
		name := strings.TrimPrefix(f.dst, "/")
		if st, err := os.Lstat(f.src); err == nil && st.Mode()&fs.ModeSymlink != 0 && strings.HasPrefix(f.dst, "/usr/local/go/") {
			target, err := os.Readlink(f.src)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}); err != nil {
				return err
			}
			continue
		}
		if err := writeRootfsFile(tw, name, f.src); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeRootfsFile writes the regular file src (symbolic links followed) to
// tw as name.
func writeRootfsFile(tw *tar.Writer, name, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: int64(st.Mode().Perm()), ModTime: st.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, in)
	return err
}

// TestDockerignore checks that the build context leaves out the binary of
// README.md's Build step (./sniffer) and keeps the sources (cmd/sniffer):
// it copies a context made of the repository and such a binary into a
// FROM scratch image, and lists what the image holds.
func TestDockerignore(t *testing.T) {
	require.Docker(t)
	var rnd [4]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	image, container := "sniffer-dockerignore:"+id, "sniffer-dockerignore-"+id

	ctx := copyRepo(t, "../..")
	if err := os.WriteFile(filepath.Join(ctx, "sniffer"), []byte("the Build step's binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImages(t, image) })
	build := exec.Command("docker", "build", "-q", "-f", "-", "-t", image, ctx)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader("FROM scratch\nCOPY . /ctx/\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rm", container).CombinedOutput(); err != nil {
			t.Errorf("docker rm %s: %v: %s", container, err, out)
		}
	})
	// Created, never started: the command is not run.
	dockerfileOutput(t, nil, "create", "--name", container, image, "/none")
	exp := exec.Command("docker", "export", container)
	var stderr bytes.Buffer
	exp.Stderr = &stderr
	out, err := exp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	tr := tar.NewReader(out)
	var rerr error
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
		files[strings.TrimPrefix(h.Name, "/")] = true
	}
	io.Copy(io.Discard, out)
	if err := exp.Wait(); err != nil || rerr != nil {
		t.Fatalf("docker export: %v, %v: %s", err, rerr, stderr.Bytes())
	}
	for _, f := range []string{"ctx/go.mod", "ctx/cmd/sniffer/main.go", "ctx/Dockerfile"} {
		if !files[f] {
			t.Errorf("the build context lacks %s", f)
		}
	}
	if files["ctx/sniffer"] {
		t.Error("the build context holds ./sniffer, the Build step's binary: .dockerignore must leave it out")
	}
}

// TestBuildStepImages checks the parsing of the legacy builder's output
// that TestDockerfile's cleanup relies on.
func TestBuildStepImages(t *testing.T) {
	out := "Step 1/3 : FROM x\n ---> 718c72a503ba\nStep 2/3 : RUN y\n ---> Running in 5beec1a45c34\n" +
		"Removing intermediate container 5beec1a45c34\n ---> 135dcf10a9bf\nStep 3/3 : COPY . .\n ---> Using cache\n ---> 135dcf10a9bf\n"
	if got := buildStepImages(out); !slices.Equal(got, []string{"718c72a503ba", "135dcf10a9bf"}) {
		t.Errorf("buildStepImages = %q", got)
	}
}
