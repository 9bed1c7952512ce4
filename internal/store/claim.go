package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// A claim says that one run of one chunk is sending a person to a target right
// now. Claims live in the target's slot (P{t:h}:claims, a hash by candidate
// fingerprint) and each holds its candidate's owner fingerprint (batch and seq),
// its expiry by Redis's clock and the run that took it:
// owner (8 bytes) . until (unix ms, decimal) . "." . run (decimal). A claim is
// the run's, not the candidate's: a second run of the same candidate (a task
// re-queued while it runs, a chunk enqueued again while its split children
// run) waits for the first, and only the run that holds a claim renews or
// releases it. A value without a run was written by an older version, whose
// rule was "the same candidate may take it back"; it is kept for such claims.

// RunID names one handling of a chunk task: the holder of its claims.
type RunID string

// NewRunID returns a run id no other run has: random decimal digits, so that the
// claim's expiry and run read as one number to an older version's scripts.
func NewRunID() RunID {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return RunID(strconv.FormatUint(binary.LittleEndian.Uint64(b[:])%1e15+1e15, 10))
}

// Claim is what ClaimForSending says of one candidate.
type Claim int

// The answers of ClaimForSending: claimScript replies with these codes, and
// TestScriptCodes pins the two together.
const (
	// Claimed: this run holds the claim now; send it.
	Claimed Claim = iota
	// OtherCandidateDone: the ledger holds a success for this person at the
	// target, written by another candidate (another batch, or another seq of
	// this one); skip it as a duplicate. Not this candidate's own success: that
	// is DoneInvited or DoneCVQueued.
	OtherCandidateDone
	// ClaimedElsewhere: another run is sending this person to the target right
	// now; wait.
	ClaimedElsewhere
	// DoneInvited: the ledger holds this very candidate's success (invited);
	// record it, do not send.
	DoneInvited
	// DoneCVQueued: the same, queued for CV processing.
	DoneCVQueued
)

// ClaimForSending checks the ledger and claims each candidate for run, for ttl by
// Redis's clock, in one step, so that no two runs send the same person to the
// same target at once. The run keeps its claims with RenewClaims while it lasts,
// and lets go of them by recording outcomes (RecordNew) or ReleaseClaims; a claim
// of a run that died runs out after ttl. With reinvite, another candidate's
// success does not count.
func (s *Store) ClaimForSending(ctx context.Context, batchID string, target payload.Target, cands []task.Candidate, run RunID, ttl time.Duration, reinvite bool) ([]Claim, error) {
	weeks, err := s.liveWeeks(ctx, target)
	if err != nil {
		return nil, err
	}
	a := claimArgs{claims: s.tkey(target, "claims"), weeks: weeks,
		ttlMS: ttl.Milliseconds(), run: run, reinvite: reinvite, batchID: batchID, cands: cands}
	res, err := s.eval(ctx, claimScript, a.keys(), a.argv()...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("claim candidates of batch %s: %w", batchID, err)
	}
	out := make([]Claim, len(res))
	for i, r := range res {
		out[i] = Claim(r)
	}
	return out, nil
}

// RenewClaims extends run's claims on cands by ttl and reports, for each, whether
// run still holds it: a claim another run took after it ran out, or one released,
// is not run's any more.
func (s *Store) RenewClaims(ctx context.Context, target payload.Target, run RunID, cands []payload.Candidate, ttl time.Duration) ([]bool, error) {
	a := renewClaimsArgs{claims: s.tkey(target, "claims"), ttlMS: ttl.Milliseconds(), run: run, cands: cands}
	res, err := s.eval(ctx, renewClaimsScript, a.keys(), a.argv()...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("renew claims at %s: %w", target, err)
	}
	out := make([]bool, len(res))
	for i, r := range res {
		out[i] = r == 1
	}
	return out, nil
}

// ReleaseClaims lets go of run's claims on cands; claims other runs hold stay.
func (s *Store) ReleaseClaims(ctx context.Context, target payload.Target, run RunID, cands []payload.Candidate) error {
	a := releaseClaimsArgs{claims: s.tkey(target, "claims"), run: run, cands: cands}
	if err := s.eval(ctx, releaseClaimsScript, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("release claims at %s: %w", target, err)
	}
	return nil
}
