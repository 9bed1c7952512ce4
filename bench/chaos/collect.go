package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/payload"
)

// ledgerPage is how many ledger keys one pipeline reads.
const ledgerPage = 1000

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
	for _, id := range ids {
		sctx, cancel := context.WithTimeout(ctx, cliTimeout)
		st, err := benchproc.Status(sctx, r.bin, r.cliEnv, id)
		cancel()
		if err != nil {
			return err
		}
		r.res.Batches = append(r.res.Batches, st)
		r.res.Pending += st.Pending
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

// readLedger reads the ledger value of every input candidate, keyed by
// candidateKey; candidates without one are absent.
func (r *modeRun) readLedger(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(r.candidates); start += ledgerPage {
		page := r.candidates[start:min(start+ledgerPage, len(r.candidates))]
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(page))
		for i, c := range page {
			cmds[i] = pipe.Get(ctx, r.st.LedgerKey(c.Target, payload.Candidate{Email: c.Email}))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read the ledger: %w", err)
		}
		for i, cmd := range cmds {
			v, err := cmd.Result()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, fmt.Errorf("read the ledger: %w", err)
			default:
				out[candidateKey(page[i].Target, page[i].Email)] = v
			}
		}
	}
	return out, nil
}
