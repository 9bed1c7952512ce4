package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// doneOneCandidateGoal is the bytes a done one-candidate batch may keep in
// Redis for its retention (issue 20): its record, the keys kept with it and
// its entry in the batches index. What it keeps, and kept before: "A small
// done batch" in internal/store.
const doneOneCandidateGoal = 400

// TestDoneOneCandidateBatchMemory: the vendor's sample body POSTed as serve
// takes it, sent through the sandbox, leaves at most doneOneCandidateGoal
// bytes of Redis memory for its retention (MEMORY USAGE ... SAMPLES 0 of each
// key the batch left; the index entry estimated from a large index). The
// ledger entry (the de-duplication promise, per target), the shared job and
// the activity keys (gone within two hours) are printed apart and not
// counted. The same body with six candidates is measured beside it, not held
// to a bar.
//
//	go test -run '^TestDoneOneCandidateBatchMemory$' -v ./internal/httpapi/
func TestDoneOneCandidateBatchMemory(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 6} {
		t.Run(fmt.Sprintf("%d candidates", n), func(t *testing.T) {
			t.Parallel()
			total := doneBatchBytes(t, withCandidates(t, seed, n))
			if n == 1 && total > doneOneCandidateGoal {
				t.Errorf("a done one-candidate batch keeps %d B, want at most %d", total, doneOneCandidateGoal)
			}
		})
	}
}

// withCandidates is body (a POST /v1/batches body of one candidate) with n
// candidates, copies of its one with other emails.
func withCandidates(t *testing.T, body string, n int) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	one := m["candidates"].([]any)[0].(map[string]any)
	var cs []any
	for i := range n {
		c := maps.Clone(one)
		if i > 0 {
			c["email"] = fmt.Sprintf("%d.%s", i, one["email"])
		}
		cs = append(cs, c)
	}
	m["candidates"] = cs
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// doneBatchBytes POSTs body to a serve of its own, waits until its batch is
// done (every candidate invited) and returns the bytes it keeps for its
// retention: its keys and its index entry, each key logged.
func doneBatchBytes(t *testing.T, body string) int64 {
	t.Helper()
	tb := setup(t, httpapi.Config{})
	stop := tb.StartWorker(pipelinetest.WorkerOptions{})
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var acc httpapi.Accepted
	decode(t, rec, &acc)
	b := tb.WaitDone(acc.BatchID, 30*time.Second)
	if b.Invited != b.Accepted || b.Accepted == 0 {
		t.Fatalf("batch %+v: want every candidate invited", b)
	}
	stop() // flushes the activity
	ctx := context.Background()
	rdb := tb.RDB
	batchKey := pipelinetest.Prefix + "{b:" + acc.BatchID + "}"
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	var retained, ledger, activity, shared, other int64
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := rdb.PTTL(ctx, k).Val().Round(time.Minute)
		var kind string
		switch {
		case k == pipelinetest.Prefix+"batches":
			kind = "index (whole key; per entry below)"
		case strings.HasPrefix(k, batchKey+":act:"):
			kind, activity = "activity", activity+n
		case k == batchKey || strings.HasPrefix(k, batchKey+":"):
			kind, retained = "retained", retained+n
		case strings.HasPrefix(k, pipelinetest.Prefix+"{t:"):
			kind, ledger = "ledger", ledger+n
		case strings.HasPrefix(k, pipelinetest.Prefix+"{j:"):
			kind, shared = "shared job", shared+n
		default:
			kind, other = "other", other+n
		}
		t.Logf("%6d B  %-36s %-60s ttl %v", n, kind, k, ttl)
	}
	entry := indexEntryBytes(t, tb, acc.BatchID)
	t.Logf("batches index entry (estimated from 1,000 ids as long): %d B", entry)
	total := retained + entry
	t.Logf("retained for the batch of %d: record and kept keys %d B + index entry %d B = %d B (goal for one candidate %d)",
		b.Accepted, retained, entry, total, doneOneCandidateGoal)
	t.Logf("apart: ledger %d B (per target), shared job %d B (once per content), activity %d B (expires within 2 h), other %d B", ledger, shared, activity, other)
	return total
}

// indexEntryBytes estimates what one id like id costs in the batches index once
// it holds many: the MEMORY USAGE of a scratch sorted set of 1,000 ids of the
// same length, divided by 1,000.
func indexEntryBytes(t *testing.T, tb *testBundle, id string) int64 {
	t.Helper()
	ctx := context.Background()
	k := pipelinetest.Prefix + "scratch-index"
	const n = 1000
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("%0*d", len(id), i)
		if err := tb.RDB.ZAdd(ctx, k, redisZ(float64(time.Now().UnixMilli()+int64(i)), s)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	defer tb.RDB.Del(ctx, k)
	return tb.RDB.MemoryUsage(ctx, k, 0).Val() / n
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
