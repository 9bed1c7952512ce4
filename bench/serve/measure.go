package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

const (
	stopGrace = 10 * time.Second
	// bodies is how many distinct bodies the clients cycle through.
	bodies = 16
)

// result is what one run measured.
type result struct {
	Machine    string
	Requests   int
	Errors     map[string]int // by status (or transport error), anything but 202
	Elapsed    time.Duration
	Latencies  []time.Duration // of the 202s, sorted
	Batches    int             // accepted batches checked in Redis
	Missing    int             // candidates not found as posted
	CheckError string
}

// measure starts Redis and serve, runs the clients and checks Redis.
func measure(ctx context.Context, o options) (*result, error) {
	dir, err := os.MkdirTemp("", "bench-serve-")
	if err != nil {
		return nil, err
	}
	keep := o.keep
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	var g benchproc.Group
	defer g.StopAll(stopGrace)
	bin, err := benchproc.Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	rds, err := benchproc.StartRedis(ctx, &g, dir, benchproc.RedisOptions{})
	if err != nil {
		return nil, err
	}
	base, err := benchproc.StartServe(ctx, &g, bin, dir, rds.URL())
	if err != nil {
		keep = true
		return nil, err
	}
	res := &result{Machine: machine(), Errors: map[string]int{}}
	accepted := load(ctx, o, base, res)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	defer rdb.Close()
	if err := check(ctx, rdb, accepted, o.candidates, res); err != nil {
		res.CheckError = err.Error()
		keep = true
		return res, err
	}
	if len(res.Errors) > 0 || res.Missing > 0 {
		keep = true
	}
	return res, nil
}

// makeBodies builds the request bodies: the vendor's request with n candidates
// of distinct emails each.
func makeBodies(n int) [][]byte {
	out := make([][]byte, bodies)
	for b := range out {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, `{"com_interview_set_id":%q,"candidates":[`, sandbox.DemoInterviewSetID)
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"email":"c%d-%d@example.com","name":"Candidate %d-%d","cv_link":"https://files.example.com/cv/%d-%d.pdf"}`, b, i, b, i, b, i)
		}
		buf.WriteString(`],"invitation_message":"Hello {{candidate_name}}, please record your interview.","send_invite":true}`)
		out[b] = buf.Bytes()
	}
	return out
}

// accepted is a batch serve accepted, with the body it was posted with.
type accepted struct {
	id   string
	body int
}

// load runs the clients for o.duration and returns the accepted batches.
func load(ctx context.Context, o options, base string, res *result) []accepted {
	bs := makeBodies(o.candidates)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}}
	defer hc.CloseIdleConnections()
	var lim *rate.Limiter
	if o.rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.rate), 1)
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu  sync.Mutex
		acc []accepted
		wg  sync.WaitGroup
	)
	start := time.Now()
	for c := range o.clients {
		wg.Go(func() {
			var lats []time.Duration
			var mine []accepted
			errs := map[string]int{}
			for i := c; ctx.Err() == nil; i++ {
				if lim != nil && lim.Wait(ctx) != nil {
					break
				}
				b := i % bodies
				t0 := time.Now()
				id, status := post(hc, base, bs[b])
				lat := time.Since(t0)
				if status == "202" {
					lats = append(lats, lat)
					mine = append(mine, accepted{id: id, body: b})
				} else if ctx.Err() == nil || status != "transport" {
					errs[status]++
				}
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lats...)
			acc = append(acc, mine...)
			for k, v := range errs {
				res.Errors[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	res.Requests = len(res.Latencies)
	for _, v := range res.Errors {
		res.Requests += v
	}
	return acc
}

// post sends one batch; it returns the batch id and the status ("transport"
// when no answer came).
func post(hc *http.Client, base string, body []byte) (string, string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/batches", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+benchproc.ServeToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", "transport"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", strconv.Itoa(resp.StatusCode)
	}
	var a struct {
		BatchID  string `json:"batch_id"`
		Accepted int    `json:"accepted"`
	}
	if json.Unmarshal(b, &a) != nil || a.BatchID == "" {
		return "", "bad 202"
	}
	return a.BatchID, "202"
}

// check finds every accepted batch in Redis: its record counts n accepted and is
// sealed, and its chunk tasks hold the n candidates of its body.
func check(ctx context.Context, rdb *redis.Client, acc []accepted, n int, res *result) error {
	st := store.New(rdb, store.Config{})
	ins := asynq.NewInspectorFromRedisClient(rdb)
	want := make([][]string, bodies)
	for b := range want {
		for i := range n {
			want[b] = append(want[b], fmt.Sprintf("c%d-%d@example.com", b, i))
		}
	}
	var (
		mu       sync.Mutex
		missing  int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan accepted)
	for range 16 {
		wg.Go(func() {
			for a := range work {
				m, err := checkBatch(ctx, st, ins, a, want[a.body])
				mu.Lock()
				missing += m
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, a := range acc {
		work <- a
	}
	close(work)
	wg.Wait()
	res.Batches, res.Missing = len(acc), missing
	return firstErr
}

// checkBatch returns how many of the batch's candidates are not in Redis as posted.
func checkBatch(ctx context.Context, st *store.Store, ins *asynq.Inspector, a accepted, emails []string) (int, error) {
	b, err := st.Batch(ctx, a.id)
	if err != nil {
		return len(emails), fmt.Errorf("batch %s: %w", a.id, err)
	}
	if b.Accepted != int64(len(emails)) || !b.Sealed {
		return len(emails), nil
	}
	got, err := queued(ctx, st, ins, a.id)
	if err != nil {
		return len(emails), err
	}
	miss := 0
	for _, e := range emails {
		if !got[e] {
			miss++
		}
	}
	return miss, nil
}

// queued returns the emails of the candidates in the batch's chunk tasks in
// the default queue (on any of its shards): the chunks of segment 0, 1, ...
// (task.ChunkID), each segment's from chunk 0 until one is missing, up to the
// first segment without a chunk 0. A version 2 chunk task names its
// candidates, which are read from the batch (store.LoadChunk); a version 1
// task carries them.
func queued(ctx context.Context, st *store.Store, ins *asynq.Inspector, batchID string) (map[string]bool, error) {
	got := map[string]bool{}
	for seg := 0; ; seg++ {
		for n := 0; ; n++ {
			info, err := onAShard(ins, task.QueueDefault, task.ChunkID(batchID, seg, n))
			if errors.Is(err, asynq.ErrTaskNotFound) {
				if n == 0 {
					return got, nil
				}
				break
			}
			if err != nil {
				return got, fmt.Errorf("chunk %d.%d of batch %s: %w", seg, n, batchID, err)
			}
			c, err := task.DecodeChunk(info.Payload)
			if err == nil && c.Ref != nil {
				_, err = st.LoadChunk(ctx, c, false)
			}
			if err != nil {
				return got, fmt.Errorf("chunk %d.%d of batch %s: %w", seg, n, batchID, err)
			}
			for _, cand := range c.Candidates {
				got[cand.Email] = true
			}
		}
	}
}

// onAShard returns task id from whichever shard of logical queue q holds it;
// asynq.ErrTaskNotFound when none does.
func onAShard(ins *asynq.Inspector, q, id string) (*asynq.TaskInfo, error) {
	for _, s := range task.Shards(q) {
		info, err := ins.GetTaskInfo(s, id)
		if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return info, err
		}
	}
	return nil, asynq.ErrTaskNotFound
}
