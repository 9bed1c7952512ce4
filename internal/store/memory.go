package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// oomReply is how Redis's OOM reply begins.
const oomReply = "OOM command not allowed"

// OutOfMemory reports whether err is Redis refusing a write because it reached
// its maxmemory (an OOM reply, under maxmemory-policy noeviction): a refusal
// that lasts until memory is freed or maxmemory raised, and that changed
// nothing, so the same write may be tried again. asynq's client passes the
// reply on as text only ("redis eval error: OOM command not allowed ..."), so
// the text counts too.
func OutOfMemory(err error) bool {
	return err != nil && (redis.HasErrorPrefix(err, "OOM") || strings.Contains(err.Error(), oomReply))
}

// Memory is how full a Redis is: INFO memory's used_memory and maxmemory.
type Memory struct {
	Addr string // the node, for a Redis Cluster the fullest master
	Used int64  // bytes in use
	Max  int64  // maxmemory in bytes; 0 for no limit
}

// Memory reads the memory of every master the store writes to and returns the
// fullest one's (by used_memory over maxmemory): the one that refuses writes
// first.
func (s *Store) Memory(ctx context.Context) (Memory, error) {
	var (
		mu      sync.Mutex
		fullest Memory
	)
	err := s.eachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return err
		}
		m := parseMemory(info)
		m.Addr = c.Options().Addr
		mu.Lock()
		defer mu.Unlock()
		if fullest.Addr == "" || m.share() > fullest.share() {
			fullest = m
		}
		return nil
	})
	return fullest, err
}

// share is how much of its maxmemory m uses: 0 without a maxmemory, which never
// refuses a write for want of memory.
func (m Memory) share() float64 {
	if m.Max <= 0 {
		return 0
	}
	return float64(m.Used) / float64(m.Max)
}

// parseMemory reads used_memory and maxmemory from the text of INFO memory.
func parseMemory(info string) Memory {
	var m Memory
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "used_memory":
			m.Used = n
		case "maxmemory":
			m.Max = n
		}
	}
	return m
}

// eachMaster calls fn with a client of every master the store writes to: the
// node itself (or Sentinel's current master), or each master of a Cluster.
func (s *Store) eachMaster(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("store: INFO of each master needs a single-node, Sentinel or Cluster client, not %T", s.rdb)
}
