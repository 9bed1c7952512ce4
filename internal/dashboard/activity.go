package dashboard

import (
	"context"
	"html/template"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/activity"
	"github.com/bulkinvite/bulkinvite/internal/dashboard/chart"
)

// activityView is the picture of the sending a page shows (package activity):
// the last hour's candidates/s, and requests/s with their 429s and errors, as
// two charts, and the time to send what is pending at the recent rate.
type activityView struct {
	Charts  []template.HTML
	Pending int64
	// Rate is the candidates/s of the last activity.Recent; Left the time to
	// done at that rate, "—" when nothing is pending or nothing was sent.
	Rate  string
	Left  string
	Error string
}

// activityView reads the last hour of a batch's activity, or the deployment's
// for batchID "", with pending the candidates still to send. A failed read is
// said on the page (and logged), not a failed page.
func (d *Dashboard) activityView(ctx context.Context, batchID string, pending int64) activityView {
	s, err := d.activity.Read(ctx, batchID, d.cfg.Now())
	if err != nil {
		d.log.Warn("could not read the activity", zap.String("batch_id", batchID), zap.Error(err))
		return activityView{Error: err.Error()}
	}
	id := "activity-batch"
	if batchID == "" {
		id = "activity-all"
	}
	since := "60 min ago"
	v := activityView{Pending: pending, Rate: chart.Rate(s.CandidatesPerSecond(activity.Recent)), Left: "—"}
	if left, ok := s.Left(pending); ok {
		v.Left = "about " + roundDuration(left).String()
	}
	v.Charts = []template.HTML{
		chart.Chart{ID: id + "-candidates", Title: "Candidates per second", Since: since, Lines: []chart.Line{
			{Name: "candidates/s", Class: "candidates", Values: s.Candidates},
		}}.SVG(),
		chart.Chart{ID: id + "-requests", Title: "Requests per second, 429s and errors", Since: since, Lines: []chart.Line{
			{Name: "requests/s", Class: "requests", Values: s.Requests},
			{Name: "429s/s", Class: "throttled", Values: s.Throttled},
			{Name: "errors/s", Class: "errors", Values: s.Errors},
		}}.SVG(),
	}
	return v
}
