package dashboard

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// Defaults of Config.
const (
	DefaultSessionTTL  = 8 * time.Hour
	DefaultRefresh     = 2 * time.Second
	DefaultIdleRefresh = 15 * time.Second
	DefaultSignInRate  = 1.0
	DefaultSignInBurst = 10
	DefaultMaxScan     = 20000
	DefaultMaxRows     = 500
)

// Config tunes a Dashboard. Zero fields take the documented defaults.
type Config struct {
	// Tokens are the API's bare secrets, accepted at sign-in as unscoped admin
	// tokens (auth.Bare), and AuthTokens its named tokens with their scopes
	// (httpapi.Config's two fields). A session records its token's
	// fingerprint (auth.Token.Fingerprint), never the secret, and ends when
	// the token is gone or its secret replaced; pages need the read scope,
	// replay and purge operate, resume admin.
	Tokens     []string
	AuthTokens []auth.Token
	// InsecureNoAuth serves without sign-in, as `serve --insecure-no-auth` serves
	// the API: each browser gets a session of its own (for the CSRF tokens), and
	// only requests whose Host is a loopback name are answered, so that another
	// site cannot reach it through DNS rebinding. Refused with Tokens set.
	// Default false.
	InsecureNoAuth bool
	// SessionTTL is how long a sign-in lasts. Default 8h.
	SessionTTL time.Duration
	// Refresh is how often a page showing work in progress (a batch not done, an
	// auth stop) refreshes its live parts; IdleRefresh how often another page
	// does. Defaults 2s and 15s.
	Refresh, IdleRefresh time.Duration
	// FailedAuth limits failed sign-ins per client address (the address its
	// ThrottleConfig.ProxyHeader names, behind a proxy): a wrong token past the
	// address's burst is answered 429; a right one always signs in. Give it the
	// API's (httpapi.Config.FailedAuth) so that failures on either count
	// together. Default: one of its own with SignInRate and SignInBurst, by the
	// connection's remote address.
	FailedAuth *httpapi.AuthThrottle
	// SignInRate and SignInBurst bound failed sign-ins per client address, per
	// second, when FailedAuth is nil. Defaults 1 and 10.
	SignInRate  float64
	SignInBurst int
	// MaxScan bounds the dead letters one page reads to group them (the CSV
	// export reads them all). Default 20000.
	MaxScan int
	// MaxRows bounds the dead letters listed on one page. Default 500.
	MaxRows int
	// Now tells the time, for tests. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.Refresh <= 0 {
		c.Refresh = DefaultRefresh
	}
	if c.IdleRefresh <= 0 {
		c.IdleRefresh = DefaultIdleRefresh
	}
	if c.SignInRate <= 0 {
		c.SignInRate = DefaultSignInRate
	}
	if c.SignInBurst <= 0 {
		c.SignInBurst = DefaultSignInBurst
	}
	if c.FailedAuth == nil {
		c.FailedAuth = httpapi.NewAuthThrottle(httpapi.ThrottleConfig{Rate: c.SignInRate, Burst: c.SignInBurst})
	}
	if c.MaxScan <= 0 {
		c.MaxScan = DefaultMaxScan
	}
	if c.MaxRows <= 0 {
		c.MaxRows = DefaultMaxRows
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the configuration, naming what is wrong.
func (c Config) Validate() error {
	switch {
	case c.InsecureNoAuth && len(c.Tokens)+len(c.AuthTokens) > 0:
		return errors.New("dashboard: InsecureNoAuth with Tokens set: drop one or the other")
	case !c.InsecureNoAuth && len(c.Tokens)+len(c.AuthTokens) == 0:
		return errors.New("dashboard: no Tokens to sign in with (BULKINVITE_TOKENS), and not InsecureNoAuth")
	}
	for i, t := range c.Tokens {
		if err := httpapi.CheckToken(t); err != nil {
			return fmt.Errorf("dashboard: token %d of %d %w", i+1, len(c.Tokens), err)
		}
	}
	if err := auth.Check(c.allTokens()); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// allTokens returns every accepted token: Tokens' bare secrets, then AuthTokens.
func (c Config) allTokens() []auth.Token {
	out := make([]auth.Token, 0, len(c.Tokens)+len(c.AuthTokens))
	for _, t := range c.Tokens {
		out = append(out, auth.Bare(t))
	}
	return append(out, c.AuthTokens...)
}
