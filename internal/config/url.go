package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// redacted is what RedactURL puts where a secret was.
const redacted = "xxxxx"

// RedactURL returns s with its secrets replaced by "xxxxx": the password of the
// user info (all of the user info when it has no ":", which redis-cli reads as a
// password), and the value of every query parameter whose name mentions a
// password, secret, token, key or auth (password=, sentinel_password=, ...).
//
// It works on the text, not on a parsed URL, so that a URL that does not parse (a
// password with an unencoded "/" or "#", say) is redacted too: everything between
// "://" and the last "@" counts as user info. It may hide more than a secret, never
// less. Every place a URL that may hold a secret reaches a user goes through it.
func RedactURL(s string) string {
	head, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		head, rest = s[:i+3], s[i+3:]
	}
	at := strings.LastIndexByte(rest, '@')
	if at >= 0 {
		if user, _, ok := strings.Cut(rest[:at], ":"); ok {
			rest = user + ":" + redacted + rest[at:]
			at = len(user) + 1 + len(redacted)
		} else {
			rest = redacted + rest[at:]
			at = len(redacted)
		}
	}
	q := strings.IndexByte(rest[at+1:], '?')
	if q < 0 {
		return head + rest
	}
	q += at + 1
	query, frag, hasFrag := strings.Cut(rest[q+1:], "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if name, _, ok := strings.Cut(p, "="); ok && secretParam(name) {
			params[i] = name + "=" + redacted
		}
	}
	rest = rest[:q+1] + strings.Join(params, "&")
	if hasFrag {
		rest += "#" + frag
	}
	return head + rest
}

func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "secret", "token", "key", "auth"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// urlInText is anything that looks like a URL with a scheme, up to the next space
// or quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactURLs returns text with every URL in it passed through RedactURL: for text
// that may quote a URL without our knowing, such as an error from a library or a
// command-line argument echoed back.
func RedactURLs(text string) string {
	return urlInText.ReplaceAllStringFunc(text, RedactURL)
}

// urlProblem says why parse refused s, without quoting a secret: it parses the
// redacted form, whose errors cannot hold one. If that form parses, the trouble
// was in the part redacted away.
func urlProblem(s string, parse func(string) error) string {
	err := parse(RedactURL(s))
	if err == nil {
		return "the user name or a password holds a character that must be percent-encoded " +
			"(@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// checkAPIURL refuses an API base URL that would leak the key or could not be
// meant: not http(s), no host, user info, a query or a fragment, and plain http to
// a host that is not loopback unless allowInsecure.
func checkAPIURL(s string, allowInsecure bool) error {
	shown := strconv.Quote(RedactURL(s))
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL: %s", shown, urlProblem(s, func(s string) error { _, err := url.Parse(s); return err }))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must start with http:// or https://, got %s", shown)
	case u.Hostname() == "":
		return fmt.Errorf("%s has no host; want e.g. %s", shown, strconv.Quote("https://apis.flowmingo.ai"))
	case u.User != nil:
		return fmt.Errorf("%s must not hold a user name or password: the API key goes in FLOWMINGO_API_KEY or FLOWMINGO_API_KEY_FILE", shown)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%s must not have a query (?...): the invite path is appended to the base URL", shown)
	case u.Fragment != "":
		return fmt.Errorf("%s must not have a fragment (#...)", shown)
	case u.Scheme == "http" && !allowInsecure && !isLoopback(u.Hostname()):
		return fmt.Errorf("%s is plain http:// to a host that is not loopback, so the API key would cross the network in cleartext; "+
			"use https://, or, only on a network you trust, set BULKINVITE_ALLOW_INSECURE_API_URL=true (--allow-insecure-api-url)", shown)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1). Other names, even ones that resolve to loopback, are not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CleartextAPIURL reports whether APIURL is plain http to a host that is not
// loopback, which Validate lets through only with AllowInsecureAPIURL: the key
// then crosses the network in cleartext, and the commands that send say so.
func (c *Config) CleartextAPIURL() bool {
	u, err := url.Parse(c.APIURL)
	return err == nil && u.Scheme == "http" && !isLoopback(u.Hostname())
}
