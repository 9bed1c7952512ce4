package dashboard

import (
	"fmt"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Bounds of the tracker.
const (
	// rateWindow is the span over which a running batch's rate is measured.
	rateWindow = time.Minute
	// forgetAfter drops a batch no page has shown for this long.
	forgetAfter = 10 * time.Minute
	// maxTracked bounds the batches tracked at once.
	maxTracked = 10000
)

// tracker measures how fast running batches progress, from what the pages it
// renders see: each rendering of a batch is a sample of how many of its
// candidates are decided, at what time.
type tracker struct {
	now  func() time.Time
	mu   sync.Mutex
	runs map[string]*samples
}

type sample struct {
	at   time.Time
	done int64
}

type samples struct {
	s    []sample
	seen time.Time
}

func newTracker(now func() time.Time) *tracker {
	return &tracker{now: now, runs: map[string]*samples{}}
}

// speed returns a batch's rate in candidates decided per second and, while it is
// not done, the time it still needs at that rate (0 when unknown). A running
// batch's rate is measured over the last minute of samples; before there are
// two samples a second apart, it is the average since the batch was created. A
// done batch's rate is the average from its creation to its end.
func (t *tracker) speed(st store.Status) (perSecond float64, left time.Duration) {
	now := t.now()
	done := st.Accepted - st.Pending
	if st.Done() {
		if st.FinishedAt != nil && st.FinishedAt.After(st.CreatedAt) {
			return float64(done) / st.FinishedAt.Sub(st.CreatedAt).Seconds(), 0
		}
		return 0, 0
	}
	perSecond = t.observe(st.BatchID, now, done)
	if perSecond < 0 && done > 0 && now.After(st.CreatedAt) {
		perSecond = float64(done) / now.Sub(st.CreatedAt).Seconds()
	}
	if perSecond > 0 && st.Pending > 0 {
		left = time.Duration(float64(st.Pending) / perSecond * float64(time.Second))
	}
	return max(perSecond, 0), left
}

// observe records a sample and returns the rate over the window, or -1 when the
// samples do not span a second yet.
func (t *tracker) observe(id string, now time.Time, done int64) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.runs[id]
	if r == nil {
		t.prune(now)
		r = &samples{}
		t.runs[id] = r
	}
	r.seen = now
	if n := len(r.s); n == 0 || now.Sub(r.s[n-1].at) >= 200*time.Millisecond || done != r.s[n-1].done {
		r.s = append(r.s, sample{at: now, done: done})
	}
	// Keep the samples of the window, and the one just before it as its start.
	cut := 0
	for cut < len(r.s)-2 && now.Sub(r.s[cut+1].at) > rateWindow {
		cut++
	}
	r.s = r.s[cut:]
	first, last := r.s[0], r.s[len(r.s)-1]
	span := last.at.Sub(first.at)
	if span < time.Second {
		return -1
	}
	return float64(last.done-first.done) / span.Seconds()
}

// prune forgets the batches not shown for a while, and all of them if there are
// still too many; under t.mu.
func (t *tracker) prune(now time.Time) {
	if len(t.runs) < maxTracked {
		return
	}
	for id, r := range t.runs {
		if now.Sub(r.seen) > forgetAfter {
			delete(t.runs, id)
		}
	}
	if len(t.runs) >= maxTracked {
		clear(t.runs)
	}
}

// segment is one part of a progress bar: an outcome's share of the accepted
// candidates, on a scale of 1000.
type segment struct {
	Class, Label string
	X, W         int64
}

// batchView is a batch as the pages show it.
type batchView struct {
	store.Status
	Bar     []segment
	DonePct int64
	Rate    string
	Left    string
	Running bool
}

// view builds a batch's view, sampling its progress.
func (d *Dashboard) view(st store.Status) batchView {
	v := batchView{Status: st, Running: !st.Done()}
	done := st.Accepted - st.Pending
	if st.Accepted > 0 {
		v.DonePct = done * 100 / st.Accepted
	} else if st.Done() {
		v.DonePct = 100
	}
	var x int64
	for _, p := range []struct {
		class, label string
		n            int64
	}{
		{"invited", "invited", st.Invited},
		{"cvqueued", "CV queued", st.CVQueued},
		{"skipped", "skipped as duplicates", st.SkippedDuplicate},
		{"dead", "dead-lettered", st.DeadLettered},
		{"cancelled", "cancelled", st.Cancelled},
		{"pending", "pending", st.Pending},
	} {
		if p.n == 0 || st.Accepted == 0 {
			continue
		}
		w := p.n * 1000 / st.Accepted
		if w == 0 {
			w = 1
		}
		v.Bar = append(v.Bar, segment{Class: p.class, Label: fmt.Sprintf("%d %s", p.n, p.label), X: x, W: w})
		x += w
	}
	perSecond, left := d.progress.speed(st)
	switch {
	case perSecond > 0:
		v.Rate = fmt.Sprintf("%.1f/s", perSecond)
	case v.Running && done > 0:
		v.Rate = "stalled"
	default:
		v.Rate = "—"
	}
	switch {
	case !v.Running:
		v.Left = "done"
	case left > 0:
		v.Left = "about " + roundDuration(left).String()
	default:
		v.Left = "unknown"
	}
	return v
}

// roundDuration rounds to what a person reads: seconds under an hour, minutes
// above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Hour {
		return max(d.Round(time.Second), time.Second)
	}
	return d.Round(time.Minute)
}
