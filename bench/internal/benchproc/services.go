package benchproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// Bounds of the waits along the way.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = 15 * time.Second
	stopGrace    = 10 * time.Second
	pollEvery    = 50 * time.Millisecond
)

// Build compiles ./cmd/bulkinvite of the bulkinvite module the bench module
// builds against (its replace directive points at the checkout holding bench/)
// into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/bulkinvite/bulkinvite").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/bulkinvite/bulkinvite: %w (run from inside the bench module: go run -C bench ./...)", err)
	}
	src := strings.TrimSpace(string(out))
	if src == "" {
		return "", errors.New("go list -m github.com/bulkinvite/bulkinvite: no directory (run from inside the bench module: go run -C bench ./...)")
	}
	return BuildAt(ctx, src, dir)
}

// BuildAt compiles ./cmd/bulkinvite of the module rooted at src (another
// checkout, say an older revision's worktree) into dir and returns the
// binary's path.
func BuildAt(ctx context.Context, src, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("build bulkinvite from %s: no module there: %w", src, err)
	}
	bin := filepath.Join(dir, "bulkinvite")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bulkinvite")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "building %s from %s\n", bin, src)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bulkinvite in %s: %w", src, err)
	}
	return bin, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RedisOptions tune a Redis. The zero value is a server without persistence.
type RedisOptions struct {
	// AppendOnly turns on AOF with fsync on every write (--appendonly yes
	// --appendfsync always), so that a server killed and restarted on the same
	// directory comes back with everything it acknowledged.
	AppendOnly bool
	// Args are more redis-server arguments, after the ones StartRedis sets
	// (which they may override), e.g. "--replicaof", "127.0.0.1", "6379".
	Args []string
}

// Redis is a private redis-server on a loopback port, in a directory of its
// own, that can be killed and started again on the same port and data.
type Redis struct {
	g      *Group
	dir    string
	opts   RedisOptions
	port   int
	proc   *Proc
	starts int
}

// StartRedis starts a redis-server on a free loopback port with its data and
// logs in dir, and returns it once it answers PING. It belongs to g, which
// stops it.
func StartRedis(ctx context.Context, g *Group, dir string, opts RedisOptions) (*Redis, error) {
	r := &Redis{g: g, dir: dir, opts: opts}
	var lastErr error
	for range 3 { // another process may take the port meanwhile
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r.port = port
		if lastErr = r.start(ctx); lastErr == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("redis-server did not start: %w", lastErr)
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the server's redis:// URL for database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Pid is the running server's process id.
func (r *Redis) Pid() int { return r.proc.Pid() }

// Kill stops the server with SIGKILL, as a crash would, and waits until it is gone.
func (r *Redis) Kill() { r.proc.Kill() }

// Restart starts the server again on the same port and directory, after Kill,
// and returns once it answers PING (an AOF is loaded by then).
func (r *Redis) Restart(ctx context.Context) error {
	if !r.proc.Exited() {
		return fmt.Errorf("redis-server on %s is still running", r.Addr())
	}
	return r.start(ctx)
}

func (r *Redis) start(ctx context.Context) error {
	r.starts++
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--protected-mode", "yes",
		"--save", "", "--dir", r.dir, "--daemonize", "no"}
	if r.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, r.opts.Args...)
	p, err := r.g.Start("redis-server", exec.Command("redis-server", args...), filepath.Join(r.dir, fmt.Sprintf("redis%d.log", r.starts)))
	if err != nil {
		return err
	}
	r.proc = p
	if err := waitRedis(ctx, r.Addr(), p); err != nil {
		_ = p.Stop(syscall.SIGTERM, stopGrace)
		return err
	}
	return nil
}

func waitRedis(ctx context.Context, addr string, p *Proc) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case p.Exited():
			return fmt.Errorf("redis-server on %s exited: %v", addr, p.ExitErr())
		case time.Now().After(deadline):
			return fmt.Errorf("redis-server on %s not answering PING after %v: %w", addr, startTimeout, err)
		}
		if err := sleep.For(ctx, pollEvery); err != nil {
			return err
		}
	}
}

// StartSandbox starts `bin sandbox --addr 127.0.0.1:0 args...` as part of g,
// logging to dir/sandbox.log, and returns its base URL, read from the first
// line it prints.
func StartSandbox(ctx context.Context, g *Group, bin, dir string, args ...string) (string, *Proc, error) {
	cmd := exec.Command(bin, append([]string{"sandbox", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = ChildEnv(nil)
	logPath := filepath.Join(dir, "sandbox.log")
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout = pw
	p, err := g.Start("sandbox", cmd, logPath)
	pw.Close() // the child holds its own copy
	if err != nil {
		pr.Close()
		return "", nil, err
	}
	lines := make(chan string, 1)
	go func() { // read the banner's first line, then copy the rest to the log until EOF
		defer pr.Close()
		br := bufio.NewReader(pr)
		line, _ := br.ReadString('\n')
		lines <- line
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			_, _ = f.WriteString(line)
			_, _ = io.Copy(f, br)
			f.Close()
		} else {
			_, _ = io.Copy(io.Discard, br)
		}
	}()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-lines:
	case <-t.C:
		return "", p, fmt.Errorf("sandbox printed no address within %v", startTimeout)
	case <-ctx.Done():
		return "", p, ctx.Err()
	}
	const prefix = "sandbox listening on "
	url, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		return "", p, fmt.Errorf("sandbox: want a first line %q + http://127.0.0.1:PORT, got %q (exited: %v)", prefix, line, p.Exited())
	}
	return url, p, nil
}

// GetJSON decodes the JSON answer to GET url (a sandbox control endpoint, say) into v.
func GetJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// ServeToken is the one token StartServe's server accepts.
const ServeToken = "bench-token-0c5f2a-7e3b9d1f4a8c2e61"

// StartServe starts `bin serve` as part of g on a free loopback port, over
// the Redis at redisURL, accepting ServeToken with per-token limits high
// enough not to matter (its clients share the token) and logging JSON (one
// line a request, as in production) to dir/serve.log; it waits for /healthz
// and returns the base URL.
func StartServe(ctx context.Context, g *Group, bin, dir, redisURL string) (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = ChildEnv(map[string]string{
		"REDIS_URL":                        redisURL,
		"BULKINVITE_TOKENS":                ServeToken,
		"BULKINVITE_SERVE_TOKEN_RATE":      "100000",
		"BULKINVITE_SERVE_TOKEN_BURST":     "100000",
		"BULKINVITE_SERVE_TOKEN_IN_FLIGHT": "10000",
		"BULKINVITE_LOG_FORMAT":            "json",
	})
	logPath := filepath.Join(dir, "serve.log")
	p, err := g.Start("serve", cmd, logPath)
	if err != nil {
		return "", err
	}
	base := "http://" + addr
	for deadline := time.Now().Add(startTimeout); ; {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, nil
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			return "", fmt.Errorf("serve did not answer /healthz (exited: %v, %v); see %s", p.Exited(), p.ExitErr(), logPath)
		}
		if err := sleep.For(ctx, pollEvery); err != nil {
			return "", err
		}
	}
}
