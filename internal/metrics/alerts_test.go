package metrics_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

const alertsFile = "../../docs/alerts.yaml"

// alertRules is the part of Prometheus' rule file format the sample uses.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	// selector is a metric name of ours or asynq's, with its label matchers.
	selector = regexp.MustCompile(`\b((?:bulkinvite|asynq)_[a-z_]+)(\{[^}]*\})?`)
	matcher  = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)`)
)

// TestAlertRules: the sample alert rules (docs/operations.md, "Metrics and monitoring") are a rule file
// whose every alert is complete and uses only metrics and labels that are
// served, with asynq's queue collector reading a real queue. With promtool on
// PATH they are checked by it too.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	served := servedFamilies(t)
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %q lacks alert, expr, labels.severity or annotations", r.Alert)
			}
			uses := selector.FindAllStringSubmatch(r.Expr, -1)
			if len(uses) == 0 {
				t.Errorf("%s: expr %q uses none of our metrics", r.Alert, r.Expr)
			}
			for _, u := range uses {
				fam := served[u[1]]
				if fam == nil {
					t.Errorf("%s: %s is not served", r.Alert, u[1])
					continue
				}
				for _, m := range matcher.FindAllStringSubmatch(u[2], -1) {
					if !hasLabel(fam, m[1]) {
						t.Errorf("%s: %s has no label %q", r.Alert, u[1], m[1])
					}
				}
			}
		}
	}
	for _, want := range []string{"BulkinviteDeadLettersGrowing", "BulkinviteAuthStopped", "BulkinviteRateLimitedByVendor", "BulkinviteQueueStalled"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %v", want, alerts)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}

// servedFamilies scrapes metrics whose asynq collector reads a private Redis
// holding a queued task, with every labelled family of ours given a value.
func servedFamilies(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("default")); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Config{
		Inspector:   asynq.NewInspectorFromRedisClient(rdb),
		AuthStopped: func(context.Context) (bool, error) { return false, nil },
	})
	m.APIRequest(429)
	fams := scrape(t, m.Handler())
	for name, fam := range fams { // a histogram's series, as PromQL names them
		if fam.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				fams[name+suffix] = fam
			}
		}
	}
	return fams
}

func hasLabel(fam *dto.MetricFamily, name string) bool {
	for _, m := range fam.Metric {
		for _, l := range m.Label {
			if l.GetName() == name {
				return true
			}
		}
	}
	return false
}
