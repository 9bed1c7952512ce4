package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/idempotency"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Deps are the parts a Server works with.
type Deps struct {
	Store    *store.Store
	Producer *producer.Producer
	Replayer *deadletter.Replayer
	// Steer pauses, resumes and cancels batches (POST /v1/batches/{id}/pause,
	// resume, cancel). Required.
	Steer Steerer
	// Log gets one line per request and the causes of 500s. Default: none.
	Log *zap.Logger
}

// Server is the HTTP service. It is an http.Handler; Serve and ListenAndServe run
// it with the configured timeouts and shut it down gracefully.
type Server struct {
	cfg    Config
	store  *store.Store
	idem   *idempotency.Store
	prod   *producer.Producer
	replay *deadletter.Replayer
	steer  Steerer
	log    *zap.Logger
	mux    *http.ServeMux
	routes []string
	scopes map[string]auth.Scope // by route pattern
	tokens []auth.Token
	lims   []*rate.Limiter // by token, as tokens
	anon   *rate.Limiter   // the one client of an InsecureNoAuth server
	// inflight counts each token's requests in flight (Config.TokenInFlight).
	inflight *inFlight
	// space is the room for request bodies (Config.SpoolLimit).
	space  *spoolSpace
	tracer trace.Tracer
}

// TokenID is the name of a bare secret (auth.BareName): "tok-" and the first 8
// hex digits of its SHA-256. It does not reveal the token. A named token is
// named by its name.
func TokenID(t string) string { return auth.BareName(t) }

// New returns a Server over deps, or the reason cfg cannot serve (Config.Validate).
func New(deps Deps, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Producer == nil || deps.Replayer == nil || deps.Steer == nil {
		return nil, errors.New("httpapi: Deps needs a Store, a Producer, a Replayer and a Steer")
	}
	cfg = cfg.withDefaults()
	if cfg.FailedAuth == nil {
		cfg.FailedAuth = NewAuthThrottle(ThrottleConfig{})
	}
	s := &Server{cfg: cfg, store: deps.Store, idem: idempotency.New(deps.Store), prod: deps.Producer, replay: deps.Replayer, steer: deps.Steer, log: deps.Log, mux: http.NewServeMux(),
		inflight: newInFlight(cfg.TokenInFlight), space: &spoolSpace{limit: cfg.SpoolLimit}, tracer: cfg.Tracer.Tracer(tracerName)}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.tokens = cfg.allTokens()
	for range s.tokens {
		s.lims = append(s.lims, s.limiter())
	}
	if cfg.InsecureNoAuth {
		s.anon = s.limiter()
	}
	s.register()
	return s, nil
}

func (s *Server) limiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(s.cfg.TokenRate), s.cfg.TokenBurst)
}

// route is one route: its ServeMux pattern, the scope its token needs ("":
// open to all, no token) and its handler.
type route struct {
	pattern string
	scope   auth.Scope
	h       http.HandlerFunc
}

// register builds the routes. Every one but the health checks needs a token
// with the route's scope.
func (s *Server) register() {
	routes := []route{
		{"POST /v1/batches", auth.Submit, s.createBatch},
		{"GET /v1/batches", auth.Read, s.listBatches},
		{"GET /v1/batches/{id}", auth.Read, s.getBatch},
		{"GET /v1/batches/{id}/rejects", auth.Read, s.listRejects},
		{"GET /v1/candidates", auth.Read, s.findCandidates},
		{"GET /v1/batches/{id}/events", auth.Read, s.listEvents},
		{"POST /v1/batches/{id}/pause", auth.Operate, s.pauseBatch},
		{"POST /v1/batches/{id}/resume", auth.Operate, s.resumeBatch},
		{"POST /v1/batches/{id}/cancel", auth.Operate, s.cancelBatch},
		{"GET /v1/deadletters", auth.Read, s.listDeadLetters},
		{"DELETE /v1/deadletters", auth.Operate, s.purgeDeadLetters},
		{"POST /v1/deadletters/replay", auth.Operate, s.replayDeadLetters},
		{"GET /healthz", "", s.healthz},
		{"GET /readyz", "", s.readyz},
	}
	if s.cfg.Metrics != nil {
		routes = append(routes, route{"GET /metrics", auth.Admin, s.cfg.Metrics.ServeHTTP})
	}
	s.scopes = map[string]auth.Scope{}
	for _, rt := range routes {
		s.mux.Handle(rt.pattern, s.guard(rt.h, rt.scope))
		s.routes = append(s.routes, rt.pattern)
		s.scopes[rt.pattern] = rt.scope
	}
	s.mux.HandleFunc("/", s.unrouted)
}

// Routes lists the routes the server answers, as ServeMux patterns
// ("POST /v1/batches"), in the order they were registered.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// RouteScope returns the scope a route (a pattern of Routes) needs; "" for the
// open health checks.
func (s *Server) RouteScope(pattern string) auth.Scope { return s.scopes[pattern] }

// reqInfo is what the log line of a request says, filled in along the way.
type reqInfo struct {
	id, route, token string
	scope            string // the client, for idempotency keys
}

type infoKey struct{}

func requestInfo(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ServeHTTP gives the request an id (the client's X-Request-Id when it is sane),
// refuses it when the server has no auth and it is not addressed to a loopback
// name (421), routes it, turns a panic into a 500 and logs one line: method, route, status,
// duration, request id and token id — never a token.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &reqInfo{id: r.Header.Get("X-Request-Id"), token: "-"}
	if !requestIDPattern.MatchString(ri.id) {
		ri.id = uuid.Must(uuid.NewV7()).String()
	}
	w.Header().Set("X-Request-Id", ri.id)
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			s.log.Error("panic in handler", zap.String("request_id", ri.id), zap.Any("panic", p), zap.Stack("stack"))
			if sw.status == 0 {
				s.fail(sw, r, fmt.Errorf("panic: %v", p))
			}
		}
		s.log.Info("request", zap.String("method", r.Method), zap.String("route", ri.route), zap.Int("status", sw.status),
			zap.Duration("duration", time.Since(start)), zap.String("request_id", ri.id), zap.String("token", ri.token))
		if p == http.ErrAbortHandler {
			panic(p)
		}
	}()
	if s.cfg.InsecureNoAuth && !LoopbackHost(r) {
		ri.route = "misdirected"
		s.fail(sw, r, errMisdirected)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// errMisdirected answers a request of a server without auth that is not
// addressed to a loopback name (Config.InsecureNoAuth).
var errMisdirected = errorf(http.StatusMisdirectedRequest, CodeMisdirected,
	"this server runs without authentication (--insecure-no-auth) and answers only requests addressed to a loopback name (127.0.0.1, [::1], localhost)")

// guard authenticates a route's request (unless scope is "": open), holds the
// token's rate, counts the request among the token's in flight until it ends,
// checks that the token has scope (403 forbidden otherwise) and puts its
// identity in the request's context (auth.FromContext).
func (s *Server) guard(h http.HandlerFunc, scope auth.Scope) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := requestInfo(r)
		ri.route = r.Pattern
		if scope != "" {
			id, lim, ok := s.authenticate(r)
			if !ok {
				s.fail(w, r, s.unauthorized(r))
				return
			}
			ri.token, ri.scope = id.Name, id.Name
			if e := s.limit(lim, id.Name); e != nil {
				s.fail(w, r, e)
				return
			}
			defer s.inflight.release(id.Name)
			if !id.Has(scope) {
				s.fail(w, r, errorf(http.StatusForbidden, CodeForbidden, fmt.Sprintf("token %q lacks the %s scope this route needs", id.Name, scope)))
				return
			}
			r = r.WithContext(auth.NewContext(r.Context(), id))
		}
		h(w, r)
	})
}

// limit holds a token's rate (lim) and counts a request of the token named
// name in flight; it returns the 429 when either is spent, and then counts
// nothing.
func (s *Server) limit(lim *rate.Limiter, name string) *apiError {
	if res := lim.Reserve(); res.Delay() > 0 {
		wait := res.Delay()
		res.Cancel()
		e := errorf(http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("more than %g requests/s with this token; retry after %s", s.cfg.TokenRate, wait.Round(time.Millisecond)))
		e.retryAfter = int(math.Ceil(wait.Seconds()))
		return e
	}
	if !s.inflight.acquire(name) {
		e := errorf(http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("%d requests in flight with this token already; retry when one has ended", s.cfg.TokenInFlight))
		e.retryAfter = int(inFlightRetryAfter / time.Second)
		return e
	}
	return nil
}

// unauthorized is the answer to a request without a token the server knows: 401,
// or 429 once its client address has sent too many wrong ones. A request with
// no Authorization header at all guesses nothing and is not counted.
func (s *Server) unauthorized(r *http.Request) *apiError {
	if r.Header.Get("Authorization") != "" {
		if wait := s.cfg.FailedAuth.Failed(s.cfg.FailedAuth.Client(r)); wait > 0 {
			e := errorf(http.StatusTooManyRequests, CodeTooManyFailedAuth, "too many failed authentications from this address; retry after "+wait.Round(time.Second).String())
			e.retryAfter = int(math.Ceil(wait.Seconds()))
			return e
		}
	}
	return errorf(http.StatusUnauthorized, CodeUnauthorized, "missing or unknown bearer token: send Authorization: Bearer <token>")
}

// anonymous is the caller of an InsecureNoAuth server: it may do everything.
var anonymous = auth.Identity{Name: auth.AnonymousName, Scopes: []auth.Scope{auth.Admin}}

// authenticate returns the identity of the request's token and its rate
// limiter, comparing its hash with every accepted token's in constant time
// (auth.Find); false when there is none or it is unknown.
func (s *Server) authenticate(r *http.Request) (auth.Identity, *rate.Limiter, bool) {
	if s.anon != nil {
		return anonymous, s.anon, true
	}
	scheme, given, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return auth.Identity{}, nil, false
	}
	t, ok := auth.Find(s.tokens, strings.TrimSpace(given))
	if !ok {
		return auth.Identity{}, nil, false
	}
	for i := range s.tokens {
		if s.tokens[i].Name == t.Name {
			return t.Identity, s.lims[i], true
		}
	}
	return auth.Identity{}, nil, false
}

// unrouted answers what no route matches: 405 with Allow when another method of
// the path has a route (OPTIONS among them: there is no CORS), the UI's answer
// for a path outside the API's namespace (apiPath) when there is a UI, the JSON
// 404 otherwise.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(w, r, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", ")))
		return
	}
	if s.cfg.UI != nil && !apiPath(r.URL.Path) {
		requestInfo(r).route = "ui"
		s.cfg.UI.ServeHTTP(w, r)
		return
	}
	s.fail(w, r, errorf(http.StatusNotFound, CodeNotFound, "no such route: "+r.URL.Path))
}

// apiSegment matches the first path segment of the API's namespace: a version
// ("v" and a digit: v1, v1x, v2), "api", and the first segments of the routes
// outside /v1.
var apiSegment = regexp.MustCompile(`(?i)^(v[0-9].*|api|healthz|readyz|metrics)$`)

// apiPath reports whether a path is in the API's namespace: with no route there
// it is the API's JSON 404, never the UI's page, so that a program calling a
// wrong version or prefix gets an answer it can read.
func apiPath(p string) bool {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return apiSegment.MatchString(seg)
}

// statusWriter records the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ListenAndServe listens on Config.Addr and serves until ctx ends (see Serve).
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish within Config.ShutdownTimeout, then
// closes what is left and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log.Named("net/http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		_ = hs.Close()
		err = fmt.Errorf("shutdown: requests still running after %s were cut off: %w", s.cfg.ShutdownTimeout, err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
