package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/payload"
)

// HeaderAPIKey is the header carrying the API key: the client's.
const HeaderAPIKey = flowmingo.HeaderAPIKey

// Status texts of the records the sandbox creates.
const (
	InvitationPending       = "pending"
	SubmissionNeedInterview = "need_interview"
	CandidateEntryQueued    = "queued"
)

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

// SetFaults replaces the faults injected from now on. Changing Rate or Burst
// refills every key's token bucket.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Rate != s.faults.Rate || f.burst() != s.faults.burst() {
		s.limiters = map[string]*rate.Limiter{}
	}
	s.faults = f
	return nil
}

// Faults returns the faults injected now.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetKeyState sets the state of key, adding the key when the sandbox does not know
// it yet (to model a key created at the vendor). The error never shows the key
// other than masked.
func (s *Server) SetKeyState(key string, state KeyState) error {
	k := flowmingo.NewAPIKey(key)
	if err := k.Check(); err != nil || k.Reveal() != key {
		return fmt.Errorf("sandbox: key %s is not of the form %s<prefix>.<secret>", k.Masked(), flowmingo.KeyPrefix)
	}
	if !state.Valid() {
		return fmt.Errorf("sandbox: unknown key state %q (want one of %v)", state, keyStates)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = state
	return nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats.clone()
	st.InFlight = s.inFlight
	return st
}

// Requests returns a copy of the records of every request received, in arrival order.
func (s *Server) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RequestRecord, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	return out
}

// Invites returns a copy of every invite created, in creation order.
func (s *Server) Invites() []Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(make([]Invite, 0, len(s.invites)), s.invites...)
}

// InviteCount returns how many invites were created for target and email
// (ignoring case). A project target without a job post counts the invites to
// the project's latest job post, as the sandbox resolves it for a request.
func (s *Server) InviteCount(target payload.Target, email string) int {
	t := s.resolve(target)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inviteCount[inviteKey(t, email)]
}

// Reset clears the counters, the request records and the invites, and refills
// the token buckets. Keys and faults stay as they are.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByStatus: map[int]int{}}
	s.reqs = nil
	s.invites = nil
	s.inviteCount = map[string]int{}
	s.limiters = map[string]*rate.Limiter{}
}

func inviteKey(t payload.Target, email string) string {
	return t.Key() + "\x00" + strings.ToLower(email)
}

// resolve lower-cases the target's ids and fills in a known project's latest job post.
func (s *Server) resolve(t payload.Target) payload.Target {
	t = payload.Target{
		InterviewSetID: strings.ToLower(t.InterviewSetID),
		ProjectID:      strings.ToLower(t.ProjectID),
		JobPostID:      strings.ToLower(t.JobPostID),
	}
	if jps := s.projects[t.ProjectID]; t.ProjectID != "" && t.JobPostID == "" && len(jps) > 0 {
		t.JobPostID = jps[len(jps)-1]
	}
	return t
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

func (s *Server) begin(r *http.Request) *RequestRecord {
	rec := &RequestRecord{At: time.Now(), Method: r.Method, Path: r.URL.Path, Status: -1}
	if raw := r.Header.Get(HeaderAPIKey); raw != "" {
		k := flowmingo.NewAPIKey(raw)
		rec.Key, rec.KeyID = k.Masked(), k.ID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	rec.Seq = s.seq
	s.inFlight++
	s.stats.Requests++
	s.reqs = append(s.reqs, rec)
	return rec
}

// finish records the request's outcome. It also takes the per-request counters
// that depend on the status.
func (s *Server) finish(rec *RequestRecord, status int, fault string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Status, rec.Fault, rec.Duration = status, fault, time.Since(rec.At)
	s.inFlight--
	s.stats.ByStatus[status]++
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		s.stats.ValidationRejections++
	case fault == faultFail:
		s.stats.InjectedFailures++
	case fault == faultRateLimited:
		s.stats.RateLimited++
	case fault == faultLostReply:
		s.stats.LostReplies++
	}
}

// Names of the faults in RequestRecord.Fault.
const (
	faultRateLimited = "rate_limited"
	faultFail        = "fail"
	faultLostReply   = "lost_reply"
	faultAbandoned   = "abandoned"
)

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

// roll reports true with probability p; under s.mu.
func (s *Server) roll(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return s.rng.Float64() < p
}

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

	s.mu.Lock()
	f := s.faults
	delay := f.Latency
	if f.LatencyJitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(f.LatencyJitter)))
	}
	s.mu.Unlock()
	if !wait(r.Context(), delay) {
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
	if f.ReplyLatency > 0 && !wait(r.Context(), f.ReplyLatency) {
		s.abort(w, rec) // the invites stand: the vendor acted, the client never heard
		return
	}
	if lost {
		s.loseReply(w, rec, mode)
		return
	}
	s.answer(w, rec, http.StatusOK, "", response{Results: results})
}

// markAbandoned notes on a finished record that its client had gone away
// before the answer (Faults.ProcessAbandoned), unless a fault already decided it.
func (s *Server) markAbandoned(rec *RequestRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Fault == "" {
		rec.Fault = faultAbandoned
	}
}

// wait waits d or until ctx is done, reporting whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// keyStateStatus is the status a request with a known key in each state gets.
var keyStateStatus = map[KeyState]int{
	KeyActive:       http.StatusOK,
	KeyInactive:     http.StatusForbidden,
	KeyExpired:      http.StatusForbidden,
	KeyDeleted:      http.StatusUnauthorized,
	KeyMissingScope: http.StatusForbidden,
}

// authenticate returns 0 for an active key with scope, else the status and message.
func (s *Server) authenticate(raw string) (int, string) {
	if raw == "" {
		return http.StatusUnauthorized, "missing API key: set the " + HeaderAPIKey + " header"
	}
	k := flowmingo.NewAPIKey(raw)
	if k.Check() != nil || k.Reveal() != raw {
		return http.StatusUnauthorized, "malformed API key: expected " + flowmingo.KeyPrefix + "<prefix>.<secret>"
	}
	s.mu.Lock()
	state, ok := s.keys[raw]
	s.mu.Unlock()
	switch {
	case !ok:
		return http.StatusUnauthorized, "invalid API key"
	case state == KeyDeleted:
		return http.StatusUnauthorized, "API key has been deleted"
	case state == KeyInactive:
		return http.StatusForbidden, "API key is inactive"
	case state == KeyExpired:
		return http.StatusForbidden, "API key has expired"
	case state == KeyMissingScope:
		return http.StatusForbidden, "API key lacks the scope invite_candidates"
	}
	return 0, ""
}

// allow takes a token from key's bucket, or returns the whole seconds until one
// is available (at least 1).
func (s *Server) allow(key string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Rate <= 0 {
		return 0, true
	}
	lim := s.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(s.faults.Rate), s.faults.burst())
		s.limiters[key] = lim
	}
	now := time.Now()
	if lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - lim.TokensAt(now)
	secs := math.Ceil(missing / s.faults.Rate)
	if secs < 1 || math.IsNaN(secs) {
		secs = 1
	}
	if secs > math.MaxInt32 {
		secs = math.MaxInt32
	}
	return int(secs), false
}

// injectFailure returns 500 or 503 when FailRate says so, else 0.
func (s *Server) injectFailure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.roll(s.faults.FailRate) {
		return 0
	}
	if s.rng.IntN(2) == 0 {
		return http.StatusInternalServerError
	}
	return http.StatusServiceUnavailable
}

// validate is payload.ValidateRequest plus the sandbox's InvalidDomainSuffix rule.
func validate(req *payload.InviteRequest) payload.Errors {
	var errs payload.Errors
	if err := payload.ValidateRequest(req); err != nil {
		if !errors.As(err, &errs) {
			errs = payload.Errors{{Index: -1, Field: "(request)", Msg: err.Error()}}
		}
	}
	for i, c := range req.Candidates {
		if c.Email != "" && invalidDomain(c.Email) {
			errs = append(errs, &payload.FieldError{Index: i, Field: "email",
				Msg: fmt.Sprintf("the domain of %q does not accept invitations (sandbox: domain ends in %s)", c.Email, InvalidDomainSuffix)})
		}
	}
	return errs
}

// findTarget resolves t or says, for a 404, what is not found.
func (s *Server) findTarget(t payload.Target) (payload.Target, string) {
	rt := s.resolve(t)
	if rt.InterviewSetID != "" && !s.interviewSets[rt.InterviewSetID] {
		return rt, "interview set " + t.InterviewSetID + " not found"
	}
	if rt.ProjectID == "" {
		if rt.JobPostID != "" {
			return rt, "job post " + t.JobPostID + " not found: com_job_post_id needs com_project_id"
		}
		return rt, ""
	}
	jps, ok := s.projects[rt.ProjectID]
	if !ok {
		return rt, "project " + t.ProjectID + " not found"
	}
	if rt.JobPostID == "" {
		return rt, "project " + t.ProjectID + " has no job post"
	}
	for _, jp := range jps {
		if jp == rt.JobPostID {
			return rt, ""
		}
	}
	return rt, "job post " + t.JobPostID + " not found in project " + t.ProjectID
}

// response is the body of a 200 answer.
type response struct {
	Results []result `json:"results"`
}

// result is one entry of response.Results; nil pointers are JSON null.
type result struct {
	EmailAddress   *string             `json:"email_address"`
	CVLink         *string             `json:"cv_link"`
	Invitation     *payload.Invitation `json:"invitation,omitempty"`
	Submission     *payload.Submission `json:"submission,omitempty"`
	CandidateEntry *candidateEntry     `json:"candidate_entry,omitempty"`

	ErrorMessage               string `json:"error_message,omitempty"`
	InvitationErrorMessage     string `json:"invitation_error_message,omitempty"`
	ApplicationErrorMessage    string `json:"application_error_message,omitempty"`
	SubmissionErrorMessage     string `json:"submission_error_message,omitempty"`
	CandidateEntryErrorMessage string `json:"candidate_entry_error_message,omitempty"`
}

type candidateEntry struct {
	ID         string `json:"id"`
	StatusText string `json:"status_text"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// setError sets the result's error field named f.
func (r *result) setError(f string) {
	switch f {
	case payload.FieldErrorMessage:
		r.ErrorMessage = "candidate could not be processed (sandbox trigger " + TagError + ")"
	case payload.FieldInvitationErrorMessage:
		r.InvitationErrorMessage = "invitation could not be created (sandbox trigger " + TagInvitationError + ")"
	case payload.FieldApplicationErrorMessage:
		r.ApplicationErrorMessage = "application could not be created (sandbox trigger " + TagApplicationError + ")"
	case payload.FieldSubmissionErrorMessage:
		r.SubmissionErrorMessage = "submission could not be created (sandbox trigger " + TagSubmissionError + ")"
	case payload.FieldCandidateEntryErrorMessage:
		r.CandidateEntryErrorMessage = "CV could not be fetched (sandbox trigger " + FailCVMarker + ")"
	}
}

// process records the request's invites and CV entries and builds its results.
// It also decides whether the reply is lost, so that the decision and the
// recording are one step.
func (s *Server) process(req *payload.InviteRequest, target payload.Target, seq int64) ([]result, bool, LostReplyMode) {
	sendInvite := req.SendInvite == nil || *req.SendInvite
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	results := make([]result, len(req.Candidates))
	for i, c := range req.Candidates {
		res := result{EmailAddress: nullable(c.Email), CVLink: nullable(c.CVLink)}
		if fields := TriggeredErrors(c); fields != nil {
			for _, f := range fields {
				res.setError(f)
			}
			s.stats.CandidateErrors++
			results[i] = res
			continue
		}
		if c.Email == "" {
			res.CandidateEntry = &candidateEntry{ID: newID(), StatusText: CandidateEntryQueued}
			s.stats.CVQueued++
			results[i] = res
			continue
		}
		inv := Invite{Target: target, Email: c.Email, SubmissionID: newID(), Request: seq, At: now}
		if sendInvite {
			inv.InvitationID = newID()
			res.Invitation = &payload.Invitation{ID: inv.InvitationID, Email: c.Email, StatusText: InvitationPending}
			s.stats.Invites++
		}
		res.Submission = &payload.Submission{ID: inv.SubmissionID, StatusText: SubmissionNeedInterview}
		s.stats.Submissions++
		k := inviteKey(target, c.Email)
		if s.inviteCount[k] > 0 {
			inv.Duplicate = true
			s.stats.DuplicateInvites++
		}
		s.inviteCount[k]++
		s.invites = append(s.invites, inv)
		results[i] = res
	}
	if !s.roll(s.faults.LostReplyRate) {
		return results, false, ""
	}
	mode := s.faults.LostReplyMode
	if mode == LostReplyMixed {
		mode = LostReplyTimeout
		if s.rng.IntN(2) == 0 {
			mode = LostReplyClose
		}
	}
	return results, true, mode
}

// abort ends a request whose context is done: the client went away or the
// server is stopping. It closes the connection without an answer, so that a
// client still listening sees a connection error rather than an empty 200; a
// ResponseWriter that cannot be taken over gets 503.
func (s *Server) abort(w http.ResponseWriter, rec *RequestRecord) {
	s.finish(rec, StatusClientGone, "")
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Message: "sandbox: request cancelled"})
}

// loseReply answers a processed request as if its reply were lost.
func (s *Server) loseReply(w http.ResponseWriter, rec *RequestRecord, mode LostReplyMode) {
	if mode == LostReplyClose {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			s.finish(rec, StatusNoReply, faultLostReply)
			_ = conn.Close()
			return
		}
	}
	s.answer(w, rec, http.StatusGatewayTimeout, faultLostReply, errorBody{Message: "upstream timed out"})
}
