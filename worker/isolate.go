package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// A 400/422 says the vendor did not accept the request, and a 413 that it was too
// large: the vendor acted on none of it, and sending it unchanged fails again. The
// chunk is cut so that the good candidates still go and the bad ones end up
// dead-lettered as validation, with the vendor's words:
//
//   - When the body names exactly which candidates it refused (a list of field
//     errors under candidates[i]), those are dead-lettered and the rest sent as one
//     chunk: one request more.
//   - When it names only fields outside the candidates (the message, the target),
//     the request is refused as a whole: every candidate is dead-lettered, no split.
//   - Otherwise the chunk is halved, each half its own task, until the refused
//     candidates stand alone; the requests spent on one chunk's halves are bounded
//     by splitBudget, after which what is still refused is dead-lettered whole.
//   - A 413 halves the chunk (the halves are smaller; no budget needed); a lone
//     candidate still too large is dead-lettered.

// splitBudget is how many requests halving a chunk of n candidates may spend:
// enough to isolate two refused candidates (2*ceil(log2 n) each), a quarter of the
// 2n-1 a chunk refused as a whole would take otherwise once n is large.
func splitBudget(n int) int {
	return max(4, 4*bits.Len(uint(n-1)))
}

// isolateInvalid handles a 400/422.
func (r *chunkRun) isolateInvalid(ctx context.Context, cands []task.Candidate, verr *flowmingo.ValidationError) error {
	if len(cands) == 1 {
		return r.refuse(ctx, cands, verr, verr.StatusCode, verr.Message)
	}
	if named, ok := verr.NamedCandidates(len(cands)); ok {
		var bad, rest []task.Candidate
		var recs []store.Record
		for i, c := range cands {
			msgs, refused := named[i]
			if !refused {
				rest = append(rest, c)
				continue
			}
			bad = append(bad, c)
			recs = append(recs, r.validationRecord(c, verr, verr.StatusCode, strings.Join(msgs, "; ")))
		}
		if err := r.recordAnswer(ctx, recs); err != nil {
			return err
		}
		r.log.Info("API refused candidates it named; sending the others", zap.Int("refused", len(bad)), zap.Int("others", len(rest)))
		return r.split(ctx, rest)
	}
	if verr.AboutRequest() {
		r.log.Warn("API refused the request as a whole; dead-lettering the chunk", zap.Int("candidates", len(cands)), zap.String("message", verr.Message))
		return r.refuse(ctx, cands, verr, verr.StatusCode, "the API refused the request as a whole: "+verr.Message)
	}
	origin := r.origin()
	spent, err := r.w.store.SpendSplits(ctx, r.task.BatchID, origin.Root, 2)
	if err != nil {
		return err
	}
	if budget := splitBudget(origin.Size); spent > int64(budget) {
		r.log.Warn("API keeps refusing the parts of a chunk; not splitting further", zap.Int("candidates", len(cands)), zap.Int("requests", budget), zap.String("message", verr.Message))
		return r.refuse(ctx, cands, verr, verr.StatusCode,
			fmt.Sprintf("the API refused every part of its chunk it was sent in (%d requests spent splitting it): %s", budget, verr.Message))
	}
	r.log.Info("API refused the chunk as invalid; splitting it to isolate the offending candidates",
		zap.Int("candidates", len(cands)), zap.String("message", verr.Message))
	mid := len(cands) / 2
	return r.split(ctx, cands[:mid], cands[mid:])
}

// isolateTooLarge handles a 413.
func (r *chunkRun) isolateTooLarge(ctx context.Context, cands []task.Candidate, e *flowmingo.TooLargeError) error {
	if len(cands) == 1 {
		return r.refuse(ctx, cands, nil, e.HTTPStatus(), "the API refused the request as too large even for this candidate alone: "+e.Message)
	}
	r.log.Info("API refused the chunk as too large; splitting it", zap.Int("candidates", len(cands)), zap.String("message", e.Message))
	mid := len(cands) / 2
	return r.split(ctx, cands[:mid], cands[mid:])
}

// refuse dead-letters cands as validation with msg (and the vendor's body).
func (r *chunkRun) refuse(ctx context.Context, cands []task.Candidate, verr *flowmingo.ValidationError, status int, msg string) error {
	recs := make([]store.Record, len(cands))
	for i, c := range cands {
		recs[i] = r.validationRecord(c, verr, status, msg)
	}
	return r.recordAnswer(ctx, recs)
}

func (r *chunkRun) validationRecord(c task.Candidate, verr *flowmingo.ValidationError, status int, msg string) store.Record {
	errs := map[string]json.RawMessage{}
	if verr != nil && len(verr.Body) > 0 && json.Valid(verr.Body) {
		errs["validation"] = verr.Body
	}
	m, _ := json.Marshal(msg)
	errs[payload.FieldErrorMessage] = m
	now := r.w.now().UTC()
	return store.Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeDeadLettered,
		DeadLetter: r.deadLetter(c, payload.ReasonValidation, errs, status, now, now)}
}

// split sends each non-empty part as a chunk task of its own. The vendor did not
// act on the parts' candidates, so their sent marks are cleared first.
func (r *chunkRun) split(ctx context.Context, parts ...[]task.Candidate) error {
	var all []task.Candidate
	for _, p := range parts {
		all = append(all, p...)
	}
	if err := r.forget(ctx, all); err != nil {
		return err
	}
	origin := r.origin()
	for i, part := range parts {
		if len(part) == 0 {
			continue
		}
		child := *r.task
		child.Candidates = part
		child.Split = &origin
		if r.task.Ref != nil {
			child.Ref = r.subRef(part)
		}
		if err := r.w.enqueueChunk(ctx, child, fmt.Sprintf("%s/%d", r.taskID, i), r.queue); err != nil {
			return err
		}
	}
	return nil
}

// subRef is the Ref of the part of a version 2 chunk's blob from part's first
// candidate to its last (part: some of the chunk's candidates, in order). It
// may cover candidates of the chunk that are not in part: those are decided,
// or left to the run that holds them.
func (r *chunkRun) subRef(part []task.Candidate) *task.Ref {
	first := slices.IndexFunc(r.task.Candidates, func(c task.Candidate) bool { return c.Seq == part[0].Seq })
	last := slices.IndexFunc(r.task.Candidates, func(c task.Candidate) bool { return c.Seq == part[len(part)-1].Seq })
	return r.task.Sub(first, last+1)
}

// origin is the chunk this one was split from, or this one.
func (r *chunkRun) origin() task.SplitOrigin {
	if r.task.Split != nil {
		return *r.task.Split
	}
	return task.SplitOrigin{Root: r.taskID, Size: len(r.task.Candidates)}
}
