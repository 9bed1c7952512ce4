package doctor_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/doctor"
	"github.com/bulkinvite/bulkinvite/internal/presence"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

const goodKey = "fl_live_doctor.0123456789abcdef"

// vendor is a TLS stand-in for the API's base URL, and a client that trusts it.
func vendor(t *testing.T) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	}))
	// The handshakes a client that does not trust it gives up are no news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	return srv.URL, c
}

// connect opens the deployment at url as doctor's caller does (redisconn.Open,
// and the store over it), closed with the test.
func connect(t *testing.T, url string, waitReplicas int) func(context.Context) (doctor.Deployment, error) {
	t.Helper()
	return func(ctx context.Context) (doctor.Deployment, error) {
		rdb, err := redisconn.Open(ctx, url, redisconn.Config{})
		if err != nil {
			return doctor.Deployment{}, err
		}
		t.Cleanup(func() { _ = rdb.Close() })
		return doctor.Deployment{Redis: rdb, Store: store.New(rdb, store.Config{WaitReplicas: waitReplicas})}, nil
	}
}

// configure sets each of settings on every node.
func configure(t *testing.T, nodes []*redistest.Server, settings ...[2]string) {
	t.Helper()
	for _, n := range nodes {
		for _, kv := range settings {
			if err := n.Client().ConfigSet(t.Context(), kv[0], kv[1]).Err(); err != nil {
				t.Fatalf("%s: CONFIG SET %s %s: %v", n.Addr(), kv[0], kv[1], err)
			}
		}
	}
}

var durable = [][2]string{{"appendonly", "yes"}, {"appendfsync", "always"}, {"maxmemory", "200mb"}, {"maxmemory-policy", "noeviction"}}

// good is a deployment as it should be: an AOF fsynced on each write,
// noeviction under a maxmemory, and a replica.
func good(t *testing.T) *redistest.Server {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	configure(t, []*redistest.Server{srv}, durable...)
	srv.StartReplica()
	return srv
}

func byName(rep doctor.Report) map[string]doctor.Check {
	out := map[string]doctor.Check{}
	for _, c := range rep.Checks {
		out[c.Name] = c
	}
	return out
}

// TestGoodDeploymentPasses: AOF with fsync always, noeviction, a replica for
// WAIT, a TLS API and a well-formed key fail nothing, at-most-once included.
func TestGoodDeploymentPasses(t *testing.T) {
	t.Parallel()
	srv := good(t)
	apiURL, client := vendor(t)
	rep := doctor.Run(t.Context(), doctor.Config{
		RedisURL: srv.URL(), WaitReplicas: 1, AtMostOnce: true,
		APIURL: apiURL, APIKey: flowmingo.NewAPIKey(goodKey), HTTPClient: client,
	}, connect(t, srv.URL(), 1))
	if rep.Failed() {
		t.Fatalf("a good deployment failed: %+v", rep.Checks)
	}
	checks := byName(rep)
	for _, name := range []string{"redis", "topology", "persistence", "maxmemory", "acl", "replicas", "at-most-once", "clock", "queues", "auth stop", "api key", "api"} {
		if c, ok := checks[name]; !ok || c.Status != doctor.OK {
			t.Errorf("%s: %+v, want ok", name, c)
		}
	}
	if c := checks["api"]; !strings.Contains(c.Detail, "TLS 1.3") {
		t.Errorf("api: %q, want the TLS version", c.Detail)
	}
	if c := checks["topology"]; !strings.Contains(c.Detail, "1 replica(s) online") {
		t.Errorf("topology: %q, want the replica", c.Detail)
	}
	if c := checks["workers"]; c.Status != doctor.Warn {
		t.Errorf("workers with none running: %+v, want a warning", c)
	}
}

// TestTopologies: a Redis Cluster with a replica per master and a master
// watched by Sentinel, each durable, pass with WAIT for one replica; the
// checks read every master.
func TestTopologies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(t *testing.T) (url string, masters []*redistest.Server)
		kind  string
	}{
		{"cluster", func(t *testing.T) (string, []*redistest.Server) {
			c := redistest.StartCluster(t, redistest.ClusterOptions{Replicas: 1})
			return c.URL(), c.Nodes[:3]
		}, "a Redis Cluster of 3 master(s)"},
		{"sentinel", func(t *testing.T) (string, []*redistest.Server) {
			s := redistest.StartSentinel(t, redistest.SentinelOptions{})
			return s.URL(), []*redistest.Server{s.Master()}
		}, "a master watched by Sentinel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, masters := tc.start(t)
			configure(t, masters, durable...)
			apiURL, client := vendor(t)
			rep := doctor.Run(t.Context(), doctor.Config{RedisURL: url, WaitReplicas: 1, AtMostOnce: true,
				APIURL: apiURL, APIKey: flowmingo.NewAPIKey(goodKey), HTTPClient: client}, connect(t, url, 1))
			if rep.Failed() {
				t.Fatalf("fails: %+v", rep.Checks)
			}
			checks := byName(rep)
			if c := checks["topology"]; !strings.Contains(c.Detail, tc.kind) {
				t.Errorf("topology: %q, want %q", c.Detail, tc.kind)
			}
			for _, m := range masters {
				if c := checks["persistence"]; !strings.Contains(c.Detail, m.Addr()) {
					t.Errorf("persistence: %q does not name master %s", c.Detail, m.Addr())
				}
			}
		})
	}
}

// TestEachMisconfigurationIsFoundWithItsFix seeds one misconfiguration per case
// into a Redis of its own and checks that doctor fails that check, with its
// fix, and the report fails as a whole.
func TestEachMisconfigurationIsFoundWithItsFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		aof        bool
		replica    bool
		config     map[string]string
		acl        []string // ACL SETUSER rules of a user "bulk" to connect as
		wait       int
		atMostOnce bool
		check      string
		detail     string
		fix        string
	}{
		{name: "no AOF", check: "persistence", detail: "appendonly no", fix: "CONFIG SET appendonly yes"},
		{name: "eviction policy", aof: true, config: map[string]string{"maxmemory-policy": "allkeys-lru"},
			check: "maxmemory", detail: "allkeys-lru", fix: "maxmemory-policy noeviction"},
		{name: "missing replica", aof: true, wait: 1, check: "replicas", detail: "has 0 online", fix: "1 replica(s) online"},
		{name: "at-most-once on an everysec AOF", aof: true, atMostOnce: true, config: map[string]string{"appendfsync": "everysec"},
			check: "at-most-once", detail: "sent again", fix: "appendfsync always"},
		{name: "ACL without our keys", aof: true, acl: []string{"resetkeys", "~other:*"},
			check: "acl", detail: "NOPERM", fix: "ACL SETUSER bulk on resetkeys ~bulkinvite:* ~asynq:*"},
		{name: "ACL without INFO", aof: true, acl: []string{"-info"}, check: "acl", detail: "INFO", fix: "+info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{AppendOnly: tc.aof})
			for k, v := range tc.config {
				if err := srv.Client().ConfigSet(t.Context(), k, v).Err(); err != nil {
					t.Fatal(err)
				}
			}
			url := srv.URL()
			if tc.acl != nil {
				url = srv.ACLUser("bulk", "bulk-password", tc.acl...)
			}
			apiURL, client := vendor(t)
			rep := doctor.Run(t.Context(), doctor.Config{
				RedisURL: url, WaitReplicas: tc.wait, AtMostOnce: tc.atMostOnce,
				APIURL: apiURL, APIKey: flowmingo.NewAPIKey(goodKey), HTTPClient: client,
			}, connect(t, url, tc.wait))
			if !rep.Failed() {
				t.Errorf("the report does not fail: %+v", rep.Checks)
			}
			c := byName(rep)[tc.check]
			if c.Status != doctor.Fail || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("%s: %+v, want fail naming %q with the fix %q", tc.check, c, tc.detail, tc.fix)
			}
			for _, other := range rep.Checks {
				if other.Status == doctor.Fail && other.Name != tc.check && !(tc.check == "replicas" && other.Name == "at-most-once") {
					t.Errorf("%s fails too: %+v", other.Name, other)
				}
			}
		})
	}
}

// TestUnreachableRedisFailsWithoutTheRedisChecks: when open fails, doctor says
// so, fails, and still checks the API and the key.
func TestUnreachableRedisFailsWithoutTheRedisChecks(t *testing.T) {
	t.Parallel()
	apiURL, client := vendor(t)
	rep := doctor.Run(t.Context(), doctor.Config{RedisURL: "redis://:pw@127.0.0.1:1/0", APIURL: apiURL, HTTPClient: client},
		func(context.Context) (doctor.Deployment, error) {
			return doctor.Deployment{}, errors.New("connection refused")
		})
	checks := byName(rep)
	if c := checks["redis"]; c.Status != doctor.Fail || c.Fix == "" {
		t.Errorf("redis: %+v, want fail with a fix", c)
	}
	if _, ok := checks["persistence"]; ok {
		t.Errorf("checks Redis that it could not reach: %+v", rep.Checks)
	}
	if c := checks["api key"]; c.Status != doctor.Fail || !strings.Contains(c.Fix, "FLOWMINGO_API_KEY") {
		t.Errorf("api key without one: %+v, want fail naming FLOWMINGO_API_KEY", c)
	}
	if c := checks["api"]; c.Status != doctor.OK {
		t.Errorf("api: %+v, want ok", c)
	}
}

// TestAPIOverTLS: a certificate the client does not trust, and an address
// nothing answers at, fail the API check; a trusted one passes.
func TestAPIOverTLS(t *testing.T) {
	t.Parallel()
	apiURL, trusting := vendor(t)
	untrusting := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(untrusting.CloseIdleConnections)
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	tests := []struct {
		name   string
		url    string
		client *http.Client
		status doctor.Status
		detail string
	}{
		{"trusted", apiURL, trusting, doctor.OK, "certificate trusted"},
		{"untrusted certificate", apiURL, untrusting, doctor.Fail, "certificate"},
		{"nothing listening", deadURL, trusting, doctor.Fail, "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := doctor.Run(t.Context(), doctor.Config{RedisURL: "redis://127.0.0.1:1/0", APIURL: tc.url, HTTPClient: tc.client,
				APIKey: flowmingo.NewAPIKey(goodKey), Timeout: 5 * time.Second},
				func(context.Context) (doctor.Deployment, error) {
					return doctor.Deployment{}, errors.New("no Redis here")
				})
			c := byName(rep)["api"]
			if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("api: %+v, want %s naming %q", c, tc.status, tc.detail)
			}
		})
	}
}

// TestClockSkew: a host clock an hour off Redis's TIME is a warning, not a
// failure.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	srv := good(t)
	apiURL, client := vendor(t)
	rep := doctor.Run(t.Context(), doctor.Config{RedisURL: srv.URL(), APIURL: apiURL, HTTPClient: client, APIKey: flowmingo.NewAPIKey(goodKey),
		Now: func() time.Time { return time.Now().Add(time.Hour) }}, connect(t, srv.URL(), 0))
	c := byName(rep)["clock"]
	if c.Status != doctor.Warn || !strings.Contains(c.Detail, "behind") || c.Fix == "" {
		t.Errorf("clock: %+v, want a warning that Redis is behind, with a fix", c)
	}
	if rep.Failed() {
		t.Errorf("skew alone fails the report: %+v", rep.Checks)
	}
}

// serveEveryQueue starts an asynq server on rdb taking every queue as a worker
// does (on a Redis Cluster every shard, task.Sharded), with handlers that do
// nothing.
func serveEveryQueue(tb testing.TB, rdb redis.UniversalClient, concurrency int) *asynq.Server {
	tb.Helper()
	if task.Sharded(rdb) {
		return serveQueues(tb, rdb, concurrency, task.AllShards())
	}
	return serveQueues(tb, rdb, concurrency, task.Queues)
}

// serveQueues starts an asynq server on rdb taking queues, with handlers that
// do nothing.
func serveQueues(tb testing.TB, rdb redis.UniversalClient, concurrency int, names []string) *asynq.Server {
	tb.Helper()
	queues := map[string]int{}
	for _, q := range names {
		queues[q] = 1
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: concurrency, Queues: queues, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		tb.Fatal(err)
	}
	return srv
}

// TestWhatRunsThere: a running worker is listed with its version; a paused queue and an auth
// stop are warnings with their fix.
func TestWhatRunsThere(t *testing.T) {
	t.Parallel()
	srv := good(t)
	ctx := t.Context()
	rdb := srv.Client()
	st := store.New(rdb, store.Config{})
	key := flowmingo.NewAPIKey(goodKey)
	if err := st.StopAuth(ctx, key.ID(), key.Masked(), 401, "invalid key"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serveEveryQueue(t, rdb, 2).Shutdown)
	t.Cleanup(presence.NewPublisher(rdb, store.DefaultPrefix, presence.Config{Version: "v1.4.0"}).Start())
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("x", nil), asynq.Queue(task.QueueBulk), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := insp.PauseQueue(task.QueueBulk); err != nil {
		t.Fatal(err)
	}
	apiURL, client := vendor(t)
	var checks map[string]doctor.Check
	// asynq writes a server's heartbeat within a few seconds of its start.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep := doctor.Run(ctx, doctor.Config{RedisURL: srv.URL(), APIURL: apiURL, HTTPClient: client, APIKey: key, Version: "v1.4.0"}, connect(t, srv.URL(), 0))
		checks = byName(rep)
		if checks["workers"].Status == doctor.OK || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if c := checks["workers"]; c.Status != doctor.OK || !strings.Contains(c.Detail, "1 running") || !strings.Contains(c.Detail, "concurrency 2") || !strings.Contains(c.Detail, "version v1.4.0") {
		t.Errorf("workers: %+v, want the one running, with its version", c)
	}
	if c := checks["queues"]; c.Status != doctor.Warn || !strings.Contains(c.Detail, task.QueueBulk) || !strings.Contains(c.Fix, "bulkinvite resume") {
		t.Errorf("queues: %+v, want a warning naming %s", c, task.QueueBulk)
	}
	if c := checks["auth stop"]; c.Status != doctor.Warn || !strings.Contains(c.Detail, "HTTP 401") || !strings.Contains(c.Fix, "bulkinvite resume") {
		t.Errorf("auth stop: %+v, want a warning with HTTP 401", c)
	}
}

// TestWorkerOlderThanTheShards: on a Redis Cluster, a worker that takes the
// queues' bare names and none of their other shards (an older build) is a
// warning to upgrade the workers before the producers: the chunk tasks on the
// other shards wait. On a single node, where nothing is sharded, the same
// worker is as it should be.
func TestWorkerOlderThanTheShards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (url string, rdb redis.UniversalClient)
		warn  bool
	}{
		{"single node", func(t *testing.T) (string, redis.UniversalClient) {
			srv := good(t)
			return srv.URL(), srv.Client()
		}, false},
		{"cluster", func(t *testing.T) (string, redis.UniversalClient) {
			c := redistest.StartCluster(t, redistest.ClusterOptions{})
			rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
			t.Cleanup(func() { _ = rdb.Close() })
			return c.URL(), rdb
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, rdb := tc.start(t)
			t.Cleanup(serveQueues(t, rdb, 1, task.Queues).Shutdown)
			apiURL, client := vendor(t)
			var c doctor.Check
			deadline := time.Now().Add(20 * time.Second) // asynq's first heartbeat
			for {
				rep := doctor.Run(t.Context(), doctor.Config{RedisURL: url, APIURL: apiURL, HTTPClient: client, APIKey: flowmingo.NewAPIKey(goodKey)}, connect(t, url, 0))
				c = byName(rep)["workers"]
				if strings.Contains(c.Detail, "1 running") || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			warned := c.Status == doctor.Warn && strings.Contains(c.Detail, "older than the sharded queues") && strings.Contains(c.Fix, "upgrade the workers before the producers")
			switch {
			case tc.warn && !warned:
				t.Errorf("workers: %+v, want a warning to upgrade the workers first", c)
			case !tc.warn && (c.Status != doctor.OK || !strings.Contains(c.Detail, "1 running")):
				t.Errorf("workers: %+v, want the one running, as it should be", c)
			}
		})
	}
}
