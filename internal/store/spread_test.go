package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestBacklogSpreadsOverTheCluster: 30 batches of 5,000 candidates imported
// into a 3-master Cluster, with no worker to drain them, put at most half of
// the memory they take, their chunk tasks counted, on the fullest master: the
// candidates live in their batch's slot, and the chunk tasks (at most 15 B a
// candidate; they only name them) go round the shards of their queue, whose
// slots are spread (task.Shards), so that no master holds more than half of
// them either. Then a drain of those tasks by an asynq
// server serving the queues as a worker does (a handler that does nothing, so
// that only the queue's own commands are counted) spreads its commands too:
// at most half of them on one master. Runs with -redis_cluster
// (BULKINVITE_REDIS_CLUSTER=1), on the shared Cluster.
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

	var total, fullest, tasks, mostTasks int64
	var growth []string
	for _, addr := range slices.Sorted(maps.Keys(before)) {
		d := after[addr] - before[addr]
		total += d
		tasks += queue[addr]
		mostTasks = max(mostTasks, queue[addr])
		fullest = max(fullest, d)
		growth = append(growth, fmt.Sprintf("%s +%.2f MiB (%.2f MiB of it tasks)", addr, float64(d)/(1<<20), float64(queue[addr])/(1<<20)))
	}
	const n = batches * perBatch
	t.Logf("%d batches of %d candidates: %s; the fullest master holds %.1f%% of %.2f MiB; %.1f B per candidate, %.1f B of it tasks",
		batches, perBatch, strings.Join(growth, ", "), 100*float64(fullest)/float64(total), float64(total)/(1<<20), float64(total)/n, float64(tasks)/n)
	if total <= 0 || 2*fullest > total {
		t.Errorf("the fullest master holds %d of the %d bytes the backlog added, its tasks counted: more than half", fullest, total)
	}
	if 2*mostTasks > tasks {
		t.Errorf("one master holds %d of the chunk tasks' %d bytes, more than half: the queue's shards do not spread", mostTasks, tasks)
	}
	if tasks > 15*n {
		t.Errorf("the queue's tasks take %.1f B per candidate, want at most 15: they only name the candidates", float64(tasks)/n)
	}

	// The drain: every chunk task taken and done, the commands per master counted.
	pending := 0
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, s := range task.Shards(task.QueueDefault) {
		if info, err := insp.GetQueueInfo(s); err == nil {
			pending += info.Pending
		}
	}
	if want := n / task.DefaultChunkSize; pending != want {
		t.Fatalf("%d chunk tasks pending, want %d", pending, want)
	}
	cmdsBefore := commandsProcessed(t, rdb)
	var done atomic.Int64
	all := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 8, Queues: task.ShardWeights(task.Sharded(rdb), worker.DefaultQueues()),
		TaskCheckInterval: worker.DefaultTaskCheckInterval, DelayedTaskCheckInterval: worker.DefaultDelayedTaskCheckInterval, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(pending) {
			close(all)
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		t.Errorf("the drain took %d of %d tasks in 2 minutes", done.Load(), pending)
	}
	srv.Shutdown()
	cmdsAfter := commandsProcessed(t, rdb)
	var cmds, most int64
	var per []string
	for _, addr := range slices.Sorted(maps.Keys(cmdsBefore)) {
		d := cmdsAfter[addr] - cmdsBefore[addr]
		cmds += d
		most = max(most, d)
		per = append(per, fmt.Sprintf("%s %d", addr, d))
	}
	t.Logf("the drain of %d chunk tasks: commands per master %s; the busiest ran %.1f%% of %d, %.1f a task",
		pending, strings.Join(per, ", "), 100*float64(most)/float64(cmds), cmds, float64(cmds)/float64(pending))
	if 2*most > cmds {
		t.Errorf("the busiest master ran %d of the drain's %d commands: more than half", most, cmds)
	}
}

// queueMemory sums MEMORY USAGE of the task hashes and pending lists of every
// shard of the queues (task.AllShards), by the address of the master that
// holds them.
func queueMemory(t *testing.T, rdb redis.UniversalClient) map[string]int64 {
	t.Helper()
	ours := map[string]bool{}
	for _, q := range task.AllShards() {
		ours[q] = true
	}
	var mu sync.Mutex
	out := map[string]int64{}
	err := redisconn.ForEachMaster(context.Background(), rdb, func(ctx context.Context, m *redis.Client) error {
		var sum int64
		iter := m.Scan(ctx, 0, "asynq:{*}:*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			qname, rest, _ := strings.Cut(strings.TrimPrefix(k, "asynq:{"), "}:")
			if !ours[qname] || !strings.HasPrefix(rest, "t:") && rest != "pending" {
				continue
			}
			n, err := m.MemoryUsage(ctx, k).Result()
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

// commandsProcessed reads INFO stats' total_commands_processed of each
// master, by address.
func commandsProcessed(t *testing.T, rdb redis.UniversalClient) map[string]int64 {
	t.Helper()
	return infoField(t, rdb, "stats", "Stats", "total_commands_processed")
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
	return infoField(t, rdb, "memory", "Memory", "used_memory")
}

// infoField reads a number of INFO's section of each master, by address.
func infoField(t *testing.T, rdb redis.UniversalClient, section, title, field string) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	err := redisconn.ForEachMaster(context.Background(), rdb, func(ctx context.Context, m *redis.Client) error {
		info, err := m.InfoMap(ctx, section).Result()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(info[title][field], 10, 64)
		mu.Lock()
		out[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil || len(out) != 3 {
		t.Fatalf("%s of %d masters, %v; want 3", field, len(out), err)
	}
	return out
}

// dropQueue deletes the tasks the test left in the shared Cluster's queue,
// on every shard.
func dropQueue(t *testing.T, rdb redis.UniversalClient) {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	known, err := insp.Queues()
	if err != nil {
		t.Errorf("list the queues: %v", err)
		return
	}
	for _, q := range task.Shards(task.QueueDefault) {
		if !slices.Contains(known, q) {
			continue
		}
		if _, err := insp.DeleteAllPendingTasks(q); err != nil {
			t.Errorf("delete the queued tasks of %s: %v", q, err)
		}
	}
}
