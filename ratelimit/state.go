package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// observedWindow is the span of State.ObservedRate, in whole seconds.
const observedWindow = 10

// State is the limiter as one process sees it, for `bulkinvite status`/`limits`.
type State struct {
	// KeyID names the API key (a hash of it, never the key).
	KeyID string `json:"key_id"`
	// Rate and Burst are as configured, in requests/s and requests.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// EffectiveRate is the shared rate in force, in requests/s: Rate, or lower
	// while adaptive mode is backing off.
	EffectiveRate float64 `json:"effective_rate"`
	// ObservedRate is the requests/s granted to all workers over the last
	// ObservedWindow (whole seconds, the current one excluded).
	ObservedRate   float64       `json:"observed_rate"`
	ObservedWindow time.Duration `json:"observed_window"`
	// CandidatesPerMinute is the configured cap (0 none); CandidatesLastMinute the
	// candidates granted in the last 61 one-second buckets.
	CandidatesPerMinute  int `json:"candidates_per_minute"`
	CandidatesLastMinute int `json:"candidates_last_minute"`
	// Cooldown is the time left of the shared cool-down after a 429 (0 none).
	Cooldown time.Duration `json:"cooldown"`
	// InFlight counts requests sent and not yet released, of all workers;
	// MaxInFlight is the cap.
	InFlight    int `json:"in_flight"`
	MaxInFlight int `json:"max_in_flight"`
	// Processes counts the processes that used the key in the last 30 seconds
	// (0 when unknown).
	Processes int `json:"processes"`
	// Degraded reports that this process's last Redis call failed or took longer
	// than RedisTimeout: it sends nothing until a call succeeds.
	Degraded bool `json:"degraded"`
	// FallbackRate is always 0: a process that cannot reach Redis sends nothing
	// (it once sent at a local share of the rate, which added to the others'
	// shared rate). Kept so that the JSON keeps its fields.
	FallbackRate float64 `json:"fallback_rate"`
}

// State reads the shared state. When Redis cannot be reached it returns what this
// process knows (configuration, Degraded) together with the error.
func (l *Limiter) State(ctx context.Context) (State, error) {
	l.flushReleases(ctx) // this process's releases count as they are
	l.mu.Lock()
	st := State{
		KeyID:               l.keyID,
		Rate:                l.cfg.Rate,
		Burst:               l.cfg.Burst,
		EffectiveRate:       l.eff,
		ObservedWindow:      observedWindow * time.Second,
		CandidatesPerMinute: l.cfg.CandidatesPerMinute,
		MaxInFlight:         l.cfg.MaxInFlight,
		Processes:           l.procs,
		Degraded:            l.degraded,
	}
	if d := l.coolUntil.Sub(l.now()); d > 0 {
		st.Cooldown = d
	}
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	a := stateArgs{windowS: observedWindow, beatWindowMS: procsWindow.Milliseconds()}
	vals, err := stateScript.Run(ctx, l.rdb, l.keys, a.argv()...).Slice()
	if err != nil {
		return st, fmt.Errorf("ratelimit: read the shared state: %w", err)
	}
	if len(vals) != 6 {
		return st, fmt.Errorf("ratelimit: read the shared state: unexpected reply %v", vals)
	}
	cd, _ := vals[0].(int64)
	inflight, _ := vals[1].(int64)
	effStr, _ := vals[2].(string)
	procs, _ := vals[3].(int64)
	reqs, _ := vals[4].(int64)
	cands, _ := vals[5].(int64)
	st.Cooldown = time.Duration(cd) * time.Millisecond
	st.InFlight = int(inflight)
	st.EffectiveRate = l.cfg.Rate
	if eff, ok := parseRate(effStr); ok && l.cfg.Adaptive {
		st.EffectiveRate = math.Min(eff, l.cfg.Rate)
	}
	st.Processes = int(procs)
	st.ObservedRate = float64(reqs) / observedWindow
	st.CandidatesLastMinute = int(cands)
	return st, nil
}
