package browsertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Payloads that would run script, each setting window.__xss, if a page put them
// in as HTML or followed them as links.
var xss = []string{
	`<script>window.__xss=1</script>`,
	`"><img src=x onerror="window.__xss=2;alert(2)">`,
	`<a href="javascript:window.__xss=3">fix it</a>`,
	`javascript:window.__xss=4`,
	`</td></table><svg onload="window.__xss=5;alert(5)">`,
}

// echoVendor is a vendor whose error messages echo what they were sent, with
// markup of their own: it refuses every candidate with an
// invitation_error_message that holds the candidate's name, a javascript: link
// and an image with an onerror handler.
func echoVendor(t *testing.T) *httptest.Server {
	t.Helper()
	type result struct {
		Email *string `json:"email_address"`
		CV    *string `json:"cv_link"`
		Msg   string  `json:"invitation_error_message"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := payload.DecodeInviteRequest(body)
		if err != nil {
			http.Error(w, `{"message":"cannot decode"}`, http.StatusBadRequest)
			return
		}
		var out struct {
			Results []result `json:"results"`
		}
		for _, c := range req.Candidates {
			email := c.Email
			out.Results = append(out.Results, result{Email: &email,
				Msg: `Candidate ` + c.Name + ` refused: <a href="javascript:window.__xss=7">why</a> <img src=x onerror="window.__xss=8;alert(8)">`})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The checks of a page: no payload ran (window.__xss unset), no element a
// payload would make is in the document (the only svg are the server's progress
// bars and activity charts), no javascript: link and no event handler attribute
// anywhere, and the payloads read as text.
const (
	nothingRan     = `window.__xss === undefined`
	noMarkupMade   = `document.querySelectorAll('main img, main script, main iframe, main svg:not(.bar):not(.chart), main a[href^="javascript:"]').length === 0`
	noHandlers     = `[...document.querySelectorAll('*')].every(el => [...el.attributes].every(a => !a.name.toLowerCase().startsWith('on')))`
	noScriptLinks  = `[...document.links].every(a => a.protocol !== 'javascript:')`
	onlyOwnScripts = `[...document.scripts].every(s => s.src.startsWith(location.origin + '/assets/app.js'))`
)

// TestBrowserOutsideDataStaysInert: candidates' names, a rejected row's email
// and the vendor's messages that carry <script>, "><img onerror=…>, <svg onload>
// and javascript: links render as text on every page: no script runs, no dialog
// opens, no element or link comes of them; then clicking through the pages
// changes nothing.
func TestBrowserOutsideDataStaysInert(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{})
	vendor := echoVendor(t)
	client, err := flowmingo.New(flowmingo.Config{BaseURL: vendor.URL, Key: e.Key, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	e.StartWorker(pipelinetest.WorkerOptions{Sender: client, Limiter: limiterConfig})
	var cands []payload.Candidate
	for i, p := range xss {
		cands = append(cands, payload.Candidate{Email: "xss-" + string(rune('a'+i)) + "@example.com", Name: p, Firstname: p, Lastname: p})
	}
	cands = append(cands, payload.Candidate{Email: `"><img src=x onerror=window.__xss=6>@example.com`, Name: "Rejected Row"})
	if res := e.Import("xss", cands, nil); res.Rejected != 1 || res.Accepted != int64(len(xss)) {
		t.Fatalf("import: %+v", res)
	}
	if bt := e.WaitDone("xss", time.Minute); bt.DeadLettered != int64(len(xss)) {
		t.Fatalf("batch %+v", bt.Status())
	}

	tab := e.tab
	tab.signIn("")
	for _, path := range []string{"/", "/batches/xss", "/batches/xss/deadletters",
		"/batches/xss/deadletters?q=" + url.QueryEscape(`<script>window.__xss=9</script>`), "/batches/xss/replay", "/batches/xss/purge"} {
		tab.open(path)
		for _, check := range []string{nothingRan, noMarkupMade, noHandlers, noScriptLinks, onlyOwnScripts} {
			if !eval[bool](tab, check) {
				t.Errorf("%s: %s is false", path, check)
			}
		}
	}

	tab.open("/batches/xss/deadletters")
	text := run(tab, chromedp.Text(chromedp.CSS("main")))
	for _, p := range xss {
		if !strings.Contains(text, p) {
			t.Errorf("the dead letters do not show %q as text", p)
		}
	}
	if !strings.Contains(text, `refused: <a href="javascript:window.__xss=7">why</a> <img src=x onerror="window.__xss=8;alert(8)">`) {
		t.Errorf("the vendor's message is not shown as text:\n%s", text)
	}
	tab.shoot("xss-deadletters")
	tab.open("/batches/xss")
	if got := tab.text("section:last-of-type table.rejects"); !strings.Contains(got, `<img src=x onerror=window.__xss=6>@example.com`) {
		t.Errorf("the reject is not shown as text: %q", got)
	}
	// Click every link the page has into its own dead letters and back: nothing runs.
	tab.follow(`#live-dead a[href="/batches/xss/deadletters?reason=invitation_error"]`)
	time.Sleep(600 * time.Millisecond) // two live refreshes swap the dead letters in again
	if !eval[bool](tab, nothingRan) || !eval[bool](tab, noMarkupMade) {
		t.Error("after live refreshes, a payload ran or made markup")
	}
	if n := tab.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

// TestBrowserAuthStopResumeAndCSRF: after the vendor refuses the key (403),
// every page shows the auth stop loudly beside the limiter; a form posted from
// the page without its CSRF token, or with a wrong one, is refused with 403 and
// changes nothing; once the key is fixed the resume button clears the stop and
// the waiting batch finishes on its page.
func TestBrowserAuthStopResumeAndCSRF(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{})
	if err := e.API.SetKeyState(sandbox.DefaultKey, sandbox.KeyInactive); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t)
	e.Import("stopped", pipelinetest.Candidates("stopped", 12), nil)
	ctx := context.Background()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if stop, err := e.Store.AuthStopped(ctx, e.Key.ID()); err != nil {
			t.Fatal(err)
		} else if stop != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no auth stop within a minute")
		}
	}

	tab := e.tab
	tab.signIn("")
	for _, path := range []string{"/", "/batches/stopped"} {
		tab.open(path)
		if got := eval[string](tab, `document.querySelector('.stop').textContent`); !strings.Contains(got, "Sending is stopped") || !strings.Contains(got, "HTTP 403") ||
			!strings.Contains(got, "fl_live_sandbox.****") {
			t.Errorf("%s: the auth stop banner says %q", path, got)
		}
	}
	tab.open("/")
	if got := tab.text("#live-limiter"); !strings.Contains(got, "8/s, burst 1") || !strings.Contains(got, "fl_live_sandbox.****") {
		t.Errorf("the limiter panel says %q", got)
	}
	tab.shoot("authstop")

	// Forms posted from the page itself (same origin, with the session cookie)
	// but without the page's CSRF token.
	for _, tc := range []struct{ path, form string }{
		{"/resume", `{next: '/'}`},
		{"/resume", `{next: '/', csrf: 'forged'}`},
		{"/batches/stopped/purge", `{reason: ''}`},
		{"/batches/stopped/replay", `{reason: ''}`},
		{"/signout", `{}`},
	} {
		js := `fetch(` + jsString(tc.path) + `, {method: 'POST', body: new URLSearchParams(` + tc.form + `)}).then(r => r.status)`
		if got := run(tab, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise)); got != http.StatusForbidden {
			t.Errorf("POST %s %s without the CSRF token: %d, want 403", tc.path, tc.form, got)
		}
	}
	if stops, err := e.Store.AuthStops(ctx); err != nil || len(stops) != 1 {
		t.Errorf("after the refused posts: stops %v, %v", stops, err)
	}

	if err := e.API.SetKeyState(sandbox.DefaultKey, sandbox.KeyActive); err != nil {
		t.Fatal(err)
	}
	tab.follow(`form[action="/resume"] button`)
	if got := tab.text(".notice"); !strings.HasPrefix(got, "Sending resumed for 1 API key(s)") {
		t.Errorf("after resume: notice %q", got)
	}
	if n := eval[int](tab, `document.querySelectorAll('.stop').length`); n != 0 {
		t.Error("the banner is still there after resume")
	}
	tab.open("/batches/stopped")
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'done'`, time.Minute)
	if got := tab.text("#live-status tr.invited td"); got != "12" {
		t.Errorf("invited %q after resume, want 12", got)
	}
	if st := e.API.Stats(); st.Invites != 12 || st.DuplicateInvites != 0 {
		t.Errorf("vendor %+v", st)
	}
	if n := tab.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

// jsString quotes s as a JavaScript string.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
