package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/internal/metrics"
)

const (
	dashboardFile  = "../../docs/grafana-dashboard.json"
	chartValues    = "../../deploy/helm/bulkinvite/values.yaml"
	queueDepthName = "asynq_tasks_enqueued_total" // asynq's tasks by queue and state, a gauge
)

// grafanaDashboard is the part of Grafana's dashboard model the test reads.
type grafanaDashboard struct {
	Title  string         `json:"title"`
	UID    string         `json:"uid"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// TestDashboardQueries: every PromQL query of the Grafana dashboard
// (docs/grafana-dashboard.json), and the Helm chart's KEDA query, names only
// metrics that are served (a histogram by its _bucket, _sum and _count series)
// and only their labels; and the dashboard shows each of our metrics and the
// queue depth.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	served := servedFamilies(t)
	exprs := dashboardExprs(t)
	exprs["chart: worker.autoscaling.query"] = chartKEDAQuery(t)

	used := map[string]bool{}
	for where, expr := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, name := range names {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			if served[name] == nil {
				t.Errorf("%s: %s is not served", where, name)
			}
		}
		checkLabels(t, where, expr, names, served)
	}
	for _, want := range []string{metrics.CandidatesTotal, metrics.DeadLettersTotal, metrics.APIRequestsTotal,
		metrics.RateLimitWaitSeconds, metrics.APIInFlightRequests, metrics.AuthStopped, queueDepthName} {
		if !used[want] {
			t.Errorf("no query of the dashboard uses %s", want)
		}
	}
}

// dashboardExprs reads the dashboard's queries, keyed by panel title and target.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: no title or uid", dashboardFile)
	}
	exprs := map[string]string{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				exprs[p.Title+" #"+string(rune('A'+i))] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	if len(exprs) == 0 {
		t.Fatalf("%s: no queries", dashboardFile)
	}
	return exprs
}

// chartKEDAQuery is the default query by which the chart's ScaledObject scales
// the workers.
func chartKEDAQuery(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(chartValues)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Worker struct {
			Autoscaling struct {
				Query string `yaml:"query"`
			} `yaml:"autoscaling"`
		} `yaml:"worker"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", chartValues, err)
	}
	return v.Worker.Autoscaling.Query
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promIdent    = regexp.MustCompile(`\b([a-zA-Z_][a-zA-Z0-9_:]*)\s*(\()?`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression reads: its
// identifiers once strings, label matchers, ranges and groupings are taken out,
// other than function calls and keywords.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
		id, call := m[1], m[2] != ""
		if call || slices.Contains(promKeywords, strings.ToLower(id)) {
			continue
		}
		if !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

// checkLabels checks the labels an expression matches on (selector{label=...})
// and groups by (by (label)) against the families it reads.
func checkLabels(t *testing.T, where, expr string, names []string, served map[string]*dto.MetricFamily) {
	t.Helper()
	for _, u := range selector.FindAllStringSubmatch(expr, -1) {
		fam := served[u[1]]
		for _, m := range matcher.FindAllStringSubmatch(u[2], -1) {
			if fam != nil && !hasLabel(fam, m[1]) {
				t.Errorf("%s: %s has no label %q", where, u[1], m[1])
			}
		}
	}
	for _, g := range promGrouping.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			if label == "" || !slices.ContainsFunc(names, func(n string) bool { return servedLabel(served[n], label) }) {
				t.Errorf("%s: groups by %q, which none of %v has", where, label, names)
			}
		}
	}
}

// servedLabel tells whether a family has a label; a histogram's buckets have "le".
func servedLabel(fam *dto.MetricFamily, label string) bool {
	if fam == nil {
		return false
	}
	return hasLabel(fam, label) || (label == "le" && fam.GetType() == dto.MetricType_HISTOGRAM)
}

// TestMetricNames pins metricNames on the shapes the dashboard uses, so that
// TestDashboardQueries cannot pass by finding nothing.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"selector", `max(bulkinvite_auth_stopped)`, []string{"bulkinvite_auth_stopped"}},
		{"matchers and range", `sum(rate(bulkinvite_api_requests_total{code="429",x=~"a|b"}[$__rate_interval]))`, []string{"bulkinvite_api_requests_total"}},
		{"grouping and ratio", `sum by (code) (rate(a_total[5m])) / ignoring(code) group_left sum(rate(b_total[5m]))`, []string{"a_total", "b_total"}},
		{"histogram", `histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[1m])))`, []string{"x_seconds_bucket"}},
		{"keywords", `up == 1 and bool on(job) other offset 5m`, []string{"up", "other"}},
		{"strings", `label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
				t.Errorf("metricNames(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}
