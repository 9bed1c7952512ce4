package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestRejects: a batch's rejects come back by row, at most limit of them.
func TestRejects(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	var rejects []Reject
	for _, row := range []int64{40, 3, 17, 2, 1000} {
		rejects = append(rejects, Reject{Row: row, Reason: fmt.Sprintf("email: bad at %d", row)})
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "rj", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, "rj", rejects); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rejects(ctx, "rj", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reject{{2, "email: bad at 2"}, {3, "email: bad at 3"}, {17, "email: bad at 17"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Rejects = %v, want %v", got, want)
	}
	if got, err := s.Rejects(ctx, "none", 3); err != nil || len(got) != 0 {
		t.Errorf("a batch without rejects: %v, %v", got, err)
	}
}
