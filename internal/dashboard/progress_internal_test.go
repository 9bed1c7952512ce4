package dashboard

import (
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestTrackerRateAndTimeLeft: a running batch's rate is what the samples of the
// last minute show (the average since creation before they span a second), the
// time left is pending over that rate, a done batch's rate is its average, and a
// stalled batch has no time left to show.
func TestTrackerRateAndTimeLeft(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	now := start.Add(100 * time.Second)
	tr := newTracker(func() time.Time { return now })
	st := store.Status{BatchID: "b", State: store.StateRunning, Accepted: 1000, Pending: 800, CreatedAt: start}

	rate, left := tr.speed(st) // one sample: 200 done in 100 s since creation
	if rate != 2 || left != 400*time.Second {
		t.Errorf("first sample: %v/s, %s left; want the average since creation, 2/s and 400s", rate, left)
	}
	for i := 1; i <= 30; i++ { // then 10 a second for 30 s
		now = now.Add(time.Second)
		st.Pending -= 10
		rate, left = tr.speed(st)
	}
	if rate != 10 || left != 50*time.Second {
		t.Errorf("after 30 s at 10/s: %v/s, %s left", rate, left)
	}
	for i := 1; i <= 90; i++ { // 2 a second for 90 s: the first 30 s leave the window
		now = now.Add(time.Second)
		st.Pending -= 2
		rate, _ = tr.speed(st)
	}
	if rate < 2 || rate > 2.2 {
		t.Errorf("after 90 s at 2/s: %v/s, want about 2 (the last minute)", rate)
	}
	for i := 1; i <= 70; i++ { // stalled for 70 s
		now = now.Add(time.Second)
		rate, left = tr.speed(st)
	}
	if rate != 0 || left != 0 {
		t.Errorf("stalled: %v/s, %s left", rate, left)
	}
	finished := start.Add(500 * time.Second)
	done := store.Status{BatchID: "d", State: store.StateDone, Sealed: true, Accepted: 1000, CreatedAt: start, FinishedAt: &finished}
	if rate, left := tr.speed(done); rate != 2 || left != 0 {
		t.Errorf("done: %v/s, %s left; want 1000 in 500 s", rate, left)
	}
}

// TestView: the bar's segments follow the outcomes, and the words follow the rate.
func TestView(t *testing.T) {
	t.Parallel()
	now := time.Now()
	d := &Dashboard{progress: newTracker(func() time.Time { return now })}
	v := d.view(store.Status{BatchID: "v", State: store.StateRunning, Accepted: 10, Invited: 5, DeadLettered: 2, Pending: 3, CreatedAt: now.Add(-7 * time.Second)})
	if v.DonePct != 70 || len(v.Bar) != 3 || v.Bar[0].Class != "invited" || v.Bar[0].W != 500 || v.Bar[1].X != 500 || v.Bar[2].Class != "pending" {
		t.Errorf("view %+v", v)
	}
	if v.Rate != "1.0/s" || v.Left != "about 3s" {
		t.Errorf("rate %q, left %q", v.Rate, v.Left)
	}
	if v := d.view(store.Status{BatchID: "e", State: store.StateDone, Sealed: true}); v.DonePct != 100 || len(v.Bar) != 0 || v.Left != "done" {
		t.Errorf("an empty done batch: %+v", v)
	}
}
