// Package redisconn connects to the Redis a REDIS_URL names — a single node, a
// Redis Cluster (detected from any of its nodes) or a master that Sentinel watches —
// with one go-redis client that our own code and asynq share, checks at connect
// time that the deployment can work, and explains the errors a misconfigured one
// gives with the fix.
//
// It does not parse REDIS_URL (config.ParseRedisURL does, so that a bad URL is a
// usage error before anything connects) and owns no keys.
package redisconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/config"
)

// Config tunes Open. The zero value is ready to use.
type Config struct {
	// Log gets the warnings found at connect time, such as a maxmemory-policy that
	// evicts keys. Default: none.
	Log *zap.Logger
	// OnFatal, if set, is called once, with the error explained, when a command
	// fails in a way that retrying cannot cure: NOAUTH or WRONGPASS, CROSSSLOT, MOVED
	// or ASK reaching a client that is not a cluster client. A long-running command
	// stops on it instead of looping. It runs on the goroutine whose command
	// failed. Default: none.
	OnFatal func(error)
}

// topology is the kind of deployment a client talks to.
type topology int

const (
	single topology = iota
	cluster
	sentinel
)

// Open connects to the Redis that rawURL (REDIS_URL) names and checks it: it
// answers, the URL's user may log in, a single node is a master, a cluster has
// every slot served; a maxmemory-policy other than noeviction is logged as a
// warning. A redis:// or rediss:// URL gets a cluster client when its node has
// cluster_enabled:1 or when ?addr= lists more nodes. The client has
// ContextTimeoutEnabled set, so a context's deadline bounds every command.
//
// ctx bounds connecting and checking. Errors name REDIS_URL, show the URL only
// redacted and, for the errors a deployment's configuration causes, say what to
// change (see Explain).
func Open(ctx context.Context, rawURL string, cfg Config) (redis.UniversalClient, error) {
	t, err := config.ParseRedisURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb, kind, err := connect(ctx, t)
	if err == nil {
		err = check(ctx, rdb, cfg.Log)
	}
	if err != nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, fmt.Errorf("cannot reach Redis at %s (REDIS_URL): %w", config.RedactURL(rawURL), explainConnect(err, t.TLS))
	}
	if cfg.OnFatal != nil {
		rdb.AddHook(&fatalHook{kind: kind, report: cfg.OnFatal})
	}
	return rdb, nil
}

// connect builds the client for t. For a node URL it asks the first node that
// answers for its INFO, to tell a cluster node from a single one. Errors may hold
// node addresses, never the URL.
func connect(ctx context.Context, t config.RedisTarget) (redis.UniversalClient, topology, error) {
	if t.Sentinel() {
		if err := probeSentinels(ctx, t); err != nil {
			return nil, sentinel, err
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       t.MasterName,
			SentinelAddrs:    t.Addrs,
			SentinelUsername: t.SentinelUsername,
			SentinelPassword: t.SentinelPassword,
			Username:         t.Username,
			Password:         t.Password,
			DB:               t.DB,

			ContextTimeoutEnabled: true,
		}), sentinel, nil
	}
	n, err := probe(ctx, t)
	if err != nil {
		return nil, single, err
	}
	seeds := len(t.Addrs) > 1
	isCluster := seeds // when INFO is refused by the user's ACL, believe the URL
	if n.info != "" && t.Network != "unix" {
		isCluster = InfoField(n.info, "cluster_enabled") == "1"
	}
	switch {
	case !isCluster && seeds:
		return nil, single, fmt.Errorf("%s is not a Redis Cluster node (cluster_enabled:0), and ?addr= lists more nodes of a cluster: "+
			"drop the ?addr= parameters from REDIS_URL, or point it at the cluster", n.addr)
	case !isCluster && InfoField(n.info, "role") == "slave":
		return nil, single, &Error{
			Err: fmt.Errorf("%s is a replica of %s:%s", n.addr, InfoField(n.info, "master_host"), InfoField(n.info, "master_port")),
			Fix: fixReadOnly,
		}
	case !isCluster:
		return redis.NewClient(nodeOptions(t, n.addr)), single, nil
	case n.clusterInfo != "" && InfoField(n.clusterInfo, "cluster_state") != "ok":
		return nil, cluster, &Error{Err: fmt.Errorf("cluster_state:%s on %s", InfoField(n.clusterInfo, "cluster_state"), n.addr), Fix: fixClusterDown}
	case t.DB != 0:
		return nil, cluster, fmt.Errorf("REDIS_URL asks for database /%d, and Redis Cluster has only database 0: drop it or use /0", t.DB)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:     t.Addrs,
		Username:  t.Username,
		Password:  t.Password,
		TLSConfig: tlsConfig(t),

		ContextTimeoutEnabled: true,
	}), cluster, nil
}

// node is what probe learned of a node: its INFO, and its CLUSTER INFO if it is a
// cluster node; either is "" when the URL's user may not run it.
type node struct{ addr, info, clusterInfo string }

// probe asks the first of t.Addrs that answers, once and without retries so that
// a wrong URL fails fast. The error is the first node's.
func probe(ctx context.Context, t config.RedisTarget) (node, error) {
	var first error
	for _, addr := range t.Addrs {
		n, err := probeNode(ctx, t, addr)
		if err == nil {
			return n, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return node{}, first
}

func probeNode(ctx context.Context, t config.RedisTarget, addr string) (node, error) {
	opt := nodeOptions(t, addr)
	opt.DB = 0 // Redis Cluster refuses SELECT: connect checks the database itself
	opt.MaxRetries, opt.DialerRetries = -1, 1
	c := redis.NewClient(opt)
	defer c.Close()
	n := node{addr: addr}
	var err error
	if n.info, err = c.Info(ctx).Result(); err != nil && !redis.IsPermissionError(err) {
		return n, err
	}
	if InfoField(n.info, "cluster_enabled") == "1" {
		if n.clusterInfo, err = c.ClusterInfo(ctx).Result(); err != nil && !redis.IsPermissionError(err) {
			return n, err
		}
	}
	return n, nil
}

// probeSentinels asks the sentinels for the master's address until one answers,
// for an error that says which of the URL's parts is wrong; the failover client
// would only retry until ctx ends. The error is the first sentinel's.
func probeSentinels(ctx context.Context, t config.RedisTarget) error {
	var first error
	for _, addr := range t.Addrs {
		sc := redis.NewSentinelClient(&redis.Options{
			Addr:     addr,
			Username: t.SentinelUsername,
			Password: t.SentinelPassword,

			ContextTimeoutEnabled: true,
		})
		_, err := sc.GetMasterAddrByName(ctx, t.MasterName).Result()
		_ = sc.Close()
		if err == nil {
			return nil
		}
		if first == nil {
			first = sentinelError(addr, t.MasterName, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return first
}

func nodeOptions(t config.RedisTarget, addr string) *redis.Options {
	return &redis.Options{
		Network:   t.Network,
		Addr:      addr,
		Username:  t.Username,
		Password:  t.Password,
		DB:        t.DB,
		TLSConfig: tlsConfig(t),

		ContextTimeoutEnabled: true,
	}
}

// tlsConfig leaves ServerName empty so that every connection, to the URL's node
// or to a cluster node found later, checks the certificate against the host it
// dials (go-redis dials with tls.DialWithDialer, which fills ServerName in from
// the address). A private CA is trusted through the system's store or
// SSL_CERT_FILE.
func tlsConfig(t config.RedisTarget) *tls.Config {
	if !t.TLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// InfoField returns the value of "name:value" in the text of INFO or CLUSTER
// INFO, or "" when it has none.
func InfoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// check pings rdb and warns of a maxmemory-policy that evicts keys on any master.
func check(ctx context.Context, rdb redis.UniversalClient, log *zap.Logger) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	if log == nil {
		return nil
	}
	var mu sync.Mutex
	evicting := map[string][]string{} // policy -> nodes
	err := ForEachMaster(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		// CONFIG may be refused or renamed (managed services do): then say nothing.
		v, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if p := v["maxmemory-policy"]; err == nil && p != "" && p != "noeviction" {
			mu.Lock()
			evicting[p] = append(evicting[p], c.Options().Addr)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for p, nodes := range evicting {
		slices.Sort(nodes)
		log.Warn("Redis may evict keys when it reaches maxmemory: queued tasks, batch records and the ledger could vanish; "+
			"set maxmemory-policy noeviction (Redis then refuses writes instead, and bulkinvite says so)",
			zap.String("maxmemory_policy", p), zap.Strings("nodes", nodes))
	}
	return nil
}

// ForEachMaster calls fn with a client of every master that rdb writes to: the
// node itself, Sentinel's current master, or each master of a Redis Cluster (then
// concurrently, as ClusterClient.ForEachMaster does). It is for commands that see
// one node only: INFO (memory, commandstats), CONFIG GET, DBSIZE, SCAN.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redisconn: ForEachMaster: unsupported client type %T", rdb)
}
