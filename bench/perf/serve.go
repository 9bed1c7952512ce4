package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

// Settings of the serve section.
const (
	serveBig      = 10_000 // candidates of the large body
	serveBigPosts = 3      // large bodies posted one at a time; the median counts
)

// serveFigures are one server's answers to the serve section's load.
type serveFigures struct {
	Requests int           `json:"requests"` // answered 202 in the window
	Errors   int           `json:"errors"`   // anything else, transport errors included
	PerS     float64       `json:"requests_per_s"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	// Big is the median time to a 202 for a body of serveBig candidates.
	Big time.Duration `json:"big_ns"`
}

// serveSection loads a bare net/http handler (the baseline: it reads the body
// and answers 202), then `serve` of each binary over a private Redis.
func (b *bench) serveSection(ctx context.Context) error {
	big := bigBody(serveBig)
	bare, stop, err := startBare()
	if err != nil {
		return err
	}
	f, err := b.serveLoad(ctx, "bare net/http", bare, big)
	stop()
	if err != nil {
		return err
	}
	b.figs.ServeBare = f
	for _, s := range b.subjects() {
		dir, err := b.dir("serve/" + strings.ReplaceAll(s.Label, " ", "-"))
		if err != nil {
			return err
		}
		f, err := b.serveOne(ctx, s, dir, big)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		b.figs.Serve[s.Label] = f
	}
	return nil
}

// serveOne starts Redis and s's `serve` in dir and loads it.
func (b *bench) serveOne(ctx context.Context, s subject, dir string, big []byte) (*serveFigures, error) {
	var g benchproc.Group
	defer g.StopAll(10 * time.Second)
	rds, err := benchproc.StartRedis(ctx, &g, dir, benchproc.RedisOptions{})
	if err != nil {
		return nil, err
	}
	url, err := benchproc.StartServe(ctx, &g, s.Bin, dir, rds.URL())
	if err != nil {
		return nil, err
	}
	return b.serveLoad(ctx, s.Label, url, big)
}

// serveLoad runs -serve-clients clients posting the seed body to base in a
// closed loop for -serve-duration, then posts big serveBigPosts times.
func (b *bench) serveLoad(ctx context.Context, label, base string, big []byte) (*serveFigures, error) {
	clients := b.o.serveClients
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	lctx, cancel := context.WithTimeout(ctx, b.o.serveDuration)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for lctx.Err() == nil {
				t0 := time.Now()
				err := postBatch(lctx, hc, base, configs.SampleRequestJSON)
				switch {
				case err == nil:
					mine = append(mine, time.Since(t0))
				case lctx.Err() == nil:
					bad++
				}
			}
			mu.Lock()
			lats, errs = append(lats, mine...), errs+bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	slices.Sort(lats)
	f := &serveFigures{Requests: len(lats), Errors: errs, PerS: float64(len(lats)) / elapsed.Seconds(), P50: nearestRank(lats, 0.50), P99: nearestRank(lats, 0.99)}
	var bigs []time.Duration
	for range serveBigPosts {
		t0 := time.Now()
		if err := postBatch(ctx, hc, base, big); err != nil {
			return nil, fmt.Errorf("the %d-candidate body: %w", serveBig, err)
		}
		bigs = append(bigs, time.Since(t0))
	}
	slices.Sort(bigs)
	f.Big = bigs[len(bigs)/2]
	logf("[%s] serve: %d clients, %.0f requests/s, p50 %s, p99 %s, %d errors; %d candidates in %s (each: %v)",
		label, clients, f.PerS, ms(f.P50), ms(f.P99), f.Errors, serveBig, ms(f.Big), bigs)
	if f.Requests == 0 {
		return f, fmt.Errorf("no request was answered 202 (%d errors)", errs)
	}
	return f, nil
}

// nearestRank is the p quantile of sorted, nearest rank; 0 for none.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// postBatch posts body to base's POST /v1/batches; anything but 202 is an error.
func postBatch(ctx context.Context, hc *http.Client, base string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batches", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchproc.ServeToken)
	req.Header.Set("Content-Type", "application/json")
	return send(hc, req, http.StatusAccepted)
}

// bigBody is the vendor's request with n candidates of distinct emails.
func bigBody(n int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"com_interview_set_id":%q,"candidates":[`, sandbox.DemoInterviewSetID)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"email":"c%d@example.com","name":"Candidate %d","cv_link":"https://files.example.com/cv/%d.pdf"}`, i, i, i)
	}
	buf.WriteString(`],"invitation_message":"Hello {{candidate_name}}, please record your interview.","send_invite":true}`)
	return buf.Bytes()
}

// startBare serves the baseline on a free loopback port in this process: a
// handler that reads the body and answers 202 with a small JSON body.
func startBare() (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	answer := []byte(`{"batch_id":"bare","accepted":1}`)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(answer)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
