package redistest

import (
	"context"
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

// ClusterSuite runs a package's tests a second time on one shared Redis Cluster,
// as subtests of the test that calls Run; a test asks For whether it runs there.
// The zero value is ready to use.
type ClusterSuite struct {
	mu     sync.Mutex
	prefix string
	c      *Cluster
}

// Run starts a Cluster for t (the suite's own test, e.g. TestOnCluster) and runs
// each of tests on it as a subtest of t.
func (s *ClusterSuite) Run(t *testing.T, tests map[string]func(*testing.T)) {
	c := StartCluster(t, ClusterOptions{})
	s.mu.Lock()
	s.c, s.prefix = c, t.Name()+"/"
	s.mu.Unlock()
	for name, test := range tests {
		t.Run(name, test)
	}
}

// For returns the shared Cluster when t runs under Run, else nil: the test then
// starts a single node of its own.
func (s *ClusterSuite) For(t *testing.T) *Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil || !strings.HasPrefix(t.Name(), s.prefix) {
		return nil
	}
	return s.c
}
