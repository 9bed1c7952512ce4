package benchproc

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisKillRestart kills an AOF redis-server with SIGKILL and restarts it on
// the same port and data: what was acknowledged before the kill is there after.
func TestRedisKillRestart(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("BULKINVITE_REQUIRE_REDIS") != "" {
			t.Fatalf("redis-server not on PATH: %v", err)
		}
		t.Skip("redis-server not on PATH")
	}
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
