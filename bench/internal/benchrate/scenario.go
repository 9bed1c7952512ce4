package benchrate

import (
	"fmt"
	"strconv"
	"strings"
)

// Scenario is one configuration of the sandbox and the workers.
type Scenario struct {
	Name string `json:"name"`
	// Limiter is BULKINVITE_LIMITER: "global" or "local".
	Limiter string `json:"limiter"`
	// Rate, Burst and Adaptive are the workers' BULKINVITE_RATE, _BURST, _ADAPTIVE.
	Rate     float64 `json:"rate"`
	Burst    int     `json:"burst"`
	Adaptive bool    `json:"adaptive"`
	// SandboxRate and SandboxBurst are the sandbox's --rate and --burst; 0: no limit.
	SandboxRate  float64 `json:"sandbox_rate"`
	SandboxBurst int     `json:"sandbox_burst"`
	// Goal says what the scenario should show.
	Goal string `json:"goal"`
}

// ScenarioNames lists the scenarios in the order they run.
func ScenarioNames() []string {
	return []string{"global", "local", "sandbox429", "sandbox429-adaptive"}
}

// NewScenario builds the named scenario for a shared rate and burst.
func NewScenario(name string, rate float64, burst int) (Scenario, bool) {
	switch name {
	case "global":
		return Scenario{Name: name, Limiter: "global", Rate: rate, Burst: burst,
			Goal: fmt.Sprintf("mean within 2%% of %g/s; no 1-s window above %d", rate, int(rate)+burst)}, true
	case "local":
		return Scenario{Name: name, Limiter: "local", Rate: rate, Burst: burst,
			Goal: "baseline: each process holds the rate alone, so about workers x rate"}, true
	case "sandbox429", "sandbox429-adaptive":
		return Scenario{Name: name, Limiter: "global", Rate: 2 * rate, Burst: burst,
			Adaptive: name == "sandbox429-adaptive", SandboxRate: rate, SandboxBurst: burst,
			Goal: "after the first 429s the workers settle: 429s a trickle"}, true
	}
	return Scenario{}, false
}

// PickScenarios parses a comma-separated list of scenario names (a -scenarios
// flag), dropping blanks and repeats.
func PickScenarios(list string, rate float64, burst int) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		s, ok := NewScenario(name, rate, burst)
		if !ok {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", name, strings.Join(ScenarioNames(), ", "))
		}
		seen[name] = true
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-scenarios: none given (have %s)", strings.Join(ScenarioNames(), ", "))
	}
	return out, nil
}

// CeilingRate is the most requests per second that can succeed in s: each of
// workers processes never exceeds its own rate, and a limiting sandbox accepts
// no more than its own. It sizes the import so that the queue never runs dry.
func (s Scenario) CeilingRate(workers int) float64 {
	r := s.Rate * float64(workers)
	if s.SandboxRate > 0 && s.SandboxRate < r {
		r = s.SandboxRate
	}
	return r
}

// SandboxArgs are the `bulkinvite sandbox` flags of s: its rate limit, if any.
func (s Scenario) SandboxArgs() []string {
	if s.SandboxRate <= 0 {
		return nil
	}
	return []string{"--rate", strconv.FormatFloat(s.SandboxRate, 'g', -1, 64), "--burst", strconv.Itoa(s.SandboxBurst)}
}
