// Package metrics owns bulkinvite's Prometheus metrics: the collectors whose names
// docs/operations.md fixes (contract), on a registry of their own with the Go and process
// collectors and, given an asynq Inspector, asynq's queue collector; the
// http.Handler that serves them in Prometheus' text format; and Listen, which
// serves that handler on an address of its own (`worker --metrics-addr`).
// *Metrics is the worker's Observer: the worker tells it what happened.
//
// It does not decide what counts (the worker reports each new outcome once) and
// reads Redis only at a scrape, through the Inspector and the Config's
// readers (AuthStopped, PausedBatches, ScheduledBatches). It
// uses no global registry: two Metrics in one process (tests) do not meet.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/payload"
)

// The names of our metrics (contract: docs/operations.md lists them; dashboards and
// alerts use them). Extend, never rename.
const (
	// CandidatesTotal counts candidates whose final outcome this process
	// recorded, by outcome (label "outcome": invited, cv_queued, dead_lettered,
	// skipped_duplicate, cancelled). Duplicates within one batch are decided at
	// import, not by a worker, and are not counted here (`status` shows them).
	// Cancelled candidates are counted by the serve process whose HTTP API or
	// dashboard cancelled them; a cancel through the CLI (which serves no
	// metrics), and candidates an import admits into a batch already
	// cancelled, are not (`status` counts them all).
	CandidatesTotal = "bulkinvite_candidates_total"
	// DeadLettersTotal counts candidates this process dead-lettered, by reason
	// (label "reason", one of payload.Reasons).
	DeadLettersTotal = "bulkinvite_deadletters_total"
	// APIRequestsTotal counts requests to the Flowmingo API, by HTTP status
	// (label "code": "200", "429", ...; CodeNoAnswer when no HTTP answer came).
	APIRequestsTotal = "bulkinvite_api_requests_total"
	// RateLimitWaitSeconds is a histogram of how long the shared rate limiter
	// held each request before granting it.
	RateLimitWaitSeconds = "bulkinvite_ratelimit_wait_seconds"
	// APIInFlightRequests is the requests to the Flowmingo API this process has
	// in flight.
	APIInFlightRequests = "bulkinvite_api_inflight_requests"
	// AuthStopped is 1 while sending is stopped after the vendor refused the API
	// key (401/403), until `bulkinvite resume`; else 0. Read from Redis at each
	// scrape (Config.AuthStopped).
	AuthStopped = "bulkinvite_auth_stopped"
	// BatchesHeld is the batches held back from sending and not done, by state
	// (label "state": "paused"; "scheduled", before their not-before time).
	// Read from Redis at each scrape (Config.PausedBatches,
	// Config.ScheduledBatches).
	BatchesHeld = "bulkinvite_batches_held"
)

// CodeNoAnswer is the "code" of bulkinvite_api_requests_total for a request that
// got no HTTP answer: a connection error, a timeout, a lost reply, a shutdown.
const CodeNoAnswer = "error"

// DefaultScrapeTimeout is Config.ScrapeTimeout's default.
const DefaultScrapeTimeout = 5 * time.Second

// WaitBuckets are the bounds, in seconds, of bulkinvite_ratelimit_wait_seconds'
// buckets: from a grant without waiting to a long 429 cool-down.
var WaitBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Config says what a Metrics reads at a scrape. The zero value is metrics without
// the asynq queues and without bulkinvite_auth_stopped.
type Config struct {
	// Inspector, when set, adds asynq's queue collector (asynq_* metrics: tasks by
	// queue and state, queue size, latency of the oldest pending task, processed
	// and failed totals, paused queues), which reads every queue at each scrape.
	// Default none.
	Inspector *asynq.Inspector
	// AuthStopped, when set, tells at each scrape whether sending is stopped
	// after a 401/403, for bulkinvite_auth_stopped; an error leaves the gauge out
	// of that scrape (and is logged). Default none: the gauge is not exported.
	AuthStopped func(ctx context.Context) (bool, error)
	// PausedBatches, when set, counts the paused batches at each scrape, for
	// bulkinvite_batches_held{state="paused"}; an error leaves the gauge out of
	// that scrape (and is logged). Default none: the gauge is not exported.
	PausedBatches func(ctx context.Context) (int, error)
	// ScheduledBatches, when set, counts at each scrape the batches whose
	// not-before time is still ahead, for bulkinvite_batches_held{state=
	// "scheduled"}; an error leaves that gauge out of the scrape (and is
	// logged). Default none: the gauge is not exported.
	ScheduledBatches func(ctx context.Context) (int, error)
	// ScrapeTimeout bounds AuthStopped, PausedBatches and ScheduledBatches.
	// Default DefaultScrapeTimeout.
	ScrapeTimeout time.Duration
	// Log gets the errors of scrapes and of Listen's server. Default none.
	Log *zap.Logger
}

// Metrics holds the collectors. It is safe for concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	log        *zap.Logger
	candidates *prometheus.CounterVec
	dead       *prometheus.CounterVec
	requests   *prometheus.CounterVec
	wait       prometheus.Histogram
	inFlight   prometheus.Gauge
}

// New registers the collectors on a registry of their own.
func New(cfg Config) *Metrics {
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = DefaultScrapeTimeout
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: cfg.Log,
		candidates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: CandidatesTotal,
			Help: "Candidates whose final outcome this process recorded, by outcome (duplicates within a batch, decided at import, are not counted)."},
			[]string{"outcome"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: DeadLettersTotal,
			Help: "Candidates this process dead-lettered, by reason."}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: APIRequestsTotal,
			Help: `Requests to the Flowmingo API, by HTTP status; code="error" when no HTTP answer came.`}, []string{"code"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: RateLimitWaitSeconds,
			Help: "How long the shared rate limiter held a request to the Flowmingo API before granting it.", Buckets: WaitBuckets}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: APIInFlightRequests,
			Help: "Requests to the Flowmingo API in flight from this process."}),
	}
	// Every outcome and reason from the start, at 0, so that rate() and increase()
	// see the first one.
	for _, o := range []payload.Outcome{payload.OutcomeInvited, payload.OutcomeCVQueued, payload.OutcomeDeadLettered, payload.OutcomeSkippedDuplicate, payload.OutcomeCancelled} {
		m.candidates.WithLabelValues(string(o))
	}
	for _, r := range payload.Reasons {
		m.dead.WithLabelValues(string(r))
	}
	m.reg.MustRegister(m.candidates, m.dead, m.requests, m.wait, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.AuthStopped != nil {
		m.reg.MustRegister(&authCollector{read: cfg.AuthStopped, timeout: cfg.ScrapeTimeout,
			desc: prometheus.NewDesc(AuthStopped, "1 while sending is stopped after the vendor refused the API key (401/403), until `bulkinvite resume`; else 0.", nil, nil)})
	}
	if held := heldStates(cfg); len(held) > 0 {
		m.reg.MustRegister(&heldCollector{states: held, timeout: cfg.ScrapeTimeout,
			desc: prometheus.NewDesc(BatchesHeld, "Batches held back from sending and not done, by state (paused; scheduled, before their not-before time).", []string{"state"}, nil)})
	}
	if cfg.Inspector != nil {
		m.reg.MustRegister(asynqmetrics.NewQueueMetricsCollector(cfg.Inspector))
	}
	return m
}

// Handler serves the metrics in Prometheus' text format. A collector that fails
// (Redis out of reach at the scrape) is left out and logged; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// Register adds collectors of the caller's own (say, the HTTP API's) to the
// registry the Handler serves.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: register: %w", err)
		}
	}
	return nil
}

// Outcomes counts n candidates that got outcome o (worker.Observer).
func (m *Metrics) Outcomes(o payload.Outcome, n int) {
	m.candidates.WithLabelValues(string(o)).Add(float64(n))
}

// DeadLettered counts n candidates dead-lettered for reason r (worker.Observer).
func (m *Metrics) DeadLettered(r payload.Reason, n int) {
	m.dead.WithLabelValues(string(r)).Add(float64(n))
}

// APIRequest counts a request that ended with HTTP status, 0 for no answer
// (worker.Observer).
func (m *Metrics) APIRequest(status int) {
	code := CodeNoAnswer
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(code).Inc()
}

// RateLimitWait observes a wait for the rate limiter (worker.Observer).
func (m *Metrics) RateLimitWait(d time.Duration) { m.wait.Observe(d.Seconds()) }

// InFlight moves the requests in flight by delta (worker.Observer).
func (m *Metrics) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

// authCollector reads the auth stop at each scrape: so every worker, and serve,
// shows the stop however it was set, and `bulkinvite resume` clears it at once.
type authCollector struct {
	read    func(context.Context) (bool, error)
	timeout time.Duration
	desc    *prometheus.Desc
}

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	stopped, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read the auth stop: %w", err))
		return
	}
	v := 0.0
	if stopped {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
}

// heldState is one state of bulkinvite_batches_held and how to count it.
type heldState struct {
	name  string
	count func(context.Context) (int, error)
}

// heldStates are the states of the held batches cfg counts.
func heldStates(cfg Config) []heldState {
	var out []heldState
	if cfg.PausedBatches != nil {
		out = append(out, heldState{"paused", cfg.PausedBatches})
	}
	if cfg.ScheduledBatches != nil {
		out = append(out, heldState{"scheduled", cfg.ScheduledBatches})
	}
	return out
}

// heldCollector counts the held batches of each state at each scrape: a pause
// or resume by any process, or a batch's time coming, shows at once.
type heldCollector struct {
	states  []heldState
	timeout time.Duration
	desc    *prometheus.Desc
}

func (c *heldCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *heldCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, st := range c.states {
		n, err := st.count(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read the %s batches: %w", st.name, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), st.name)
	}
}

// promLog adapts zap to promhttp's error log.
type promLog struct{ l *zap.Logger }

func (p promLog) Println(v ...any) { p.l.Warn("metrics scrape: " + fmt.Sprint(v...)) }
