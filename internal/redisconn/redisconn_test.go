package redisconn_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// secret is part of every password in these tests: no error may show it.
const secret = "S3cret"

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open connects to url and closes the client at the end of the test.
func open(t *testing.T, url string, cfg redisconn.Config) redis.UniversalClient {
	t.Helper()
	rdb, err := redisconn.Open(testContext(t), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// openErr opens url, which must fail, and returns the error after checking that
// it names REDIS_URL and shows no password.
func openErr(t *testing.T, url string) error {
	t.Helper()
	rdb, err := redisconn.Open(testContext(t), url, redisconn.Config{})
	if err == nil {
		_ = rdb.Close()
		t.Fatalf("Open(%s) succeeded", config.RedactURL(url))
	}
	if !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), secret) {
		t.Errorf("error does not name REDIS_URL, or shows a password: %v", err)
	}
	return err
}

// wantFix checks that err is explained, and its text holds every one of want.
func wantFix(t *testing.T, err error, want ...string) {
	t.Helper()
	var e *redisconn.Error
	if !errors.As(err, &e) {
		t.Errorf("error is not explained: %v", err)
	}
	if shown := config.RedactURLs(err.Error()); shown != err.Error() {
		t.Errorf("the command line would show the error otherwise:\n%s\nnot\n%s", shown, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func TestSingleNodeWithACLUser(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := redistest.Start(t, redistest.Options{Password: "admin-" + secret})
	url := srv.ACLUser("bulk", "bulk-"+secret)

	rdb := open(t, strings.Replace(url, "/0", "/5", 1), redisconn.Config{})
	if _, ok := rdb.(*redis.Client); !ok {
		t.Errorf("client is a %T, want a single-node *redis.Client", rdb)
	}
	if who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "bulk" {
		t.Errorf("ACL WHOAMI = %q, %v; want bulk", who, err)
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	admin := srv.Client()
	if err := admin.Do(ctx, "SELECT", 5).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.Exists(ctx, "k").Result(); err != nil || n != 1 {
		t.Errorf("database 5 of the URL was not the one written: EXISTS k = %d, %v", n, err)
	}

	// The URL as it was read before user names were honoured: the password alone,
	// for the default user.
	err := openErr(t, strings.Replace(url, "bulk:", ":", 1))
	wantFix(t, err, "WRONGPASS", "USER:PASSWORD@")
}

// TestMisconfiguredRedisFailsFast: each way a deployment or a REDIS_URL is wrong
// fails Open at once with what to change.
func TestMisconfiguredRedisFailsFast(t *testing.T) {
	t.Parallel()
	locked := redistest.Start(t, redistest.Options{Password: "right-" + secret})
	plain := redistest.Start(t, redistest.Options{})
	replica := plain.StartReplica()
	closed := closedPort(t)
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"no password", "redis://" + locked.Addr() + "/0", []string{"NOAUTH", ":PASSWORD@ before the host"}},
		{"wrong password", "redis://:wrong-" + secret + "@" + locked.Addr() + "/0", []string{"WRONGPASS", "redis://:xxxxx@" + locked.Addr()}},
		{"unknown ACL user", "redis://nobody:" + secret + "@" + locked.Addr() + "/0", []string{"WRONGPASS"}},
		{"a replica", replica.URL(), []string{"is a replica of " + plain.Addr(), "point it at the master", "redis-sentinel://"}},
		{"nothing listening", "redis://:" + secret + "@" + closed + "/0", []string{"connection refused", "check the host and port in REDIS_URL"}},
		{"database out of range", "redis://" + plain.Addr() + "/99", []string{"DB index is out of range", "databases"}},
		{"cluster seeds to a single node", "redis://" + plain.Addr() + "?addr=" + closed, []string{"not a Redis Cluster node", "drop the ?addr="}},
		{"TLS to a plain server", "rediss://" + plain.Addr() + "/0", []string{"TLS handshake", "use redis:// instead of rediss://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := openErr(t, tt.url)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestWriteErrorsExplained: READONLY from a replica reached without Open's check,
// OOM from a full server.
func TestWriteErrorsExplained(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := redistest.Start(t, redistest.Options{})

	err := srv.StartReplica().Client().Set(ctx, "k", "v", 0).Err()
	if !redis.IsReadOnlyError(err) {
		t.Fatalf("SET on a replica: %v, want READONLY", err)
	}
	wantFix(t, redisconn.Explain(err), "READONLY", "replica", "point it at the master")

	admin := srv.Client()
	for _, kv := range [][2]string{{"maxmemory", "1mb"}, {"maxmemory-policy", "noeviction"}} {
		if err := admin.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb := open(t, srv.URL(), redisconn.Config{})
	value := strings.Repeat("x", 64<<10)
	for i := 0; err == nil || !redis.IsOOMError(err); i++ {
		if i == 100 {
			t.Fatalf("6 MB written under maxmemory 1mb; last error %v", err)
		}
		err = rdb.Set(ctx, fmt.Sprint("fill:", i), value, 0).Err()
	}
	explained := redisconn.Explain(err)
	wantFix(t, explained, "OOM", "maxmemory", "maxmemory-policy noeviction")
	if !redis.IsOOMError(explained) {
		t.Errorf("the explained error hides the OOM from go-redis: %v", explained)
	}
}

// TestMaxmemoryPolicyWarning: a policy that evicts keys is logged at connect time;
// noeviction, and a user who may not run CONFIG or INFO, are not.
func TestMaxmemoryPolicyWarning(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := redistest.Start(t, redistest.Options{})
	if err := srv.Client().ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	warnings := func(url string) []observer.LoggedEntry {
		core, logs := observer.New(zap.WarnLevel)
		open(t, url, redisconn.Config{Log: zap.New(core)})
		return logs.All()
	}
	w := warnings(srv.URL())
	if len(w) != 1 || w[0].ContextMap()["maxmemory_policy"] != "allkeys-lru" || !strings.Contains(w[0].Message, "noeviction") {
		t.Errorf("warnings = %+v, want one about maxmemory-policy allkeys-lru", w)
	}
	if w := warnings(srv.ACLUser("restricted", "pw", "-config", "-info")); len(w) != 0 {
		t.Errorf("a user who may not run CONFIG got warnings: %+v", w)
	}
	if err := srv.Client().ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if w := warnings(srv.URL()); len(w) != 0 {
		t.Errorf("noeviction got warnings: %+v", w)
	}
}

// TestNoPermExplained: a user limited to other keys connects, and its first
// write says which ACL it lacks.
func TestNoPermExplained(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := redistest.Start(t, redistest.Options{})
	rdb := open(t, srv.ACLUser("other", "pw", "resetkeys", "~other:*"), redisconn.Config{})
	err := rdb.Set(ctx, "bulkinvite:x", "1", 0).Err()
	wantFix(t, redisconn.Explain(err), "NOPERM", "ACL SETUSER")
}

// TestTLS: rediss:// sends the URL's host name for SNI and checks the
// certificate against it; a certificate no one here trusts, and TLS only on the
// server's side, are explained.
func TestTLS(t *testing.T) {
	t.Parallel()
	names := make(chan string, 10)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // every handshake here fails
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		names <- hello.ServerName
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	err := openErr(t, "rediss://bulk:"+secret+"@localhost:"+port+"/0")
	wantFix(t, err, "certificate", "SSL_CERT_FILE")
	if got := <-names; got != "localhost" {
		t.Errorf("SNI = %q, want localhost", got)
	}
	wantFix(t, openErr(t, "redis://localhost:"+port+"/0"), "rediss://")
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3, Replicas: 1, Password: "cluster-" + secret})
	masters := c.Nodes[:3]
	keys := []string{"a", "b", "c", "d", "e", "f"}

	t.Run("any node's URL", func(t *testing.T) {
		t.Parallel()
		for _, url := range []string{c.URL(), c.Nodes[len(c.Nodes)-1].URL()} { // a master's, a replica's
			ctx := testContext(t)
			rdb := open(t, url, redisconn.Config{})
			cc, ok := rdb.(*redis.ClusterClient)
			if !ok {
				t.Fatalf("client is a %T, want a cluster client", rdb)
			}
			nodes := map[string]bool{}
			for _, k := range keys {
				if err := cc.Set(ctx, k, "v:"+k, 0).Err(); err != nil {
					t.Fatal(err)
				}
				if v, err := cc.Get(ctx, k).Result(); err != nil || v != "v:"+k {
					t.Errorf("GET %s = %q, %v", k, v, err)
				}
				m, err := cc.MasterForKey(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				nodes[m.Options().Addr] = true
			}
			if len(nodes) < 2 {
				t.Errorf("keys %v all went to %v: the test shows nothing", keys, nodes)
			}
			var n atomic.Int32 // ForEachMaster calls at once
			if err := redisconn.ForEachMaster(ctx, rdb, func(context.Context, *redis.Client) error { n.Add(1); return nil }); err != nil || n.Load() != 3 {
				t.Errorf("ForEachMaster saw %d masters, %v; want 3", n.Load(), err)
			}
		}
	})
	t.Run("seeds, the first one down", func(t *testing.T) {
		t.Parallel()
		url := "redis://:cluster-" + secret + "@" + closedPort(t) + "?addr=" + masters[1].Addr() + "&addr=" + masters[2].Addr()
		if rdb := open(t, url, redisconn.Config{}); rdb.Ping(testContext(t)).Err() != nil {
			t.Error("PING failed")
		}
	})
	t.Run("a database other than 0", func(t *testing.T) {
		t.Parallel()
		err := openErr(t, strings.Replace(c.URL(), "/0", "/1", 1))
		if !strings.Contains(err.Error(), "only database 0") {
			t.Errorf("error does not say why: %v", err)
		}
	})
	t.Run("asynq", func(t *testing.T) {
		t.Parallel()
		testAsynq(t, open(t, c.URL(), redisconn.Config{}))
	})
	t.Run("MOVED to a single-node client", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		plain := masters[0].Client()
		var err error
		for _, k := range keys {
			if err = plain.Set(ctx, k, "v", 0).Err(); err != nil {
				break
			}
		}
		if _, moved := redis.IsMovedError(err); !moved {
			t.Fatalf("no MOVED from one node for keys %v: %v", keys, err)
		}
		wantFix(t, redisconn.Explain(err), "MOVED", "?addr=")

		// A user who may not run INFO gets a single-node client from a URL without
		// seeds; the MOVED that follows is reported, once.
		fatal := make(chan error, 10)
		rdb := open(t, c.ACLUser("noinfo", "pw", "-info"), redisconn.Config{OnFatal: func(err error) { fatal <- err }})
		for _, k := range keys {
			_ = rdb.Set(ctx, k, "v", 0).Err()
		}
		wantFix(t, <-fatal, "MOVED", "INFO")
		if len(fatal) != 0 {
			t.Errorf("OnFatal called %d more times", len(fatal))
		}
	})
	t.Run("CROSSSLOT", func(t *testing.T) {
		t.Parallel()
		fatal := make(chan error, 10)
		rdb := open(t, c.URL(), redisconn.Config{OnFatal: func(err error) { fatal <- err }})
		err := rdb.MSet(testContext(t), "a", "1", "b", "2").Err()
		wantFix(t, redisconn.Explain(err), "CROSSSLOT", "report it")
		wantFix(t, <-fatal, "CROSSSLOT")
	})
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := redistest.StartSentinel(t, redistest.SentinelOptions{
		Password: "master-" + secret, SentinelPassword: "sentinel-" + secret, Sentinels: 3,
	})
	url := strings.Replace(s.URL(), "/0?", "/3?", 1)

	t.Run("errors", func(t *testing.T) {
		noSentinelPassword := url[:strings.Index(url, "&sentinel_password=")]
		wantFix(t, openErr(t, noSentinelPassword), "NOAUTH", "?sentinel_password=")
		wantFix(t, openErr(t, strings.Replace(url, "master="+redistest.MasterName, "master=nosuch", 1)), `"nosuch"`, "sentinel monitor NAME")
		wantFix(t, openErr(t, strings.Replace(url, ":master-", ":wrong-", 1)), "WRONGPASS")
	})

	rdb := open(t, url, redisconn.Config{})
	user := open(t, strings.Replace(s.ACLUser("bulk", "bulk-"+secret), "/0?", "/3?", 1), redisconn.Config{})
	writeRead := func(t *testing.T, value string) {
		t.Helper()
		for _, c := range []redis.UniversalClient{rdb, user} {
			if err := c.Set(ctx, "k", value, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, "k").Result(); err != nil || v != value {
				t.Errorf("GET k = %q, %v; want %q", v, err, value)
			}
		}
		if who, err := user.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "bulk" {
			t.Errorf("ACL WHOAMI = %q, %v; want bulk", who, err)
		}
		master := s.Master().Client()
		if err := master.Do(ctx, "SELECT", 3).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := master.Get(ctx, "k").Result(); err != nil || v != value {
			t.Errorf("database 3 of the master %s holds k = %q, %v; want %q", s.Master().Addr(), v, err, value)
		}
	}
	writeRead(t, "before")
	testAsynq(t, rdb)
	s.Failover()
	writeRead(t, "after")
}

// testAsynq enqueues a task through rdb as the producer does, finds it with the
// inspector, and has a server take it and run its handler, as the worker does.
func testAsynq(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	const queue = "redisconn"
	info, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("redisconn:test", []byte("payload")), asynq.Queue(queue))
	if err != nil {
		t.Fatalf("asynq enqueue: %v", err)
	}
	got, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(queue, info.ID)
	if err != nil || got.State != asynq.TaskStatePending {
		t.Fatalf("asynq inspector: %+v, %v; want the pending task", got, err)
	}
	done := make(chan string, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel})
	err = srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		done <- string(task.Payload())
		return nil
	}))
	if err != nil {
		t.Fatalf("asynq server: %v", err)
	}
	defer srv.Shutdown()
	select {
	case p := <-done:
		if p != "payload" {
			t.Errorf("handler got %q", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the asynq server did not run the task within 20s")
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
