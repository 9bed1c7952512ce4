package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/deadletter"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/store"
)

// Deps are the parts a Server works with.
type Deps struct {
	Store    *store.Store
	Producer *producer.Producer
	Replayer *deadletter.Replayer
	// Log gets one line per request and the causes of 500s. Default: none.
	Log *zap.Logger
}

// Server is the HTTP service. It is an http.Handler; Serve and ListenAndServe run
// it with the configured timeouts and shut it down gracefully.
type Server struct {
	cfg    Config
	store  *store.Store
	prod   *producer.Producer
	replay *deadletter.Replayer
	log    *zap.Logger
	mux    *http.ServeMux
	routes []string
	tokens []token
	anon   *token // the one client of an InsecureNoAuth server
	// inflight counts each token's requests in flight (Config.TokenInFlight).
	inflight *inFlight
	// space is the room for request bodies (Config.SpoolLimit).
	space *spoolSpace
}

// token is one accepted bearer token: its hash (compared in constant time) and id.
type token struct {
	hash [32]byte
	id   string // TokenID
	lim  *rate.Limiter
}

// key names the token in the per-token state kept apart from it (its requests
// in flight): its id.
func (t *token) key() string { return t.id }

// TokenID names a token in logs and scopes its idempotency keys: "tok-" and the
// first 8 hex digits of its SHA-256. It does not reveal the token.
func TokenID(t string) string {
	sum := sha256.Sum256([]byte(t))
	return "tok-" + hex.EncodeToString(sum[:4])
}

// New returns a Server over deps, or the reason cfg cannot serve (Config.Validate).
func New(deps Deps, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Producer == nil || deps.Replayer == nil {
		return nil, errors.New("httpapi: Deps needs a Store, a Producer and a Replayer")
	}
	cfg = cfg.withDefaults()
	if cfg.FailedAuth == nil {
		cfg.FailedAuth = NewAuthThrottle(ThrottleConfig{})
	}
	s := &Server{cfg: cfg, store: deps.Store, prod: deps.Producer, replay: deps.Replayer, log: deps.Log, mux: http.NewServeMux(),
		inflight: newInFlight(cfg.TokenInFlight), space: &spoolSpace{limit: cfg.SpoolLimit}}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, token{hash: sha256.Sum256([]byte(t)), id: TokenID(t), lim: s.limiter()})
	}
	if cfg.InsecureNoAuth {
		s.anon = &token{id: "anonymous", lim: s.limiter()}
	}
	s.register()
	return s, nil
}

func (s *Server) limiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(s.cfg.TokenRate), s.cfg.TokenBurst)
}

// register builds the routes. Every one but the health checks needs a token.
func (s *Server) register() {
	routes := []struct {
		pattern string
		open    bool
		h       http.HandlerFunc
	}{
		{"POST /v1/batches", false, s.createBatch},
		{"GET /v1/batches", false, s.listBatches},
		{"GET /v1/batches/{id}", false, s.getBatch},
		{"GET /v1/deadletters", false, s.listDeadLetters},
		{"DELETE /v1/deadletters", false, s.purgeDeadLetters},
		{"POST /v1/deadletters/replay", false, s.replayDeadLetters},
		{"GET /healthz", true, s.healthz},
		{"GET /readyz", true, s.readyz},
	}
	if s.cfg.Metrics != nil {
		routes = append(routes, struct {
			pattern string
			open    bool
			h       http.HandlerFunc
		}{"GET /metrics", false, s.cfg.Metrics.ServeHTTP})
	}
	for _, rt := range routes {
		s.mux.Handle(rt.pattern, s.guard(rt.h, rt.open))
		s.routes = append(s.routes, rt.pattern)
	}
	s.mux.HandleFunc("/", s.unrouted)
}

// Routes lists the routes the server answers, as ServeMux patterns
// ("POST /v1/batches"), in the order they were registered.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

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

// guard authenticates a route's request (unless open), holds the token's rate
// and counts the request among the token's in flight until it ends.
func (s *Server) guard(h http.HandlerFunc, open bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := requestInfo(r)
		ri.route = r.Pattern
		if !open {
			t := s.authenticate(r)
			if t == nil {
				s.fail(w, r, s.unauthorized(r))
				return
			}
			ri.token, ri.scope = t.id, t.id
			if e := s.limit(t); e != nil {
				s.fail(w, r, e)
				return
			}
			defer s.inflight.release(t.key())
		}
		h(w, r)
	})
}

// limit holds t's rate and counts a request of t in flight; it returns the
// 429 when either is spent, and then counts nothing.
func (s *Server) limit(t *token) *apiError {
	if res := t.lim.Reserve(); res.Delay() > 0 {
		wait := res.Delay()
		res.Cancel()
		e := errorf(http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("more than %g requests/s with this token; retry after %s", s.cfg.TokenRate, wait.Round(time.Millisecond)))
		e.retryAfter = int(math.Ceil(wait.Seconds()))
		return e
	}
	if !s.inflight.acquire(t.key()) {
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

// authenticate returns the request's token, comparing its hash with every
// accepted token's in constant time; nil when there is none or it is unknown.
func (s *Server) authenticate(r *http.Request) *token {
	if s.anon != nil {
		return s.anon
	}
	scheme, given, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || given == "" {
		return nil
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(given)))
	var found *token
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], s.tokens[i].hash[:]) == 1 {
			found = &s.tokens[i]
		}
	}
	return found
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
