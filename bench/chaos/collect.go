package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// ledgerPage is how many candidates one LedgerRecords call reads.
const ledgerPage = 4000

// collect reads the vendor's record and ours once the workers are stopped,
// and classifies the input candidates.
func (r *modeRun) collect(ctx context.Context) error {
	var invites []sandbox.Invite
	if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathInvites, &invites); err != nil {
		return err
	}
	var requests []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathRequests, &requests); err != nil {
		return err
	}
	if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathStats, &r.res.Sandbox); err != nil {
		return err
	}

	ids, err := r.batchIDs(ctx)
	if err != nil {
		return err
	}
	rec := records{
		ToReplay: r.toReplay,
		Outcomes: map[string]map[int64]payload.Outcome{},
		Staged:   map[string]bool{},
	}
	var imported int64 // candidates imported into the replay batches
	for _, id := range ids {
		sctx, cancel := context.WithTimeout(ctx, cliTimeout)
		st, err := benchproc.Status(sctx, r.bin, r.cliEnv, id)
		cancel()
		if err != nil {
			return err
		}
		r.res.Batches = append(r.res.Batches, st)
		r.res.Pending += st.Pending
		if slices.Contains(r.replayIDs, id) {
			imported += st.Total
		}
		if rec.Outcomes[id], err = r.st.Outcomes(ctx, id); err != nil {
			return err
		}
		staged, err := r.st.Staged(ctx, id)
		if err != nil {
			return err
		}
		for _, d := range staged {
			rec.Staged[d.ID] = true
		}
		if n := int64(len(staged)); n > 0 && n != st.Total {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("replay batch %s: %d dead letters staged (moved out of the list) but %d candidates imported (state %s)",
				id, n, st.Total, st.State))
		}
	}
	if r.movedKnown && int64(r.moved) != imported {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the replays moved %d dead letters out of the list but their batches %v imported %d candidates",
			r.moved, r.replayIDs, imported))
	}
	if rec.DeadLetters, err = r.deadLetters(ctx); err != nil {
		return err
	}
	if rec.Ledger, err = r.readLedger(ctx); err != nil {
		return err
	}
	if _, r.res.Archived, err = r.taskCounts(); err != nil {
		return err
	}
	r.res.Figures = classify(r.candidates, invites, requests, r.res.Windows, rec)
	return nil
}

// readLedger reads the ledger's record of every input candidate's success,
// keyed by candidateKey; candidates without one are absent. It reads each
// target's candidates with LedgerRecords, ledgerPage at a time.
func (r *modeRun) readLedger(ctx context.Context) (map[string]*store.LedgerRecord, error) {
	byTarget := map[payload.Target][]candidate{}
	var targets []payload.Target
	for _, c := range r.candidates {
		if _, ok := byTarget[c.Target]; !ok {
			targets = append(targets, c.Target)
		}
		byTarget[c.Target] = append(byTarget[c.Target], c)
	}
	out := map[string]*store.LedgerRecord{}
	for _, t := range targets {
		cands := byTarget[t]
		for start := 0; start < len(cands); start += ledgerPage {
			page := cands[start:min(start+ledgerPage, len(cands))]
			pcs := make([]payload.Candidate, len(page))
			for i, c := range page {
				pcs[i] = payload.Candidate{Email: c.Email}
			}
			recs, err := r.st.LedgerRecords(ctx, t, pcs)
			if err != nil {
				return nil, err
			}
			for i, lr := range recs {
				if lr != nil {
					out[candidateKey(t, page[i].Email)] = lr
				}
			}
		}
	}
	return out, nil
}
