package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// server is a private redis-server and the bench's own client to it: one
// connection, so that the bench's own commands are few and known (they are
// left out of the counts).
type server struct {
	r   *benchproc.Redis
	rdb *redis.Client
}

// startServer starts a redis-server without persistence in dir, part of g.
func startServer(ctx context.Context, g *benchproc.Group, dir string, args ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r, err := benchproc.StartRedis(ctx, g, dir, benchproc.RedisOptions{Args: args})
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), PoolSize: 1, MaxRetries: 2, ReadTimeout: time.Minute})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return &server{r: r, rdb: rdb}, nil
}

func (s *server) close() { _ = s.rdb.Close() }

// memory reads INFO memory after a short settle (freed client buffers, expired
// keys).
func (s *server) memory(ctx context.Context) (memory, error) {
	if err := sleep.For(ctx, settle); err != nil {
		return memory{}, err
	}
	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return memory{}, err
	}
	return parseMemory(info)
}

// resetStats is CONFIG RESETSTAT: the command counts start again from zero
// (but for this very command).
func (s *server) resetStats(ctx context.Context) error {
	return s.rdb.ConfigResetStat(ctx).Err()
}

// commandStats reads INFO commandstats (not counting itself).
func (s *server) commandStats(ctx context.Context) (calls, error) {
	info, err := s.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	return parseCommandStats(info)
}

// keyClasses is, per class (see classify), the keys and their bytes as
// MEMORY USAGE (SAMPLES 0, every element) reports them.
type keyClasses struct {
	Keys  map[string]int
	Bytes map[string]int64
}

// classes scans every key. It runs commands of its own: call it outside of a
// counting window.
func (s *server) classes(ctx context.Context) (keyClasses, error) {
	kc := keyClasses{Keys: map[string]int{}, Bytes: map[string]int64{}}
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return kc, err
		}
		if len(keys) > 0 {
			cmds := make([]*redis.IntCmd, len(keys))
			_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.MemoryUsage(ctx, k, 0)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return kc, err
			}
			for i, k := range keys {
				n, err := cmds[i].Result()
				if errors.Is(err, redis.Nil) { // expired since the SCAN
					continue
				}
				if err != nil {
					return kc, fmt.Errorf("MEMORY USAGE %s: %w", k, err)
				}
				c := classify(prefix, k)
				kc.Keys[c]++
				kc.Bytes[c] += n
			}
		}
		if cursor = next; cursor == 0 {
			return kc, nil
		}
	}
}

// hashValueBytes sums the length of every value of every hash in class:
// what the application stores, without Redis's own overhead per entry.
func (s *server) hashValueBytes(ctx context.Context, class string) (int64, error) {
	var total int64
	var cursor uint64
	for {
		keys, next, err := s.rdb.ScanType(ctx, cursor, "*", 1000, "hash").Result()
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if classify(prefix, k) != class {
				continue
			}
			var hc uint64
			for {
				kv, hnext, err := s.rdb.HScan(ctx, k, hc, "*", 1000).Result()
				if err != nil {
					return 0, err
				}
				for i := 1; i < len(kv); i += 2 {
					total += int64(len(kv[i]))
				}
				if hc = hnext; hc == 0 {
					break
				}
			}
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

// waitReplica waits until the server has n replicas online.
func (s *server) waitReplica(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		info, err := s.rdb.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if online := onlineReplicas(parseInfo(info)); online >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server %s: fewer than %d replicas online after %v:\n%s", s.r.Addr(), n, timeout, info)
		}
		if err := sleep.For(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// onlineReplicas counts the slaveN fields of INFO replication whose state is
// online.
func onlineReplicas(info map[string]string) int {
	n, _ := strconv.Atoi(info["connected_slaves"])
	online := 0
	for i := range n {
		for _, f := range strings.Split(info["slave"+strconv.Itoa(i)], ",") {
			if f == "state=online" {
				online++
			}
		}
	}
	return online
}
