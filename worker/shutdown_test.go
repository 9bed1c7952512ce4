package worker_test

import (
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestGracefulShutdown stops a worker while its requests are in flight: they finish
// and are recorded within the shutdown timeout, nothing more is sent, and a new
// worker completes the batch with nobody invited twice.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{Latency: 700 * time.Millisecond}}})
	stop := b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 2}, Concurrency: 3})
	res := b.Import("graceful", pipelinetest.Candidates("g", 30), nil)

	// Wait until requests are in flight, then stop the worker.
	deadline := time.Now().Add(wait)
	for b.API.Stats().Requests == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request was sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	sent := b.API.Stats().Requests
	answered := 0
	for _, r := range b.API.Requests() {
		if r.Status == 200 {
			answered++
		}
	}
	bt := b.CheckAccounting(res.BatchID)
	// Every request that was answered before the worker returned is recorded.
	if got := bt.Invited; got != int64(2*answered) {
		t.Errorf("after shutdown: %d invited recorded, sandbox answered %d requests of 2", got, answered)
	}
	if bt.State() == store.StateDone {
		t.Fatalf("the batch finished before the shutdown; make the test slower: %+v", bt.Status())
	}
	time.Sleep(300 * time.Millisecond)
	if after := b.API.Stats().Requests; after != sent {
		t.Errorf("requests went on after shutdown: %d -> %d", sent, after)
	}

	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 2}, Concurrency: 3})
	bt = b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != 30 {
		t.Errorf("status %+v", bt.Status())
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 {
		t.Errorf("%d duplicate invites", st.DuplicateInvites)
	}
}
