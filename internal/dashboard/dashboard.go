package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/activity"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	sessions "github.com/bulkinvite/bulkinvite/internal/session"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/ratelimit"
)

// LimiterState reads the shared rate limiter; *ratelimit.Limiter is one.
type LimiterState interface {
	State(ctx context.Context) (ratelimit.State, error)
}

// Deps are the parts a Dashboard works with.
type Deps struct {
	Store    *store.Store
	Replayer *deadletter.Replayer
	// Resume clears every auth stop and unpauses the queues paused for them, as
	// `bulkinvite resume` does (worker.Resume), by the signed-in token (by).
	// Required.
	Resume func(ctx context.Context, by string) ([]store.AuthStop, error)
	// Steer pauses, resumes and cancels a batch (*worker.Steering). Required.
	Steer httpapi.Steerer
	// Limiter, when set, is the workers' shared rate limiter (serve knows it only
	// when it has the API key), and LimiterKey that key, masked. Default nil: the
	// page says how to show it.
	Limiter    LimiterState
	LimiterKey string
	// Log gets sign-ins and the causes of 500s. Default: none.
	Log *zap.Logger
}

// Dashboard is the dashboard, an http.Handler to mount beside the API
// (httpapi.Config.UI).
type Dashboard struct {
	cfg      Config
	store    *store.Store
	sessions *sessions.Store
	replay   *deadletter.Replayer
	resume   func(context.Context, string) ([]store.AuthStop, error)
	steer    httpapi.Steerer
	limiter  LimiterState
	limKey   string
	log      *zap.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	assets   map[string]asset
	tokens   []auth.Token
	cross    *http.CrossOriginProtection
	progress *tracker
	activity *activity.Reader
}

// anonymous is the token (its name as fingerprint) of the sessions of an
// InsecureNoAuth dashboard: it may do everything.
var anonymous = auth.Identity{Name: auth.AnonymousName, Scopes: []auth.Scope{auth.Admin}}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// asset is an embedded file and the version its URLs carry.
type asset struct {
	body    []byte
	version string
	ctype   string
}

// New returns a Dashboard over deps, or why cfg or deps cannot serve.
func New(deps Deps, cfg Config) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Replayer == nil || deps.Resume == nil || deps.Steer == nil {
		return nil, errors.New("dashboard: Deps needs a Store, a Replayer, Resume and Steer")
	}
	cfg = cfg.withDefaults()
	d := &Dashboard{
		cfg: cfg, store: deps.Store, sessions: sessions.New(deps.Store.Redis(), deps.Store.Prefix()), replay: deps.Replayer, resume: deps.Resume, steer: deps.Steer, limiter: deps.Limiter, limKey: deps.LimiterKey, log: deps.Log,
		mux: http.NewServeMux(), cross: http.NewCrossOriginProtection(), progress: newTracker(cfg.Now),
		activity: activity.NewReader(deps.Store.Redis(), deps.Store.Prefix()),
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	d.tokens = cfg.allTokens()
	if err := d.loadAssets(); err != nil {
		return nil, err
	}
	if err := d.loadTemplates(); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

func (d *Dashboard) routes() {
	d.mux.HandleFunc("GET /{$}", d.page(auth.Read, d.listPage))
	d.mux.HandleFunc("GET /candidates", d.page(auth.Read, d.candidatesPage))
	d.mux.HandleFunc("GET /batches/{id}", d.page(auth.Read, d.batchPage))
	d.mux.HandleFunc("GET /batches/{id}/deadletters", d.page(auth.Read, d.deadLettersPage))
	d.mux.HandleFunc("GET /batches/{id}/deadletters.csv", d.page(auth.Read, d.deadLettersCSV))
	d.mux.HandleFunc("GET /batches/{id}/replay", d.page(auth.Operate, d.replayConfirm))
	d.mux.HandleFunc("POST /batches/{id}/replay", d.action(auth.Operate, d.replayPost))
	d.mux.HandleFunc("GET /batches/{id}/purge", d.page(auth.Operate, d.purgeConfirm))
	d.mux.HandleFunc("POST /batches/{id}/purge", d.action(auth.Operate, d.purgePost))
	d.mux.HandleFunc("POST /batches/{id}/pause", d.action(auth.Operate, d.pausePost))
	d.mux.HandleFunc("POST /batches/{id}/resume", d.action(auth.Operate, d.resumeBatchPost))
	d.mux.HandleFunc("GET /batches/{id}/cancel", d.page(auth.Operate, d.cancelConfirm))
	d.mux.HandleFunc("POST /batches/{id}/cancel", d.action(auth.Operate, d.cancelPost))
	d.mux.HandleFunc("POST /resume", d.action(auth.Admin, d.resumePost))
	d.mux.HandleFunc("GET /signin", d.signInPage)
	d.mux.HandleFunc("POST /signin", d.signInPost)
	d.mux.HandleFunc("POST /signout", d.action("", d.signOutPost))
	d.mux.HandleFunc("GET /assets/{name}", d.serveAsset)
	d.mux.HandleFunc("/", d.unrouted)
}

// unrouted answers what no route matches: 405 with Allow when another method of
// the path has a route, 404 otherwise.
func (d *Dashboard) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := d.mux.Handler(r2); p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		d.errorPage(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed here.")
		return
	}
	d.errorPage(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}

// The Content-Security-Policy of every answer: scripts, styles and images from
// this origin only (nothing inline), no plugins, no framing, forms post here only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP sets the security headers of every answer and routes the request.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if d.cfg.InsecureNoAuth && !httpapi.LoopbackHost(r) {
		d.errorPage(w, r, http.StatusMisdirectedRequest, "This dashboard runs without authentication and answers only at a loopback address (127.0.0.1, localhost).")
		return
	}
	d.mux.ServeHTTP(w, r)
}

func (d *Dashboard) loadAssets() error {
	d.assets = map[string]asset{}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	return fs.WalkDir(assetFS, "assets", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(path)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path, "assets/")
		sum := sha256.Sum256(b)
		d.assets[name] = asset{body: b, version: fmt.Sprintf("%x", sum[:6]), ctype: types[name[strings.LastIndexByte(name, '.'):]]}
		return nil
	})
}

// serveAsset is GET /assets/{name}: an embedded file, cached for good when asked
// for with its current version.
func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("name")]
	if !ok {
		d.errorPage(w, r, http.StatusNotFound, "No such file.")
		return
	}
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", a.ctype)
	_, _ = w.Write(a.body)
}

// render writes a page: the template named page within the layout, with data.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, page string, data *pageData) {
	data.Page = page
	var buf bytes.Buffer
	if err := d.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.fail(w, r, fmt.Errorf("render %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers status with a page saying msg.
func (d *Dashboard) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d.render(w, r, status, "error.html", &pageData{Title: http.StatusText(status), Body: errorBody{Status: status, Message: msg}})
}

// fail answers 500, logging the cause under the request id the API server gave
// the request (X-Request-Id), which the page shows.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := w.Header().Get("X-Request-Id")
	d.log.Error("dashboard request failed", zap.String("request_id", id), zap.String("path", r.URL.Path), zap.Error(err))
	msg := "Something went wrong on our side."
	if id != "" {
		msg += " The server's log has it under request id " + id + "."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	var buf bytes.Buffer
	if e := d.pages["error.html"].ExecuteTemplate(&buf, "layout", &pageData{Title: "Error", Page: "error.html", Body: errorBody{Status: 500, Message: msg}}); e == nil {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorBody is what the error page shows.
type errorBody struct {
	Status  int
	Message string
}
