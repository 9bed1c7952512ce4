package browsertest_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// token is the API token the tests sign in with.
const token = "browser-token-7d3e9b-4a1f8c2e6b9d3a05"

// step bounds one browser step (a navigation, a click, a read).
const step = 20 * time.Second

// limiterConfig is the shared rate the tests' workers send at: slow enough that
// a page sees a batch running.
var limiterConfig = ratelimit.Config{Rate: 8, Burst: 1, Prefix: pipelinetest.Prefix}

// env is a serve (the API with the dashboard) over a pipeline, and a browser
// tab on it.
type env struct {
	*pipelinetest.Bundle
	url string
	tab *tab
}

// setup starts a pipeline with opts (no workers yet), serves the API and the
// dashboard on a loopback port, and opens a tab in a browser context of its own.
func setup(t *testing.T, opts pipelinetest.Options) *env {
	t.Helper()
	path := chromium()
	if path == "" {
		if os.Getenv("BULKINVITE_REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium is not on PATH (Debian: apt-get install chromium) and BULKINVITE_REQUIRE_BROWSER=1")
		}
		t.Skip("chromium is not on PATH (Debian: apt-get install chromium): the browser tests are skipped")
	}
	browser.once.Do(func() { startBrowser(path) })
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	b := pipelinetest.New(t, opts)
	lim, err := ratelimit.New(b.RDB, b.Key.ID(), limiterConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspectorFromRedisClient(b.RDB)
	dash, err := dashboard.New(dashboard.Deps{
		Store: b.Store, Replayer: b.Replayer, Limiter: lim, LimiterKey: b.Key.Masked(), Steer: b.Steering(),
		Resume: func(ctx context.Context, by string) ([]store.AuthStop, error) {
			return worker.Resume(ctx, b.Store, inspector, by)
		},
	}, dashboard.Config{Tokens: []string{token}, Refresh: 250 * time.Millisecond, IdleRefresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Deps{Store: b.Store, Producer: b.Producer, Replayer: b.Replayer, Steer: b.Steering()}, httpapi.Config{Tokens: []string{token}, UI: dash})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &env{Bundle: b, url: hs.URL, tab: openTab(t, hs.URL)}
}

// startWorker runs two in-process workers at limiterConfig's shared rate.
func (e *env) startWorker(t *testing.T) {
	t.Helper()
	for range 2 {
		e.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 4, PausePoll: 100 * time.Millisecond}, Limiter: limiterConfig, Concurrency: 2})
	}
}

// tab is a browser tab in a browser context of its own (cookies, storage),
// which counts the JavaScript dialogs opened in it and dismisses them.
type tab struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	dialogs atomic.Int64
}

func openTab(t *testing.T, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, base: base, shots: os.Getenv("BULKINVITE_SCREENSHOT_DIR")}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.dialogs.Add(1)
			t.Logf("a JavaScript dialog opened: %s %q", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if tb.shots == "" {
		tb.shots = t.TempDir()
	} else {
		tb.shots = filepath.Join(tb.shots, t.Name())
		if err := os.MkdirAll(tb.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots of %s go to %s", t.Name(), tb.shots)
	return tb
}

// do runs steps, failing the test on an error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

// run runs one action on the tab and returns its value, failing the test on an
// error.
func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatal(err)
	}
	return v
}

// open navigates to a path of the server and waits for its heading.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitVisible(chromedp.CSS("h1")))
}

// follow clicks what sel finds and waits for the page it leads to.
func (tb *tab) follow(sel string) {
	tb.t.Helper()
	// A live part of the page (data-live) is replaced every refresh: a node found
	// just before may be gone when the click comes, and is looked up again.
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(tb.ctx, step)
		_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(err.Error(), "Could not find node") {
			tb.t.Fatalf("click %s: %v", sel, err)
		}
	}
	tb.do(chromedp.WaitVisible(chromedp.CSS("h1")))
}

// text is the text of the first element sel finds.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(run(tb, chromedp.Text(chromedp.CSS(sel))))
}

// path is the tab's location without the server's address.
func (tb *tab) path() string {
	tb.t.Helper()
	return strings.TrimPrefix(run(tb, chromedp.Location()), tb.base)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[T](expr))
}

// waitFor waits until the JavaScript expression is true in the page, without
// reloading it: what changes, the page's own refresh brings.
func (tb *tab) waitFor(expr string, timeout time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+step)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		tb.t.Fatalf("waiting for %s: %v\npage text:\n%s", expr, err, run(tb, chromedp.Text(chromedp.CSS("body"))))
	}
}

// shoot saves a screenshot of the whole page as name.png.
func (tb *tab) shoot(name string) {
	tb.t.Helper()
	png := run(tb, chromedp.FullScreenshot(100))
	p := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", p)
}

// signIn signs in through the form, from wherever the dashboard sends a browser
// without a session.
func (tb *tab) signIn(shot string) {
	tb.t.Helper()
	tb.open("/")
	if p := tb.path(); p != "/signin?next=%2F" {
		tb.t.Fatalf("without a session / leads to %q, want the sign-in form", p)
	}
	if shot != "" {
		tb.shoot(shot)
	}
	tb.do(chromedp.SendKeys(chromedp.CSS(`input[name=token]`), token))
	tb.follow(`form[action="/signin"] button[type=submit]`)
	if p, h := tb.path(), tb.text("h1"); p != "/" || h != "Batches" {
		tb.t.Fatalf("after signing in: %s, %q", p, h)
	}
}
