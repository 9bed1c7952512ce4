package dashboard_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/activity"
	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// peakOf finds "<name>: peak <v>" in a chart's description.
var peakOf = regexp.MustCompile(`(candidates/s|requests/s|429s/s|errors/s): peak ([0-9.]+)`)

// peaks are the peaks a page's charts describe, by series, summed over charts.
func peaks(page string) map[string]string {
	out := map[string]string{}
	for _, m := range peakOf.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestActivityChart: the batch page and the front page draw the last hour's
// activity inline (no script, no style attribute: the CSP allows neither), the
// batch's own and the deployment's, with the time to done at the recent rate,
// and "—" for a batch that is not sending.
func TestActivityChart(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	tb.Import("busy", pipelinetest.Candidates("busy", 40), nil)
	tb.Import("idle", pipelinetest.Candidates("idle", 3), nil)
	rec := activity.NewRecorder(tb.RDB, pipelinetest.Prefix, activity.Config{})
	rec.Request("busy", 10, 200)
	rec.Request("busy", 10, 200)
	rec.Request("busy", 10, 429)
	rec.Request("busy", 10, 503)
	rec.Request("elsewhere", 4, 200)
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := tb.client()
	c.signIn(t, token1)

	for _, tc := range []struct {
		path, left string
		peaks      []string // the series drawn above 0
		pending    string
	}{
		{"/batches/busy", "about ", []string{"candidates/s", "requests/s", "429s/s", "errors/s"}, "40 pending"},
		{"/batches/idle", "—", nil, "3 pending"},
		{"/", "about ", []string{"candidates/s", "requests/s", "429s/s", "errors/s"}, "43 pending"},
	} {
		page := c.get(t, tc.path).Body.String()
		start := strings.Index(page, `<section id="live-activity"`)
		if start < 0 {
			t.Fatalf("%s has no activity section", tc.path)
		}
		section := page[start:]
		section = section[:strings.Index(section, "</section>")]
		if n := strings.Count(section, `<svg class="chart"`); n != 2 {
			t.Errorf("%s: %d charts, want 2", tc.path, n)
		}
		if strings.Contains(section, "style=") || strings.Contains(section, "<script") {
			t.Errorf("%s: the charts hold what the CSP refuses", tc.path)
		}
		p := peaks(section)
		for _, s := range []string{"candidates/s", "requests/s", "429s/s", "errors/s"} {
			drawn := p[s] != "" && p[s] != "0"
			if want := slices.Contains(tc.peaks, s); drawn != want {
				t.Errorf("%s: %s peaks at %q, want above 0: %v", tc.path, s, p[s], want)
			}
		}
		if !strings.Contains(section, `Time to done: <strong class="eta-left">`+tc.left) || !strings.Contains(section, tc.pending) {
			t.Errorf("%s: the time to done is not %q with %q:\n%s", tc.path, tc.left, tc.pending, section[strings.Index(section, `<p class="eta">`):])
		}
	}
}
