package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/payload"
)

// HeaderAPIKey is the header carrying the API key: the client's.
const HeaderAPIKey = flowmingo.HeaderAPIKey

// Server is the sandbox: an http.Handler answering the invite endpoint as
// docs/vendor-api.md describes, plus the /__sandbox/ control endpoints. Create it
// with New; it is safe for concurrent use.
type Server struct {
	maxBody       int64
	interviewSets map[string]bool
	projects      map[string][]string // lower-case project id -> job posts, oldest first
	banner        bannerInfo

	mu          sync.Mutex
	keys        map[string]KeyState
	faults      Faults
	limiters    map[string]*rate.Limiter
	rng         *rand.Rand
	seq         int64
	inFlight    int
	stats       Stats
	reqs        []*RequestRecord
	invites     []Invite
	inviteCount map[string]int // targetKey + "\x00" + lower(email)
}

var _ http.Handler = (*Server)(nil)

// New returns a sandbox configured by cfg, or cfg.Validate's error.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		maxBody:       cfg.MaxBodyBytes,
		interviewSets: map[string]bool{DemoInterviewSetID: true},
		projects:      map[string][]string{DemoProjectID: {DemoJobPostID}},
		keys:          map[string]KeyState{},
		faults:        cfg.Faults,
		limiters:      map[string]*rate.Limiter{},
		rng:           rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5a4d_b0c5_1e7e_a11e)),
		stats:         Stats{ByStatus: map[int]int{}},
		inviteCount:   map[string]int{},
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		keys = DefaultKeys()
	}
	for _, k := range keys {
		st := k.State
		if st == "" {
			st = KeyActive
		}
		s.keys[k.Key] = st
		s.banner.keys = append(s.banner.keys, KeyConfig{Key: k.Key, State: st})
	}
	s.banner.targets = append(s.banner.targets, "interview set "+DemoInterviewSetID,
		"project "+DemoProjectID+" (job post "+DemoJobPostID+")")
	for _, id := range cfg.InterviewSets {
		s.interviewSets[strings.ToLower(id)] = true
		s.banner.targets = append(s.banner.targets, "interview set "+id)
	}
	for _, p := range cfg.Projects {
		jps := make([]string, len(p.JobPostIDs))
		for i, jp := range p.JobPostIDs {
			jps[i] = strings.ToLower(jp)
		}
		id := strings.ToLower(p.ID)
		s.projects[id] = append(s.projects[id], jps...)
		s.banner.targets = append(s.banner.targets,
			fmt.Sprintf("project %s (job posts %s)", p.ID, strings.Join(p.JobPostIDs, ", ")))
	}
	return s, nil
}

// ServeHTTP answers the invite endpoint, the /__sandbox/ endpoints, and 404 for
// anything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	rec := s.begin(r)
	s.serveAPI(w, r, rec)
}

// serveAPI answers a request outside /__sandbox/, step by step in the order the
// package documentation's "The invite endpoint" lists: faults (faults.go), keys
// (auth.go), then validating and processing the request (process.go).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rec *RequestRecord) {
	// The body is read first, as a proxy in front of the vendor would: only
	// then does net/http notice a client that goes away during the latency. Its
	// errors are answered below, in the documented order.
	body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	if bodyErr != nil && !errors.As(bodyErr, &tooBig) {
		s.abort(w, rec)
		return
	}

	f, delay := s.latency()
	if sleep.For(r.Context(), delay) != nil {
		if !f.ProcessAbandoned {
			s.abort(w, rec)
			return
		}
		defer s.markAbandoned(rec) // decided as for anyone; the answer reaches nobody
	}

	if r.URL.Path != payload.InvitePath {
		s.fail(w, rec, http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, rec, http.StatusMethodNotAllowed, "method %s not allowed, use POST", r.Method)
		return
	}

	key := r.Header.Get(HeaderAPIKey)
	if status, msg := s.authenticate(key); status != 0 {
		s.fail(w, rec, status, "%s", msg)
		return
	}
	if retry, ok := s.allow(key); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		s.answer(w, rec, http.StatusTooManyRequests, faultRateLimited,
			errorBody{Message: fmt.Sprintf("too many requests, retry after %d s", retry)})
		return
	}
	if status := s.injectFailure(); status != 0 {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		s.answer(w, rec, status, faultFail, errorBody{Message: "sandbox: injected failure: " + http.StatusText(status)})
		return
	}

	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.fail(w, rec, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	if tooBig != nil {
		s.fail(w, rec, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", tooBig.Limit)
		return
	}
	req, err := payload.DecodeInviteRequest(body)
	if err != nil {
		s.fail(w, rec, http.StatusBadRequest, "%v", err)
		return
	}
	s.mu.Lock()
	rec.Candidates = len(req.Candidates)
	s.stats.Candidates += len(req.Candidates)
	s.mu.Unlock()

	if errs := validate(req); len(errs) > 0 {
		body := errorBody{Message: "validation failed: " + errs.Error()}
		for _, e := range errs {
			body.Errors = append(body.Errors, fieldErrorBody{Field: e.Path(), Message: e.Msg})
		}
		s.answer(w, rec, http.StatusUnprocessableEntity, "", body)
		return
	}
	target, msg := s.findTarget(req.Target())
	if msg != "" {
		s.fail(w, rec, http.StatusNotFound, "%s", msg)
		return
	}

	results, lost, mode := s.process(req, target, rec.Seq)
	if f.ReplyLatency > 0 && sleep.For(r.Context(), f.ReplyLatency) != nil {
		s.abort(w, rec) // the invites stand: the vendor acted, the client never heard
		return
	}
	if lost {
		s.loseReply(w, rec, mode)
		return
	}
	s.answer(w, rec, http.StatusOK, "", response{Results: results})
}

// errorBody is the body of every non-200 answer.
type errorBody struct {
	Message string           `json:"message"`
	Errors  []fieldErrorBody `json:"errors,omitempty"`
}

type fieldErrorBody struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"sandbox: cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// answer records the request's outcome, then writes it: a client that has its
// answer finds it in the counters.
func (s *Server) answer(w http.ResponseWriter, rec *RequestRecord, status int, fault string, v any) {
	s.finish(rec, status, fault)
	writeJSON(w, status, v)
}

func (s *Server) fail(w http.ResponseWriter, rec *RequestRecord, status int, format string, args ...any) {
	s.answer(w, rec, status, "", errorBody{Message: fmt.Sprintf(format, args...)})
}
