package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
)

// pageData is what every page's layout shows, and the page's own Body.
type pageData struct {
	Title string
	Page  string
	// Session is the signed-in browser; nil on the sign-in and error pages.
	Session *session
	NoAuth  bool
	// Stops are the auth stops, shown on every page of a signed-in browser.
	Stops []store.AuthStop
	// Here is the page's own path and query, where a form posted from it returns.
	Here string
	// Refresh is how often (ms) the page's live parts refresh; 0 never.
	Refresh int64
	Notices []string
	Body    any
}

// common fills what every page of a signed-in browser shows: the auth stops,
// the notices its query carries, and the refresh (fast while active).
func (d *Dashboard) common(ctx context.Context, r *http.Request, s *session, title string, active bool, body any) (*pageData, error) {
	stops, err := d.store.AuthStops(ctx)
	if err != nil {
		return nil, err
	}
	p := &pageData{Title: title, Session: s, NoAuth: d.cfg.InsecureNoAuth, Stops: stops, Here: r.URL.RequestURI(), Body: body}
	p.Refresh = d.cfg.IdleRefresh.Milliseconds()
	if active || len(stops) > 0 {
		p.Refresh = d.cfg.Refresh.Milliseconds()
	}
	q := r.URL.Query()
	for _, k := range notices {
		if v, err := strconv.Atoi(q.Get(k)); err == nil && v >= 0 {
			p.Notices = append(p.Notices, fmt.Sprintf(noticeText[k], v))
		}
	}
	return p, nil
}

// notices are the query parameters by which an action tells the page it
// redirects to what it did, in the order the page says them.
var notices = []string{"replayed", "purged", "resumed", "cancelled"}

var noticeText = map[string]string{
	"replayed":  "%d dead letters replayed.",
	"purged":    "%d dead letters purged.",
	"resumed":   "Sending resumed for %d API key(s): queued chunks go out within seconds; a new 401/403 stops again.",
	"cancelled": "Batch cancelled: %d candidates not yet sent will not be.",
}

// funcs are the templates' helpers.
func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string {
			return "/assets/" + name + "?v=" + d.assets[name].version
		},
		"batchURL": batchURL,
		"dlURL":    dlURL,
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"whenp": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		// stamp is a time for a datetime attribute, as the API writes an event's.
		"stamp": func(t time.Time) string { return t.UTC().Format(httpapi.EventTime) },
		"num":   func(n int64) string { return groupDigits(n) },
		"rate":  func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
		"dur":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	}
}

// batchURL is a batch's page, with an optional sub-page.
func batchURL(id string, sub ...string) string {
	u := "/batches/" + url.PathEscape(id)
	if len(sub) > 0 {
		u += "/" + sub[0]
	}
	return u
}

// dlURL is a batch's dead letters (or sub: "deadletters.csv", "replay", "purge")
// filtered by reason and search text.
func dlURL(id, sub, reason, q string) string {
	v := url.Values{}
	if reason != "" {
		v.Set("reason", reason)
	}
	if q != "" {
		v.Set("q", q)
	}
	u := batchURL(id, sub)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// groupDigits writes n with thin spaces between thousands: 1 234 567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u202f')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// loadTemplates parses each page with the layout.
func (d *Dashboard) loadTemplates() error {
	d.pages = map[string]*template.Template{}
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		return err
	}
	for _, e := range names {
		name := e.Name()
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(d.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		d.pages[name] = t
	}
	return nil
}

// batchID reads and checks the {id} of a batch's path, and that the session's
// token may see the batch: an admin every batch, another token its own only
// (another owner's, one created before batches had owners and one whose record
// has expired are a 404, as if there were none). It has answered when ok is
// false.
func (d *Dashboard) batchID(w http.ResponseWriter, r *http.Request, s *session) (string, bool) {
	id := r.PathValue("id")
	if err := producer.ValidateBatchID(id); err != nil {
		d.errorPage(w, r, http.StatusBadRequest, "Not a batch id: "+err.Error())
		return "", false
	}
	if s.Who.Has(auth.Admin) {
		return id, true
	}
	b, err := d.store.Batch(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrBatchNotFound), errors.Is(err, store.ErrBatchExpired), err == nil && (b.Owner == "" || b.Owner != s.Who.Name):
		d.errorPage(w, r, http.StatusNotFound, "There is no batch "+id+".")
		return "", false
	case err != nil:
		d.fail(w, r, err)
		return "", false
	}
	return id, true
}

// batch reads a batch; a batch that is unknown or expired is nil, with the
// reason as a page would say it and its status.
func (d *Dashboard) batch(ctx context.Context, id string) (*store.Batch, int, string, error) {
	b, err := d.store.Batch(ctx, id)
	switch {
	case errors.Is(err, store.ErrBatchNotFound):
		return nil, http.StatusNotFound, "There is no batch " + id + ".", nil
	case errors.Is(err, store.ErrBatchExpired):
		return nil, http.StatusGone, "Batch " + id + " was done longer ago than the retention (BULKINVITE_BATCH_RETENTION) and its record has expired; its dead letters, if any, are kept.", nil
	case err != nil:
		return nil, 0, "", err
	}
	return b, http.StatusOK, "", nil
}

// limiterView is the limiter as the batch list shows it.
type limiterView struct {
	Known bool
	Key   string
	State ratelimit.State
	Error string
}

func (d *Dashboard) limiterView(ctx context.Context) limiterView {
	if d.limiter == nil {
		return limiterView{}
	}
	st, err := d.limiter.State(ctx)
	v := limiterView{Known: true, Key: d.limKey, State: st}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}
