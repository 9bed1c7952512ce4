package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	sessions "github.com/bulkinvite/bulkinvite/internal/session"
)

// Cookies of the dashboard.
const (
	// sessionCookie holds the session id.
	sessionCookie = "bulkinvite_session"
	// signInCookie holds the CSRF token of the sign-in form, which has no
	// session yet (a double-submitted cookie).
	signInCookie = "bulkinvite_signin"
	// signInCookieAge is how long a sign-in form may stay open, in seconds.
	signInCookieAge = 3600
	// maxForm bounds a form's body.
	maxForm = 64 << 10
)

// session is a signed-in browser: its id (the cookie's value), what the store
// holds for it (TokenID: its token's fingerprint), and who its token is.
type session struct {
	id string
	sessions.Session
	Who auth.Identity
}

// Can reports whether the session's token holds the scope named scope; the
// templates ask it before showing a button.
func (s *session) Can(scope string) bool { return s.Who.Has(auth.Scope(scope)) }

// handler is a page or an action of a signed-in browser.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// secret returns 32 random bytes, base64url-encoded.
func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole site, Secure
// when the request came over TLS (to serve or to a proxy in front of it).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
}

// session returns the request's session, or nil when it has none that is
// valid: unknown, expired, or of a token no longer configured.
func (d *Dashboard) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	st, err := d.sessions.Get(r.Context(), c.Value)
	if err != nil || st == nil {
		return nil, err
	}
	who, ok := d.tokenOf(st.TokenID)
	if !ok {
		return nil, nil
	}
	return &session{id: c.Value, Session: *st, Who: who}, nil
}

// tokenOf returns who the token of a session's fingerprint is; false when no
// configured token has it (removed, or its secret replaced).
func (d *Dashboard) tokenOf(fingerprint string) (auth.Identity, bool) {
	if d.cfg.InsecureNoAuth {
		return anonymous, fingerprint == anonymous.Name
	}
	for _, t := range d.tokens {
		if t.Fingerprint() == fingerprint {
			return t.Identity, true
		}
	}
	return auth.Identity{}, false
}

// openSession stores a new session for who, whose token has the fingerprint,
// and gives the browser its cookie.
func (d *Dashboard) openSession(w http.ResponseWriter, r *http.Request, fingerprint string, who auth.Identity) (*session, error) {
	now := d.cfg.Now().UTC()
	s := &session{id: secret(), Who: who, Session: sessions.Session{TokenID: fingerprint, CSRF: secret(), Created: now, Expires: now.Add(d.cfg.SessionTTL)}}
	if err := d.sessions.Create(r.Context(), s.id, s.Session); err != nil {
		return nil, err
	}
	setCookie(w, r, sessionCookie, s.id, int(d.cfg.SessionTTL.Seconds()))
	return s, nil
}

// page wraps a page of a signed-in browser: without a session it sends the
// browser to the sign-in form (an InsecureNoAuth dashboard opens one instead);
// a session whose token lacks scope gets 403.
func (d *Dashboard) page(scope auth.Scope, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := d.session(r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if s == nil && d.cfg.InsecureNoAuth {
			if s, err = d.openSession(w, r, anonymous.Name, anonymous); err != nil {
				d.fail(w, r, err)
				return
			}
		}
		if s == nil {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !d.allowed(w, r, s, scope) {
			return
		}
		h(w, r, s)
	}
}

// action wraps a state-changing form post: it needs a session whose token holds
// scope ("": any), a same-origin request, and the session's CSRF token in the
// form's csrf field; else 403.
func (d *Dashboard) action(scope auth.Scope, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := d.cross.Check(r); err != nil {
			d.errorPage(w, r, http.StatusForbidden, "This form was posted from another site, so it was refused.")
			return
		}
		s, err := d.session(r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if s == nil {
			d.errorPage(w, r, http.StatusForbidden, "You are not signed in (or your session ended). Sign in, then try again.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			d.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !sameSecret(r.PostForm.Get("csrf"), s.CSRF) {
			d.errorPage(w, r, http.StatusForbidden, "This form's security token is missing or out of date. Reload the page and try again.")
			return
		}
		if !d.allowed(w, r, s, scope) {
			return
		}
		h(w, r, s)
	}
}

// allowed reports whether the session's token holds scope ("": any), answering
// 403 when it does not.
func (d *Dashboard) allowed(w http.ResponseWriter, r *http.Request, s *session, scope auth.Scope) bool {
	if scope == "" || s.Who.Has(scope) {
		return true
	}
	d.log.Info("dashboard request refused: missing scope", zap.String("token", s.Who.Name), zap.String("scope", string(scope)), zap.String("path", r.URL.Path))
	d.errorPage(w, r, http.StatusForbidden, "Your token ("+s.Who.Name+") lacks the "+string(scope)+" scope this needs.")
	return false
}

// sameSecret compares a secret given with the one expected in constant time; an
// empty one never matches.
func sameSecret(given, want string) bool {
	return given != "" && want != "" && subtle.ConstantTimeCompare([]byte(given), []byte(want)) == 1
}

// signInBody is what the sign-in page shows.
type signInBody struct {
	CSRF, Next, Error string
}

// signInPage is GET /signin: the form, with a fresh CSRF cookie.
func (d *Dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s, err := d.session(r); err == nil && s != nil || d.cfg.InsecureNoAuth {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	csrf := secret()
	setCookie(w, r, signInCookie, csrf, signInCookieAge)
	d.render(w, r, http.StatusOK, "signin.html", &pageData{Title: "Sign in", Body: signInBody{CSRF: csrf, Next: next}})
}

// signInPost is POST /signin: a token the API accepts opens a session.
func (d *Dashboard) signInPost(w http.ResponseWriter, r *http.Request) {
	if err := d.cross.Check(r); err != nil {
		d.errorPage(w, r, http.StatusForbidden, "This form was posted from another site, so it was refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameSecret(r.PostForm.Get("csrf"), c.Value) {
		d.errorPage(w, r, http.StatusForbidden, "This sign-in form's security token is missing or out of date. Open the sign-in page again.")
		return
	}
	if d.cfg.InsecureNoAuth {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	addr := d.cfg.FailedAuth.Client(r)
	t, ok := auth.Find(d.tokens, strings.TrimSpace(r.PostForm.Get("token")))
	if !ok {
		d.failedSignIn(w, r, addr, signInBody{CSRF: c.Value, Next: next})
		return
	}
	if _, err := d.openSession(w, r, t.Fingerprint(), t.Identity); err != nil {
		d.fail(w, r, err)
		return
	}
	setCookie(w, r, signInCookie, "", -1)
	d.log.Info("dashboard sign-in", zap.String("token", t.Name), zap.String("client", addr))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOutPost is POST /signout: the session is deleted and its cookie cleared.
func (d *Dashboard) signOutPost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := d.sessions.Delete(r.Context(), s.id); err != nil {
		d.fail(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// failedSignIn answers a sign-in with a token the server does not know: 401,
// or 429 with Retry-After once addr has failed too often.
func (d *Dashboard) failedSignIn(w http.ResponseWriter, r *http.Request, addr string, body signInBody) {
	if wait := d.cfg.FailedAuth.Failed(addr); wait > 0 {
		d.log.Warn("dashboard sign-in refused: too many failed attempts", zap.String("client", addr))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		body.Error = "Too many failed sign-ins from your address. Wait a little, then try again."
		d.render(w, r, http.StatusTooManyRequests, "signin.html", &pageData{Title: "Sign in", Body: body})
		return
	}
	d.log.Warn("dashboard sign-in failed: unknown token", zap.String("client", addr))
	body.Error = "That token is not one this server accepts."
	d.render(w, r, http.StatusUnauthorized, "signin.html", &pageData{Title: "Sign in", Body: body})
}

// safeNext returns next, cleaned as http.Redirect cleans it, when it is a path
// on this site; "/" otherwise: the sign-in form redirects nowhere else. Browsers
// read `\` as `/` and drop tabs and newlines, so a next holding either (or any
// control character), raw or percent-encoded in its path, is refused, as is a
// path that starts with `//` once decoded; the checks are made on the cleaned
// path (`/./\x` cleans to `/\x`).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.ContainsFunc(next, unsafeInPath) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.ContainsFunc(u.Path, unsafeInPath) {
		return "/"
	}
	clean := path.Clean(u.EscapedPath())
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	decoded, err := url.PathUnescape(clean)
	if err != nil || !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") || strings.HasPrefix(decoded, "//") {
		return "/"
	}
	if u.RawQuery != "" {
		clean += "?" + u.RawQuery
	}
	return clean
}

// unsafeInPath reports whether r may not stand in a redirect's path: a
// backslash or a control character.
func unsafeInPath(r rune) bool { return r == '\\' || unicode.IsControl(r) }
