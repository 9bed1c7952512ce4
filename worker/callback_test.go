package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestBatchCallback: a batch with a callback_url is POSTed its status once it is
// done, signed; a receiver that fails first is retried until it answers 2xx, and
// the batch's status says delivered after two attempts, as does its event log.
// A re-run of the import sends nothing more.
func TestBatchCallback(t *testing.T) {
	t.Parallel()
	const secret = "callback-k3y"
	var (
		mu       sync.Mutex
		attempts int
		events   []callback.Event
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(callback.HeaderTimestamp), 10, 64)
		if !callback.Verify(secret, ts, body, r.Header.Get(callback.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if attempts++; attempts == 1 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		var e callback.Event
		_ = json.Unmarshal(body, &e)
		events = append(events, e)
	}))
	defer rcv.Close()

	b := pipelinetest.New(t, pipelinetest.Options{})
	sender, err := callback.New(callback.Config{Secret: secret, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	b.StartWorker(pipelinetest.WorkerOptions{Notifier: sender, Worker: worker.Config{
		ChunkSize: 5, CallbackPoll: 100 * time.Millisecond, CallbackRetryMin: 100 * time.Millisecond, CallbackRetryMax: 200 * time.Millisecond,
	}})
	cands := pipelinetest.Candidates("cb", 12)
	cands[3].Email = "cb-3+invitation_error@example.com"
	opts := producer.Options{BatchID: "with-callback", Job: task.Job{Target: pipelinetest.Target}, CallbackURL: rcv.URL + "/done?token=s3cret"}
	if _, err := b.Producer.Import(context.Background(), producer.NewSliceSource(cands), opts); err != nil {
		t.Fatal(err)
	}
	bt := b.WaitFor("with-callback", wait, "callback delivered", func(bt *store.Batch) bool {
		return bt.Callback != nil && bt.Callback.State == store.CallbackDelivered
	})
	count := func() (int, []callback.Event) {
		mu.Lock()
		defer mu.Unlock()
		return attempts, append([]callback.Event(nil), events...)
	}
	n, evs := count()
	if len(evs) != 1 || n != 2 {
		t.Fatalf("%d events after %d attempts, want 1 after 2", len(evs), n)
	}
	e := evs[0]
	if e.ID != "batch.done:with-callback" || e.Batch.State != store.StateDone || e.Batch.Invited != 11 || e.Batch.DeadLettered != 1 {
		t.Errorf("event %+v", e)
	}
	cs := bt.Status().Callback
	if cs.Attempts != 2 || cs.LastHTTPStatus != http.StatusOK || cs.SettledAt == nil || cs.URL != rcv.URL+"/****" {
		t.Errorf("callback state %+v", cs)
	}
	// The batch's log tells of the delivery, by the worker, once.
	log, err := b.Store.Events(context.Background(), "with-callback")
	if err != nil || len(log) != 2 || log[1].What != store.EventCallbackDelivered || log[1].By != auth.AtHost(auth.WorkerName) ||
		log[1].Detail != "callback delivered: HTTP 200 after 2 attempts" {
		t.Errorf("events %+v (%v), want created and callback_delivered after 2 attempts by the worker", log, err)
	}
	// A re-run of the import is complete already: no second callback.
	if _, err := b.Producer.Import(context.Background(), producer.NewSliceSource(cands), opts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n, _ := count(); n != 2 {
		t.Errorf("%d attempts after a re-run, want still 2", n)
	}
}
