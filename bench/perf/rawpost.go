package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/payload"
)

// rawPost posts the drain's candidates from memory, in chunks of drainChunk
// with drainConcurrency clients, to the sandbox at url (reset first), and
// reads the rate at the sandbox as for a drain.
func (b *bench) rawPost(ctx context.Context, url string) (*drainFigures, error) {
	n := b.o.drainCandidates
	bodies, err := rawBodies(n)
	if err != nil {
		return nil, err
	}
	if err := postReset(ctx, b.hc, url); err != nil {
		return nil, err
	}
	logf("[raw poster] %d requests of %d candidates, concurrency %d", len(bodies), drainChunk, drainConcurrency)
	if err := postAll(ctx, url+payload.InvitePath, bodies); err != nil {
		return nil, err
	}
	f, err := sandboxRate(ctx, b.hc, url, n)
	if err != nil {
		return nil, err
	}
	logf("[raw poster] %.0f candidates/s at the sandbox", f.CandPerS)
	return f, nil
}

// rawBodies encodes the requests a worker would send for candidates 0..n-1
// (benchrate.WriteCandidates' people) in chunks of drainChunk.
func rawBodies(n int) ([][]byte, error) {
	var bodies [][]byte
	for start := 0; start < n; start += drainChunk {
		req := payload.InviteRequest{ComInterviewSetID: benchrate.InterviewSet}
		for i := start; i < min(start+drainChunk, n); i++ {
			req.Candidates = append(req.Candidates, payload.Candidate{
				ATSCandidateID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
				Email:          fmt.Sprintf("bench+%d@example.com", i),
				Firstname:      "Bench",
				Lastname:       fmt.Sprintf("Candidate %d", i),
			})
		}
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// postAll posts every body to url with drainConcurrency goroutines sharing
// one transport; any answer but 200 is an error.
func postAll(ctx context.Context, url string, bodies [][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: drainConcurrency}}
	defer hc.CloseIdleConnections()
	next := make(chan []byte)
	errc := make(chan error, drainConcurrency)
	var wg sync.WaitGroup
	for range drainConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				if err := postOne(ctx, hc, url, body); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for _, body := range bodies {
		select {
		case next <- body:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// postOne posts one invite request as the worker would (its headers).
func postOne(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header[flowmingo.HeaderAPIKey] = []string{benchrate.APIKey}
	return send(hc, req, http.StatusOK)
}

// send sends req and reads the answer; a status but want is an error.
func send(hc *http.Client, req *http.Request, want int) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	return nil
}
