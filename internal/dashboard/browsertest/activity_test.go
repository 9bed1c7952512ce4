package browsertest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// drawn is a JavaScript expression: the page's activity chart draws the series
// of class cls above 0 somewhere (its polyline is not flat).
func drawn(cls string) string {
	return fmt.Sprintf(`(() => {
		const p = document.querySelector('#live-activity svg.chart polyline.%s');
		if (!p) return false;
		const ys = p.getAttribute('points').split(' ').map(v => parseFloat(v.split(',')[1]));
		return ys.length === 360 && ys.some(y => y < Math.max(...ys));
	})()`, cls)
}

// eta is a JavaScript expression: the activity's time to done.
const eta = `document.querySelector('#live-activity .eta-left').textContent`

// TestBrowserActivityChart: a batch sent through the sandbox, which throttles
// (429) and fails (5xx) some requests, is drawn on its page while it runs, with
// a time to done; once done its page and the front page still draw the hour's
// candidates/s, requests/s, and the 429s and errors the sandbox answered, and
// the time to done is "—".
func TestBrowserActivityChart(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{Sandbox: sandbox.Config{Seed: 19, Faults: sandbox.Faults{Rate: 6, Burst: 2, FailRate: 0.2}}})
	tab := e.tab
	tab.signIn("")
	e.Import("charted", pipelinetest.Candidates("charted", 80), nil)

	tab.open("/batches/charted")
	if got := eval[string](tab, eta); got != "—" {
		t.Errorf("before any worker the time to done is %q, want —", got)
	}
	if n := eval[int](tab, `document.querySelectorAll('#live-activity svg.chart').length`); n != 2 {
		t.Fatalf("%d charts on the batch page, want 2", n)
	}
	e.startWorker(t)
	tab.waitFor(drawn("candidates")+` && `+eta+`.startsWith('about ')`, time.Minute)
	t.Logf("while sending: time to done %q; %s", eval[string](tab, eta), tab.text("#live-activity .eta"))
	tab.shoot("activity-batch-running")

	bt := e.WaitDone("charted", 2*time.Minute)
	if bt.Invited != 80 {
		t.Fatalf("batch %+v", bt.Status())
	}
	st := e.API.Stats()
	t.Logf("the sandbox saw %+v", st)
	// The series the vendor's answers call for: 429s and 5xx are likely at these
	// rates, not certain.
	series := []string{"candidates", "requests"}
	if st.ByStatus[429] > 0 {
		series = append(series, "throttled")
	}
	if st.ByStatus[500]+st.ByStatus[503] > 0 {
		series = append(series, "errors")
	}
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'done' && `+eta+` === '—'`, time.Minute)
	for _, cls := range series {
		tab.waitFor(drawn(cls), 10*time.Second)
	}
	desc := eval[string](tab, `document.querySelector('#live-activity svg.chart desc').textContent`)
	if !strings.Contains(desc, "candidates/s: peak") {
		t.Errorf("the chart's description %q", desc)
	}
	tab.shoot("activity-batch-done")

	// The front page: the deployment's hour.
	tab.open("/")
	for _, cls := range series {
		tab.waitFor(drawn(cls), 10*time.Second)
	}
	if got := eval[string](tab, eta); got != "—" {
		t.Errorf("the front page's time to done with nothing pending: %q, want —", got)
	}
	if got := tab.text("#live-activity .eta"); !strings.Contains(got, "0 pending") {
		t.Errorf("the front page's activity line %q", got)
	}
	tab.shoot("activity-front")
	if n := tab.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}
