package main

import (
	"math"
	"slices"
	"time"
)

// percentile is the nearest-rank p-th percentile of ds (p in (0, 100]): the
// smallest value with at least p% of the values at or below it. Of 50 values,
// p99 is the largest. 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// gapSeconds counts the seconds of perSecond (requests in each second of a
// window from its start) that got fewer than floor requests. Only whole
// seconds count: those before whole, and before dryFrom when the queue ran dry
// in second dryFrom (-1: it never did). It returns the gaps and the seconds
// counted.
func gapSeconds(perSecond []int, whole, dryFrom, floor int) (gaps, counted int) {
	counted = min(whole, len(perSecond))
	if dryFrom >= 0 {
		counted = min(counted, dryFrom)
	}
	counted = max(counted, 0)
	for _, n := range perSecond[:counted] {
		if n < floor {
			gaps++
		}
	}
	return gaps, counted
}
