package benchrate

import (
	"net/http"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

// records returns one record per offset from t0, 200 unless listed in s429.
func records(t0 time.Time, offsets []time.Duration, s429 map[int]bool) []sandbox.RequestRecord {
	recs := make([]sandbox.RequestRecord, len(offsets))
	for i, d := range offsets {
		st := http.StatusOK
		if s429[i] {
			st = http.StatusTooManyRequests
		}
		recs[i] = sandbox.RequestRecord{Seq: int64(i + 1), At: t0.Add(d), Status: st}
	}
	return recs
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond

	t.Run("steady rate, warm-up and tail excluded", func(t *testing.T) {
		t.Parallel()
		var offs []time.Duration
		for i := range 70 { // every 100ms from t0 to t0+6.9s: warm-up 1s, window 5s, tail
			offs = append(offs, time.Duration(i)*100*ms)
		}
		r, err := Analyze(records(t0, offs, map[int]bool{12: true, 45: true, 65: true}), time.Second, 5*time.Second, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"Requests", r.Requests, 50},
			{"MeanRate", r.MeanRate, 10.0},
			{"Accepted", r.Accepted, 48},
			{"Status429", r.Status429, 2},   // 12 and 45; 65 is in the tail
			{"Settled429", r.Settled429, 1}, // 45; 12 is before settling
			{"SettledRequests", r.SettledRequests, 30},
			{"WarmupRequests", r.WarmupRequests, 10},
			{"Peak1s", r.Peak1s, 10},
			{"PerSecond[0]", r.PerSecond[0], 10},
			{"PerSecond429[0]", r.PerSecond429[0], 1},
			{"LastGap", r.LastGap, 100 * ms},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if want := 49 / 4.9; r.SpanRate < want-1e-9 || r.SpanRate > want+1e-9 {
			t.Errorf("SpanRate = %v, want %v", r.SpanRate, want)
		}
	})

	t.Run("a burst shows in the peak, unordered input", func(t *testing.T) {
		t.Parallel()
		offs := []time.Duration{3000 * ms, 0, 1500 * ms, 1501 * ms, 1502 * ms, 2499 * ms, 2500 * ms}
		r, err := Analyze(records(t0, offs, nil), time.Second, 5*time.Second, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Peak1s != 4 || r.Peak1sRun != 4 || r.Requests != 6 {
			t.Errorf("Peak1s %d, Peak1sRun %d, Requests %d; want 4, 4, 6", r.Peak1s, r.Peak1sRun, r.Requests)
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		if _, err := Analyze(nil, time.Second, 5*time.Second, time.Second); err == nil {
			t.Error("no records: want an error")
		}
		only := records(t0, []time.Duration{0}, nil)
		if _, err := Analyze(only, time.Second, 5*time.Second, time.Second); err == nil {
			t.Error("nothing in the window: want an error")
		}
	})
}
