package benchproc

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestRedisKillRestart kills an AOF redis-server with SIGKILL and restarts it on
// the same port and data: what was acknowledged before the kill is there after.
func TestRedisKillRestart(t *testing.T) {
	t.Parallel()
	redistest.RequireTools(t, "redis-server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var g Group
	defer g.StopAll(5 * time.Second)
	r, err := StartRedis(ctx, &g, t.TempDir(), RedisOptions{AppendOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.Pid()
	r.Kill()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after the kill")
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Pid() == pid {
		t.Errorf("restarted server has the old pid %d", pid)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after the restart GET k = %q, %v; want \"v\"", got, err)
	}
	if err := r.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
}

// TestRedisArgs passes an extra argument to redis-server: the server runs with it.
func TestRedisArgs(t *testing.T) {
	t.Parallel()
	redistest.RequireTools(t, "redis-server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var g Group
	defer g.StopAll(5 * time.Second)
	r, err := StartRedis(ctx, &g, t.TempDir(), RedisOptions{Args: []string{"--hz", "37"}})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	got, err := rdb.ConfigGet(ctx, "hz").Result()
	if err != nil || got["hz"] != "37" {
		t.Errorf("CONFIG GET hz = %v, %v; want 37", got, err)
	}
}

// TestBuildAtNoModule refuses a directory without a go.mod before running go build.
func TestBuildAtNoModule(t *testing.T) {
	t.Parallel()
	if _, err := BuildAt(context.Background(), t.TempDir(), t.TempDir()); err == nil {
		t.Error("BuildAt of a directory without go.mod succeeded")
	}
}
