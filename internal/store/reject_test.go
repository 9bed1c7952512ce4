package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// readRejects reads every page of a batch's rejects, limit at a time, and says
// how many pages it took.
func readRejects(tb testing.TB, s *Store, id string, limit int) ([]Reject, int) {
	tb.Helper()
	var all []Reject
	cursor, pages := "", 0
	for {
		page, next, err := s.RejectPage(context.Background(), id, cursor, limit)
		if err != nil {
			tb.Fatal(err)
		}
		all, pages = append(all, page...), pages+1
		if next == "" {
			return all, pages
		}
		if pages > 1000 {
			tb.Fatal("the pages do not end")
		}
		cursor = next
	}
}

// TestRejects: a batch's rejects come back by row, in pages that neither skip
// nor repeat one, with where, field and reason as recorded; each row once.
func TestRejects(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	var rejects []Reject
	for _, row := range []int64{40, 3, 17, 2, 1000, 9} {
		rejects = append(rejects, Reject{Row: row, Where: "line", Field: "email", Reason: fmt.Sprintf("bad at %d", row)})
	}
	rejects[3].Field = "" // the row as a whole
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "rj", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, "rj", rejects[:4]); err != nil {
		t.Fatal(err)
	}
	again := append([]Reject{{Row: 40, Where: "line", Reason: "another reason"}}, rejects[4:]...)
	if err := s.RecordRejects(ctx, "rj", again); err != nil {
		t.Fatal(err)
	}

	want := slices.Clone(rejects)
	slices.SortFunc(want, func(a, b Reject) int { return int(a.Row - b.Row) })
	got, pages := readRejects(t, s, "rj", 2)
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("pages of 2: %v in %d pages, want %v in 3", got, pages, want)
	}
	if got, err := s.Rejects(ctx, "rj", 3); err != nil || fmt.Sprint(got) != fmt.Sprint(want[:3]) {
		t.Errorf("Rejects = %v, %v; want %v", got, err, want[:3])
	}
	if got, want := want[0].Text(), "line 2: bad at 2"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got, want := want[1].Text(), "line 3: email: bad at 3"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if b, err := s.Batch(ctx, "rj"); err != nil || b.Rejected != int64(len(rejects)) {
		t.Errorf("Rejected = %v (%v), want %d", b, err, len(rejects))
	}
	if got, next, err := s.RejectPage(ctx, "none", "", 3); err != nil || len(got) != 0 || next != "" {
		t.Errorf("a batch without rejects: %v, %q, %v", got, next, err)
	}
	for _, c := range []string{"x", "eyJyIjoiYSJ9"} {
		if _, _, err := s.RejectPage(ctx, "rj", c, 3); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
		}
	}
}

// TestRejectsRecordedBefore: rejects recorded as the import's message, before
// where and field were kept apart and ordered, still read back in pages by row,
// with where told from the message; with some recorded either way, too.
func TestRejectsRecordedBefore(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "old", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	for row, v := range map[int64]string{
		12: "candidate 12: email: not a valid email address",
		3:  "line 3: unreadable CSV: a stray quote",
		7:  "no place given",
	} {
		if err := s.rdb.HSet(ctx, s.bkey("old", "rej"), row, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := []Reject{
		{Row: 3, Where: "line", Reason: "unreadable CSV: a stray quote"},
		{Row: 7, Reason: "no place given"},
		{Row: 12, Where: "candidate", Reason: "email: not a valid email address"},
	}
	if got, pages := readRejects(t, s, "old", 1); fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("old rejects: %v in %d pages, want %v in 3", got, pages, want)
	}
	if err := s.RecordRejects(ctx, "old", []Reject{{Row: 5, Where: "line", Field: "cv_link", Reason: "not https"}}); err != nil {
		t.Fatal(err)
	}
	want = slices.Insert(want, 1, Reject{Row: 5, Where: "line", Field: "cv_link", Reason: "not https"})
	if got, _ := readRejects(t, s, "old", 2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("old and new rejects: %v, want %v", got, want)
	}
}
