package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/window"
)

// A batch's schedule (task.Schedule) is part of its job, in its record: its
// state and its status read it there. The store keeps one more key for it,
// P scheduled, the batches enqueued with a not-before time by that time, so
// that the metrics can count the batches still waiting for theirs without
// reading every batch.

// readAt is when the batch's record was read.
func (b *Batch) readAt() time.Time {
	if b.at.IsZero() {
		return time.Now()
	}
	return b.at
}

// window is the batch's send window; ok is false for a batch without one (or
// with one this build cannot read, which the worker holds back too).
func (b *Batch) window() (w window.Window, ok bool) {
	sc := b.Job.Schedule
	if sc == nil || sc.Window == "" {
		return window.Window{}, false
	}
	w, err := window.Parse(sc.Window)
	return w, err == nil
}

// heldState returns StateScheduled before the batch's not-before time,
// StateWaitingForWindow while its send window is closed, "" when its schedule
// lets it send (or it has none), as of when the record was read.
func (b *Batch) heldState() string {
	sc := b.Job.Schedule
	if sc == nil {
		return ""
	}
	at := b.readAt()
	if at.Before(sc.Start()) {
		return StateScheduled
	}
	if sc.Window != "" {
		if w, ok := b.window(); !ok || !w.Open(at) {
			return StateWaitingForWindow
		}
	}
	return ""
}

// scheduleStatus fills the schedule's fields of st: the not-before time and the
// window, and while the schedule holds the batch the window's next opening.
func (b *Batch) scheduleStatus(st *Status) {
	sc := b.Job.Schedule
	if sc == nil {
		return
	}
	if start := sc.Start(); !start.IsZero() {
		st.NotBefore = &start
	}
	w, ok := b.window()
	if !ok {
		st.SendWindow = sc.Window
		return
	}
	st.SendWindow = w.String()
	if st.State == StateScheduled || st.State == StateWaitingForWindow {
		next := w.Next(later(b.readAt(), sc.Start())).UTC()
		st.NextWindow = &next
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// indexScheduled adds a batch whose not-before time is ahead to P scheduled,
// and drops the entries whose time has come. A re-run of the import adds it
// again, harmlessly: after a crash between the record and this step too.
func (s *Store) indexScheduled(ctx context.Context, b *Batch) error {
	start := b.Job.Schedule.Start()
	now := s.now()
	if !start.After(now) {
		return nil
	}
	key := s.key("scheduled")
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(start.UnixMilli()), Member: b.ID})
		pipe.ZRemRangeByScore(ctx, key, "-inf", nowMS(now))
		return nil
	})
	if err != nil {
		return fmt.Errorf("index scheduled batch %s: %w", b.ID, err)
	}
	return nil
}

// ScheduledBatches counts the batches whose not-before time is still ahead and
// that are neither paused, cancelled nor done, for the metrics
// (bulkinvite_batches_held{state="scheduled"}): the index's members after now,
// each read back from its record. A member whose batch is cancelled, done or
// gone is removed.
func (s *Store) ScheduledBatches(ctx context.Context) (int, error) {
	k := s.key("scheduled")
	ids, err := s.rdb.ZRangeByScore(ctx, k, &redis.ZRangeBy{Min: "(" + nowMS(s.now()), Max: "+inf"}).Result()
	if err != nil {
		return 0, fmt.Errorf("read the scheduled batches: %w", err)
	}
	holds, err := s.readHolds(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("read the scheduled batches: %w", err)
	}
	n := 0
	var stale []any
	for i, h := range holds {
		switch {
		case !h.exists || h.hold == HoldCancelled || h.done:
			stale = append(stale, ids[i])
		case h.hold == HoldNone:
			n++
		}
	}
	if len(stale) > 0 {
		if err := s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.ZRem(ctx, k, stale...) }); err != nil {
			return 0, fmt.Errorf("drop batches no longer scheduled from the index: %w", err)
		}
	}
	return n, nil
}
