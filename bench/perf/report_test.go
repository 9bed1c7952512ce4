package main

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

func TestRenderTable(t *testing.T) {
	t.Parallel()
	rs := []row{
		{Measure: "pickup p99", Ours: "120.0 ms", Rev: "2100.0 ms", Goal: "< 300 ms", Met: met},
		{Measure: "drain ÷ raw poster", Ours: "0.20", Baseline: "1.00", Goal: ">= 0.35", Met: missed},
	}
	var b strings.Builder
	renderTable(&b, rs, "rev abc1234")
	want := "| measure | ours | baseline | rev abc1234 | goal | met? |\n" +
		"| --- | ---: | ---: | ---: | --- | --- |\n" +
		"| pickup p99 | 120.0 ms | — | 2100.0 ms | < 300 ms | met |\n" +
		"| drain ÷ raw poster | 0.20 | 1.00 | — | >= 0.35 | **missed** |\n"
	if b.String() != want {
		t.Errorf("with a rev:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	renderTable(&b, rs[:1], "")
	want = "| measure | ours | baseline | goal | met? |\n" +
		"| --- | ---: | ---: | --- | --- |\n" +
		"| pickup p99 | 120.0 ms | — | < 300 ms | met |\n"
	if b.String() != want {
		t.Errorf("without a rev:\n%s\nwant:\n%s", b.String(), want)
	}
}

// find returns the row whose measure starts with prefix.
func find(t *testing.T, rs []row, prefix string) row {
	t.Helper()
	for _, r := range rs {
		if strings.HasPrefix(r.Measure, prefix) {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", prefix, rs)
	return row{}
}

func TestRowsVerdicts(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	f := &figures{
		Rev: "rev abc1234",
		Import: &importFigures{importVariant: importVariant{RowsPerS: 151_000, PeakRSS: 70 << 20}, RawRowsPerS: 900_000,
			WithIDs: importVariant{RowsPerS: 199_000, PeakRSS: 40 << 20}},
		RawPost: &drainFigures{CandPerS: 100_000},
		Drain: map[string]*drainFigures{
			"ours":        {CandPerS: 36_000, WorkerCPU: 20 * ms, RedisCPU: 20 * ms, AllocsNote: "no worker --metrics-addr"},
			"rev abc1234": {CandPerS: 15_000, WorkerCPU: 48 * ms, RedisCPU: 37 * ms, AllocsPerCand: 80},
		},
		Pickup:   map[string]*pickupFigures{"ours": {Latencies: make([]time.Duration, 50), P99: 300 * ms}},
		Held:     map[string]*heldFigures{"ours": {GapSeconds: 0, Counted: 20, MeanRate: 199.9}},
		Adaptive: &benchrate.Result{AcceptedRate: 18.2, Share429: 0.011},
		Fixed:    &benchrate.Result{AcceptedRate: 7.2, Share429: 0.3},
		Serve: map[string]*serveFigures{
			"ours":        {Requests: 9000, PerS: 4500, P50: 20 * ms, P99: 49 * ms, Big: 1000 * ms},
			"rev abc1234": {Requests: 6000, Errors: 2, PerS: 3000, P99: 120 * ms},
		},
		ServeBare:    &serveFigures{Requests: 40000, PerS: 20000, P99: 5 * ms},
		ServeClients: 200,
	}
	rs := rows(f)
	checks := []struct{ prefix, col, want string }{
		{"import rows/s", "met", met},
		{"import rows/s", "baseline", "900,000"},
		{"import peak RSS", "met", missed},
		{"import with ats_candidate_id rows/s", "ours", "199,000"},
		{"import with ats_candidate_id rows/s", "baseline", "151,000"},
		{"import with ats_candidate_id rows/s", "met", missed},
		{"import with ats_candidate_id peak RSS", "met", met},
		{"drain ÷ raw poster", "ours", "0.36"},
		{"drain ÷ raw poster", "met", met},
		{"drain ÷ raw poster", "rev", "0.15"},
		{"worker + Redis CPU", "met", met}, // 40 <= 85/2
		{"worker + Redis CPU", "rev", "85.0 ms"},
		{"worker allocations", "ours", "n/a (no worker --metrics-addr)"},
		{"worker allocations", "rev", "80.0"},
		{"pickup p99", "met", missed}, // 300 ms is not < 300 ms
		{"held at 200 req/s: seconds", "ours", "0 of 20"},
		{"held at 200 req/s: seconds", "met", met},
		{"adaptive: accepted", "ours", "91.0%"},
		{"adaptive: accepted", "baseline", "36.0%"},
		{"adaptive: accepted", "met", met},
		{"adaptive: 429 share", "met", missed},
		{"serve requests/s (200 clients", "ours", "4,500"},
		{"serve requests/s (200 clients", "baseline", "20,000"},
		{"serve requests/s (200 clients", "rev", "3,000"},
		{"serve p99", "met", met},
		{"serve p99", "rev", "120.0 ms"},
		{"serve answers not 202", "met", met},
		{"serve answers not 202", "rev", "2"},
		{"serve 10,000-candidate", "met", missed}, // 1 s is not < 1 s
	}
	for _, c := range checks {
		r := find(t, rs, c.prefix)
		got := map[string]string{"ours": r.Ours, "baseline": r.Baseline, "rev": r.Rev, "met": r.Met}[c.col]
		if got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.prefix, c.col, got, c.want)
		}
	}

	f.Rev = ""
	delete(f.Drain, "rev abc1234")
	if r := find(t, rows(f), "worker + Redis CPU"); r.Met != na || r.Rev != "" {
		t.Errorf("without a rev: CPU row %+v, want n/a and no rev cell", r)
	}
	if rs := rows(&figures{}); len(rs) != 0 {
		t.Errorf("nothing measured: %d rows, want none", len(rs))
	}
}

func TestHeldOfRanDry(t *testing.T) {
	t.Parallel()
	res := benchrate.Result{PerSecond: []int{205, 200, 120, 0, 0}, PendingAtEnd: 0}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, 2500 * time.Millisecond} { // the last request in second 2
		res.Records = append(res.Records, recordAt(t0.Add(d)))
	}
	f := heldOf(res, 5*time.Second)
	if !f.RanDry || f.GapSeconds != 0 || f.Counted != 2 {
		t.Errorf("heldOf = %+v; want ran dry, 0 gaps of 2 seconds", f)
	}
	res.PendingAtEnd = 10
	if f := heldOf(res, 5*time.Second); f.RanDry || f.GapSeconds != 3 || f.Counted != 5 {
		t.Errorf("not dry: heldOf = %+v; want 3 gaps of 5", f)
	}
}
