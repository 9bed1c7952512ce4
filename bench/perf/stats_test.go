package main

import (
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	var fifty []time.Duration
	for i := 50; i >= 1; i-- { // unsorted on purpose: 50ms down to 1ms
		fifty = append(fifty, time.Duration(i)*ms)
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", []time.Duration{7 * ms}, 99, 7 * ms},
		{"p50 of 50 is the 25th", fifty, 50, 25 * ms},
		{"p99 of 50 is the largest", fifty, 99, 50 * ms},
		{"p90 of 50 is the 45th", fifty, 90, 45 * ms},
		{"max", fifty, 100, 50 * ms},
		{"p50 of 4", []time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 50, 2 * ms},
		{"p99 of 200 is the 198th", seq(200, ms), 99, 198 * ms},
	}
	for _, tt := range tests {
		if got := percentile(tt.ds, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
	if fifty[0] != 50*ms {
		t.Error("percentile sorted its input in place")
	}
}

// seq returns 1..n times unit.
func seq(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * unit
	}
	return out
}

func TestGapSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		perSecond     []int
		whole, dry    int
		gaps, counted int
	}{
		{"all full", []int{205, 200, 199, 200}, 4, -1, 0, 4},
		{"one short", []int{205, 200, 194, 200}, 4, -1, 1, 4},
		{"exactly the floor is no gap", []int{195, 195}, 2, -1, 0, 2},
		{"partial last second left out", []int{200, 200, 200, 90}, 3, -1, 0, 3},
		{"seconds after the queue ran dry left out", []int{200, 150, 0, 0}, 4, 1, 0, 1},
		{"dry in the first second", []int{80, 0}, 2, 0, 0, 0},
		{"whole beyond the data", []int{100, 200}, 5, -1, 1, 2},
		{"nothing", nil, 3, -1, 0, 0},
	}
	for _, tt := range tests {
		gaps, counted := gapSeconds(tt.perSecond, tt.whole, tt.dry, 195)
		if gaps != tt.gaps || counted != tt.counted {
			t.Errorf("%s: gapSeconds = %d gaps of %d, want %d of %d", tt.name, gaps, counted, tt.gaps, tt.counted)
		}
	}
}

func recordAt(at time.Time) sandbox.RequestRecord { return sandbox.RequestRecord{At: at, Status: 200} }
