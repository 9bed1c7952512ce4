package store

import (
	"context"
	"errors"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestSegmentZeroInTheRecord: segment 0's admission is kept in the record (no
// segs key for a batch of one segment), and a re-run counts it once, whether
// this build admitted it or the previous one (its entry in segs).
func TestSegmentZeroInTheRecord(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	for _, id := range []string{"new", "old"} {
		if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 10}); err != nil {
			t.Fatal(err)
		}
	}
	// What the previous build wrote for segment 0 of "old".
	s.rdb.HSet(ctx, s.bkey("old", "segs"), "0", "2:d1")
	s.rdb.HIncrBy(ctx, s.bkey("old", ""), "accepted", 2)
	for _, id := range []string{"new", "new", "old"} {
		if _, err := s.AdmitSegment(ctx, id, 0, cands(2), "d1", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"new", "old"} {
		if _, err := s.AdmitSegment(ctx, id, 0, cands(2), "d2", nil); !errors.Is(err, ErrOtherInput) {
			t.Errorf("%s: segment 0 again with another digest: %v, want ErrOtherInput", id, err)
		}
		b, err := s.Batch(ctx, id)
		if err != nil || b.Accepted != 2 {
			t.Errorf("%s: %+v %v, want 2 accepted", id, b, err)
		}
	}
	if n := s.rdb.Exists(ctx, s.bkey("new", "segs")).Val(); n != 0 {
		t.Errorf("a batch of one segment has a segs key")
	}
	if v := s.rdb.HGet(ctx, s.bkey("new", ""), "seg0").Val(); v != "2:d1" {
		t.Errorf("record field seg0 %q, want 2:d1", v)
	}
}
