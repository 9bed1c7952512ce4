package redistest

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of StartSentinel know the master by.
const MasterName = "bulkmaster"

// SentinelOptions shape a Sentinel. The zero value is one sentinel watching a
// master and its replica, none with a password.
type SentinelOptions struct {
	// Password is the master's and the replica's requirepass and masterauth; the
	// sentinels log in with it too (sentinel auth-pass). "" for none.
	Password string
	// SentinelPassword is the sentinels' own requirepass. "" for none.
	SentinelPassword string
	// Sentinels is how many sentinels watch the master: 1 (the default, quorum 1)
	// or 3 (quorum 2).
	Sentinels int
}

// Sentinel is a private master and replica watched by Sentinel.
type Sentinel struct {
	// Nodes are the master and the replica as started; Failover swaps their roles,
	// and Master tells which is the master now.
	Nodes []*Server
	// Sentinels are the redis-server --sentinel processes.
	Sentinels []*Server
	opts      SentinelOptions
}

// StartSentinel starts a master, a replica of it and the sentinels watching them
// for tb; it returns once every sentinel knows the replica as ready to promote,
// and stops them all in tb.Cleanup. It is skipped or failed as Start is when
// redis-server is missing.
func StartSentinel(tb testing.TB, opts SentinelOptions) *Sentinel {
	tb.Helper()
	if opts.Sentinels == 0 {
		opts.Sentinels = 1
	}
	if opts.Sentinels != 1 && opts.Sentinels != 3 {
		tb.Fatalf("redistest: StartSentinel takes 1 or 3 sentinels, got %d", opts.Sentinels)
	}
	s := &Sentinel{opts: opts}
	master := Start(tb, Options{Password: opts.Password})
	replica := master.StartReplica()
	s.Nodes = []*Server{master, replica}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	quorum := opts.Sentinels/2 + 1
	// Short timeouts, so that a test that kills the master sees a failover within
	// seconds; not so short that a loaded machine fails a live master over.
	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
		"sentinel down-after-milliseconds %[1]s 3000\n"+
		"sentinel failover-timeout %[1]s 6000\n", MasterName, master.port, quorum)
	if opts.Password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, opts.Password)
	}
	if opts.SentinelPassword != "" {
		conf += fmt.Sprintf("sentinel sentinel-pass %s\n", opts.SentinelPassword)
	}
	for range opts.Sentinels {
		s.Sentinels = append(s.Sentinels, Start(tb, Options{Password: opts.SentinelPassword, sentinel: conf}))
	}
	for _, sn := range s.Sentinels {
		sc := sn.sentinelClient()
		sn.waitFor(ctx, "sentinel to know the replica and the other sentinels", func(ctx context.Context) error {
			if err := replicaReady(ctx, sc, replica); err != nil {
				return err
			}
			m, err := sc.Master(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			if m["num-other-sentinels"] != strconv.Itoa(opts.Sentinels-1) {
				return fmt.Errorf("num-other-sentinels:%s", m["num-other-sentinels"])
			}
			return nil
		})
	}
	return s
}

// URL is the redis-sentinel:// URL of the setup, with the master's password as the
// URL's and the sentinels' as ?sentinel_password=, for database 0.
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr()
	}
	u := "redis-sentinel://" + userInfo("", s.opts.Password) + strings.Join(addrs, ",") + "/0?master=" + MasterName
	if s.opts.SentinelPassword != "" {
		u += "&sentinel_password=" + url.QueryEscape(s.opts.SentinelPassword)
	}
	return u
}

// ACLUser creates the ACL user on the master and the replica, as Server.ACLUser
// does (replicas do not copy users), and returns the setup's URL that logs in to
// them as it.
func (s *Sentinel) ACLUser(name, password string, rules ...string) string {
	for _, n := range s.Nodes {
		n.ACLUser(name, password, rules...)
	}
	return strings.Replace(s.URL(), "://"+userInfo("", s.opts.Password), "://"+userInfo(name, password), 1)
}

// Master returns the node the first sentinel calls the master now.
func (s *Sentinel) Master() *Server {
	s.Sentinels[0].tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := s.masterAddr(ctx, s.Sentinels[0].sentinelClient())
	if err != nil {
		s.Sentinels[0].tb.Fatal(err)
	}
	for _, n := range s.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	s.Sentinels[0].tb.Fatalf("the sentinel's master %s is none of ours", addr)
	return nil
}

// Failover runs SENTINEL FAILOVER and returns once every sentinel names the
// replica as the master, it accepts writes, and the old master replicates it.
// Clients that follow Sentinel move to the new master on their own.
func (s *Sentinel) Failover() {
	tb := s.Sentinels[0].tb
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old := s.Master()
	next := s.Nodes[0]
	if next == old {
		next = s.Nodes[1]
	}
	sc := s.Sentinels[0].sentinelClient()
	s.Sentinels[0].waitFor(ctx, "SENTINEL FAILOVER to be taken", func(ctx context.Context) error {
		// NOGOODSLAVE or INPROG until the sentinel has a fresh view of the replica.
		return sc.Failover(ctx, MasterName).Err()
	})
	for _, sn := range s.Sentinels {
		sc := sn.sentinelClient()
		sn.waitFor(ctx, "sentinel to name the new master", func(ctx context.Context) error {
			addr, err := s.masterAddr(ctx, sc)
			if err == nil && addr != next.Addr() {
				err = fmt.Errorf("master is %s, want %s", addr, next.Addr())
			}
			return err
		})
	}
	rdb := next.Client()
	next.waitFor(ctx, "new master to accept writes", func(ctx context.Context) error {
		return rdb.Set(ctx, "redistest:failover", "1", 0).Err()
	})
	// The sentinels turn the old master into a replica only at their next INFO to
	// it, up to 10s later; do as they will at once, so that no second master takes
	// writes meanwhile.
	if err := old.Client().ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(next.port)).Err(); err != nil {
		tb.Fatalf("REPLICAOF on the old master %s: %v", old.Addr(), err)
	}
	old.waitReplicating(ctx, next)
}

func (s *Sentinel) masterAddr(ctx context.Context, sc *redis.SentinelClient) (string, error) {
	hp, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return hp[0] + ":" + hp[1], nil
}

// StartReplica starts a replica of s, with s's password, and returns once it
// has copied s and s counts it online (a WAIT on s is answered by it).
func (s *Server) StartReplica() *Server {
	s.tb.Helper()
	r := Start(s.tb, Options{Password: s.opts.Password, args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(s.port)}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.waitReplicating(ctx, s)
	rdb := s.Client()
	online := "port=" + strconv.Itoa(r.port) + ",state=online"
	s.waitFor(ctx, "replica "+r.Addr()+" online", func(ctx context.Context) error {
		info, err := rdb.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, online) {
			err = fmt.Errorf("no %q in\n%s", online, info)
		}
		return err
	})
	return r
}

// waitReplicating waits until s is a replica of master with its link up.
func (s *Server) waitReplicating(ctx context.Context, master *Server) {
	s.tb.Helper()
	rdb := s.Client()
	s.waitFor(ctx, "replica of "+master.Addr(), func(ctx context.Context) error {
		info, err := rdb.Info(ctx, "replication").Result()
		return infoHas(info, err, "role:slave", "master_port:"+strconv.Itoa(master.port), "master_link_status:up")
	})
}

// replicaReady returns nil once the sentinel knows replica as a replica it could
// promote.
func replicaReady(ctx context.Context, sc *redis.SentinelClient, replica *Server) error {
	replicas, err := sc.Replicas(ctx, MasterName).Result()
	if err != nil {
		return err
	}
	for _, r := range replicas {
		if r["port"] == strconv.Itoa(replica.port) && r["flags"] == "slave" && r["master-link-status"] == "ok" {
			return nil
		}
	}
	return fmt.Errorf("replica %s not ready: %v", replica.Addr(), replicas)
}

// sentinelClient returns a client of the sentinel s, closed at the end of the test.
func (s *Server) sentinelClient() *redis.SentinelClient {
	c := redis.NewSentinelClient(s.options())
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}
