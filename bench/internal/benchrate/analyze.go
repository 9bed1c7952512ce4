package benchrate

import (
	"errors"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

// Result is the figures of one scenario, from the sandbox's timestamps.
type Result struct {
	Scenario Scenario `json:"scenario"`

	// Requests arrived in the window, any status.
	Requests int `json:"requests"`
	// MeanRate is Requests / the window's length, in requests/s.
	MeanRate float64 `json:"mean_rate"`
	// SpanRate is (Requests-1) / the time between the window's first and last
	// arrival, in requests/s.
	SpanRate float64 `json:"span_rate"`
	// Accepted counts 2xx answers in the window; AcceptedRate is Accepted / the
	// window's length, in requests/s.
	Accepted     int     `json:"accepted"`
	AcceptedRate float64 `json:"accepted_rate"`
	// Peak1s is the most arrivals in any 1-second sliding window [t, t+1s)
	// inside the window; Peak1sRun the same over the whole run (warm-up and the
	// tail after the window included).
	Peak1s    int `json:"peak_1s"`
	Peak1sRun int `json:"peak_1s_run"`
	// Status429 counts 429 answers in the window; Share429 is their share of Requests.
	Status429 int     `json:"status_429"`
	Share429  float64 `json:"share_429"`
	// Settled429 and SettledShare429 are the same from settle after the window's
	// start to its end; SettledRequests the requests then.
	SettledRequests int     `json:"settled_requests"`
	Settled429      int     `json:"settled_429"`
	SettledShare429 float64 `json:"settled_share_429"`
	// Other counts answers in the window neither 2xx nor 429 (5xx, no reply...).
	Other int `json:"other"`
	// Warmup429 counts 429s in the discarded warm-up.
	WarmupRequests int `json:"warmup_requests"`
	Warmup429      int `json:"warmup_429"`
	// PerSecond and PerSecond429 count arrivals and 429s in each whole second of
	// the window, from its start.
	PerSecond    []int `json:"per_second"`
	PerSecond429 []int `json:"per_second_429"`
	// LastGap is how long before the window's end the last request in it arrived:
	// more than a fraction of a second means the workers stalled or ran dry.
	LastGap time.Duration `json:"last_gap_ns"`

	// Enqueued candidates, and those still pending when the workers stopped.
	Enqueued     int `json:"enqueued"`
	PendingAtEnd int `json:"pending_at_end"`
	// Records is every request the sandbox recorded over the whole run.
	Records []sandbox.RequestRecord `json:"-"`

	// DuplicateInvites is the sandbox's count of candidates invited twice over
	// the whole run: a sanity check, 0 expected.
	DuplicateInvites int `json:"duplicate_invites"`

	// Verdict says what the result shows, filled by the program that reports it.
	Verdict string   `json:"verdict"`
	Notes   []string `json:"notes,omitempty"`
}

// Analyze computes the figures of a run from every request the sandbox
// recorded. The window starts warmup after the first arrival and lasts duration;
// 429 shares are also given from settle after the window's start.
func Analyze(recs []sandbox.RequestRecord, warmup, duration, settle time.Duration) (Result, error) {
	if len(recs) == 0 {
		return Result{}, errors.New("the sandbox recorded no request")
	}
	recs = append([]sandbox.RequestRecord(nil), recs...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].At.Before(recs[j].At) })
	start := recs[0].At.Add(warmup)
	end := start.Add(duration)
	settled := start.Add(settle)
	seconds := int(math.Ceil(duration.Seconds()))

	r := Result{
		Peak1sRun:    sandbox.MaxInWindow(recs, time.Second),
		PerSecond:    make([]int, seconds),
		PerSecond429: make([]int, seconds),
	}
	var win []sandbox.RequestRecord
	for _, rec := range recs {
		is429 := rec.Status == http.StatusTooManyRequests
		switch {
		case rec.At.Before(start):
			r.WarmupRequests++
			if is429 {
				r.Warmup429++
			}
			continue
		case !rec.At.Before(end):
			continue
		}
		win = append(win, rec)
		sec := int(rec.At.Sub(start) / time.Second)
		r.PerSecond[sec]++
		switch {
		case is429:
			r.Status429++
			r.PerSecond429[sec]++
		case rec.Status >= 200 && rec.Status < 300:
			r.Accepted++
		default:
			r.Other++
		}
		if !rec.At.Before(settled) {
			r.SettledRequests++
			if is429 {
				r.Settled429++
			}
		}
	}
	if len(win) == 0 {
		return Result{}, errors.New("no request arrived in the measurement window")
	}
	r.Requests = len(win)
	r.MeanRate = float64(r.Requests) / duration.Seconds()
	r.AcceptedRate = float64(r.Accepted) / duration.Seconds()
	if span := win[len(win)-1].At.Sub(win[0].At); span > 0 {
		r.SpanRate = float64(r.Requests-1) / span.Seconds()
	}
	r.Peak1s = sandbox.MaxInWindow(win, time.Second)
	r.Share429 = float64(r.Status429) / float64(r.Requests)
	if r.SettledRequests > 0 {
		r.SettledShare429 = float64(r.Settled429) / float64(r.SettledRequests)
	}
	r.LastGap = end.Sub(win[len(win)-1].At)
	return r, nil
}
