package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// CandidateState is where a candidate of a batch stands, for States.
type CandidateState int

// The answers of States.
const (
	// Open: no outcome recorded and not marked as sent.
	Open CandidateState = iota
	// Sending: marked as sent by MarkSending and no outcome recorded yet. Either a
	// request is in flight, or the attempt that sent it stopped (a crash, a
	// shutdown, Redis unreachable) before recording its outcome: the vendor may
	// have acted.
	Sending
	// Decided: its outcome is recorded.
	Decided
)

// The state bytes of P{b:id}:st.
const (
	codeOpen = iota
	codeSending
	codeInvited
	codeCVQueued
	codeDeadLettered
	codeSkipped
	codeCancelled
)

var codeOfOutcome = map[payload.Outcome]int{
	payload.OutcomeInvited:          codeInvited,
	payload.OutcomeCVQueued:         codeCVQueued,
	payload.OutcomeDeadLettered:     codeDeadLettered,
	payload.OutcomeSkippedDuplicate: codeSkipped,
	payload.OutcomeCancelled:        codeCancelled,
}

var outcomeOfCode = map[int]payload.Outcome{
	codeInvited:      payload.OutcomeInvited,
	codeCVQueued:     payload.OutcomeCVQueued,
	codeDeadLettered: payload.OutcomeDeadLettered,
	codeSkipped:      payload.OutcomeSkippedDuplicate,
	codeCancelled:    payload.OutcomeCancelled,
}

// States reports, for each candidate, whether its outcome is recorded or it was
// sent without an outcome recorded since: one GETRANGE for a chunk's candidates.
func (s *Store) States(ctx context.Context, batchID string, cands []task.Candidate) ([]CandidateState, error) {
	out := make([]CandidateState, len(cands))
	if len(cands) == 0 {
		return out, nil
	}
	lo, hi := seqRange(cands)
	b, err := s.stateBytes(ctx, batchID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read candidate states of batch %s: %w", batchID, err)
	}
	decodeStates(out, cands, lo, b)
	return out, nil
}

// stateBytes reads the state bytes of the batch's seqs lo to hi (hi < 0: to
// the end), as a stateRead.
func (s *Store) stateBytes(ctx context.Context, batchID string, lo, hi int64) ([]byte, error) {
	var r stateRead
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		r = s.readStates(ctx, pipe, batchID, lo, hi)
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, err
	}
	return r.bytes()
}

// HoldAndStates is States with the batch's hold (HoldNone, HoldPaused or
// HoldCancelled), read in the same round trip: a chunk's first look.
func (s *Store) HoldAndStates(ctx context.Context, batchID string, cands []task.Candidate) (Hold, []CandidateState, error) {
	out := make([]CandidateState, len(cands))
	var hold *redis.StringCmd
	var r *stateRead
	lo, hi := seqRange(cands)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		hold = pipe.HGet(ctx, s.bkey(batchID, ""), fieldHold)
		if len(cands) > 0 {
			rd := s.readStates(ctx, pipe, batchID, lo, hi)
			r = &rd
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return HoldNone, nil, fmt.Errorf("read candidate states of batch %s: %w", batchID, err)
	}
	if r != nil {
		b, err := r.bytes()
		if err != nil {
			return HoldNone, nil, fmt.Errorf("read candidate states of batch %s: %w", batchID, err)
		}
		decodeStates(out, cands, lo, b)
	}
	return Hold(hold.Val()), out, nil
}

// stateRead reads the state bytes of seqs lo to hi (as GETRANGE does) from
// where the batch keeps them: its key :st or, once a done batch folded them
// into its record, the record's field fieldFoldedStates (packed or not).
type stateRead struct {
	rng    *redis.StringCmd
	folded *redis.SliceCmd
	lo, hi int64
}

// stateFields is what a stateRead reads of the record.
var stateFields = []string{fieldFoldedStates}

// readStates queues a stateRead of the batch's seqs lo to hi (hi < 0: to the
// end) on pipe.
func (s *Store) readStates(ctx context.Context, pipe redis.Pipeliner, batchID string, lo, hi int64) stateRead {
	return stateRead{rng: pipe.GetRange(ctx, s.bkey(batchID, "st"), lo, hi),
		folded: pipe.HMGet(ctx, s.bkey(batchID, ""), recordFields(stateFields...)...), lo: lo, hi: hi}
}

// bytes is what the stateRead read, once its pipeline ran: nil and an error
// for a packed record that does not decode.
func (r stateRead) bytes() ([]byte, error) {
	v, err := recordValues(stateFields, r.folded.Val())
	if err != nil {
		return nil, err
	}
	folded, ok := v[0].(string)
	if !ok {
		return []byte(r.rng.Val()), nil
	}
	b := []byte(folded)
	hi := int64(len(b))
	if r.hi >= 0 {
		hi = min(hi, r.hi+1)
	}
	if r.lo >= hi {
		return nil, nil
	}
	return b[r.lo:hi], nil
}

// seqRange is the lowest and highest seq of cands (not empty).
func seqRange(cands []task.Candidate) (lo, hi int64) {
	if len(cands) == 0 {
		return 0, 0
	}
	lo, hi = cands[0].Seq, cands[0].Seq
	for _, c := range cands {
		lo, hi = min(lo, c.Seq), max(hi, c.Seq)
	}
	return lo, hi
}

// decodeStates fills out with the states of cands from b, the state bytes from
// seq lo on.
func decodeStates(out []CandidateState, cands []task.Candidate, lo int64, b []byte) {
	for i, c := range cands {
		code := codeOpen
		if k := c.Seq - lo; k < int64(len(b)) {
			code = int(b[k])
		}
		switch {
		case code >= codeInvited:
			out[i] = Decided
		case code == codeSending:
			out[i] = Sending
		}
	}
}

// MarkSending marks candidates as sent, just before their request goes out: open
// ones, and again ones already marked by an earlier attempt whose outcome is
// unknown (sent again, at least once). It returns the seqs that were in the
// state expected: those this run may send. Another run that marked or decided a
// candidate meanwhile keeps it, so that of two runs of one candidate only one
// sends. Recording a candidate's outcome replaces the mark; ClearSending takes it
// back when the vendor is known not to have acted. A mark left by an attempt that
// stopped in between tells the next attempt that the vendor may have acted. A
// batch whose record is gone marks nothing: ErrBatchExpired; nor does a paused
// or cancelled one: ErrBatchPaused, ErrBatchCancelled (checked in the same
// step as the marks, so that once PauseBatch or CancelBatch returned no request
// of the batch can start).
func (s *Store) MarkSending(ctx context.Context, batchID string, open, again []int64) ([]int64, error) {
	if len(open)+len(again) == 0 {
		return nil, nil
	}
	a := markArgs{batch: s.bkey(batchID, ""), st: s.bkey(batchID, "st"), open: open, again: again}
	marked, err := s.eval(ctx, markScript, a.keys(), a.argv()...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("mark candidates of batch %s as sent: %w", batchID, s.errGone(batchID, errHeld(err)))
	}
	return marked, nil
}

// ClearSending takes back the marks MarkSending set: the candidates' request was
// answered in a way that says the vendor did not act (a 429, a 4xx, a refused
// connection).
func (s *Store) ClearSending(ctx context.Context, batchID string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := s.shift(ctx, batchID, codeSending, codeOpen, seqs); err != nil {
		return fmt.Errorf("clear sent marks of batch %s: %w", batchID, err)
	}
	return nil
}

// shift moves the candidates in state from to state to (see shiftScript).
func (s *Store) shift(ctx context.Context, batchID string, from, to int, seqs []int64) error {
	a := shiftArgs{batch: s.bkey(batchID, ""), st: s.bkey(batchID, "st"), from: from, to: to, seqs: seqs}
	return s.eval(ctx, shiftScript, a.keys(), a.argv()...).Err()
}

// Outcomes returns every recorded outcome of the batch by seq.
func (s *Store) Outcomes(ctx context.Context, batchID string) (map[int64]payload.Outcome, error) {
	b, err := s.stateBytes(ctx, batchID, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read outcomes of batch %s: %w", batchID, err)
	}
	out := map[int64]payload.Outcome{}
	for seq, code := range b {
		if o, ok := outcomeOfCode[int(code)]; ok {
			out[int64(seq)] = o
		}
	}
	return out, nil
}
