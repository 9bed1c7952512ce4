package app

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/worker"
)

// HTTPConfig is the HTTP service's share of the configuration. The caller sets
// what serve's own flags say (Addr, InsecureNoAuth); HTTPServer adds the metrics
// and the dashboard, which shares hc's throttle of failed authentications.
func HTTPConfig(c config.Config) httpapi.Config {
	hc := httpapi.Config{
		AuthTokens:           c.Tokens,
		FailedAuth:           httpapi.NewAuthThrottle(httpapi.ThrottleConfig{ProxyHeader: c.TrustedProxyHeader}),
		MaxBodyBytes:         int64(c.ServeMaxBody),
		TokenRate:            c.ServeTokenRate,
		TokenBurst:           c.ServeTokenBurst,
		TokenInFlight:        c.ServeTokenInFlight,
		SpoolLimit:           int64(c.ServeSpoolLimit),
		CallbackAllowPrivate: c.CallbackAllowPrivate,
		CallbackSigning:      c.CallbackSecret != "",
	}
	if !c.APIKey.IsZero() {
		hc.KeyID = c.APIKey.ID()
	}
	return hc
}

// HTTPServer returns the HTTP service over the App's store, producer and
// replayer, logging to the App's logger, serving the App's metrics at /metrics
// and the dashboard at / unless hc has handlers of its own, and tracing with
// the App's tracing unless hc has a tracer of its own.
func (a *App) HTTPServer(hc httpapi.Config) (*httpapi.Server, error) {
	if hc.Tracer == nil {
		hc.Tracer, hc.Propagator = a.Tracing.Provider(), a.Tracing.Propagator()
	}
	if hc.Metrics == nil {
		hc.Metrics = a.Metrics().Handler()
	}
	if hc.UI == nil {
		ui, err := a.Dashboard(hc)
		if err != nil {
			return nil, err
		}
		hc.UI = ui
	}
	return httpapi.New(httpapi.Deps{Store: a.Store, Producer: a.Producer(), Replayer: a.Replayer(), Steer: a.Steering(a.Metrics()), Log: a.Log.Named("http")}, hc)
}

// Dashboard returns the dashboard over the App's store and replayer, signed in
// to with hc's tokens (or without, as hc says) under hc's throttle of failed
// authentications, resuming as `bulkinvite resume`
// does, and showing the shared rate limiter of the configured API key, when serve
// has one and the limiter is the shared one.
func (a *App) Dashboard(hc httpapi.Config) (*dashboard.Dashboard, error) {
	inspector := asynq.NewInspectorFromRedisClient(a.Redis)
	deps := dashboard.Deps{
		Store:    a.Store,
		Replayer: a.Replayer(),
		Resume: func(ctx context.Context, by string) ([]store.AuthStop, error) {
			return worker.Resume(ctx, a.Store, inspector, by)
		},
		Steer: a.Steering(a.Metrics()),
		Log:   a.Log.Named("dashboard"),
	}
	if !a.Cfg.APIKey.IsZero() && a.Cfg.Limiter != config.LimiterLocal {
		lim, err := a.Limiter()
		if err != nil {
			return nil, err
		}
		deps.Limiter, deps.LimiterKey = lim, a.Cfg.APIKey.Masked()
	}
	return dashboard.New(deps, dashboard.Config{Tokens: hc.Tokens, AuthTokens: hc.AuthTokens, InsecureNoAuth: hc.InsecureNoAuth, FailedAuth: hc.FailedAuth})
}
