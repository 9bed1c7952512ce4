package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// How long a stopping server waits for connections to go idle before it closes
// them. Requests in flight end quickly: their contexts are cancelled, which ends
// any injected latency. What lingers is mostly connections a client opened and
// has not used yet, which net/http counts as active for 5 s.
const (
	listenShutdownGrace = 5 * time.Second
	startShutdownGrace  = time.Second
)

// bannerInfo is what ListenAndServe prints about a Server.
type bannerInfo struct {
	keys    []KeyConfig
	targets []string
}

// ListenAndServe runs a sandbox configured by cfg on addr (":0" picks a free
// port) until ctx is done, then shuts it down gracefully and returns nil:
// requests in flight are cancelled (ending any injected latency), and
// connections not idle within 5 s are closed.
//
// Once listening it writes to out the line "sandbox listening on http://HOST:PORT"
// (an unspecified host shows as 127.0.0.1), then every test key it knows, in
// full, with its state, the known targets, the faults and the control
// endpoints. Printing the keys in full is intended: they are sandbox test keys.
func ListenAndServe(ctx context.Context, addr string, cfg Config, out io.Writer) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	if err := s.writeBanner(out, baseURL(ln.Addr())); err != nil {
		_ = ln.Close()
		return fmt.Errorf("sandbox: write banner: %w", err)
	}
	return serve(ctx, ln, s, listenShutdownGrace)
}

// baseURL is http://host:port for a, with an unspecified host shown as 127.0.0.1.
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func (s *Server) writeBanner(out io.Writer, url string) error {
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(out, format+"\n", args...)
		}
	}
	p("sandbox listening on %s", url)
	p("invite endpoint: POST %s%s", url, payload.InvitePath)
	p("test keys (header %s):", HeaderAPIKey)
	for _, k := range s.banner.keys {
		// The full key is printed on purpose: sandbox keys are test values.
		if k.State == KeyActive {
			p("  %-40s %s", k.Key, k.State)
		} else {
			p("  %-40s %s (answers %d)", k.Key, k.State, keyStateStatus[k.State])
		}
	}
	p("targets:")
	for _, t := range s.banner.targets {
		p("  %s", t)
	}
	p("faults: %s", s.Faults())
	p("control (no key needed): GET %s%s, %s, %s; POST %s, %s, %s",
		url, PathStats, PathRequests, PathInvites, PathReset, PathFaults, PathKeys)
	return err
}

// serve serves h on ln until ctx is done, then shuts down, closing whatever
// connections are still open after grace. Requests' contexts derive from ctx,
// so cancelling it also ends the injected latency of requests in flight.
func serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	return nil
}

// Running is a sandbox serving on a loopback port, started by Start. Its
// embedded *Server gives the counters and the runtime controls.
type Running struct {
	*Server
	// URL is the base URL, http://127.0.0.1:PORT, without a trailing slash: the
	// value for FLOWMINGO_API_URL.
	URL string

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start runs a sandbox configured by cfg on 127.0.0.1 at a free port, for tests
// and the demo. Call Close to stop it.
func Start(cfg Config) (*Running, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Server: s, URL: baseURL(ln.Addr()), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- serve(ctx, ln, s, startShutdownGrace) }()
	return r, nil
}

// Close stops the sandbox: requests in flight are cancelled, connections closed
// (those not idle within a second, forcibly). It returns when the server has
// stopped; calling it again returns the same error.
func (r *Running) Close() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}
