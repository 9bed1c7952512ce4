package dashboard_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Payloads that would run script if a page put them in as HTML.
var xss = []string{
	`<script>window.__xss=1</script>`,
	`"><img src=x onerror="window.__xss=2">`,
	`<a href="javascript:window.__xss=3">fix it</a>`,
	`javascript:window.__xss=4`,
	`</textarea></title><svg onload=window.__xss=5>`,
}

// Signs of markup a payload would leave in a page rendered unescaped.
var (
	rawMarkup  = regexp.MustCompile(`(?i)<script>window|<img src=x|<svg onload|<a href="javascript|href="javascript:`)
	inlineCode = regexp.MustCompile(`(?i)<script(\s[^>]*)?>[^<]|<[a-z][^>]*\s(on[a-z]+|style)=|<style`)
)

// xssBatch imports a batch whose candidates carry the payloads in their names,
// rejects a row whose email carries one, and dead-letters each candidate with a
// vendor message that echoes a payload.
func xssBatch(t *testing.T, tb *testBundle, id string) {
	t.Helper()
	var cands []payload.Candidate
	for i, p := range xss {
		cands = append(cands, payload.Candidate{Email: "xss" + string(rune('a'+i)) + "@example.com", Name: p, Firstname: p, Lastname: p})
	}
	cands = append(cands, payload.Candidate{Email: `"><img src=x onerror=window.__xss=6>@example.com`, Name: "rejected"})
	res := tb.Import(id, cands, nil)
	if res.Rejected != 1 {
		t.Fatalf("import: %+v", res)
	}
	for i, p := range xss {
		tb.deadLetter(t, id, int64(i), cands[i], payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "refused "+p)
		if err := tb.Store.RecordEvent(context.Background(), id, store.Event{What: store.EventAuthStopped, By: p, Detail: "vendor answered 401: " + p}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPagesEscapeOutsideData: names, emails, rejects, vendor messages and
// events that hold markup and javascript: links show as text on every page, escaped; no page
// holds inline script, inline style or an event handler attribute.
func TestPagesEscapeOutsideData(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	xssBatch(t, tb, "xss")
	c := tb.client()
	c.signIn(t, token1)
	for _, path := range []string{"/", "/batches/xss", "/batches/xss/deadletters", "/batches/xss/deadletters?q=" + url.QueryEscape("<script>"),
		"/batches/xss/replay?reason=invitation_error", "/batches/xss/purge", "/candidates?q=xssa@example.com"} {
		rec := c.get(t, path)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", path, rec.Code)
			continue
		}
		if m := rawMarkup.FindString(body); m != "" {
			t.Errorf("%s holds outside markup unescaped: %q", path, m)
		}
		if m := inlineCode.FindString(body); m != "" {
			t.Errorf("%s holds inline code or style: %q", path, m)
		}
	}
	page := c.get(t, "/batches/xss/deadletters").Body.String()
	for _, want := range []string{
		`&lt;script&gt;window.__xss=1&lt;/script&gt;`,
		`refused &lt;a href=&#34;javascript:window.__xss=3&#34;&gt;fix it&lt;/a&gt;`,
		`javascript:window.__xss=4`,
	} {
		must(t, strings.Contains(page, want), "the dead letters do not show %q as text", want)
	}
	batch := c.get(t, "/batches/xss").Body.String()
	must(t, strings.Contains(batch, `<span class="detail">vendor answered 401: &lt;script&gt;window.__xss=1&lt;/script&gt;</span>`),
		"the timeline does not show an event's detail as text")
	must(t, strings.Contains(batch, `not a valid email address: &#34;\&#34;&gt;&lt;img src=x onerror=window.__xss=6&gt;@example.com&#34;`) ||
		strings.Contains(batch, `&lt;img src=x onerror=window.__xss=6&gt;`), "the reject does not show its email as text")
	// The search box echoes what was searched, escaped.
	search := c.get(t, "/batches/xss/deadletters?q="+url.QueryEscape(`"><script>alert(1)</script>`)).Body.String()
	must(t, strings.Contains(search, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`), "the search text is not escaped in its field")
}

// TestSecurityHeaders: every answer of the dashboard, pages, errors, assets and
// refusals alike, carries the strict CSP, forbids framing and sniffing, and is
// not cached (but versioned assets).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	c := tb.client()
	anon := tb.client()
	c.signIn(t, token1)
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	page := c.get(t, "/").Body.String()
	css := regexp.MustCompile(`/assets/app\.css\?v=[0-9a-f]+`).FindString(page)
	js := regexp.MustCompile(`/assets/app\.js\?v=[0-9a-f]+`).FindString(page)
	if css == "" || js == "" {
		t.Fatalf("the page links no versioned assets:\n%s", page)
	}
	for _, tc := range []struct {
		name  string
		c     *client
		m     string
		path  string
		code  int
		ctype string
	}{
		{"list", c, "GET", "/", 200, "text/html; charset=utf-8"},
		{"sign-in", anon, "GET", "/signin", 200, "text/html; charset=utf-8"},
		{"redirect", anon, "GET", "/", 303, ""},
		{"404", c, "GET", "/nothing/here", 404, "text/html; charset=utf-8"},
		{"unknown batch", c, "GET", "/batches/none", 404, "text/html; charset=utf-8"},
		{"bad batch id", c, "GET", "/batches/%3Cb%3E", 400, "text/html; charset=utf-8"},
		{"refused post", c, "POST", "/resume", 403, "text/html; charset=utf-8"},
		{"css", c, "GET", css, 200, "text/css; charset=utf-8"},
		{"js", anon, "GET", js, 200, "text/javascript; charset=utf-8"},
	} {
		rec := tc.c.do(t, tc.m, tc.path, url.Values{"x": {"1"}})
		h := rec.Header()
		must(t, rec.Code == tc.code, "%s: %d, want %d", tc.name, rec.Code, tc.code)
		must(t, h.Get("Content-Security-Policy") == csp, "%s: CSP %q", tc.name, h.Get("Content-Security-Policy"))
		must(t, h.Get("X-Frame-Options") == "DENY" && h.Get("X-Content-Type-Options") == "nosniff" && h.Get("Referrer-Policy") == "same-origin",
			"%s: headers %v", tc.name, h)
		must(t, tc.ctype == "" || h.Get("Content-Type") == tc.ctype, "%s: Content-Type %q", tc.name, h.Get("Content-Type"))
		wantCache := "no-store"
		if tc.name == "css" || tc.name == "js" {
			wantCache = "public, max-age=31536000, immutable"
		}
		must(t, h.Get("Cache-Control") == wantCache, "%s: Cache-Control %q", tc.name, h.Get("Cache-Control"))
	}
}

// TestErrorPages: what cannot be shown is an HTML page with the status: an
// unknown batch, a bad id, an unknown reason or state, a method the page does not
// take; an API path stays the API's JSON.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	c := tb.client()
	c.signIn(t, token1)
	tb.Import("known", pipelinetest.Candidates("k", 2), nil)
	for _, tc := range []struct {
		method, path string
		code         int
		says         string
	}{
		{"GET", "/batches/unknown", 404, "There is no batch unknown."},
		{"GET", "/batches/unknown/deadletters", 404, "There is no batch unknown."},
		{"GET", "/batches/-bad", 400, "Not a batch id"},
		{"GET", "/batches/known/deadletters?reason=nope", 400, "Unknown reason"},
		{"GET", "/batches/known/replay?reason=nope", 400, "Unknown reason"},
		{"GET", "/?state=nope", 400, "Unknown state"},
		{"GET", "/?cursor=nope", 400, "does not exist"},
		{"GET", "/assets/nope.js", 404, "No such file"},
		{"DELETE", "/batches/known", 405, ""},
	} {
		rec := c.do(t, tc.method, tc.path, nil)
		must(t, rec.Code == tc.code && strings.Contains(rec.Body.String(), tc.says), "%s %s: %d, want %d saying %q:\n%s", tc.method, tc.path, rec.Code, tc.code, tc.says, rec.Body)
	}
	rec := c.get(t, "/v1/nothing")
	must(t, rec.Code == 404 && rec.Header().Get("Content-Type") == "application/json", "an API path: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	// The session cookie is no bearer token: the API still wants one.
	must(t, c.get(t, "/v1/batches").Code == http.StatusUnauthorized, "the API took the dashboard's cookie")
}

// TestBatchPages: the list shows each batch with its counts, filters by state,
// and shows the limiter and an auth stop; a batch page shows its breakdown, its
// dead letters by reason with the vendor's messages, and its rejects.
func TestBatchPages(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	cands := pipelinetest.Candidates("mix", 6)
	cands = append(cands, payload.Candidate{Email: "not-an-email", Name: "Bad Row"})
	res := tb.Import("mix", cands, nil)
	tb.invite(t, "mix", 0, cands[0])
	tb.invite(t, "mix", 1, cands[1])
	tb.deadLetter(t, "mix", 2, cands[2], payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "Interview set is closed")
	tb.deadLetter(t, "mix", 3, cands[3], payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "Interview set is closed")
	tb.deadLetter(t, "mix", 4, cands[4], payload.ReasonCandidateError, payload.FieldErrorMessage, "Email bounced")
	tb.Import("later", pipelinetest.Candidates("later", 2), nil)
	if res.Accepted != 6 || res.Rejected != 1 {
		t.Fatalf("import: %+v", res)
	}
	c := tb.client()
	c.signIn(t, token1)

	list := c.get(t, "/").Body.String()
	for _, want := range []string{`href="/batches/mix"`, `href="/batches/later"`, `<span class="state running">running</span>`,
		`<span class="state queued">queued</span>`, "83% of 6", "Configured</dt><dd>5/s, burst 3", "fl_live_sandbox.****"} {
		must(t, strings.Contains(list, want), "the list lacks %q", want)
	}
	must(t, strings.Index(list, `href="/batches/later"`) < strings.Index(list, `href="/batches/mix"`), "the list is not newest first")
	must(t, !strings.Contains(list, "Sending is stopped"), "an auth stop shown without one")
	running := c.get(t, "/?state=running").Body.String()
	must(t, strings.Contains(running, `href="/batches/mix"`) && !strings.Contains(running, `href="/batches/later"`), "the state filter")

	page := c.get(t, "/batches/mix").Body.String()
	for _, want := range []string{"Rows read</th><td class=\"n\">7", "Invited</th><td class=\"n\">2", "Dead-lettered</th><td class=\"n\">3",
		"Pending</th><td class=\"n\">1", "Rejected at import</th><td class=\"n\">1",
		"<code>invitation_error</code></a></td>\n<td class=\"n\">2</td>", "2×</span> invitation_error_message: Interview set is closed",
		"1×</span> error_message: Email bounced", "not a valid email address", `data-live`} {
		must(t, strings.Contains(page, want), "the batch page lacks %q", want)
	}

	if err := tb.Store.StopAuth(context.Background(), tb.Key.ID(), tb.Key.Masked(), 401, "API key is invalid"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/batches/mix", "/batches/mix/deadletters"} {
		body := c.get(t, path).Body.String()
		must(t, strings.Contains(body, "Sending is stopped") && strings.Contains(body, "HTTP 401") && strings.Contains(body, "API key is invalid") &&
			strings.Contains(body, `action="/resume"`), "%s does not show the auth stop with its resume button", path)
	}
}

// TestScheduledBatchPage: a batch enqueued with a not-before time and a send
// window shows both on its page, and when the window opens next.
func TestScheduledBatchPage(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	sc, err := producer.NewSchedule(start, "Sat-Sun 09:00-10:00 Europe/Berlin", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tb.Import("sched", pipelinetest.Candidates("sched", 2), &task.Job{Target: pipelinetest.Target, Schedule: sc})
	c := tb.client()
	c.signIn(t, token1)
	page := c.get(t, "/batches/sched").Body.String()
	for _, want := range []string{`<span class="state scheduled">scheduled</span>`, "Not before</dt><dd>" + start.Format("2006-01-02 15:04"),
		"Send window</dt><dd>Sat-Sun 09:00-10:00 Europe/Berlin"} {
		must(t, strings.Contains(page, want), "the scheduled batch's page lacks %q", want)
	}
}

// TestDeadLetterSearchAndCSV: the dead-letter page filters by reason and search
// text; the CSV export has the same rows, written as `deadletter list --csv`
// writes them (a formula cell defused).
func TestDeadLetterSearchAndCSV(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	cands := []payload.Candidate{
		{Email: "ann@example.com", Name: "=HYPERLINK(\"https://evil.example\",\"x\")"},
		{Email: "bob@example.com", Name: "Bob"},
		{Email: "cy@example.com", Name: "Cy"},
	}
	tb.Import("dl", cands, nil)
	tb.deadLetter(t, "dl", 0, cands[0], payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "closed")
	tb.deadLetter(t, "dl", 1, cands[1], payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "quota reached")
	tb.deadLetter(t, "dl", 2, cands[2], payload.ReasonCandidateError, payload.FieldErrorMessage, "quota reached")
	c := tb.client()
	c.signIn(t, token1)
	for _, tc := range []struct {
		query   string
		n       int
		emails  []string
		summary string
	}{
		{"", 3, []string{"ann@", "bob@", "cy@"}, "3 dead letter(s)."},
		{"?reason=invitation_error", 2, []string{"ann@", "bob@"}, "2 dead letter(s) with reason"},
		{"?q=QUOTA", 2, []string{"bob@", "cy@"}, "2 dead letter(s) matching"},
		{"?q=quota&reason=candidate_error", 1, []string{"cy@"}, "1 dead letter(s) matching"},
		{"?q=nobody", 0, nil, "No dead letters match"},
	} {
		page := c.get(t, "/batches/dl/deadletters"+tc.query).Body.String()
		must(t, strings.Contains(page, tc.summary), "%s: no %q", tc.query, tc.summary)
		for _, e := range []string{"ann@", "bob@", "cy@"} {
			shown := strings.Contains(page, "<div>"+e)
			want := strings.Contains(strings.Join(tc.emails, " "), e)
			must(t, shown == want, "%s: %s shown %v, want %v", tc.query, e, shown, want)
		}
		rec := c.get(t, "/batches/dl/deadletters.csv"+tc.query)
		must(t, rec.Header().Get("Content-Type") == "text/csv; charset=utf-8" &&
			rec.Header().Get("Content-Disposition") == `attachment; filename="deadletters-dl.csv"`, "%s: CSV headers %v", tc.query, rec.Header())
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		must(t, len(rows) == tc.n+1 && rows[0][0] == "id", "%s: %d CSV rows, want %d and a header", tc.query, len(rows), tc.n+1)
		for _, r := range rows[1:] {
			if strings.HasPrefix(r[4], "ann@") {
				must(t, r[5] == `'=HYPERLINK("https://evil.example","x")`, "the formula cell is not defused: %q", r[5])
			}
		}
	}
}

// TestDeadLetterBounds: a page lists at most MaxRows dead letters and reads at
// most MaxScan, and says so; the CSV export still has them all.
func TestDeadLetterBounds(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	cands := pipelinetest.Candidates("many", 3)
	tb.Import("many", cands, nil)
	for i, c := range cands {
		tb.deadLetter(t, "many", int64(i), c, payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, "closed")
	}
	c := tb.client()
	c.srv = tb.another(t, dashboard.Config{Tokens: []string{token1}, MaxScan: 2, MaxRows: 1})
	c.signIn(t, token1)
	page := c.get(t, "/batches/many/deadletters").Body.String()
	must(t, strings.Contains(page, "2 dead letter(s); the first 1 are listed, the CSV export has them all. Only the first 2 were searched"),
		"the page does not say it is bounded:\n%s", page)
	rows, err := csv.NewReader(c.get(t, "/batches/many/deadletters.csv").Body).ReadAll()
	must(t, err == nil && len(rows) == 4, "CSV: %d rows, %v", len(rows), err)
}

// TestReplayAndPurge: replay and purge show what they would take on a
// confirmation page, do it on the confirmed POST, and tell the page they lead to;
// a replay to a corrected target checks it and sends the candidates there.
func TestReplayAndPurge(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	cands := pipelinetest.Candidates("rp", 4)
	tb.Import("rp", cands, nil)
	tb.deadLetter(t, "rp", 0, cands[0], payload.ReasonTargetNotFound, "", "")
	tb.deadLetter(t, "rp", 1, cands[1], payload.ReasonTargetNotFound, "", "")
	tb.deadLetter(t, "rp", 2, cands[2], payload.ReasonValidation, "", "")
	tb.deadLetter(t, "rp", 3, cands[3], payload.ReasonValidation, "", "")
	c := tb.client()
	c.signIn(t, token1)

	confirm := c.get(t, "/batches/rp/replay?reason=target_not_found")
	must(t, strings.Contains(confirm.Body.String(), "This moves <strong>2 dead letter(s)</strong>"), "replay confirmation:\n%s", confirm.Body)
	must(t, tb.countDeadLetters(t, "rp") == 4, "the confirmation page changed something")
	csrf := csrfOf(t, confirm)
	bad := c.do(t, http.MethodPost, "/batches/rp/replay", url.Values{"csrf": {csrf}, "reason": {"target_not_found"}, "interview_set": {"not-a-uuid"}})
	must(t, bad.Code == http.StatusBadRequest && strings.Contains(bad.Body.String(), "not a UUID") && strings.Contains(bad.Body.String(), `value="not-a-uuid"`),
		"a bad target: %d", bad.Code)
	must(t, tb.countDeadLetters(t, "rp") == 4, "a refused replay moved something")

	const fixed = "019c5ea9-0000-7000-8000-00000000beef"
	rec := c.do(t, http.MethodPost, "/batches/rp/replay", url.Values{"csrf": {csrf}, "reason": {"target_not_found"}, "interview_set": {fixed}})
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/batches/") || !strings.HasSuffix(loc, "?replayed=2") {
		t.Fatalf("replay: %d to %q:\n%s", rec.Code, loc, rec.Body)
	}
	newID := strings.TrimSuffix(strings.TrimPrefix(loc, "/batches/"), "?replayed=2")
	nb, err := tb.Store.Batch(context.Background(), newID)
	if err != nil {
		t.Fatal(err)
	}
	must(t, nb.Accepted == 2 && nb.Job.Target.InterviewSetID == fixed && len(nb.ReplayOf) == 1 && nb.ReplayOf[0] == "rp", "replay batch %+v", nb.Status())
	must(t, tb.countDeadLetters(t, "rp") == 2, "the replayed dead letters are still there")
	must(t, strings.Contains(c.get(t, loc).Body.String(), "2 dead letters replayed."), "the replay batch's page does not say so")

	confirm = c.get(t, "/batches/rp/purge?reason=validation")
	must(t, strings.Contains(confirm.Body.String(), "This deletes <strong>2 dead letter(s)</strong>"), "purge confirmation:\n%s", confirm.Body)
	rec = c.do(t, http.MethodPost, "/batches/rp/purge", url.Values{"csrf": {csrfOf(t, confirm)}, "reason": {"validation"}})
	must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/batches/rp?purged=2", "purge: %d to %q", rec.Code, rec.Header().Get("Location"))
	must(t, tb.countDeadLetters(t, "rp") == 0, "purged dead letters are still there")
	must(t, strings.Contains(c.get(t, "/batches/rp/replay").Body.String(), "nothing to replay"), "an empty replay confirmation")

	// The batch's timeline tells both, by the signed-in token.
	timeline := regexp.MustCompile(`<span class="what">(\w+)</span> (?:<span class="by">by ([^<]*)</span> )?<span class="detail">([^<]*)</span>`)
	var told []string
	for _, m := range timeline.FindAllStringSubmatch(c.get(t, "/batches/rp").Body.String(), -1) {
		told = append(told, m[1]+": "+m[3])
		must(t, m[1] == "created" || strings.HasPrefix(m[2], auth.BarePrefix), "%s by %q, want the signed-in token", m[1], m[2])
	}
	want := []string{"created: 4 accepted, 0 rejected", "replayed: replayed 2 dead letters into batch " + newID, "purged: purged 2 dead letters"}
	must(t, slices.Equal(told, want), "the timeline tells %q, want %q", told, want)
}

// TestReplayAllAndPurgeAllStayInTheirBatch: a batch page's "Replay all…" and
// "Purge all…" lead to forms that send an empty reason (every reason) and act on
// that batch's dead letters only, never on another batch's.
func TestReplayAllAndPurgeAllStayInTheirBatch(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	for _, b := range []string{"ra", "rb", "rc"} {
		cands := pipelinetest.Candidates(b, 2)
		tb.Import(b, cands, nil)
		tb.deadLetter(t, b, 0, cands[0], payload.ReasonValidation, "", "")
		tb.deadLetter(t, b, 1, cands[1], payload.ReasonInvitationError, "", "")
	}
	c := tb.client()
	c.signIn(t, token1)
	for _, action := range []string{"replay", "purge"} {
		batch := map[string]string{"replay": "ra", "purge": "rb"}[action]
		page := c.get(t, "/batches/"+batch).Body.String()
		must(t, strings.Contains(page, `href="/batches/`+batch+`/`+action+`"`), "%s's page links no %s of all:\n%s", batch, action, page)
		confirm := c.get(t, "/batches/"+batch+"/"+action)
		must(t, strings.Contains(confirm.Body.String(), "<strong>2 dead letter(s)</strong>") && strings.Contains(confirm.Body.String(), `name="reason" value=""`),
			"%s of all, confirmation:\n%s", action, confirm.Body)
		rec := c.do(t, http.MethodPost, "/batches/"+batch+"/"+action, url.Values{"csrf": {csrfOf(t, confirm)}, "reason": {""}})
		must(t, rec.Code == http.StatusSeeOther, "%s of all: %d\n%s", action, rec.Code, rec.Body)
	}
	must(t, tb.countDeadLetters(t, "ra") == 0 && tb.countDeadLetters(t, "rb") == 0, "replay all / purge all left some: ra %d, rb %d",
		tb.countDeadLetters(t, "ra"), tb.countDeadLetters(t, "rb"))
	must(t, tb.countDeadLetters(t, "rc") == 2, "another batch's dead letters were taken: rc has %d of 2", tb.countDeadLetters(t, "rc"))
}
