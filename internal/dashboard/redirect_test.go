package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
)

// hostileNext are next values that try to send the browser elsewhere after
// sign-in: browsers read `\` as `/`, drop tabs and newlines, and http.Redirect
// cleans `/./` away, so each must end on a path of this site.
var hostileNext = []string{
	`/./\evil.example`,
	`/.\evil.example`,
	`/a/..\evil.example`,
	`/a/../\evil.example`,
	`//evil.example`,
	`///evil.example`,
	`/.//evil.example`,
	`/\\evil.example`,
	`/\evil.example`,
	`/%5Cevil.example`,
	`/%5C%5Cevil.example`,
	`/%2F/evil.example`,
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	"\t//evil.example",
	"/\x00/evil.example",
	"/\x7f/evil.example",
	"/%09/evil.example",
	`https://evil.example`,
	`https:evil.example`,
	`javascript:alert(1)`,
	`evil.example`,
}

// staysOnSite reports whether a Location header, read as a browser reads it
// (tabs and newlines dropped, `\` as `/`), stays on this site.
func staysOnSite(loc string) bool {
	if loc == "" || loc[0] != '/' || strings.ContainsFunc(loc, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return false
	}
	browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	base, _ := url.Parse("http://127.0.0.1:8080/batches/x")
	u, err := base.Parse(browser)
	if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
		return false
	}
	p, err := url.PathUnescape(u.EscapedPath())
	return err == nil && !strings.HasPrefix(p, "//") && !strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || unicode.IsControl(r) })
}

// TestSignInNextStaysOnSite: every hostile next value sends the browser to a
// path of this site, after a sign-in and from the sign-in page of a browser
// already signed in; a next on this site is kept.
func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	signedIn := tb.client()
	signedIn.signIn(t, token1)
	for _, next := range hostileNext {
		c := tb.client()
		form := c.get(t, "/signin")
		rec := c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {token1}, "next": {next}})
		loc := rec.Header().Get("Location")
		must(t, rec.Code == http.StatusSeeOther && staysOnSite(loc), "sign-in with next=%q: %d to %q", next, rec.Code, loc)

		rec = signedIn.get(t, "/signin?next="+url.QueryEscape(next))
		loc = rec.Header().Get("Location")
		must(t, rec.Code == http.StatusSeeOther && staysOnSite(loc), "signed in, /signin?next=%q: %d to %q", next, rec.Code, loc)
	}
	for next, want := range map[string]string{
		"/batches/nightly?x=1": "/batches/nightly?x=1",
		"/batches/a/./b/":      "/batches/a/b/",
		"/batches/n%2Fx":       "/batches/n%2Fx",
	} {
		rec := signedIn.get(t, "/signin?next="+url.QueryEscape(next))
		must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == want, "next=%q: %d to %q, want %q", next, rec.Code, rec.Header().Get("Location"), want)
	}
}
