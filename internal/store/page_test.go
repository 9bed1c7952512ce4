package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

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
		{"one reason", Filter{Reason: payload.ReasonValidation}, 100, 355},
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
	if _, err := st.AdmitSegment(ctx, batchID, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i, c := range cs {
		reason := payload.ReasonRetriesExhausted
		if i%2 == 0 {
			reason = payload.ReasonValidation
		}
		recs[i] = Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeDeadLettered,
			DeadLetter: &DeadLetter{ID: DeadLetterID(batchID, c.Seq), BatchID: batchID, Reason: reason, Candidate: c.Candidate, Target: target}}
	}
	if _, err := st.RecordOutcomes(ctx, batchID, target, recs); err != nil {
		t.Fatal(err)
	}
}
