package nsenter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Errors Find and Connect wrap.
var (
	// ErrEngine: the Docker engine could not be reached or refused access.
	ErrEngine = errors.New("docker engine")
	// ErrNotFound: no container matches the name or ID.
	ErrNotFound = errors.New("no such container")
	// ErrAmbiguous: an ID prefix matches several containers.
	ErrAmbiguous = errors.New("ambiguous container ID prefix")
	// ErrNotRunning: the container exists but is not running.
	ErrNotRunning = errors.New("container is not running")
)

// Engine is a connection to the Docker engine's API.
type Engine struct {
	cli *client.Client
}

// Container is what Find learns about a container.
type Container struct {
	ID      string // full ID
	Name    string // name, without the leading "/"
	Running bool
	Pid     int // the main process's PID on the host; 0 unless Running
}

// Short returns the container's name and its 12-character ID.
func (c Container) Short() string {
	id := c.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return c.Name + " (" + id + ")"
}

// Connect opens a client for the Docker engine the way the docker CLI
// chooses it: DOCKER_HOST (with DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) if set,
// otherwise the current context (DOCKER_CONTEXT, or the currentContext of
// the CLI's config.json), otherwise the default socket. DOCKER_API_VERSION
// fixes the API version; without it the version is negotiated (API 1.40 and
// later). Connect pings the engine, so that an unreachable engine or a
// socket without permission is reported here, with the address tried.
func Connect(ctx context.Context) (*Engine, error) {
	opts := []client.Opt{client.FromEnv}
	if os.Getenv(client.EnvOverrideHost) == "" {
		ep, err := contextEndpoint()
		if err != nil {
			return nil, fmt.Errorf("%w: docker context: %v", ErrEngine, err)
		}
		if ep.Host != "" {
			opts = append(opts, client.WithHost(ep.Host))
			if ep.tlsDir != "" {
				opts = append(opts, client.WithTLSClientConfig(
					filepath.Join(ep.tlsDir, "ca.pem"),
					filepath.Join(ep.tlsDir, "cert.pem"),
					filepath.Join(ep.tlsDir, "key.pem")))
			}
		}
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: create client: %v", ErrEngine, err)
	}
	e := &Engine{cli: cli}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, e.engineError(err)
	}
	return e, nil
}

// Host returns the engine's address: "unix:///var/run/docker.sock".
func (e *Engine) Host() string { return e.cli.DaemonHost() }

// Close closes the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// engineError turns a failed API call into an error that says what to do.
func (e *Engine) engineError(err error) error {
	host := e.cli.DaemonHost()
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: permission denied on %s: run as root or as a member of the docker group (in a container, mount the socket with -v /var/run/docker.sock:/var/run/docker.sock and run as root)", ErrEngine, host)
	case client.IsErrConnectionFailed(err), errors.Is(err, os.ErrNotExist), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: cannot reach the engine at %s: is it running? (set DOCKER_HOST or DOCKER_CONTEXT; in a container mount the socket with -v /var/run/docker.sock:/var/run/docker.sock)", ErrEngine, host)
	}
	return fmt.Errorf("%w at %s: %v", ErrEngine, host, err)
}

// Find looks a container up by name, full ID or unique ID prefix, the way
// docker inspect does. No match: an error wrapping ErrNotFound that lists
// the running containers' names; an ambiguous prefix: one wrapping
// ErrAmbiguous that lists the candidates. A container that exists but is not
// running is returned without error, Running false.
func (e *Engine) Find(ctx context.Context, ref string) (Container, error) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "/")
	if ref == "" {
		return Container{}, fmt.Errorf("%w: empty name", ErrNotFound)
	}
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return Container{}, fmt.Errorf("list containers: %w", e.engineError(err))
	}
	id, err := match(ref, list.Items)
	if err != nil {
		return Container{}, err
	}
	return e.Inspect(ctx, id)
}

// Inspect returns the container's current state.
func (e *Engine) Inspect(ctx context.Context, id string) (Container, error) {
	res, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Container{}, fmt.Errorf("%w: %s (it was removed)", ErrNotFound, id)
		}
		return Container{}, fmt.Errorf("inspect container %s: %w", id, e.engineError(err))
	}
	c := Container{ID: res.Container.ID, Name: strings.TrimPrefix(res.Container.Name, "/")}
	if s := res.Container.State; s != nil && s.Running && s.Pid > 0 {
		c.Running, c.Pid = true, s.Pid
	}
	return c, nil
}

// match picks the container ref names among list: an exact name, then an
// exact ID, then a unique ID prefix.
func match(ref string, list []container.Summary) (string, error) {
	for _, c := range list {
		for _, n := range c.Names {
			if strings.TrimPrefix(n, "/") == ref {
				return c.ID, nil
			}
		}
	}
	var prefixed []container.Summary
	for _, c := range list {
		if c.ID == ref {
			return c.ID, nil
		}
		if strings.HasPrefix(c.ID, strings.ToLower(ref)) {
			prefixed = append(prefixed, c)
		}
	}
	switch len(prefixed) {
	case 1:
		return prefixed[0].ID, nil
	case 0:
		var running []string
		for _, c := range list {
			if c.State == "running" && len(c.Names) > 0 {
				running = append(running, strings.TrimPrefix(c.Names[0], "/"))
			}
		}
		sort.Strings(running)
		names := "none"
		if len(running) > 0 {
			names = strings.Join(running, ", ")
		}
		return "", fmt.Errorf("%w: %q (running containers: %s)", ErrNotFound, ref, names)
	}
	var cands []string
	for _, c := range prefixed {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		cands = append(cands, fmt.Sprintf("%s (%s)", c.ID[:12], name))
	}
	sort.Strings(cands)
	return "", fmt.Errorf("%w: %q matches %s: give more of the ID, or the name", ErrAmbiguous, ref, strings.Join(cands, ", "))
}

// Event is a change of a watched container's state.
type Event struct {
	// Action is the engine's action: "start", "die", "stop", "destroy", ...
	Action string
	// Err is set, and Action empty, when the event stream failed.
	Err error
}

// Watch follows the events of container id until ctx is done. The channel
// is closed then, or after an event with Err set.
func (e *Engine) Watch(ctx context.Context, id string) <-chan Event {
	f := client.Filters{}
	f.Add("type", string(events.ContainerEventType))
	f.Add("container", id)
	res := e.cli.Events(ctx, client.EventsListOptions{Filters: f})
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-res.Messages:
				select {
				case out <- Event{Action: string(m.Action)}:
				case <-ctx.Done():
					return
				}
			case err := <-res.Err:
				if ctx.Err() == nil && err != nil {
					out <- Event{Err: fmt.Errorf("docker events: %w", e.engineError(err))}
				}
				return
			}
		}
	}()
	return out
}

// contextEndpoint is the docker endpoint of a CLI context.
type endpoint struct {
	Host   string
	tlsDir string // directory of ca.pem, cert.pem, key.pem, if the context has them
}

// contextEndpoint resolves the docker CLI's current context: DOCKER_CONTEXT,
// else config.json's currentContext (config.json in DOCKER_CONFIG or
// ~/.docker). The "default" context, or none, gives an empty endpoint.
func contextEndpoint() (endpoint, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return endpoint{}, nil // no home (a scratch image): default context
		}
		dir = filepath.Join(home, ".docker")
	}
	name := os.Getenv("DOCKER_CONTEXT")
	if name == "" {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return endpoint{}, nil
			}
			return endpoint{}, err
		}
		var cfg struct{ CurrentContext string }
		if err := json.Unmarshal(b, &cfg); err != nil {
			return endpoint{}, fmt.Errorf("parse %s: %v", filepath.Join(dir, "config.json"), err)
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return endpoint{}, nil
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(dir, "contexts", "meta", hash, "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return endpoint{}, fmt.Errorf("context %q does not exist (no %s)", name, metaPath)
		}
		return endpoint{}, err
	}
	var meta struct {
		Endpoints map[string]struct{ Host string }
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return endpoint{}, fmt.Errorf("parse %s: %v", metaPath, err)
	}
	ep := endpoint{Host: meta.Endpoints["docker"].Host}
	if ep.Host == "" {
		return endpoint{}, fmt.Errorf("context %q has no docker endpoint (%s)", name, metaPath)
	}
	tlsDir := filepath.Join(dir, "contexts", "tls", hash, "docker")
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.pem")); err == nil {
		ep.tlsDir = tlsDir
	}
	return ep, nil
}
