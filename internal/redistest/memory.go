package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// FillMemory gives the Redis rdb reaches (a single node) a maxmemory a little
// above what it uses, with maxmemory-policy noeviction, and fills it with
// ballast until it refuses writes with OOM, as a Redis at its maxmemory does.
// RaiseMaxmemory makes room again.
func FillMemory(tb testing.TB, rdb redis.UniversalClient) {
	tb.Helper()
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		tb.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(UsedMemory(tb, rdb)+1<<20, 10)).Err(); err != nil {
		tb.Fatal(err)
	}
	ballast := strings.Repeat("x", 16<<10)
	for i := range 1000 {
		err := rdb.Set(ctx, "redistest:ballast:"+strconv.Itoa(i), ballast, 0).Err()
		if redis.HasErrorPrefix(err, "OOM") {
			return
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	tb.Fatal("redistest: Redis took 16 MiB of ballast past a maxmemory 1 MiB above its use")
}

// RaiseMaxmemory lifts the maxmemory of the Redis rdb reaches: room again
// after FillMemory. It may run on another goroutine than the test's.
func RaiseMaxmemory(tb testing.TB, rdb redis.UniversalClient) {
	if err := rdb.ConfigSet(context.Background(), "maxmemory", "0").Err(); err != nil {
		tb.Error(err)
	}
}

// UsedMemory is INFO memory's used_memory of the Redis rdb reaches.
func UsedMemory(tb testing.TB, rdb redis.UniversalClient) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("redistest: INFO memory without used_memory")
	return 0
}
