package redistest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClusterOptions shape a Cluster. The zero value is three masters without replicas
// or password.
type ClusterOptions struct {
	// Masters is how many masters share the hash slots; default 3, the fewest
	// redis-cli --cluster create takes.
	Masters int
	// Replicas is how many replicas each master has: 0 or 1.
	Replicas int
	// Password is every node's requirepass and masterauth. "" for none.
	Password string
}

// Cluster is a private Redis Cluster: redis-server processes with
// cluster-enabled, joined by redis-cli --cluster create.
type Cluster struct {
	// Nodes are the masters first, then the replicas.
	Nodes []*Server
}

// StartCluster starts a Redis Cluster for tb, returns once every node reports
// cluster_state:ok, and stops it in tb.Cleanup. It is skipped or failed as Start
// is when redis-server or redis-cli is missing.
func StartCluster(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	RequireTools(tb, "redis-server", "redis-cli")
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.Masters < 3 || opts.Replicas < 0 || opts.Replicas > 1 {
		tb.Fatalf("redistest: a cluster takes 3 or more masters and 0 or 1 replicas each, got %+v", opts)
	}
	c := &Cluster{}
	nodeOpts := Options{
		Password: opts.Password,
		busPort:  true,
		args: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			// Long enough that a loaded machine does not fail a node over.
			"--cluster-node-timeout", "15000",
		},
	}
	for range opts.Masters * (1 + opts.Replicas) {
		c.Nodes = append(c.Nodes, Start(tb, nodeOpts))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	if opts.Password != "" {
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+opts.Password)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	masters := map[*Server]bool{}
	for _, n := range c.Nodes {
		rdb := n.Client()
		n.waitFor(ctx, "cluster state", func(ctx context.Context) error {
			info, err := rdb.ClusterInfo(ctx).Result()
			return infoHas(info, err, "cluster_state:ok")
		})
		info, err := rdb.Info(ctx, "replication").Result()
		if err != nil {
			tb.Fatal(err)
		}
		masters[n] = strings.Contains(info, "role:master\r\n")
	}
	// redis-cli picks the masters; put them first.
	slices.SortStableFunc(c.Nodes, func(a, b *Server) int {
		switch {
		case masters[a] == masters[b]:
			return 0
		case masters[a]:
			return -1
		}
		return 1
	})
	// The replicas: each master's online (synced), as a test that counts them
	// expects from the start; cluster_state:ok comes before their sync.
	for _, m := range c.Nodes[:opts.Masters] {
		rdb := m.Client()
		m.waitFor(ctx, "its replicas online", func(ctx context.Context) error {
			info, err := rdb.Info(ctx, "replication").Result()
			if n := strings.Count(info, ",state=online,"); err == nil && n != opts.Replicas {
				err = fmt.Errorf("%d replicas online, want %d:\n%s", n, opts.Replicas, info)
			}
			return err
		})
	}
	return c
}

// Addrs are the nodes' host:port, masters first.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// ACLUser creates the ACL user on every node, as Server.ACLUser does (Redis
// Cluster does not share users between nodes), and returns the first node's URL
// that logs in as it.
func (c *Cluster) ACLUser(name, password string, rules ...string) string {
	for _, n := range c.Nodes[1:] {
		n.ACLUser(name, password, rules...)
	}
	return c.Nodes[0].ACLUser(name, password, rules...)
}

// URL is the redis:// URL of the first node, with the password if there is one:
// what a user who knows one node of the cluster would give.
func (c *Cluster) URL() string { return c.Nodes[0].URL() }

// clusterFlag is the -redis_cluster test flag of every package that imports
// redistest (as asynq's tests take -redis_cluster).
var clusterFlag = flag.Bool("redis_cluster", false, "run this package's Redis suite on one shared Redis Cluster (also BULKINVITE_REDIS_CLUSTER=1)")

// OnCluster reports whether this test run puts a package's Redis suite on one
// shared Redis Cluster instead of a private server per test: with the
// -redis_cluster test flag, or BULKINVITE_REDIS_CLUSTER=1 (which reaches every
// package of a `go test ./...`). A suite's setup asks SharedCluster; a test
// that kills or inspects one server skips itself when OnCluster.
func OnCluster() bool {
	return *clusterFlag || os.Getenv("BULKINVITE_REDIS_CLUSTER") == "1"
}

// shared is the package's one Cluster under OnCluster: started by the first
// test that asks, stopped by Main once every test is done.
var shared struct {
	mu      sync.Mutex
	main    bool // Main wraps the package's tests
	started bool
	c       *Cluster
	err     error
	life    *processTB
}

// SharedCluster returns the package's shared Cluster when OnCluster, else nil:
// the test then starts a single node of its own. The Cluster is started by the
// first test that asks (a failed start fails every test that asks) and stopped
// by Main, which the package's TestMain must use.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if !OnCluster() {
		return nil
	}
	RequireTools(tb, "redis-server", "redis-cli")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		tb.Fatal("redistest: SharedCluster needs the package's TestMain to run its tests through redistest.Main")
	}
	if !shared.started {
		shared.started = true
		shared.life = &processTB{name: "redistest.SharedCluster"}
		shared.c, shared.err = shared.life.startCluster()
	}
	if shared.err != nil {
		tb.Fatalf("shared cluster: %v", shared.err)
	}
	return shared.c
}

// Main wraps a package's tests (testing.M, or what goleak.VerifyTestMain is
// given) so that the shared Cluster, if a test started one, is stopped once
// they are done:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(redistest.Main(m)) }
func Main(m interface{ Run() int }) interface{ Run() int } {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	return mainRunner{m}
}

type mainRunner struct{ m interface{ Run() int } }

func (r mainRunner) Run() int {
	code := r.m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.life != nil {
		shared.life.cleanup()
	}
	return code
}

// processTB is the testing.TB of a Cluster that outlives any one test: its
// cleanups run when Main's tests are done, and a failure while starting ends
// the start with an error instead of failing a test. Only the methods redistest
// calls are implemented; the embedded nil interface panics on any other.
type processTB struct {
	testing.TB
	name     string
	cleanups []func()
	failed   bool
}

// tbFailure carries a processTB's failure out of startCluster.
type tbFailure struct{ msg string }

func (p *processTB) startCluster() (c *Cluster, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(tbFailure)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	return StartCluster(p, ClusterOptions{}), nil
}

func (p *processTB) Helper()          {}
func (p *processTB) Name() string     { return p.name }
func (p *processTB) Failed() bool     { return p.failed }
func (p *processTB) Cleanup(f func()) { p.cleanups = append(p.cleanups, f) }
func (p *processTB) Log(args ...any)  { fmt.Fprintln(os.Stderr, args...) }
func (p *processTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (p *processTB) Error(args ...any) { p.failed = true; p.Log(args...) }
func (p *processTB) Errorf(format string, args ...any) {
	p.failed = true
	p.Logf(format, args...)
}
func (p *processTB) Fatal(args ...any) { p.failed = true; panic(tbFailure{fmt.Sprint(args...)}) }
func (p *processTB) Fatalf(format string, args ...any) {
	p.failed = true
	panic(tbFailure{fmt.Sprintf(format, args...)})
}
func (p *processTB) Skip(args ...any) { panic(tbFailure{fmt.Sprint(args...)}) }
func (p *processTB) Skipf(format string, args ...any) {
	panic(tbFailure{fmt.Sprintf(format, args...)})
}
func (p *processTB) TempDir() string {
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		p.Fatal(err)
	}
	p.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, last first, as testing does.
func (p *processTB) cleanup() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups = nil
}
