package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/wire"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestIdempotency: a key is taken once; the same body finds it busy, then done
// with the stored answer; another body is a conflict; a released lease is taken
// over with the same batch.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	const lease, ttl = time.Minute, time.Hour
	got, err := st.ReserveIdempotency(ctx, "client", "k1", "h1", "b1", "run1", lease, ttl)
	if err != nil || got.State != IdemNew || got.BatchID != "b1" {
		t.Fatalf("first: %+v, %v", got, err)
	}
	if got, _ = st.ReserveIdempotency(ctx, "client", "k1", "h1", "b2", "run2", lease, ttl); got.State != IdemBusy || got.BatchID != "b1" || time.Until(got.LeaseUntil) < 50*time.Second {
		t.Errorf("while held: %+v", got)
	}
	if got, _ = st.ReserveIdempotency(ctx, "other-client", "k1", "h2", "b3", "run3", lease, ttl); got.State != IdemNew {
		t.Errorf("another client's key of the same name: %+v", got)
	}
	if err := st.ReleaseIdempotency(ctx, "client", "k1", "run1"); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.ReserveIdempotency(ctx, "client", "k1", "h1", "b9", "run4", lease, ttl); got.State != IdemTakeOver || got.BatchID != "b1" {
		t.Errorf("after a release: %+v", got)
	}
	// The run that lost its lease may not store its answer; the new holder does.
	if err := st.FinishIdempotency(ctx, "client", "k1", "run1", []byte(`{"old":1}`), ttl); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishIdempotency(ctx, "client", "k1", "run4", []byte(`{"batch_id":"b1"}`), ttl); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.ReserveIdempotency(ctx, "client", "k1", "h1", "b5", "run5", lease, ttl); got.State != IdemDone || string(got.Response) != `{"batch_id":"b1"}` {
		t.Errorf("done: %+v %s", got, got.Response)
	}
	if got, _ = st.ReserveIdempotency(ctx, "client", "k1", "h-other", "b6", "run6", lease, ttl); got.State != IdemConflict || got.BatchID != "b1" {
		t.Errorf("another body: %+v", got)
	}
	if d := st.rdb.PTTL(ctx, st.idemKey("client", "k1")).Val(); d <= 59*time.Minute {
		t.Errorf("ttl %v", d)
	}
}

// TestBatchPage: pages of batches, newest first, neither miss nor repeat one when
// batches are created between pages, also among batches of the same millisecond.
func TestBatchPage(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	create := func(id string, at time.Time) {
		st.now = func() time.Time { return at }
		if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 10}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		create(fmt.Sprintf("b%d", i), base.Add(time.Duration(i/3)*time.Millisecond)) // three share each ms
	}
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		ids, next, err := st.BatchPage(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids...)
		if page == 0 {
			create("newer", base.Add(time.Hour))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := "[b6 b5 b4 b3 b2 b1 b0]"
	if fmt.Sprint(seen) != want {
		t.Errorf("pages: %v, want %s", seen, want)
	}
	if _, _, err := st.BatchPage(ctx, "nonsense!", 2); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// TestDeadLetterPage: pages of dead letters, small or large, across batches and
// with a reason filter, list each entry once and in order; an entry moving to a
// replay is left out.
func TestDeadLetterPage(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	sizes := map[string]int{"a": 3, "b": 700, "c": 5} // b's hash is large enough to need several HSCAN steps
	for _, id := range []string{"a", "b", "c"} {
		deadLetters(t, st, id, sizes[id])
	}
	if _, err := st.rdb.HSet(ctx, st.bkey("c", "dlmv"), "1", "replay-x").Result(); err != nil {
		t.Fatal(err)
	}
	var all []string
	if err := st.DeadLetters(ctx, Filter{}, func(d *DeadLetter) error { all = append(all, d.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		f     Filter
		limit int
		want  int
	}{
		{"all, small pages", Filter{}, 7, 707},
		{"all, large pages", Filter{}, 1000, 707},
		{"one batch", Filter{BatchID: "b"}, 50, 700},
		{"one reason", Filter{Reason: wire.ReasonValidation}, 100, 355},
		{"unknown batch", Filter{BatchID: "zzz"}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			cursor, pages := "", 0
			for {
				page, next, err := st.DeadLetterPage(ctx, tt.f, cursor, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page) > tt.limit {
					t.Fatalf("page of %d, limit %d", len(page), tt.limit)
				}
				for _, d := range page {
					if seen[d.ID] || !tt.f.match(d) || d.ID == "c:1" {
						t.Errorf("%s listed twice, or not matching, or moving", d.ID)
					}
					seen[d.ID] = true
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if len(seen) != tt.want {
				t.Errorf("%d dead letters in %d pages, want %d", len(seen), pages, tt.want)
			}
			if tt.name == "all, small pages" && len(all) != 707 {
				t.Errorf("DeadLetters lists %d", len(all))
			}
		})
	}
}

// deadLetters records n dead letters in a new batch, every other one a validation
// failure.
func deadLetters(t *testing.T, st *Store, batchID string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := st.CreateBatch(ctx, Meta{ID: batchID, Job: task.Job{Target: target}, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	cs := cands(n)
	if _, err := st.AdmitSegment(ctx, batchID, 0, cs, ""); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i, c := range cs {
		reason := wire.ReasonRetriesExhausted
		if i%2 == 0 {
			reason = wire.ReasonValidation
		}
		recs[i] = Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: wire.OutcomeDeadLettered,
			DeadLetter: &DeadLetter{ID: DeadLetterID(batchID, c.Seq), BatchID: batchID, Reason: reason, Candidate: c.Candidate, Target: target}}
	}
	if _, err := st.RecordOutcomes(ctx, batchID, target, recs); err != nil {
		t.Fatal(err)
	}
}
