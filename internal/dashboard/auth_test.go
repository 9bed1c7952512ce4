package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// TestSignInAndOut: a page sends a browser without a session to the sign-in
// form; a wrong token is refused; the right one opens a session whose cookie is
// HttpOnly, SameSite=Strict, Secure over TLS only, and holds neither the token
// nor what Redis keys hold; signing out ends it on the server, not only in the
// browser.
func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	c := tb.client()
	rec := c.get(t, "/batches/nightly?x=1")
	must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/signin?next="+url.QueryEscape("/batches/nightly?x=1"),
		"without a session: %d to %q", rec.Code, rec.Header().Get("Location"))

	form := c.get(t, "/signin?next=/batches/nightly")
	pre := c.cookies["bulkinvite_signin"]
	if form.Code != http.StatusOK || pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode || csrfOf(t, form) != pre.Value {
		t.Fatalf("sign-in form: %d, cookie %+v", form.Code, pre)
	}
	must(t, strings.Contains(form.Body.String(), `name="next" value="/batches/nightly"`), "the form does not carry next")

	rec = c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {pre.Value}, "token": {"not-a-token"}, "next": {"/"}})
	must(t, rec.Code == http.StatusUnauthorized && strings.Contains(rec.Body.String(), "not one this server accepts"), "wrong token: %d", rec.Code)
	must(t, c.cookies["bulkinvite_session"] == nil, "a wrong token got a session")

	rec = c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {pre.Value}, "token": {" " + token2 + " "}, "next": {"/batches/nightly"}})
	sess := c.cookies["bulkinvite_session"]
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/batches/nightly" || sess == nil {
		t.Fatalf("sign-in: %d to %q, cookie %+v", rec.Code, rec.Header().Get("Location"), sess)
	}
	must(t, sess.HttpOnly && sess.SameSite == http.SameSiteStrictMode && !sess.Secure && sess.Path == "/" && sess.MaxAge == int(dashboard.DefaultSessionTTL.Seconds()),
		"session cookie %+v", sess)
	must(t, !strings.Contains(sess.Value, token2) && len(sess.Value) >= 43, "session cookie value %q", sess.Value)
	must(t, c.cookies["bulkinvite_signin"] == nil, "the sign-in cookie outlived the sign-in")
	keys, err := tb.RDB.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, _ := tb.RDB.Dump(context.Background(), k).Result()
		must(t, !strings.Contains(k+v, sess.Value) && !strings.Contains(k+v, token2), "Redis key %q holds the session id or the token", k)
	}
	page := c.get(t, "/")
	must(t, page.Code == http.StatusOK && strings.Contains(page.Body.String(), httpapi.TokenID(token2)), "signed in: %d", page.Code)

	// Over TLS (to serve or to a proxy that says so) the cookies are Secure.
	tls := tb.client()
	tls.get(t, "https://dash.example/signin")
	must(t, tls.cookies["bulkinvite_signin"] != nil && tls.cookies["bulkinvite_signin"].Secure, "sign-in cookie over TLS not Secure")
	proxied := tb.client()
	proxied.do(t, http.MethodGet, "/signin", nil, "X-Forwarded-Proto", "https")
	must(t, proxied.cookies["bulkinvite_signin"] != nil && proxied.cookies["bulkinvite_signin"].Secure, "sign-in cookie behind TLS not Secure")

	// Sign-out ends the session on the server: the old cookie no longer works.
	old := *sess
	rec = c.do(t, http.MethodPost, "/signout", url.Values{"csrf": {csrfOf(t, page)}})
	must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/signin" && c.cookies["bulkinvite_session"] == nil,
		"sign-out: %d to %q", rec.Code, rec.Header().Get("Location"))
	c.cookies["bulkinvite_session"] = &old
	rec = c.get(t, "/")
	must(t, rec.Code == http.StatusSeeOther, "the signed-out session still works: %d", rec.Code)
}

// TestSessionsEnd: a session ends when its time is up and when its token is no
// longer configured.
func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	c := tb.client()
	c.signIn(t, token1)

	// Another serve, whose clock says the session was opened 8 hours ago.
	longAgo := tb.client()
	longAgo.srv = tb.another(t, dashboard.Config{Tokens: []string{token1}, Now: func() time.Time { return time.Now().Add(-dashboard.DefaultSessionTTL) }})
	form := longAgo.get(t, "/signin")
	rec := longAgo.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {token1}})
	must(t, rec.Code == http.StatusSeeOther && longAgo.cookies["bulkinvite_session"] != nil, "sign-in: %d", rec.Code)
	longAgo.srv = tb.srv
	rec = longAgo.get(t, "/")
	must(t, rec.Code == http.StatusSeeOther && strings.HasPrefix(rec.Header().Get("Location"), "/signin"), "an expired session works: %d", rec.Code)

	// A serve that no longer has token1 does not take its sessions.
	c.srv = tb.another(t, dashboard.Config{Tokens: []string{token2}})
	rec = c.get(t, "/")
	must(t, rec.Code == http.StatusSeeOther, "a session of a token no longer configured works: %d", rec.Code)
	c.srv = tb.srv
	must(t, c.get(t, "/").Code == http.StatusOK, "the session does not work where its token is configured")
}

// TestSignInGuards: the sign-in form redirects only within the site, needs its
// CSRF cookie, and failed sign-ins from one address are limited (other
// addresses are not).
func TestSignInGuards(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{SignInBurst: 3, SignInRate: 0.001})
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil"} {
		c := tb.client()
		form := c.get(t, "/signin")
		rec := c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {token1}, "next": {next}})
		must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/", "next=%q: %d to %q", next, rec.Code, rec.Header().Get("Location"))
	}

	c := tb.client()
	form := c.get(t, "/signin")
	csrf := csrfOf(t, form)
	delete(c.cookies, "bulkinvite_signin")
	rec := c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrf}, "token": {token1}})
	must(t, rec.Code == http.StatusForbidden && c.cookies["bulkinvite_session"] == nil, "sign-in without its cookie: %d", rec.Code)

	c = tb.client()
	form = c.get(t, "/signin")
	csrf = csrfOf(t, form)
	for i := 0; i < 3; i++ {
		rec = c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrf}, "token": {"guess"}})
		must(t, rec.Code == http.StatusUnauthorized, "guess %d: %d", i, rec.Code)
	}
	rec = c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrf}, "token": {"guess"}})
	must(t, rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") != "" && c.cookies["bulkinvite_session"] == nil,
		"a guess after 3 failures: %d", rec.Code)
}

// TestSignInThrottleSparesOthers: eleven wrong tokens from one address (past
// the default burst of 10) get it 429s, but neither block the right token from
// that address nor any sign-in from another address.
func TestSignInThrottleSparesOthers(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	a, b := tb.client(), tb.client()
	a.remote, b.remote = "203.0.113.9:40000", "198.51.100.7:4242"
	signInThrottled(t, a, b)
}

// TestSignInThrottleBehindProxy: behind a proxy every request comes from the
// proxy's address, and the client's is in the trusted header: eleven wrong
// tokens from client A (even with a made-up address put first in the header)
// block neither client B nor A's right token. The API and the dashboard share
// the throttle.
func TestSignInThrottleBehindProxy(t *testing.T) {
	t.Parallel()
	throttle := httpapi.NewAuthThrottle(httpapi.ThrottleConfig{ProxyHeader: "X-Forwarded-For"})
	tb := setup(t, dashboard.Config{FailedAuth: throttle})
	a, b := tb.client(), tb.client()
	a.remote, b.remote = "10.0.0.2:50000", "10.0.0.2:50001"
	a.header = []string{"X-Forwarded-For", "198.51.100.7, 203.0.113.9"}
	b.header = []string{"X-Forwarded-For", "198.51.100.7"}
	signInThrottled(t, a, b)
	// The API counts A's failures with the dashboard's: its wrong token is a 429 too.
	rec := a.do(t, http.MethodGet, "/v1/batches", nil, "Authorization", "Bearer wrong")
	must(t, rec.Code == http.StatusTooManyRequests && strings.Contains(rec.Body.String(), httpapi.CodeTooManyFailedAuth), "the API after A's failed sign-ins: %d %s", rec.Code, rec.Body)
	rec = b.do(t, http.MethodGet, "/v1/batches", nil, "Authorization", "Bearer wrong")
	must(t, rec.Code == http.StatusUnauthorized, "the API, B's wrong token: %d", rec.Code)
}

// signInThrottled sends 11 wrong tokens from a, then checks that a's next
// wrong token is a 429, a's right token signs in, and b signs in.
func signInThrottled(t *testing.T, a, b *client) {
	t.Helper()
	csrf := csrfOf(t, a.get(t, "/signin"))
	codes := map[int]int{}
	for i := range dashboard.DefaultSignInBurst + 1 {
		rec := a.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrf}, "token": {"guess-" + strconv.Itoa(i)}})
		codes[rec.Code]++
	}
	must(t, codes[http.StatusUnauthorized] == dashboard.DefaultSignInBurst && codes[http.StatusTooManyRequests] == 1, "11 wrong tokens from A: %v", codes)
	rec := a.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrf}, "token": {token1}})
	must(t, rec.Code == http.StatusSeeOther && a.cookies["bulkinvite_session"] != nil, "A's right token after its failures: %d", rec.Code)
	form := b.get(t, "/signin")
	rec = b.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {"wrong"}})
	must(t, rec.Code == http.StatusUnauthorized, "B's wrong token: %d", rec.Code)
	rec = b.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {token2}})
	must(t, rec.Code == http.StatusSeeOther && b.cookies["bulkinvite_session"] != nil, "B's right token: %d", rec.Code)
}

// TestCSRF: every state-changing form is refused (403) without the session's
// CSRF token, with another one, from another site, or without a session, and
// nothing changes.
func TestCSRF(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	res := tb.Import("csrf", pipelinetest.Candidates("csrf", 3), nil)
	for i := int64(0); i < 3; i++ {
		tb.deadLetter(t, res.BatchID, i, pipelinetest.Candidates("csrf", 3)[i], "invitation_error", "invitation_error_message", "no")
	}
	if err := tb.Store.StopAuth(context.Background(), tb.Key.ID(), tb.Key.Masked(), 403, "inactive"); err != nil {
		t.Fatal(err)
	}
	c := tb.client()
	csrf := c.signIn(t, token1)
	other := tb.client()
	otherCSRF := other.signIn(t, token2)
	for _, path := range []string{"/batches/csrf/replay", "/batches/csrf/purge", "/resume", "/signout"} {
		for _, tc := range []struct {
			name   string
			c      *client
			form   url.Values
			header []string
		}{
			{"no token", c, url.Values{}, nil},
			{"empty token", c, url.Values{"csrf": {""}}, nil},
			{"another session's token", c, url.Values{"csrf": {otherCSRF}}, nil},
			{"from another site", c, url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
			{"from another origin", c, url.Values{"csrf": {csrf}}, []string{"Origin", "https://evil.example"}},
			{"no session", tb.client(), url.Values{"csrf": {csrf}}, nil},
		} {
			rec := tc.c.do(t, http.MethodPost, path, tc.form, tc.header...)
			must(t, rec.Code == http.StatusForbidden && strings.Contains(rec.Header().Get("Content-Type"), "text/html"),
				"POST %s, %s: %d, want 403", path, tc.name, rec.Code)
		}
	}
	must(t, tb.countDeadLetters(t, "csrf") == 3, "dead letters changed")
	must(t, tb.resumes.Load() == 0, "resume ran")
	stops, _ := tb.Store.AuthStops(context.Background())
	must(t, len(stops) == 1, "the auth stop was cleared")
	must(t, c.get(t, "/").Code == http.StatusOK, "the session ended")
	// With the token, the same form goes through.
	rec := c.do(t, http.MethodPost, "/resume", url.Values{"csrf": {csrf}, "next": {"/batches/csrf?purged=2"}})
	must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/batches/csrf?resumed=1", "resume with the token: %d to %q", rec.Code, rec.Header().Get("Location"))
	stops, _ = tb.Store.AuthStops(context.Background())
	must(t, len(stops) == 0 && tb.resumes.Load() == 1, "resume did not clear the stop: %v", stops)
}

// TestInsecureNoAuth: without tokens every browser gets a session of its own
// (for CSRF tokens) without signing in, and only loopback Host names are served.
func TestInsecureNoAuth(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{InsecureNoAuth: true})
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		c := tb.client()
		c.host = host
		rec := c.get(t, "/")
		must(t, rec.Code == http.StatusOK && c.cookies["bulkinvite_session"] != nil && strings.Contains(rec.Body.String(), "no authentication"),
			"Host %s: %d", host, rec.Code)
		must(t, c.do(t, http.MethodPost, "/resume", url.Values{}).Code == http.StatusForbidden, "Host %s: resume without a CSRF token", host)
	}
	c := tb.client()
	c.host = "rebound.evil.example:8080"
	rec := c.get(t, "/")
	must(t, rec.Code == http.StatusMisdirectedRequest && c.cookies["bulkinvite_session"] == nil, "another Host: %d", rec.Code)
	if _, err := dashboard.New(dashboard.Deps{}, dashboard.Config{InsecureNoAuth: true, Tokens: []string{token1}}); err == nil {
		t.Error("InsecureNoAuth with tokens accepted")
	}
	if _, err := dashboard.New(dashboard.Deps{}, dashboard.Config{}); err == nil {
		t.Error("no tokens accepted")
	}
}
