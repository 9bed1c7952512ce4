package sandbox

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Statuses recorded for requests that got no HTTP answer.
const (
	// StatusNoReply is recorded for a request whose connection the sandbox
	// closed without an answer (Faults.LostReplyRate, LostReplyClose).
	StatusNoReply = 0
	// StatusClientGone is recorded for a request whose client went away (or
	// whose server shut down) before the sandbox answered, as nginx's 499.
	StatusClientGone = 499
)

// Stats are the sandbox's counters since it started or was last Reset. Only
// requests outside /__sandbox/ count.
type Stats struct {
	// Requests received.
	Requests int `json:"requests"`
	// InFlight is the number of requests received and not answered yet (their
	// records have status -1): a cheap way to wait for a request to be at the
	// vendor. Reset leaves it as it is: those requests are still in flight.
	InFlight int `json:"in_flight"`
	// ByStatus counts answered requests by HTTP status; see StatusNoReply and
	// StatusClientGone for the two that are not HTTP answers.
	ByStatus map[int]int `json:"by_status"`
	// Candidates received in requests whose body decoded.
	Candidates int `json:"candidates"`
	// Invites is the number of invitation records created.
	Invites int `json:"invites"`
	// Submissions is the number of submissions created: one per candidate with an
	// email that succeeded, with or without an invitation (send_invite false).
	Submissions int `json:"submissions"`
	// CVQueued is the number of CV-only candidates queued for candidate-entry
	// processing.
	CVQueued int `json:"cv_queued"`
	// CandidateErrors is the number of results carrying an error field.
	CandidateErrors int `json:"candidate_errors"`
	// ValidationRejections is the number of requests answered 400 or 422.
	ValidationRejections int `json:"validation_rejections"`
	// DuplicateInvites is the number of successful candidates (a submission, and
	// an invitation unless send_invite was false) for a target and email
	// (ignoring case) that already had one. A worker that never invites anybody
	// twice keeps it at 0.
	DuplicateInvites int `json:"duplicate_invites"`
	// InjectedFailures is the number of 500/503 answers from Faults.FailRate.
	InjectedFailures int `json:"injected_failures"`
	// LostReplies is the number of processed requests whose reply was lost
	// (Faults.LostReplyRate).
	LostReplies int `json:"lost_replies"`
	// RateLimited is the number of 429 answers.
	RateLimited int `json:"rate_limited"`
}

func (s Stats) clone() Stats {
	m := make(map[int]int, len(s.ByStatus))
	for k, v := range s.ByStatus {
		m[k] = v
	}
	s.ByStatus = m
	return s
}

// RequestRecord is one request received outside /__sandbox/.
type RequestRecord struct {
	// Seq numbers requests from 1 in the order they arrived.
	Seq int64 `json:"seq"`
	// At is when the request arrived, before any latency.
	At time.Time `json:"at"`
	// Method and Path of the request.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Key is the request's API key, masked (fl_live_<prefix>.****); empty
	// without one. KeyID is flowmingo.APIKey.ID of the key.
	Key   string `json:"key,omitempty"`
	KeyID string `json:"key_id,omitempty"`
	// Status is the HTTP status answered, StatusNoReply or StatusClientGone; -1
	// while the request is in flight.
	Status int `json:"status"`
	// Candidates is the number of candidates in the body, when it decoded.
	Candidates int `json:"candidates"`
	// Fault names the injected fault that decided the answer: "rate_limited",
	// "fail", "lost_reply"; "abandoned" for an answer nobody read
	// (Faults.ProcessAbandoned); empty for none.
	Fault string `json:"fault,omitempty"`
	// Duration is from arrival to the answer.
	Duration time.Duration `json:"duration_ns"`
}

// Invite is a successful candidate with an email: a submission and, unless the
// request had send_invite false, an invitation.
type Invite struct {
	// Target is the request's target with lower-case ids and, for a project
	// without a job post, the job post the sandbox picked (the latest).
	Target payload.Target `json:"target"`
	// Email is the candidate's email as sent.
	Email string `json:"email"`
	// InvitationID is empty when the request had send_invite false.
	InvitationID string `json:"invitation_id,omitempty"`
	SubmissionID string `json:"submission_id"`
	// Request is the Seq of the request that created it.
	Request int64 `json:"request"`
	// Duplicate is set when the target and email (ignoring case) already had one.
	Duplicate bool      `json:"duplicate,omitempty"`
	At        time.Time `json:"at"`
}

// MaxInWindow returns the largest number of records whose At falls in any
// interval [t, t+window). With window one second it is the peak per-second
// rate a client achieved at the API.
func MaxInWindow(recs []RequestRecord, window time.Duration) int {
	ts := make([]time.Time, len(recs))
	for i, r := range recs {
		ts[i] = r.At
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	n, _ := Busiest(ts, window)
	return n
}

// Busiest returns the largest number of the sorted times ts in any interval
// [t, t+window), and the first time of the first such interval.
func Busiest(ts []time.Time, window time.Duration) (n int, at time.Time) {
	lo := 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= window {
			lo++
		}
		if k := hi - lo + 1; k > n {
			n, at = k, ts[lo]
		}
	}
	return n, at
}

// begin records a request as it arrives: its record, in flight, numbered.
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
