package app

import (
	"github.com/bulkinvite/bulkinvite/config"
	"github.com/bulkinvite/bulkinvite/httpapi"
)

// HTTPConfig is the HTTP service's share of the configuration. The caller sets
// what serve's own flags say (Addr, InsecureNoAuth); HTTPServer adds the metrics.
func HTTPConfig(c config.Config) httpapi.Config {
	hc := httpapi.Config{
		Tokens:               c.Tokens,
		MaxBodyBytes:         int64(c.ServeMaxBody),
		TokenRate:            c.ServeTokenRate,
		TokenBurst:           c.ServeTokenBurst,
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
// unless hc has a handler of its own.
func (a *App) HTTPServer(hc httpapi.Config) (*httpapi.Server, error) {
	if hc.Metrics == nil {
		hc.Metrics = a.Metrics().Handler()
	}
	return httpapi.New(httpapi.Deps{Store: a.Store, Producer: a.Producer(), Replayer: a.Replayer(), Log: a.Log.Named("http")}, hc)
}
