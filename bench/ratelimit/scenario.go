package main

import (
	"fmt"
	"strconv"
	"strings"
)

// scenario is one configuration of the sandbox and the workers.
type scenario struct {
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

// scenarioNames lists the scenarios in the order they run.
func scenarioNames() []string {
	return []string{"global", "local", "sandbox429", "sandbox429-adaptive"}
}

// newScenario builds the named scenario for a shared rate and burst.
func newScenario(name string, rate float64, burst int) (scenario, bool) {
	switch name {
	case "global":
		return scenario{Name: name, Limiter: "global", Rate: rate, Burst: burst,
			Goal: fmt.Sprintf("mean within 2%% of %g/s; no 1-s window above %d", rate, int(rate)+burst)}, true
	case "local":
		return scenario{Name: name, Limiter: "local", Rate: rate, Burst: burst,
			Goal: "baseline: each process holds the rate alone, so about workers x rate"}, true
	case "sandbox429", "sandbox429-adaptive":
		return scenario{Name: name, Limiter: "global", Rate: 2 * rate, Burst: burst,
			Adaptive: name == "sandbox429-adaptive", SandboxRate: rate, SandboxBurst: burst,
			Goal: "after the first 429s the workers settle: 429s a trickle"}, true
	}
	return scenario{}, false
}

// pickScenarios parses -scenarios.
func pickScenarios(list string, rate float64, burst int) ([]scenario, error) {
	var out []scenario
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		s, ok := newScenario(name, rate, burst)
		if !ok {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", name, strings.Join(scenarioNames(), ", "))
		}
		seen[name] = true
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-scenarios: none given (have %s)", strings.Join(scenarioNames(), ", "))
	}
	return out, nil
}

// ceilingRate is the most requests per second that can succeed in s: each of
// workers processes never exceeds its own rate, and a limiting sandbox accepts
// no more than its own. It sizes the import so that the queue never runs dry.
func (s scenario) ceilingRate(workers int) float64 {
	r := s.Rate * float64(workers)
	if s.SandboxRate > 0 && s.SandboxRate < r {
		r = s.SandboxRate
	}
	return r
}

// sandboxArgs are the `bulkinvite sandbox` flags of s: its rate limit, if any.
func (s scenario) sandboxArgs() []string {
	if s.SandboxRate <= 0 {
		return nil
	}
	return []string{"--rate", strconv.FormatFloat(s.SandboxRate, 'g', -1, 64), "--burst", strconv.Itoa(s.SandboxBurst)}
}
