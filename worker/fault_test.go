package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// waitInvites waits until the vendor has created n invites in all.
func waitInvites(t *testing.T, b *pipelinetest.Bundle, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for b.API.Stats().Invites < n {
		if time.Now().After(deadline) {
			t.Fatalf("the vendor has %d invites, want %d: %+v", b.API.Stats().Invites, n, b.API.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSeenSuccessSurvivesRedisOutage: the vendor acts on a chunk, Redis dies
// before the reply comes back and stays down for a while after it. The worker has
// seen the success and must record it once Redis is back, never send the chunk
// again (invariant 2), in both OnUnknown modes.
func TestSeenSuccessSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{worker.OnUnknownRetry, worker.OnUnknownDeadLetter} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const n = 5
			b := pipelinetest.New(t, pipelinetest.Options{
				Redis:   redistest.Options{AppendOnly: true},
				Sandbox: sandbox.Config{Faults: sandbox.Faults{ReplyLatency: time.Second}},
			})
			b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: n, OnUnknown: mode}, Timeout: 10 * time.Second})
			res := b.Import("outage-"+mode, pipelinetest.Candidates("outage", n), nil)

			waitInvites(t, b, n) // the vendor acted; its reply comes a second later
			b.Redis.Kill()
			time.Sleep(8 * time.Second) // the reply is in; recording it fails meanwhile
			b.Redis.Restart()

			bt := b.WaitDone(res.BatchID, wait)
			b.CheckAccounting(res.BatchID)
			st := b.API.Stats()
			if bt.Invited != n || st.Requests != 1 || st.DuplicateInvites != 0 {
				t.Errorf("status %+v; sandbox %+v: want %d invited by the one request, none sent again", bt.Status(), st, n)
			}
		})
	}
}

// TestAtMostOnceShutdownMidRequest: with OnUnknown=deadletter a worker stopped
// while the vendor has acted but not yet replied must not let the chunk be sent
// again: its candidates end as unknown_outcome, nobody is invited twice.
func TestAtMostOnceShutdownMidRequest(t *testing.T) {
	t.Parallel()
	const n = 4
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{ReplyLatency: 3 * time.Second}}})
	opts := pipelinetest.WorkerOptions{
		Worker:          worker.Config{ChunkSize: n, OnUnknown: worker.OnUnknownDeadLetter},
		Timeout:         10 * time.Second,
		ShutdownTimeout: 300 * time.Millisecond,
	}
	stop := b.StartWorker(opts)
	res := b.Import("sigterm", pipelinetest.Candidates("sigterm", n), nil)
	waitInvites(t, b, n)
	stop() // a deploy: the shutdown timeout ends before the vendor's reply

	if err := b.API.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	b.StartWorker(opts)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	st := b.API.Stats()
	if st.DuplicateInvites != 0 || st.Requests != 1 {
		t.Errorf("sandbox %+v: the chunk was sent again after the shutdown", st)
	}
	if bt.DeadLettered != n {
		t.Fatalf("status %+v, want all %d dead-lettered as unknown_outcome", bt.Status(), n)
	}
	for email, d := range b.DeadLetters(res.BatchID) {
		if d.Reason != payload.ReasonUnknownOutcome {
			t.Errorf("%s: reason %s, want unknown_outcome", email, d.Reason)
		}
	}
}

// TestUnrecordedSendAfterCrash: a chunk whose earlier attempt sent its candidates
// and died before recording an outcome (a kill -9, a lost machine) is marked so in
// Redis. At-most-once dead-letters those candidates as unknown_outcome without
// sending them; at-least-once sends them again.
func TestUnrecordedSendAfterCrash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode              string
		invited, requests int
	}{
		{worker.OnUnknownDeadLetter, 3, 1},
		{worker.OnUnknownRetry, 5, 1},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			b := pipelinetest.New(t, pipelinetest.Options{})
			res := b.Import("crashed", pipelinetest.Candidates("crashed", 5), nil)
			// What a worker killed mid-request leaves: seqs 1 and 3 marked as sent.
			if err := markSending(b, res.BatchID, 1, 3); err != nil {
				t.Fatal(err)
			}
			b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5, OnUnknown: tc.mode}})
			bt := b.WaitDone(res.BatchID, wait)
			b.CheckAccounting(res.BatchID)
			if bt.Invited != int64(tc.invited) || b.API.Stats().Requests != tc.requests {
				t.Errorf("status %+v, sandbox %+v: want %d invited in %d request(s)", bt.Status(), b.API.Stats(), tc.invited, tc.requests)
			}
			if tc.mode == worker.OnUnknownDeadLetter {
				dls := b.DeadLetters(res.BatchID)
				for _, email := range []string{"crashed-1@example.com", "crashed-3@example.com"} {
					if d := dls[email]; d == nil || d.Reason != payload.ReasonUnknownOutcome {
						t.Errorf("%s: dead letter %+v, want unknown_outcome", email, d)
					}
				}
			}
		})
	}
}

func markSending(b *pipelinetest.Bundle, batchID string, seqs ...int64) error {
	_, err := b.Store.MarkSending(context.Background(), batchID, seqs, nil)
	return err
}
