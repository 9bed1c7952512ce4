package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Test keys of the default configuration (Config.Keys empty). They are sandbox
// keys, not secrets: printing them in full is intended.
const (
	// DefaultKey is active and has the invite_candidates scope.
	DefaultKey = "fl_live_sandbox.test-secret-0001"
	// InactiveKey is known but inactive: 403.
	InactiveKey = "fl_live_inactive.test-secret"
	// ExpiredKey is known but expired: 403.
	ExpiredKey = "fl_live_expired.test-secret"
	// DeletedKey was deleted: 401, as for a key the vendor never issued.
	DeletedKey = "fl_live_deleted.test-secret"
	// NoScopeKey is active but lacks the invite_candidates scope: 403.
	NoScopeKey = "fl_live_noscope.test-secret"
)

// Targets the sandbox always knows.
const (
	// DemoInterviewSetID is the interview set of the vendor's sample request.
	DemoInterviewSetID = "019c5ea9-a792-7f0d-b671-4c3c1602094e"
	// DemoProjectID is a project with one job post, DemoJobPostID.
	DemoProjectID = "019c5eaa-3c41-7a2e-8f10-6b7d2c9e0a01"
	// DemoJobPostID is the only (so the latest) job post of DemoProjectID.
	DemoJobPostID = "019c5eaa-3c41-7a2e-8f10-6b7d2c9e0a02"
)

// DefaultMaxBodyBytes is the largest request body the sandbox reads when
// Config.MaxBodyBytes is zero; a larger one is answered 413.
const DefaultMaxBodyBytes = 10 << 20

// KeyState is the state of an API key at the vendor. Its values are the strings
// used by POST /__sandbox/keys.
type KeyState string

// The key states, with the status a request carrying such a key gets.
const (
	KeyActive       KeyState = "active"        // accepted
	KeyInactive     KeyState = "inactive"      // 403
	KeyExpired      KeyState = "expired"       // 403
	KeyDeleted      KeyState = "deleted"       // 401, as for an unknown key
	KeyMissingScope KeyState = "missing_scope" // 403: active, but without invite_candidates
)

var keyStates = []KeyState{KeyActive, KeyInactive, KeyExpired, KeyDeleted, KeyMissingScope}

// Valid reports whether s is one of the key states.
func (s KeyState) Valid() bool {
	for _, x := range keyStates {
		if s == x {
			return true
		}
	}
	return false
}

// KeyConfig is one API key the sandbox knows, and its state.
type KeyConfig struct {
	// Key is the whole key, fl_live_<prefix>.<secret>.
	Key string `json:"key"`
	// State is the key's state; the zero value ("") means KeyActive.
	State KeyState `json:"state"`
}

// Project is a project the sandbox knows, with its job posts.
type Project struct {
	// ID is the project's UUID (com_project_id).
	ID string `json:"id"`
	// JobPostIDs are the project's job posts (com_job_post_id), oldest first: a
	// request naming the project without a job post targets the last one. A
	// project without job posts answers such a request 404.
	JobPostIDs []string `json:"job_post_ids"`
}

// LostReplyMode says how a lost reply (Faults.LostReplyRate) shows to the client.
type LostReplyMode string

// The lost-reply modes.
const (
	// LostReplyMixed picks LostReplyTimeout or LostReplyClose at random, per request.
	LostReplyMixed LostReplyMode = ""
	// LostReplyTimeout answers 504 Gateway Timeout.
	LostReplyTimeout LostReplyMode = "504"
	// LostReplyClose closes the connection without an answer (the client sees a
	// connection error). Where the connection cannot be taken over (HTTP/2, or a
	// ResponseWriter that is not a Hijacker such as httptest.ResponseRecorder) it
	// answers 504 instead.
	LostReplyClose LostReplyMode = "close"
)

// Faults are the failures the sandbox injects. The zero value injects none. They
// are set by Config.Faults and changed at runtime by Server.SetFaults or
// POST /__sandbox/faults.
//
// The order a request meets them: Latency (after the body is read), then
// authentication, then Rate, then FailRate (nothing is recorded), then decoding,
// validation and targets, then the invites are recorded, then LostReplyRate.
type Faults struct {
	// FailRate is the share of authenticated, non-rate-limited requests answered
	// 500 or 503 (half each, at random; 503 carries Retry-After: 1) without
	// processing them. 0 (the default) never, 1 always.
	FailRate float64
	// LostReplyRate is the share of requests that are processed — their invites
	// recorded, as if the vendor acted — and whose reply is then lost, as
	// LostReplyMode says. 0 (the default) never, 1 always.
	LostReplyRate float64
	// LostReplyMode is how a lost reply shows; the zero value is LostReplyMixed.
	LostReplyMode LostReplyMode
	// Latency is added before a request on the API path is answered; the wait
	// ends early, with no answer, when the client goes away. 0: none.
	Latency time.Duration
	// LatencyJitter adds a uniformly random extra in [0, LatencyJitter). 0: none.
	LatencyJitter time.Duration
	// ReplyLatency is added after a request was processed — its invites recorded,
	// as if the vendor acted — and before its reply is written: a client that gives
	// up meanwhile has an unknown outcome although the vendor acted. 0: none.
	ReplyLatency time.Duration
	// ProcessAbandoned goes on with a request whose client went away during the
	// latency, as a vendor that acted before the client gave up: its invites are
	// recorded, its answer is written to nobody, and its record carries the
	// fault "abandoned". false (the default): such a request is not processed
	// and is recorded as StatusClientGone.
	ProcessAbandoned bool
	// Rate is how many requests per second the sandbox accepts per API key (a
	// token bucket); a request over it is answered 429 with Retry-After in whole
	// seconds, at least 1. 0 (the default): no limit.
	Rate float64
	// Burst is the token bucket's size when Rate is set. 0 means 1.
	Burst int
}

// IsZero reports whether no fault is injected.
func (f Faults) IsZero() bool { return f == Faults{} }

// Validate reports the first field out of range, naming it.
func (f Faults) Validate() error {
	switch {
	case !(f.FailRate >= 0 && f.FailRate <= 1):
		return fmt.Errorf("Faults.FailRate: must be in [0, 1], got %v", f.FailRate)
	case !(f.LostReplyRate >= 0 && f.LostReplyRate <= 1):
		return fmt.Errorf("Faults.LostReplyRate: must be in [0, 1], got %v", f.LostReplyRate)
	case f.LostReplyMode != LostReplyMixed && f.LostReplyMode != LostReplyTimeout && f.LostReplyMode != LostReplyClose:
		return fmt.Errorf("Faults.LostReplyMode: must be %q, %q or %q, got %q", LostReplyMixed, LostReplyTimeout, LostReplyClose, f.LostReplyMode)
	case f.Latency < 0:
		return fmt.Errorf("Faults.Latency: must not be negative, got %v", f.Latency)
	case f.LatencyJitter < 0:
		return fmt.Errorf("Faults.LatencyJitter: must not be negative, got %v", f.LatencyJitter)
	case f.ReplyLatency < 0:
		return fmt.Errorf("Faults.ReplyLatency: must not be negative, got %v", f.ReplyLatency)
	case !(f.Rate >= 0 && f.Rate < 1e9):
		return fmt.Errorf("Faults.Rate: must be in [0, 1e9) requests/s, got %v", f.Rate)
	case f.Burst < 0:
		return fmt.Errorf("Faults.Burst: must not be negative, got %d", f.Burst)
	}
	return nil
}

// String describes the faults in one line, e.g. "fail_rate=0.1 rate=5/s burst=1", or "none".
func (f Faults) String() string {
	if f.IsZero() {
		return "none"
	}
	var parts []string
	if f.FailRate > 0 {
		parts = append(parts, fmt.Sprintf("fail_rate=%g", f.FailRate))
	}
	if f.LostReplyRate > 0 {
		mode := string(f.LostReplyMode)
		if mode == "" {
			mode = "mixed"
		}
		parts = append(parts, fmt.Sprintf("lost_reply_rate=%g (%s)", f.LostReplyRate, mode))
	}
	if f.Latency > 0 || f.LatencyJitter > 0 {
		parts = append(parts, fmt.Sprintf("latency=%v+[0,%v)", f.Latency, f.LatencyJitter))
	}
	if f.ReplyLatency > 0 {
		parts = append(parts, fmt.Sprintf("reply_latency=%v", f.ReplyLatency))
	}
	if f.ProcessAbandoned {
		parts = append(parts, "process_abandoned")
	}
	if f.Rate > 0 {
		parts = append(parts, fmt.Sprintf("rate=%g/s burst=%d", f.Rate, f.burst()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func (f Faults) burst() int {
	if f.Burst <= 0 {
		return 1
	}
	return f.Burst
}

// faultsJSON is the JSON form of Faults: durations as Go duration strings.
type faultsJSON struct {
	FailRate      float64       `json:"fail_rate"`
	LostReplyRate float64       `json:"lost_reply_rate"`
	LostReplyMode LostReplyMode `json:"lost_reply_mode"`
	Latency       jsonDuration  `json:"latency"`
	LatencyJitter jsonDuration  `json:"latency_jitter"`
	ReplyLatency  jsonDuration  `json:"reply_latency,omitempty"`
	// ProcessAbandoned is omitted when false, so that older readers of the
	// faults see what they always saw.
	ProcessAbandoned bool    `json:"process_abandoned,omitempty"`
	Rate             float64 `json:"rate"`
	Burst            int     `json:"burst"`
}

// MarshalJSON writes the faults with snake_case names and durations as Go
// duration strings ("250ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		FailRate: f.FailRate, LostReplyRate: f.LostReplyRate, LostReplyMode: f.LostReplyMode,
		Latency: jsonDuration(f.Latency), LatencyJitter: jsonDuration(f.LatencyJitter),
		ReplyLatency: jsonDuration(f.ReplyLatency), ProcessAbandoned: f.ProcessAbandoned, Rate: f.Rate, Burst: f.Burst,
	})
}

// UnmarshalJSON reads what MarshalJSON writes. Absent fields are zero; unknown
// fields are an error, so that a typo does not silently inject nothing. A
// duration is a Go duration string ("250ms") or a number of nanoseconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*f = Faults{
		FailRate: j.FailRate, LostReplyRate: j.LostReplyRate, LostReplyMode: j.LostReplyMode,
		Latency: time.Duration(j.Latency), LatencyJitter: time.Duration(j.LatencyJitter),
		ReplyLatency: time.Duration(j.ReplyLatency), ProcessAbandoned: j.ProcessAbandoned, Rate: j.Rate, Burst: j.Burst,
	}
	return nil
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("a duration is a string such as \"250ms\" or a number of nanoseconds")
	}
	*d = jsonDuration(n)
	return nil
}

// Config configures a Server. The zero value is a working sandbox: the default
// test keys, the demo targets, no faults.
type Config struct {
	// Keys are the API keys the sandbox knows. Empty (the default): DefaultKey
	// (active), InactiveKey, ExpiredKey, DeletedKey and NoScopeKey, in the states
	// their names say. Non-empty: exactly these keys.
	Keys []KeyConfig
	// InterviewSets are UUIDs of interview sets the sandbox knows, in addition
	// to DemoInterviewSetID, which it always knows.
	InterviewSets []string
	// Projects the sandbox knows, in addition to DemoProjectID (with its job post
	// DemoJobPostID), which it always knows.
	Projects []Project
	// Faults to inject from the start. Zero (the default): none.
	Faults Faults
	// Seed seeds the random choices of the faults (which requests fail, lose
	// their reply, how much jitter), so that a run is repeatable for the same
	// sequence of requests. The zero value is a seed like any other.
	Seed uint64
	// MaxBodyBytes caps the request body; a larger body is answered 413.
	// 0: DefaultMaxBodyBytes (10 MiB).
	MaxBodyBytes int64
}

// DefaultKeys returns the keys of a Config whose Keys is empty.
func DefaultKeys() []KeyConfig {
	return []KeyConfig{
		{Key: DefaultKey, State: KeyActive},
		{Key: InactiveKey, State: KeyInactive},
		{Key: ExpiredKey, State: KeyExpired},
		{Key: DeletedKey, State: KeyDeleted},
		{Key: NoScopeKey, State: KeyMissingScope},
	}
}

// Validate reports the first field of c that is not acceptable, naming it. No
// error shows a key other than masked.
func (c Config) Validate() error {
	seen := make(map[string]bool, len(c.Keys))
	for i, k := range c.Keys {
		if err := flowmingo.NewAPIKey(k.Key).Check(); err != nil || k.Key != strings.TrimSpace(k.Key) {
			return fmt.Errorf("sandbox: Config.Keys[%d].Key: %s is not of the form %s<prefix>.<secret>",
				i, flowmingo.NewAPIKey(k.Key).Masked(), flowmingo.KeyPrefix)
		}
		if k.State != "" && !k.State.Valid() {
			return fmt.Errorf("sandbox: Config.Keys[%d].State: unknown state %q (want one of %v)", i, k.State, keyStates)
		}
		if seen[k.Key] {
			return fmt.Errorf("sandbox: Config.Keys[%d].Key: %s listed twice", i, flowmingo.NewAPIKey(k.Key).Masked())
		}
		seen[k.Key] = true
	}
	for i, id := range c.InterviewSets {
		if !payload.IsUUID(id) {
			return fmt.Errorf("sandbox: Config.InterviewSets[%d]: not a UUID: %q", i, id)
		}
	}
	for i, p := range c.Projects {
		if !payload.IsUUID(p.ID) {
			return fmt.Errorf("sandbox: Config.Projects[%d].ID: not a UUID: %q", i, p.ID)
		}
		for j, jp := range p.JobPostIDs {
			if !payload.IsUUID(jp) {
				return fmt.Errorf("sandbox: Config.Projects[%d].JobPostIDs[%d]: not a UUID: %q", i, j, jp)
			}
		}
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("sandbox: Config.%w", err)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("sandbox: Config.MaxBodyBytes: must not be negative, got %d", c.MaxBodyBytes)
	}
	return nil
}
