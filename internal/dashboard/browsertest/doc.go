// Package browsertest holds the dashboard's tests in a real browser: headless
// Chromium (Debian's chromium, driven with chromedp) against `serve`'s handler
// with the dashboard, over a private Redis, in-process workers and the sandbox
// (internal/pipelinetest). It has no code of its own besides its tests, which
// live apart from package dashboard's so that they run beside the rest of the
// suite, and save screenshots of the pages they see.
//
// Without chromium on PATH the tests skip, or fail when
// BULKINVITE_REQUIRE_BROWSER=1 (as .ci/run sets it). BULKINVITE_SCREENSHOT_DIR
// keeps the screenshots in a directory of your choice; otherwise they go to the
// test's temporary directory, which the test logs.
package browsertest
