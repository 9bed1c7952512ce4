package metrics_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestWorkerCounts runs two batches through the whole pipeline, with 5xx answers,
// per-candidate errors, a 422 and people already invited, and checks that the
// metrics say what happened: candidates by outcome equal the batches' counters,
// dead letters by reason equal the dead letters stored, requests by code equal
// what the vendor answered, and asynq's queue collector shows the queue.
func TestWorkerCounts(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	m := metrics.New(metrics.Config{
		Inspector: asynq.NewInspectorFromRedisClient(b.RDB),
		AuthStopped: func(ctx context.Context) (bool, error) {
			s, err := b.Store.AuthStopped(ctx, b.Key.ID())
			return s != nil, err
		},
	})
	stop := b.StartWorker(pipelinetest.WorkerOptions{Observer: m, Worker: worker.Config{ChunkSize: 5, MaxAttempts: 30}})

	first := append(pipelinetest.Candidates("m", 20),
		payload.Candidate{Email: "inv+invitation_error@example.com"},
		payload.Candidate{Email: "gen+error@example.com"},
		payload.Candidate{Email: "bad@mailer.invalid"},
		payload.Candidate{CVLink: "https://cv.example.com/cv.pdf"},
	)
	// The second batch sends five of the same people again, between new ones: the
	// ledger skips them, and each of its two chunks has someone to send.
	var second []payload.Candidate
	for i, n := range pipelinetest.Candidates("n", 5) {
		second = append(second, first[i], n)
	}
	batches := []string{b.Import("first", first, nil).BatchID}
	b.WaitDone(batches[0], time.Minute)
	// Both chunks of the second batch meet a 5xx first, then go through.
	setFaults(t, b, sandbox.Faults{FailRate: 1})
	batches = append(batches, b.Import("second", second, nil).BatchID)
	for deadline := time.Now().Add(time.Minute); b.API.Stats().InjectedFailures < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no 5xx answered: %+v", b.API.Stats())
		}
	}
	setFaults(t, b, sandbox.Faults{})
	b.WaitDone(batches[1], time.Minute)
	stop() // every request ended

	outcomes := map[string]float64{}
	reasons := map[string]float64{}
	for _, id := range batches {
		s := b.CheckAccounting(id).Status()
		outcomes[string(payload.OutcomeInvited)] += float64(s.Invited)
		outcomes[string(payload.OutcomeCVQueued)] += float64(s.CVQueued)
		outcomes[string(payload.OutcomeDeadLettered)] += float64(s.DeadLettered)
		outcomes[string(payload.OutcomeSkippedDuplicate)] += float64(s.SkippedDuplicate)
		for _, d := range b.DeadLetters(id) {
			reasons[string(d.Reason)]++
		}
	}
	codes := map[string]float64{}
	requests := 0
	for status, n := range b.API.Stats().ByStatus {
		code := strconv.Itoa(status)
		if status == sandbox.StatusNoReply {
			code = metrics.CodeNoAnswer
		}
		codes[code] += float64(n)
		requests += n
	}
	if outcomes["skipped_duplicate"] != 5 || reasons["validation"] != 1 || codes["422"] == 0 || codes["500"]+codes["503"] == 0 {
		t.Fatalf("the run did not produce what the test needs: outcomes %v, dead letters %v, answers %v", outcomes, reasons, codes)
	}

	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		name string
		want map[string]float64
	}{
		{metrics.CandidatesTotal, outcomes},
		{metrics.DeadLettersTotal, reasons},
		{metrics.APIRequestsTotal, codes},
	} {
		got := byLabel(fams[c.name])
		for k, v := range got {
			if v != c.want[k] {
				t.Errorf("%s{%s} = %v, want %v", c.name, k, v, c.want[k])
			}
		}
		for k, v := range c.want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s{%s} missing, want %v", c.name, k, v)
			}
		}
	}
	if h := fams[metrics.RateLimitWaitSeconds].Metric[0].GetHistogram(); h.GetSampleCount() != uint64(requests) {
		t.Errorf("%d rate-limiter waits observed for %d requests", h.GetSampleCount(), requests)
	}
	if v := byLabel(fams[metrics.APIInFlightRequests])[""]; v != 0 {
		t.Errorf("%v requests in flight after the worker stopped", v)
	}
	if v, ok := byLabel(fams[metrics.AuthStopped])[""]; !ok || v != 0 {
		t.Errorf("auth stopped %v (served: %v), want 0", v, ok)
	}
	processed := byLabel(fams["asynq_tasks_processed_total"])
	onDefault := 0.0 // over the default queue's shards
	for q, n := range processed {
		if l, ok := task.LogicalQueue(q); ok && l == task.QueueDefault {
			onDefault += n
		}
	}
	if onDefault == 0 || fams["asynq_queue_latency_seconds"] == nil {
		t.Errorf("asynq's queue collector: processed %v, latency %v", processed, fams["asynq_queue_latency_seconds"])
	}
}

func setFaults(t *testing.T, b *pipelinetest.Bundle, f sandbox.Faults) {
	t.Helper()
	if err := b.API.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}
