package ratelimit

import "time"

// window counts requests and candidates per second over the last 62 seconds, in
// process memory: the candidates-per-minute cap and the observed rate of Local.
// It follows the same rule as acquireScript: a request may go when the
// candidates of the 61 one-second buckets that any 60-second window ending now
// can touch, plus its own, stay within the cap.
// The zero value is empty. It is not safe for concurrent use.
type window struct {
	last int64 // the newest second written; buckets older than last-61 are zero
	req  [windowSlots]int
	cand [windowSlots]int
}

const windowSlots = 62

func (w *window) advance(sec int64) {
	if sec <= w.last {
		return
	}
	if sec-w.last >= windowSlots {
		*w = window{last: sec}
		return
	}
	for s := w.last + 1; s <= sec; s++ {
		w.req[s%windowSlots] = 0
		w.cand[s%windowSlots] = 0
	}
	w.last = sec
}

// wait is how long a request of n candidates must wait at now under a cap of
// capacity candidates per minute (0 = no cap). A request larger than the cap goes
// when the window is empty, alone.
func (w *window) wait(now time.Time, n, capacity int) time.Duration {
	if capacity <= 0 || n <= 0 {
		return 0
	}
	sec := now.Unix()
	w.advance(sec)
	var vals [61]int
	sum := 0
	for i := range vals {
		vals[i] = w.cand[(sec-60+int64(i))%windowSlots]
		sum += vals[i]
	}
	excess := sum + n - capacity
	if excess <= 0 || sum == 0 {
		return 0
	}
	freed := 0
	for i, v := range vals {
		freed += v
		if freed >= excess {
			// bucket sec-60+i leaves every window that ends at second sec+i+1 or later
			return time.Unix(sec+int64(i)+1, 0).Sub(now)
		}
	}
	return time.Unix(sec+61, 0).Sub(now)
}

func (w *window) add(now time.Time, n int) {
	sec := now.Unix()
	w.advance(sec)
	w.req[sec%windowSlots]++
	w.cand[sec%windowSlots] += n
}

// observed returns the requests per second over the last n full seconds and the
// candidates in the last 61 seconds.
func (w *window) observed(now time.Time, n int) (perSecond float64, candidates int) {
	sec := now.Unix()
	w.advance(sec)
	reqs := 0
	for s := sec - int64(n); s < sec; s++ {
		reqs += w.req[s%windowSlots]
	}
	for s := sec - 60; s <= sec; s++ {
		candidates += w.cand[s%windowSlots]
	}
	return float64(reqs) / float64(n), candidates
}
