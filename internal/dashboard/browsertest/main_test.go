package browsertest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

// The one Chromium of the package's tests; each test opens a browser context of
// its own in it (its own cookies and storage), so that tests run in parallel.
var browser struct {
	once   sync.Once
	ctx    context.Context
	stop   func()
	err    error
	tmpDir string
}

// chromium is the browser binary: Debian's package puts it on PATH.
func chromium() string {
	p, err := exec.LookPath("chromium")
	if err != nil {
		return ""
	}
	return p
}

// startBrowser starts Chromium once, headless, with a fresh profile and
// nothing that reaches the network on its own.
func startBrowser(path string) {
	dir, err := os.MkdirTemp("", "bulkinvite-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	browser.tmpDir = dir
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		// Tabs of parallel tests share the browser: none is throttled as hidden.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// The first run starts the browser, which lives as long as its context: no
	// timeout here.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		browser.err = fmt.Errorf("start %s: %w", path, err)
		return
	}
	browser.ctx = ctx
	browser.stop = func() {
		cancelCtx()
		cancelAlloc()
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.stop != nil {
		browser.stop()
	}
	if browser.tmpDir != "" {
		_ = os.RemoveAll(browser.tmpDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
