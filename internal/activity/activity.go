package activity

import (
	"net/http"
	"strconv"
	"time"
)

// Step is the width of a bucket, Window the span the keys are kept for and
// Reader reads: Points buckets.
const (
	Step   = 10 * time.Second
	Window = time.Hour
	Points = int(Window / Step)
)

// Kind is what a request counts as, beside a request.
type Kind int

// Kinds of requests.
const (
	// Answered: the vendor answered with a 2xx; its candidates count.
	Answered Kind = iota
	// Throttled: the vendor answered 429.
	Throttled
	// Failed: any other end (another 4xx, a 5xx, no HTTP answer: status 0).
	Failed
)

// KindOf is the kind of a request that ended with HTTP status (0: no answer).
func KindOf(status int) Kind {
	switch {
	case status >= 200 && status < 300:
		return Answered
	case status == http.StatusTooManyRequests:
		return Throttled
	}
	return Failed
}

// Metric field suffixes, one per series.
const (
	fieldRequests   = "r"
	fieldCandidates = "c"
	fieldThrottled  = "t"
	fieldErrors     = "e"
)

// counts are one bucket's counts.
type counts struct {
	requests, candidates, throttled, errors int64
}

// add counts one request of n candidates of kind k.
func (c *counts) add(n int, k Kind) {
	c.requests++
	switch k {
	case Answered:
		c.candidates += int64(n)
	case Throttled:
		c.throttled++
	case Failed:
		c.errors++
	}
}

// fields are the non-zero counts as hash fields of bucket i within its hour.
func (c counts) fields(i int64) map[string]int64 {
	out := make(map[string]int64, 4)
	p := strconv.FormatInt(i, 10) + ":"
	for _, f := range []struct {
		m string
		n int64
	}{{fieldRequests, c.requests}, {fieldCandidates, c.candidates}, {fieldThrottled, c.throttled}, {fieldErrors, c.errors}} {
		if f.n != 0 {
			out[p+f.m] = f.n
		}
	}
	return out
}

// bucket is the number of the bucket t falls in: unix seconds / 10.
func bucket(t time.Time) int64 { return t.Unix() / int64(Step/time.Second) }

// perHour is the number of buckets in an hour.
const perHour = int64(time.Hour / Step)

// hourOf is the hour of bucket b (unix time / 3600), and its index within it.
func hourOf(b int64) (hour, index int64) { return b / perHour, b % perHour }

// keys names the keys under a prefix.
type keys string

// batch is P{b:id}:act:<hour>, in the batch's slot (the store's hash tag).
func (p keys) batch(id string, hour int64) string {
	return string(p) + "{b:" + id + "}:act:" + strconv.FormatInt(hour, 10)
}

// all is P activity:<hour>, the deployment's.
func (p keys) all(hour int64) string { return string(p) + "activity:" + strconv.FormatInt(hour, 10) }

// key is the batch's key of hour, or the deployment's for batch "".
func (p keys) key(batchID string, hour int64) string {
	if batchID == "" {
		return p.all(hour)
	}
	return p.batch(batchID, hour)
}

// expiry is when the key of hour expires: at the end of the next hour, when
// none of its buckets is within the last hour any more.
func expiry(hour int64) time.Time { return time.Unix((hour+2)*3600, 0) }
