package cli

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/app"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	addr     string
	insecure bool
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", httpapi.DefaultAddr, "address to listen on, HOST:PORT (port 0 picks a free one)")
	fs.BoolVar(&f.insecure, "insecure-no-auth", false, "serve without bearer tokens; only on a loopback address, for local trials")
}

func (e *env) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API for other services until SIGINT/SIGTERM",
		Long: `Serves POST /v1/batches (the invite API's request body, plus batch_id and
callback_url, or CSV), GET /v1/batches[/{id}], GET/DELETE /v1/deadletters,
POST /v1/deadletters/replay, /metrics (Prometheus), /healthz and /readyz;
docs/openapi.yaml describes them. Browsers get the dashboard at /: batches with
their progress, dead letters by reason, replay, purge, the limiter and resume,
signed in with the same tokens.

Every route but the health checks needs Authorization: Bearer <secret> of a token
with the route's scope (submit: POST /v1/batches; read: GET batches and dead
letters; operate: replay, purge; admin: /metrics and everything), else 403. Tokens
come from BULKINVITE_TOKENS (comma-separated name:scope+scope:secret entries) or
BULKINVITE_TOKENS_FILE (YAML; "bulkinvite token new" prints an entry); a bare
secret there is an unscoped admin token (a warning at start). Secrets are at least
32 characters. Without tokens, or with a shorter one, it refuses to start,
unless --insecure-no-auth on a loopback address (and no tokens). Wrong tokens from
one client address (BULKINVITE_TRUSTED_PROXY_HEADER behind a proxy) are answered
429 after 10; each token may make BULKINVITE_SERVE_TOKEN_RATE requests/s; bodies are at most
BULKINVITE_SERVE_MAX_BODY bytes. On SIGINT/SIGTERM it stops taking connections and
lets requests in flight finish.`,
		Example: `  BULKINVITE_TOKENS=ats:submit+read:4f9c2b7e1a8d3f60c5e9b2a7d4f1c8e3,ops:admin:7e2a9c4f1b8d6e3a0c5f9b2d7e4a6c1f bulkinvite serve --addr 0.0.0.0:8080
  BULKINVITE_TOKENS_FILE=/run/secrets/bulkinvite_tokens bulkinvite serve
  bulkinvite serve --insecure-no-auth            # 127.0.0.1:8080, no tokens: local trials only`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.serve(cmd, &f) },
	}
	f.register(cmd.Flags())
	return cmd
}

// serve runs the HTTP API until the command's context ends, or a Redis error that
// retrying cannot cure stops it.
func (e *env) serve(cmd *cobra.Command, f *serveFlags) error {
	if err := e.load(cmd); err != nil {
		return err
	}
	hc := app.HTTPConfig(e.cfg)
	hc.Addr, hc.InsecureNoAuth = f.addr, f.insecure
	if err := hc.Validate(); err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := context.WithCancelCause(cmd.Context())
	defer stop(nil)
	e.onRedisFatal = stop
	a, err := e.connect(ctx)
	if err != nil {
		return err
	}
	// Many requests run at once: their scripts share round trips.
	if err := a.Store.CoalesceScripts(); err != nil {
		return err
	}
	srv, err := a.HTTPServer(hc)
	if err != nil {
		return usageErr("%v", err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	if f.insecure {
		e.log.Warn("serving WITHOUT authentication (--insecure-no-auth): anyone who can reach this address may post batches and purge dead letters", zap.String("addr", ln.Addr().String()))
	}
	for i, t := range hc.AuthTokens {
		if t.Unscoped {
			e.log.Warn("a token is an unscoped bare secret: it may do everything (admin); give it a name and scopes (bulkinvite token new)",
				zap.Int("position", i+1), zap.String("token", t.Name))
		}
	}
	e.log.Info("serving", zap.String("addr", ln.Addr().String()), zap.Int("tokens", len(hc.Tokens)+len(hc.AuthTokens)))
	fmt.Fprintf(e.io.Out, "bulkinvite serve listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	if cmd.Context().Err() == nil {
		return context.Cause(ctx)
	}
	return nil
}
