package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// TestBacklogSpreadsOverTheCluster: 30 batches of 5,000 candidates imported
// into a 3-master Cluster, with no worker to drain them, put at most half of
// the memory they take beside the queue's tasks on the fullest master: the
// candidates live in their batch's slot, and the queue's tasks (all in one
// slot, at most 15 B a candidate) only name them. Runs
// with -redis_cluster (BULKINVITE_REDIS_CLUSTER=1), on the shared Cluster.
func TestBacklogSpreadsOverTheCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	if c == nil {
		t.Skip("needs the shared Cluster: -redis_cluster or BULKINVITE_REDIS_CLUSTER=1")
	}
	const batches, perBatch = 30, 5000
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	q := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { dropQueue(t, rdb) })
	p := producer.New(store.New(rdb, store.Config{Prefix: "spread:"}), q, producer.Config{})

	before := usedMemory(t, rdb)
	// Four imports at once, as several producers would run.
	var wg sync.WaitGroup
	ids := make(chan int, batches)
	for i := range batches {
		ids <- i
	}
	close(ids)
	job := task.Job{Target: payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}}
	for range 4 {
		wg.Go(func() {
			for i := range ids {
				src := producer.NewSliceSource(benchCandidates(i, perBatch))
				if _, err := p.Import(ctx, src, producer.Options{BatchID: fmt.Sprintf("spread-%02d", i), Job: job}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	after := usedMemory(t, rdb)
	queue := queueMemory(t, rdb)

	var total, fullest, tasks int64
	var growth []string
	for addr, b := range before {
		d := after[addr] - b - queue[addr]
		total += d
		tasks += queue[addr]
		fullest = max(fullest, d)
		growth = append(growth, fmt.Sprintf("%s +%.2f MiB (+%.2f MiB of tasks)", addr, float64(d)/(1<<20), float64(queue[addr])/(1<<20)))
	}
	const n = batches * perBatch
	t.Logf("%d batches of %d candidates: %s; %.1f B per candidate, %.1f B of it tasks", batches, perBatch, strings.Join(growth, ", "), float64(total+tasks)/n, float64(tasks)/n)
	if total <= 0 || 2*fullest > total {
		t.Errorf("the fullest master holds %d of the %d bytes the backlog added beside its tasks, more than half", fullest, total)
	}
	if tasks > 15*n {
		t.Errorf("the queue's tasks take %.1f B per candidate, want at most 15: they only name the candidates", float64(tasks)/n)
	}
}

// queueMemory sums MEMORY USAGE of the default queue's task hashes, by the
// address of the master that holds them.
func queueMemory(t *testing.T, rdb redis.UniversalClient) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	err := redisconn.ForEachMaster(context.Background(), rdb, func(ctx context.Context, m *redis.Client) error {
		var sum int64
		iter := m.Scan(ctx, 0, "asynq:{"+task.QueueDefault+"}:t:*", 1000).Iterator()
		for iter.Next(ctx) {
			n, err := m.MemoryUsage(ctx, iter.Val()).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			sum += n
		}
		mu.Lock()
		out[m.Options().Addr] = sum
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("memory of the queue's tasks: %v", err)
	}
	return out
}

// benchCandidates are n candidates of batch i with the fields bench/redis
// measures with (email, name, CV link; about 120 bytes), none shared between
// batches.
func benchCandidates(i, n int) []payload.Candidate {
	out := make([]payload.Candidate, n)
	for j := range out {
		tag := strconv.Itoa(i) + "-" + strconv.Itoa(j)
		first, last := firstNames[j%len(firstNames)], lastNames[j/len(firstNames)%len(lastNames)]
		out[j] = payload.Candidate{Email: strings.ToLower(first+"."+last+".") + tag + "@example-mail.com", Name: first + " " + last,
			CVLink: fmt.Sprintf("https://files.example-ats.com/cv/%016x/%s-%s.pdf", uint64(i)<<32|uint64(j)*2654435761, strings.ToLower(first), strings.ToLower(last))}
	}
	return out
}

var (
	firstNames = []string{"Anna", "Bertrand", "Chiara", "Dmitri", "Elif", "Fatima", "Gustavo", "Hiroshi"}
	lastNames  = []string{"Andersson", "Bianchi", "Castillo", "Dubois", "Evans", "Fischer", "Garcia", "Papadopoulos"}
)

// usedMemory reads INFO memory's used_memory of each master, by address.
func usedMemory(t *testing.T, rdb redis.UniversalClient) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	err := redisconn.ForEachMaster(context.Background(), rdb, func(ctx context.Context, m *redis.Client) error {
		info, err := m.InfoMap(ctx, "memory").Result()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
		mu.Lock()
		out[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil || len(out) != 3 {
		t.Fatalf("used_memory of %d masters, %v; want 3", len(out), err)
	}
	return out
}

// dropQueue deletes the tasks the test left in the shared Cluster's queue.
func dropQueue(t *testing.T, rdb redis.UniversalClient) {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if _, err := insp.DeleteAllPendingTasks(task.QueueDefault); err != nil {
		t.Errorf("delete the queued tasks: %v", err)
	}
}
