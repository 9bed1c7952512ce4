package store

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Persistence is how one master keeps the writes it acknowledged, as its
// CONFIG GET says.
type Persistence struct {
	// Addr is the master's host:port.
	Addr string
	// AppendOnly is the master's appendonly: an AOF is written.
	AppendOnly bool
	// AppendFsync is the master's appendfsync: "always", "everysec" or "no".
	AppendFsync string
	// Err is why the settings could not be read (an ACL without CONFIG, a managed
	// service that renamed it); the fields above are then empty.
	Err error
}

// FsyncsEachWrite reports whether the master fsyncs its AOF before it
// acknowledges a write (appendonly yes, appendfsync always): a write it
// acknowledged survives its restart, a crash of its machine included.
func (p Persistence) FsyncsEachWrite() bool { return p.AppendOnly && p.AppendFsync == "always" }

// WaitReplicas is Config.WaitReplicas: how many replicas acknowledge each of the
// store's writes before it returns.
func (s *Store) WaitReplicas() int { return s.cfg.WaitReplicas }

// NodeAddr is the host:port of the node c talks to: its Options().Addr, or for
// a client that Sentinel steers (whose Addr is no node's) the address the
// current master answers on, as its CLIENT INFO says (laddr). When CLIENT INFO
// is refused it is the master name Sentinel knows the node by.
func NodeAddr(ctx context.Context, c *redis.Client) string {
	addr := c.Options().Addr
	if addr != sentinelClientAddr {
		return addr
	}
	info, err := c.ClientInfo(ctx).Result()
	if err != nil || info.LAddr == "" {
		return "the Sentinel master"
	}
	return info.LAddr
}

// sentinelClientAddr is the Addr go-redis gives a client that Sentinel steers
// (redis.NewFailoverClient).
const sentinelClientAddr = "FailoverClient"

// Persistence reads the persistence settings of every master the store writes to:
// the node, Sentinel's current master, or each master of a Redis Cluster. A
// master whose settings cannot be read has Err set; the error returned is for
// not reaching the masters at all.
func (s *Store) Persistence(ctx context.Context) ([]Persistence, error) {
	var (
		mu  sync.Mutex
		out []Persistence
	)
	read := func(ctx context.Context, c *redis.Client) error {
		p := Persistence{Addr: NodeAddr(ctx, c)}
		v, err := c.ConfigGet(ctx, "append*").Result()
		switch {
		case err != nil:
			p.Err = err
		case v["appendonly"] == "" || v["appendfsync"] == "":
			p.Err = fmt.Errorf("CONFIG GET append* answered %v", v)
		default:
			p.AppendOnly, p.AppendFsync = v["appendonly"] == "yes", v["appendfsync"]
		}
		mu.Lock()
		out = append(out, p)
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, read)
	case *redis.Client:
		err = read(ctx, c)
	default:
		err = fmt.Errorf("store: Persistence needs a single-node, Sentinel or Cluster client, not %T", s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("read the masters' persistence settings: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out, nil
}
