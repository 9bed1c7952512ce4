package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

var _ worker.Observer = (*metrics.Metrics)(nil)

// scrape GETs the handler's text exposition and parses it.
func scrape(t testing.TB, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, metrics.Path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", metrics.Path, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	return parse(t, rec.Body.String())
}

func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not Prometheus' text format: %v\n%s", err, text)
	}
	return fams
}

// byLabel returns a family's values keyed by the value of its one label.
func byLabel(fam *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if fam == nil {
		return out
	}
	for _, m := range fam.Metric {
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if len(m.Label) != 1 {
			out[""] = v
			continue
		}
		out[m.Label[0].GetValue()] = v
	}
	return out
}

// TestContractNames: every metric docs/operations.md names is served under that name,
// with its type and label, and the Go and process collectors are there too.
func TestContractNames(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{AuthStopped: func(context.Context) (bool, error) { return true, nil },
		PausedBatches:    func(context.Context) (int, error) { return 2, nil },
		ScheduledBatches: func(context.Context) (int, error) { return 3, nil }})
	m.Outcomes(payload.OutcomeInvited, 3)
	m.Outcomes(payload.OutcomeCancelled, 4)
	m.DeadLettered(payload.ReasonValidation, 2)
	m.APIRequest(200)
	m.APIRequest(0)
	m.RateLimitWait(1500 * time.Millisecond)
	m.InFlight(1)
	fams := scrape(t, m.Handler())

	tests := []struct {
		name  string
		typ   dto.MetricType
		label string
		want  map[string]float64 // values by label value, as far as given
	}{
		{metrics.CandidatesTotal, dto.MetricType_COUNTER, "outcome", map[string]float64{"invited": 3, "cv_queued": 0, "dead_lettered": 0, "skipped_duplicate": 0, "cancelled": 4}},
		{metrics.DeadLettersTotal, dto.MetricType_COUNTER, "reason", map[string]float64{"validation": 2, "retries_exhausted": 0}},
		{metrics.APIRequestsTotal, dto.MetricType_COUNTER, "code", map[string]float64{"200": 1, metrics.CodeNoAnswer: 1}},
		{metrics.RateLimitWaitSeconds, dto.MetricType_HISTOGRAM, "", nil},
		{metrics.APIInFlightRequests, dto.MetricType_GAUGE, "", map[string]float64{"": 1}},
		{metrics.AuthStopped, dto.MetricType_GAUGE, "", map[string]float64{"": 1}},
		{metrics.BatchesHeld, dto.MetricType_GAUGE, "state", map[string]float64{"paused": 2, "scheduled": 3}},
		{"go_goroutines", dto.MetricType_GAUGE, "", nil},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests, struct {
			name  string
			typ   dto.MetricType
			label string
			want  map[string]float64
		}{"process_cpu_seconds_total", dto.MetricType_COUNTER, "", nil})
	}
	for _, tt := range tests {
		fam := fams[tt.name]
		if fam == nil {
			t.Errorf("%s is not served", tt.name)
			continue
		}
		if fam.GetType() != tt.typ {
			t.Errorf("%s is a %s, want a %s", tt.name, fam.GetType(), tt.typ)
		}
		for _, s := range fam.Metric {
			if tt.label != "" && (len(s.Label) != 1 || s.Label[0].GetName() != tt.label) {
				t.Errorf("%s has labels %v, want only %q", tt.name, s.Label, tt.label)
			}
		}
		got := byLabel(fam)
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s{%s=%q} = %v, want %v", tt.name, tt.label, k, got[k], v)
			}
		}
	}
	if n := len(byLabel(fams[metrics.DeadLettersTotal])); n != len(payload.Reasons) {
		t.Errorf("%d reasons served, want all %d from the start", n, len(payload.Reasons))
	}
	h := fams[metrics.RateLimitWaitSeconds].Metric[0].GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 1.5 || len(h.Bucket) != len(metrics.WaitBuckets)+1 { // and +Inf
		t.Errorf("wait histogram: %d samples, sum %v, %d buckets", h.GetSampleCount(), h.GetSampleSum(), len(h.Bucket))
	}
}

// TestAuthStoppedUnreadable: when the stop cannot be read (Redis away), the scrape
// still serves the rest, leaves the gauge out and logs why.
func TestAuthStoppedUnreadable(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	m := metrics.New(metrics.Config{
		AuthStopped: func(context.Context) (bool, error) { return false, errors.New("dial tcp: connection refused") },
		Log:         zap.New(core),
	})
	fams := scrape(t, m.Handler())
	if fams[metrics.AuthStopped] != nil || fams[metrics.CandidatesTotal] == nil {
		t.Errorf("served %d families, auth stop %v; want the rest without the gauge", len(fams), fams[metrics.AuthStopped])
	}
	if logs.FilterMessageSnippet("connection refused").Len() == 0 {
		t.Errorf("the read error was not logged: %v", logs.All())
	}
	if fams := scrape(t, metrics.New(metrics.Config{}).Handler()); fams[metrics.AuthStopped] != nil {
		t.Errorf("without Config.AuthStopped the gauge is served: %v", fams[metrics.AuthStopped])
	}
}

// TestListen: Listen serves the metrics at /metrics and nothing else, and Close
// stops it.
func TestListen(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get(metrics.Path); code != http.StatusOK || parse(t, body)[metrics.CandidatesTotal] == nil {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	if code, _ := get("/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get("http://" + srv.Addr() + metrics.Path); err == nil {
		t.Error("the server still answers after Close")
	}
	if _, err := m.Listen(srv.Addr() + ":bad"); err == nil {
		t.Error("Listen on a bad address did not fail")
	}
}
