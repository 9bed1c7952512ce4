// Package redistest starts private redis-server processes for tests: each on a free
// loopback port, in its own temporary directory, stopped when the test ends. Tests
// that exercise faults can kill and restart the server; tests never touch a Redis
// they did not start. Besides a single server it starts a Redis Cluster
// (StartCluster) and a master with a replica watched by Sentinel (StartSentinel),
// and creates ACL users on them (ACLUser). With -redis_cluster or
// BULKINVITE_REDIS_CLUSTER=1 a package's suite runs on one Cluster it shares
// (OnCluster, SharedCluster, Main). Without redis-server on PATH a test is
// skipped, or fails when BULKINVITE_REQUIRE_REDIS is set (as CI sets it).
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune a Server. The zero value is a server without persistence or password.
type Options struct {
	// AppendOnly turns on AOF persistence with fsync on every write, so that a
	// restarted server comes back with everything it acknowledged.
	AppendOnly bool
	// Password is the default user's password (requirepass), and the one the server
	// gives its master when it is a replica (masterauth). "" for none.
	Password string

	args     []string // more redis-server arguments
	sentinel string   // the sentinel.conf to run as a sentinel with; "" for a data node
	busPort  bool     // a cluster node: port+10000 must be free too
}

// Server is a private redis-server process.
type Server struct {
	tb   testing.TB
	opts Options
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for tb and stops it in tb.Cleanup. The test is skipped
// when redis-server is not on PATH and BULKINVITE_REQUIRE_REDIS is unset; CI sets it
// so that a missing server fails instead.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	RequireTools(tb, "redis-server")
	s := &Server{tb: tb, opts: opts, dir: tb.TempDir()}
	tb.Cleanup(s.stop)
	if opts.sentinel != "" {
		if err := os.WriteFile(filepath.Join(s.dir, "sentinel.conf"), []byte(opts.sentinel), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	// A free port can be taken by another process between our probe and the
	// server's bind; try a few.
	var err error
	for range 5 {
		s.port = freePort(tb, opts.busPort)
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatal(err)
	return nil
}

// RequireTools skips tb when a tool is not on PATH, or fails it when
// BULKINVITE_REQUIRE_REDIS is set.
func RequireTools(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BULKINVITE_REQUIRE_REDIS") != "" {
				tb.Fatalf("%s not on PATH: %v", tool, err)
			}
			tb.Skipf("%s not on PATH; install it (Debian: apt-get install redis-server) to run this test", tool)
		}
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL for database 0, with its password if it has one.
func (s *Server) URL() string { return "redis://" + userInfo("", s.opts.Password) + s.Addr() + "/0" }

// userInfo is a URL's "user:password@", or "" for neither.
func userInfo(user, password string) string {
	if user == "" && password == "" {
		return ""
	}
	return url.UserPassword(user, password).String() + "@"
}

// Client returns a go-redis client for the server, logged in as the default user and
// closed at the end of the test.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.options())
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) options() *redis.Options {
	return &redis.Options{Addr: s.Addr(), Password: s.opts.Password}
}

// ACLUser creates (or resets) the ACL user name with password and every
// permission (ACL SETUSER name on >password ~* &* +@all), less what rules (more
// ACL SETUSER rules, such as "-info") take away, and returns the server's URL that
// logs in as it.
func (s *Server) ACLUser(name, password string, rules ...string) string {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []any{"ACL", "SETUSER", name, "reset", "on", ">" + password, "~*", "&*", "+@all"}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := s.Client().Do(ctx, args...).Err(); err != nil {
		s.tb.Fatalf("ACL SETUSER %s on %s: %v", name, s.Addr(), err)
	}
	return "redis://" + userInfo(name, password) + s.Addr() + "/0"
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port and directory after Kill.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *Server) start() error {
	var args []string
	if s.opts.sentinel != "" {
		args = []string{filepath.Join(s.dir, "sentinel.conf"), "--sentinel"}
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
		// A replica's first sync starts at once, not after the default 5s.
		"--repl-diskless-sync-delay", "0",
	)
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password, "--masterauth", s.opts.Password)
	}
	args = append(args, s.opts.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd = cmd
	s.exited = exited
	s.mu.Unlock()
	return s.waitReady(exited)
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	opt := s.options()
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server on %s exited at start:\n%s", s.Addr(), s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer within 10s: %v\n%s", s.Addr(), err, s.logTail())
}

// waitFor polls check until it returns nil, failing the test with what, check's
// last error and the server's log after 30s.
func (s *Server) waitFor(ctx context.Context, what string, check func(context.Context) error) {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			s.tb.Fatalf("%s: %s: not within 30s: %v\nlog: %s", s.Addr(), what, err, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// infoHas returns nil if the text of INFO or CLUSTER INFO holds every line in want.
func infoHas(info string, err error, want ...string) error {
	if err != nil {
		return err
	}
	for _, w := range want {
		if !strings.Contains(info, w+"\r\n") {
			return fmt.Errorf("no %q in\n%s", w, info)
		}
	}
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *Server) logTail() string {
	f, err := os.Open(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return fmt.Sprint(lines)
}

// freePort returns a loopback port nothing listens on; with bus, one whose
// port+10000, the cluster bus port, is free too.
func freePort(tb testing.TB, bus bool) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			_ = l.Close()
			return port
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		_ = l.Close()
		if err == nil {
			_ = b.Close()
			return port
		}
	}
	tb.Fatal("find a free port whose cluster bus port (port+10000) is free too: none in 100 tries")
	return 0
}
