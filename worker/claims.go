package worker

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// claimHold is what one run of a chunk holds of its claims (store.ClaimForSending):
// renewed every ClaimTTL/3 while the run lasts, checked before the candidates are
// marked as sent, and released at the run's end where no recorded outcome
// released them already.
type claimHold struct {
	r    *chunkRun
	stop chan struct{}
	done chan struct{}

	// cands are the candidates the run claimed, in the order it claimed them.
	cands []task.Candidate

	mu sync.Mutex
	// held are the seqs of cands claimed and not yet let go of.
	held map[int64]bool
	// lost are candidates whose claim another run took (after it ran out);
	// nil while none is.
	lost map[int64]bool
	// confirmed is when the last claim or renewal that found every held claim
	// still the run's was sent (by the worker's monotonic clock): each claim
	// lasts at least ClaimTTL from then.
	confirmed time.Time
}

// holdClaims starts keeping the claims the run took at at on cands.
func (r *chunkRun) holdClaims(cands []task.Candidate, at time.Time) {
	h := &claimHold{r: r, stop: make(chan struct{}), done: make(chan struct{}),
		cands: cands, held: make(map[int64]bool, len(cands)), confirmed: at}
	for _, c := range cands {
		h.held[c.Seq] = true
	}
	r.claims = h
	go h.keep()
}

// keep renews the claims every ClaimTTL/3 until end.
func (h *claimHold) keep() {
	defer close(h.done)
	every := h.r.w.cfg.ClaimTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(h.r.w.life, every)
			if err := h.renew(ctx); err != nil {
				h.r.log.Warn("cannot renew the chunk's claims; they run out unless renewed in time", zap.Error(err))
			}
			cancel()
		}
	}
}

// renew renews the held claims and notes those lost.
func (h *claimHold) renew(ctx context.Context) error {
	cands := h.still(false)
	if len(cands) == 0 {
		return nil
	}
	w := h.r.w
	at := time.Now()
	held, err := w.store.RenewClaims(ctx, h.r.task.Job.Target, h.r.runID, task.Candidates(cands), w.cfg.ClaimTTL)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, ok := range held {
		if !ok {
			if h.lost == nil {
				h.lost = map[int64]bool{}
			}
			h.lost[cands[i].Seq] = true
		}
	}
	h.confirmed = at
	return nil
}

// check returns the candidates among cands whose claims the run still holds, for
// long enough to send them: a renewal first if the last confirmation is older
// than half the claims' ttl.
func (h *claimHold) check(ctx context.Context, cands []task.Candidate) ([]task.Candidate, error) {
	h.mu.Lock()
	stale := time.Since(h.confirmed) >= h.r.w.cfg.ClaimTTL/2
	h.mu.Unlock()
	if stale {
		if err := h.renew(ctx); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.lost) == 0 {
		return cands, nil
	}
	out := cands[:0:0]
	for _, c := range cands {
		if !h.lost[c.Seq] {
			out = append(out, c)
		}
	}
	return out, nil
}

// released notes candidates whose claims a recorded outcome let go of.
func (h *claimHold) released(recs []store.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range recs {
		delete(h.held, rec.Seq)
	}
}

// still returns the candidates whose claims are held, but for those lost when
// notLost.
func (h *claimHold) still(notLost bool) []task.Candidate {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]task.Candidate, 0, len(h.held))
	for _, c := range h.cands {
		if h.held[c.Seq] && !(notLost && h.lost[c.Seq]) {
			out = append(out, c)
		}
	}
	return out
}

// end stops the renewals and releases the claims still held: of candidates the
// run did not send (a 429, a split, a claim lost, a wait) or whose outcome it
// could not record. A release that fails leaves them to run out.
func (h *claimHold) end() {
	close(h.stop)
	<-h.done
	cands := h.still(true)
	if len(cands) == 0 {
		return
	}
	w := h.r.w
	ctx, cancel := context.WithTimeout(w.life, persistTry)
	defer cancel()
	if err := w.store.ReleaseClaims(ctx, h.r.task.Job.Target, h.r.runID, task.Candidates(cands)); err != nil {
		h.r.log.Info("could not release the chunk's claims; they run out", zap.Duration("claim_ttl", w.cfg.ClaimTTL), zap.Error(err))
	}
}
