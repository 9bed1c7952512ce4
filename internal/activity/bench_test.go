package activity

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// What recording costs a worker per request, beside what it costs without:
// Request is on the send path of every chunk; the flush is not (once a second,
// in a goroutine of its own). The baseline is the metrics' way of counting a
// request (an atomic add, as a Prometheus counter does).
//
//	go test -run='^$' -bench=. -benchmem ./internal/activity/

func BenchmarkRequestBaseline(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Add(1)
		}
	})
}

func BenchmarkRequest(b *testing.B) {
	// No Redis: Request never touches it.
	r := NewRecorder(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), prefix, Config{})
	b.Cleanup(func() { _ = r.rdb.Close() })
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = "batch-" + strconv.Itoa(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[next.Add(1)%int64(len(ids))]
		for pb.Next() {
			r.Request(id, 50, 200)
		}
	})
}

// BenchmarkFlush is one flush of a second's counts of 16 batches, against a
// private redis-server.
func BenchmarkFlush(b *testing.B) {
	r := NewRecorder(startRedis(b), prefix, Config{})
	b.ReportAllocs()
	for b.Loop() {
		for i := range 16 {
			r.Request("batch-"+strconv.Itoa(i), 50, 200)
		}
		if err := r.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchmarksRun runs each benchmark briefly, so that none rots.
func TestBenchmarksRun(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(*testing.B){
		"RequestBaseline": BenchmarkRequestBaseline, "Request": BenchmarkRequest, "Flush": BenchmarkFlush,
	} {
		if r := testing.Benchmark(f); r.N == 0 {
			t.Errorf("Benchmark%s did not run", name)
		}
	}
}
