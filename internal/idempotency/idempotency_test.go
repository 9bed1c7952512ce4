package idempotency

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestIdempotency: a key is taken once; the same body finds it busy, then done
// with the stored answer; another body is a conflict; a released lease is taken
// over with the same batch. The record keeps the key name it had in store.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := New(store.New(rdb, store.Config{}))
	ctx := context.Background()
	const lease, ttl = time.Minute, time.Hour
	got, err := st.Reserve(ctx, "client", "k1", "h1", "b1", "run1", lease, ttl)
	if err != nil || got.State != StateNew || got.BatchID != "b1" {
		t.Fatalf("first: %+v, %v", got, err)
	}
	if got, _ = st.Reserve(ctx, "client", "k1", "h1", "b2", "run2", lease, ttl); got.State != StateBusy || got.BatchID != "b1" || time.Until(got.LeaseUntil) < 50*time.Second {
		t.Errorf("while held: %+v", got)
	}
	if got, _ = st.Reserve(ctx, "other-client", "k1", "h2", "b3", "run3", lease, ttl); got.State != StateNew {
		t.Errorf("another client's key of the same name: %+v", got)
	}
	if err := st.Release(ctx, "client", "k1", "run1"); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.Reserve(ctx, "client", "k1", "h1", "b9", "run4", lease, ttl); got.State != StateTakeOver || got.BatchID != "b1" {
		t.Errorf("after a release: %+v", got)
	}
	// The run that lost its lease may not store its answer; the new holder does.
	if err := st.Finish(ctx, "client", "k1", "run1", []byte(`{"old":1}`), ttl); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "client", "k1", "run4", []byte(`{"batch_id":"b1"}`), ttl); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.Reserve(ctx, "client", "k1", "h1", "b5", "run5", lease, ttl); got.State != StateDone || string(got.Response) != `{"batch_id":"b1"}` {
		t.Errorf("done: %+v %s", got, got.Response)
	}
	if got, _ = st.Reserve(ctx, "client", "k1", "h-other", "b6", "run6", lease, ttl); got.State != StateConflict || got.BatchID != "b1" {
		t.Errorf("another body: %+v", got)
	}
	const key = store.DefaultPrefix + "{idem:f672e6afb3789c131cc6e6cc528643fb}"
	if d := rdb.PTTL(ctx, key).Val(); d <= 59*time.Minute {
		t.Errorf("ttl of %s: %v", key, d)
	}
}
