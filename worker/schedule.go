package worker

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/internal/window"
)

// MaxScheduleWait bounds one wait of a chunk that its batch's schedule holds
// back. The time it waits for is fixed (asynq keeps the retry time across
// restarts), so a long wait is safe; the bound only makes a chunk look again
// now and then, should this worker's clock have been wrong when it decided.
const MaxScheduleWait = time.Hour

// held returns a *PauseError while the chunk's schedule holds it back: before
// the batch's not-before time, or while its send window is closed. The chunk
// waits in asynq's retry set until the time comes (at most MaxScheduleWait),
// which takes no worker and spends no attempt. It reads no Redis: the schedule
// travels in the task.
func (r *chunkRun) held() error {
	sc := r.task.Job.Schedule
	if sc == nil {
		return nil
	}
	now := r.w.cfg.ScheduleClock()
	until, why := holdUntil(sc, now)
	if !until.After(now) {
		return nil
	}
	r.log.Debug("chunk held by its batch's schedule", zap.String("why", why), zap.Time("until", until))
	return &PauseError{After: min(until.Sub(now), MaxScheduleWait), Why: why}
}

// holdUntil returns when a batch of schedule sc may send, seen at now (now
// itself, or before it, when it may send now), and why it waits.
func holdUntil(sc *task.Schedule, now time.Time) (time.Time, string) {
	from, why := now, ""
	if start := sc.Start(); start.After(now) {
		from, why = start, "scheduled: not before "+start.Format(time.RFC3339)
	}
	if sc.Window == "" {
		return from, why
	}
	w, err := window.Parse(sc.Window)
	if err != nil {
		// Written by a newer producer with a grammar this build does not know:
		// holding it is safer than sending outside the window it names.
		return now.Add(MaxScheduleWait), fmt.Sprintf("send window %q unreadable by this build: %v", sc.Window, err)
	}
	if next := w.Next(from); next.After(from) {
		return next, fmt.Sprintf("waiting for its send window %s: opens %s", w, next.Format(time.RFC3339))
	}
	return from, why
}
