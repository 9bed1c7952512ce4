package activity

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recent is the span the time to done is estimated over: the candidates/s of
// the last two minutes.
const Recent = 2 * time.Minute

// Series is the activity of the last hour, in Points buckets of Step, oldest
// first; the last is the bucket in progress. Each value is per second: a
// bucket's count over its Step, the last one's over the part of it gone by.
type Series struct {
	// Start is when the first bucket starts, Now when the series was read.
	Start, Now time.Time
	Requests   []float64
	Candidates []float64
	Throttled  []float64
	Errors     []float64

	raw []counts
}

// Reader reads the activity Recorders wrote. It is safe for concurrent use.
type Reader struct {
	rdb  redis.UniversalClient
	keys keys
}

// NewReader returns a Reader over rdb under prefix (the store's).
func NewReader(rdb redis.UniversalClient, prefix string) *Reader {
	return &Reader{rdb: rdb, keys: keys(prefix)}
}

// Read returns the last hour's activity of a batch up to now, or the
// deployment's for batchID "". It reads the keys of two hours at most, in one
// pipeline (a batch's share its slot).
func (r *Reader) Read(ctx context.Context, batchID string, now time.Time) (*Series, error) {
	last := bucket(now)
	first := last - int64(Points) + 1
	firstHour, _ := hourOf(first)
	lastHour, _ := hourOf(last)
	var cmds []*redis.MapStringStringCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for h := firstHour; h <= lastHour; h++ {
			cmds = append(cmds, p.HGetAll(ctx, r.keys.key(batchID, h)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read activity: %w", err)
	}
	raw := make([]counts, Points)
	for k, cmd := range cmds {
		hour := firstHour + int64(k)
		for f, v := range cmd.Val() {
			i, m, ok := parseField(f)
			n, err := strconv.ParseInt(v, 10, 64)
			if b := hour*perHour + i; ok && err == nil && b >= first && b <= last {
				raw[b-first].set(m, n)
			}
		}
	}
	return newSeries(time.Unix(first*int64(Step/time.Second), 0), now, raw), nil
}

// parseField splits a field <i>:<m>; ok is false for one that is not a bucket's.
func parseField(f string) (i int64, m string, ok bool) {
	is, m, found := strings.Cut(f, ":")
	i, err := strconv.ParseInt(is, 10, 64)
	return i, m, found && err == nil && i >= 0 && i < perHour
}

// set sets the count of metric m.
func (c *counts) set(m string, n int64) {
	switch m {
	case fieldRequests:
		c.requests = n
	case fieldCandidates:
		c.candidates = n
	case fieldThrottled:
		c.throttled = n
	case fieldErrors:
		c.errors = n
	}
}

// newSeries turns the raw counts of the buckets from start into rates.
func newSeries(start, now time.Time, raw []counts) *Series {
	s := &Series{Start: start, Now: now, raw: raw}
	for i, c := range raw {
		span := Step.Seconds()
		if i == len(raw)-1 {
			span = min(span, max(now.Sub(s.bucketStart(i)).Seconds(), 1))
		}
		s.Requests = append(s.Requests, float64(c.requests)/span)
		s.Candidates = append(s.Candidates, float64(c.candidates)/span)
		s.Throttled = append(s.Throttled, float64(c.throttled)/span)
		s.Errors = append(s.Errors, float64(c.errors)/span)
	}
	return s
}

func (s *Series) bucketStart(i int) time.Time { return s.Start.Add(time.Duration(i) * Step) }

// CandidatesPerSecond is the candidates answered per second over the last
// span (Recent for the time to done): their count in the buckets that end
// within it, over the time from the first of those that saw a request (a batch
// that started a moment ago is not averaged with the quiet before) until now. 0
// when none was sent.
func (s *Series) CandidatesPerSecond(span time.Duration) float64 {
	var n int64
	var from time.Time
	for i, c := range s.raw {
		start := s.bucketStart(i)
		if start.Add(Step).Before(s.Now.Add(-span)) || c.requests == 0 && from.IsZero() {
			continue
		}
		if from.IsZero() {
			from = start
		}
		n += c.candidates
	}
	if from.IsZero() || n == 0 {
		return 0
	}
	return float64(n) / max(s.Now.Sub(from).Seconds(), 1)
}

// Left is the time pending candidates still need at the recent rate
// (CandidatesPerSecond(Recent)); ok is false when there is nothing pending or
// nothing was sent recently.
func (s *Series) Left(pending int64) (left time.Duration, ok bool) {
	rate := s.CandidatesPerSecond(Recent)
	if pending <= 0 || rate <= 0 {
		return 0, false
	}
	return time.Duration(float64(pending) / rate * float64(time.Second)), true
}

// Total is the sum of each series' counts over the hour: requests, candidates,
// 429s and errors.
func (s *Series) Total() (requests, candidates, throttled, errors int64) {
	for _, c := range s.raw {
		requests += c.requests
		candidates += c.candidates
		throttled += c.throttled
		errors += c.errors
	}
	return
}
