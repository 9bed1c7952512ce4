package store

import (
	"context"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestScheduledStates: a batch before its not-before time is scheduled, one
// outside its send window waiting_for_window with the window's next opening,
// both queued once their time has come; a done, paused or cancelled batch
// shows that whatever its schedule; the batches scheduled and not held
// otherwise are counted until their time.
func TestScheduledStates(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	mon0700 := time.Date(2024, 1, 8, 7, 0, 0, 0, time.UTC) // a Monday; Berlin is UTC+1
	st.now = func() time.Time { return mon0700 }
	const berlin = "Mon-Fri 09:00-17:00 Europe/Berlin"
	ms := func(h, m int) int64 { return time.Date(2024, 1, 8, h, m, 0, 0, time.UTC).UnixMilli() }
	for id, sc := range map[string]*task.Schedule{
		"start":        {NotBefore: ms(8, 30)},
		"window":       {Window: berlin},
		"both":         {NotBefore: ms(7, 30), Window: berlin},
		"past":         {NotBefore: ms(6, 0)},
		"none":         nil,
		"done-earlier": {NotBefore: ms(9, 0)},
		"paused":       {NotBefore: ms(9, 0)},
		"cancelled":    {NotBefore: ms(9, 0)},
	} {
		if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target, Schedule: sc}, SegmentSize: 10}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Seal(ctx, "done-earlier", 0, ""); err != nil { // nothing accepted: done at once
		t.Fatal(err)
	}
	if _, err := st.PauseBatch(ctx, "paused", "tester"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CancelBatch(ctx, "cancelled", "tester"); err != nil {
		t.Fatal(err)
	}
	opens := time.Date(2024, 1, 8, 8, 0, 0, 0, time.UTC)
	check := func(when string, want map[string]string, next map[string]time.Time, scheduled int) {
		t.Helper()
		for id, state := range want {
			b, err := st.Batch(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			s := b.Status()
			if s.State != state || b.State() != state {
				t.Errorf("%s: %s is %s (status %s), want %s", when, id, b.State(), s.State, state)
			}
			switch n, ok := next[id]; {
			case ok && (s.NextWindow == nil || !s.NextWindow.Equal(n)):
				t.Errorf("%s: %s next_window %v, want %s", when, id, s.NextWindow, n)
			case !ok && s.NextWindow != nil:
				t.Errorf("%s: %s next_window %v, want none", when, id, s.NextWindow)
			}
		}
		if n, err := st.ScheduledBatches(ctx); err != nil || n != scheduled {
			t.Errorf("%s: %d scheduled batches (%v), want %d", when, n, err, scheduled)
		}
	}
	check("07:00", map[string]string{"start": StateScheduled, "window": StateWaitingForWindow, "both": StateScheduled,
		"past": StateQueued, "none": StateQueued, "done-earlier": StateDone, "paused": StatePaused, "cancelled": StateCancelled},
		map[string]time.Time{"window": opens, "both": opens}, 2)

	b, err := st.Batch(ctx, "both")
	if err != nil {
		t.Fatal(err)
	}
	s := b.Status()
	if s.NotBefore == nil || s.NotBefore.UnixMilli() != ms(7, 30) || s.SendWindow != berlin {
		t.Errorf("both: not_before %v, send_window %q; want 07:30Z and %q", s.NotBefore, s.SendWindow, berlin)
	}

	st.now = func() time.Time { return mon0700.Add(105 * time.Minute) } // 08:45Z
	check("08:45", map[string]string{"start": StateQueued, "window": StateQueued, "both": StateQueued, "done-earlier": StateDone, "paused": StatePaused},
		nil, 0)
	if _, err := st.ResumeBatch(ctx, "paused", "tester"); err != nil {
		t.Fatal(err)
	}
	check("08:45, resumed", map[string]string{"paused": StateScheduled}, nil, 1)
	st.now = func() time.Time { return mon0700.Add(10 * time.Hour) } // 17:00Z, 18:00 in Berlin
	check("17:00", map[string]string{"start": StateQueued, "window": StateWaitingForWindow, "both": StateWaitingForWindow},
		map[string]time.Time{"window": opens.Add(24 * time.Hour), "both": opens.Add(24 * time.Hour)}, 0)
}
