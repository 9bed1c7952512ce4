package sandbox

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// Names of the faults in RequestRecord.Fault.
const (
	faultRateLimited = "rate_limited"
	faultFail        = "fail"
	faultLostReply   = "lost_reply"
	faultAbandoned   = "abandoned"
)

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

// latency returns the faults in force and the latency this request waits before
// it is answered: Faults.Latency plus up to Faults.LatencyJitter.
func (s *Server) latency() (Faults, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	delay := f.Latency
	if f.LatencyJitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(f.LatencyJitter)))
	}
	return f, delay
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

// loseReplyLocked decides whether a processed request's reply is lost
// (Faults.LostReplyRate), and how (Faults.LostReplyMode, Mixed picking one of the
// two). Called with s.mu held, in the step that records the request's invites.
func (s *Server) loseReplyLocked() (bool, LostReplyMode) {
	if !s.roll(s.faults.LostReplyRate) {
		return false, ""
	}
	mode := s.faults.LostReplyMode
	if mode == LostReplyMixed {
		mode = LostReplyTimeout
		if s.rng.IntN(2) == 0 {
			mode = LostReplyClose
		}
	}
	return true, mode
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
