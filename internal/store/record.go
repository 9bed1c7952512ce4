package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Record is one candidate's final outcome, for RecordOutcomes.
type Record struct {
	Seq     int64
	Outcome payload.Outcome
	// Candidate keys the ledger and the claim; required but for a skipped duplicate.
	Candidate payload.Candidate
	// DeadLetter is the entry stored for OutcomeDeadLettered.
	DeadLetter *DeadLetter
	// InvitationID and SubmissionID are the ids the vendor gave an invited or
	// queued candidate, if any: Find shows them.
	InvitationID, SubmissionID string
}

// RecordOutcomes records the outcomes of one batch's candidates: a candidate whose
// outcome is already recorded keeps it, and nothing else is written for it.
// Successes are written to target's ledger, kept Config.LedgerTTL. It releases no
// claim: a run that claimed the candidates records through RecordNew. It returns how many outcomes were new (RecordNew tells
// which). It is made of steps in different slots (see the package doc), each
// idempotent: after an error, calling it again with the same records is safe.
// A batch whose record is gone (expired) gets no outcome: none is new.
func (s *Store) RecordOutcomes(ctx context.Context, batchID string, target payload.Target, recs []Record) (int, error) {
	fresh, err := s.RecordNew(ctx, batchID, target, "", recs)
	return len(fresh), err
}

// RecordNew records outcomes as RecordOutcomes does, releases run's claims on the
// candidates (see ClaimForSending), and returns the records whose outcome was new, in the order given: those a caller counting outcomes (the
// worker's metrics) counts. A record of a candidate already decided, or repeating
// a candidate an earlier record of the same call decided, is not among them.
// After an error nothing is returned, though some outcomes may have been written:
// a call again then returns only those still new.
func (s *Store) RecordNew(ctx context.Context, batchID string, target payload.Target, run RunID, recs []Record) ([]Record, error) {
	return s.RecordChunk(ctx, batchID, target, run, recs, nil)
}

// RecordChunk is RecordNew for records of candidates that came from a chunk
// blob (nil for none): in the same step, the blob is deleted once none of its
// candidates is undecided, for no task needs it then.
func (s *Store) RecordChunk(ctx context.Context, batchID string, target payload.Target, run RunID, recs []Record, blob *ChunkBlob) ([]Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	now := s.now()
	a := newRecordArgs(s.bkey(batchID, ""), s.bkey(batchID, "dl"), s.bkey(batchID, "dlerr"), s.bkey(batchID, "fx"), s.bkey(batchID, "c"), s.retainedKeys(batchID),
		nowMS(now), s.cfg.Retention.Milliseconds(), s.cfg.UnsealedTTL.Milliseconds(), blob, len(recs))
	led := make([]Record, 0, len(recs))
	dls := 0
	sharedErrs := map[string]bool{}
	for _, r := range recs {
		code, ok := codeOfOutcome[r.Outcome]
		if !ok {
			return nil, fmt.Errorf("record outcome of seq %d: unknown outcome %q", r.Seq, r.Outcome)
		}
		var entry, errRef, errJSON, ids string
		switch r.Outcome {
		case payload.OutcomeInvited, payload.OutcomeCVQueued:
			ids = idsEntry(r.Seq, now, r.InvitationID, r.SubmissionID)
		case payload.OutcomeDeadLettered:
			if r.DeadLetter == nil {
				return nil, fmt.Errorf("record outcome of seq %d: dead-lettered without an entry", r.Seq)
			}
			b, ref, ej, err := s.compactDeadLetter(ctx, r.DeadLetter)
			if err != nil {
				return nil, err
			}
			entry, errRef = string(b), ref
			if ref != "" && !sharedErrs[ref] {
				sharedErrs[ref], errJSON = true, string(ej)
			}
			dls++
		}
		if r.Outcome != payload.OutcomeSkippedDuplicate {
			if r.Candidate == (payload.Candidate{}) {
				return nil, fmt.Errorf("record outcome of seq %d: no candidate", r.Seq)
			}
			led = append(led, r)
		}
		a.add(r.Seq, code, entry, errRef, errJSON, ids)
	}
	if dls > 0 {
		k := s.key("dlbatches")
		if err := s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.ZAddNX(ctx, k, redisZ(s.now(), batchID)) }); err != nil {
			return nil, fmt.Errorf("index the dead letters of batch %s: %w", batchID, err)
		}
	}
	var res []any
	var err error
	if len(led) > 0 && s.oneNode() {
		// One round trip: the ledger, then the batch, in one script.
		l := s.ledgerArgs(batchID, target, run, led)
		keys, argv := inSequenceArgs(l.keys(), l.argv(), a.keys, a.argv)
		if res, err = s.eval(ctx, ledgerRecordScript, keys, argv...).Slice(); err != nil {
			return nil, fmt.Errorf("record outcomes of batch %s and the ledger of %s: %w", batchID, target, err)
		}
	} else {
		if err := s.writeLedger(ctx, batchID, target, run, led); err != nil {
			return nil, err
		}
		if res, err = s.eval(ctx, recordScript, a.keys, a.argv...).Slice(); err != nil {
			return nil, fmt.Errorf("record outcomes of batch %s: %w", batchID, err)
		}
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("record outcomes of batch %s: the script answered %d values, want 2", batchID, len(res))
	}
	idx, _ := res[0].([]any)
	if ref, _ := res[1].(string); ref != "" {
		if err := s.keepFinishedJob(ctx, ref); err != nil {
			return nil, err
		}
	}
	fresh := make([]Record, 0, len(idx))
	for _, v := range idx {
		i, _ := v.(int64)
		if i < 1 || int(i) > len(recs) {
			return nil, fmt.Errorf("record outcomes of batch %s: the script named record %d of %d", batchID, i, len(recs))
		}
		fresh = append(fresh, recs[i-1])
	}
	return fresh, nil
}

// writeLedger writes the successes among recs into the target's ledger week and
// releases run's claims on them.
func (s *Store) writeLedger(ctx context.Context, batchID string, target payload.Target, run RunID, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	a := s.ledgerArgs(batchID, target, run, recs)
	if err := s.eval(ctx, ledgerScript, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("write the ledger of %s: %w", target, err)
	}
	return nil
}

// ledgerArgs are the arguments of ledgerScript writing recs into this week's
// ledger of target.
func (s *Store) ledgerArgs(batchID string, target payload.Target, run RunID, recs []Record) ledgerArgs {
	week := weekOf(s.now())
	expiry := (week+1)*ledgerWeek.Milliseconds() + s.cfg.LedgerTTL.Milliseconds()
	return ledgerArgs{week: s.weekKey(target, week), weeks: s.tkey(target, "Lidx"), claims: s.tkey(target, "claims"),
		weekID: week, expiryMS: expiry, run: run, batchID: batchID, recs: recs}
}
