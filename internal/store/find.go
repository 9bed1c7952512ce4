package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// FindKey names one person: by email (compared ignoring case) or by ATS
// candidate id (a UUID, in any letter case). Exactly one is set.
type FindKey struct {
	Email          string
	ATSCandidateID string
}

// ErrBadFindKey is returned for a FindKey that names nobody: none or both
// set, or an ATS id that is not a UUID.
var ErrBadFindKey = errors.New("bad find key")

// ParseFindKey reads what a person typed: a UUID is an ATS candidate id,
// anything with an @ an email.
func ParseFindKey(s string) (FindKey, error) {
	s = strings.TrimSpace(s)
	if _, err := uuid.Parse(s); err == nil {
		return FindKey{ATSCandidateID: s}, nil
	}
	if strings.Contains(s, "@") {
		return FindKey{Email: s}, nil
	}
	return FindKey{}, fmt.Errorf("%w: %q is neither an email nor an ATS candidate id (a UUID)", ErrBadFindKey, s)
}

// dedupKey is the de-duplication key (DedupKeys) the person is indexed under.
func (k FindKey) dedupKey() (string, error) {
	email, ats := strings.TrimSpace(k.Email), strings.TrimSpace(k.ATSCandidateID)
	switch {
	case email != "" && ats != "":
		return "", fmt.Errorf("%w: give an email or an ATS candidate id, not both", ErrBadFindKey)
	case email != "":
		return "e:" + strings.ToLower(email), nil
	case ats != "":
		u, err := uuid.Parse(ats)
		if err != nil {
			return "", fmt.Errorf("%w: ATS candidate id %q is not a UUID", ErrBadFindKey, ats)
		}
		return "a:" + u.String(), nil
	}
	return "", fmt.Errorf("%w: give an email or an ATS candidate id", ErrBadFindKey)
}

// Outcomes Find reports beside the final ones of payload.Outcome.
const (
	// FoundPending: no outcome yet (not sent, or sent and waiting for one).
	FoundPending payload.Outcome = "pending"
	// FoundUnknown: a state this version does not know (a newer one wrote it).
	FoundUnknown payload.Outcome = "unknown"
)

// foundOutcome names a state byte for Find.
func foundOutcome(code int) payload.Outcome {
	if o, ok := outcomeOfCode[code]; ok {
		return o
	}
	switch code {
	case codeOpen, codeSending:
		return FoundPending
	}
	return FoundUnknown
}

// Found is one candidate of a batch that was the person Find looked for, as
// `find --json` prints it and GET /v1/candidates lists it. Every field is
// always there; "" and null stand for none.
type Found struct {
	BatchID string         `json:"batch_id"`
	Target  payload.Target `json:"target"`
	// Outcome is a final outcome (payload.Outcome, cancelled among them), or
	// FoundPending, FoundUnknown.
	Outcome payload.Outcome `json:"outcome"`
	// InvitationID and SubmissionID are the vendor's, for an invited or queued
	// candidate (none for one recorded from the ledger after a crash, or before
	// they were kept).
	InvitationID string `json:"invitation_id"`
	SubmissionID string `json:"submission_id"`
	// At is when the outcome was recorded: a success's (seconds), a dead
	// letter's last failure; null for the other outcomes.
	At *time.Time `json:"at"`
	// Reason and Message are a dead letter's reason and the vendor's message (or
	// what went wrong); "" for the other outcomes, and for a dead letter since
	// replayed or purged.
	Reason  payload.Reason `json:"reason"`
	Message string         `json:"message"`
	// LedgerUntil is, while the ledger holds a success of this person at the
	// target (of this batch or another), until when it blocks a repeat invite
	// there: null when nothing blocks one.
	LedgerUntil *time.Time `json:"ledger_until"`
	// Seq is the candidate's place in its batch (a dead letter's id is
	// DeadLetterID(BatchID, Seq)).
	Seq int64 `json:"seq"`
}

// Message is the dead letter's most telling error as text (FirstError), else
// Detail.
func (d *DeadLetter) Message() string {
	if _, text, ok := d.FirstError(); ok {
		return text
	}
	return d.Detail
}

// FirstError is the dead letter's most telling error field and its text: the
// vendor's field its reason came from, else the first other one; ok is false
// when the vendor sent none.
func (d *DeadLetter) FirstError() (field, text string, ok bool) {
	fields := append(append([]string{}, payload.ErrorFields...), payload.SortedErrorFields(d.Errors)...)
	for _, f := range fields {
		raw, ok := d.Errors[f]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, &text) != nil {
			text = string(raw)
		}
		return f, text, true
	}
	return "", "", false
}

// Find pages. findBatches is how many batches one pipeline asks; findSegments
// how many segments of one batch one script call reads at most (HSCAN's
// COUNT), so that no call holds Redis long on a large batch.
const (
	findBatches  = 500
	findSegments = 64
)

// Find returns every candidate of the batches whose record is kept that was
// the person key names, newest batch first, by seq within a batch: its
// outcome, the vendor's ids or the dead letter's reason, and whether the
// ledger blocks a repeat invite to the batch's target. With owner set, only
// the batches that owner created are looked at.
//
// It asks each batch in the batches index once (findScript, pipelined, a
// batch of many segments more than once), then the ledger of each target it
// found the person at.
func (s *Store) Find(ctx context.Context, key FindKey, owner string) ([]Found, error) {
	dk, err := key.dedupKey()
	if err != nil {
		return nil, err
	}
	fp := fingerprint(dk)
	ids, err := s.rdb.ZRevRange(ctx, s.key("batches"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("find: list batches: %w", err)
	}
	if err := findScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("find: load the script: %w", err)
	}
	var hits []findHit
	for len(ids) > 0 {
		page := ids[:min(findBatches, len(ids))]
		ids = ids[len(page):]
		got, err := s.findIn(ctx, page, findArgs{owner: owner, fp: fp, other: !strings.HasPrefix(dk, "e:"), count: findSegments})
		if err != nil {
			return nil, err
		}
		hits = append(hits, got...)
	}
	ledgerFP := ""
	if strings.HasPrefix(dk, "e:") {
		ledgerFP = fp
	}
	return s.found(ctx, ledgerFP, hits)
}

// findHit is one candidate findScript answered, with its batch's job.
type findHit struct {
	batchID        string
	job            string
	seq            int64
	code           int
	dead, ids, oth string
}

// findIn runs findScript over the batches ids, pipelined, until each has read
// all its segments, and returns their hits in the order of ids.
func (s *Store) findIn(ctx context.Context, ids []string, a findArgs) ([]findHit, error) {
	cursors := make(map[string]string, len(ids))
	byBatch := make(map[string][]findHit)
	argsOf := func(id string) findArgs {
		b := a
		b.batch, b.fx, b.st, b.dl, b.cursor = s.bkey(id, ""), s.bkey(id, "fx"), s.bkey(id, "st"), s.bkey(id, "dl"), cursors[id]
		if b.cursor == "" {
			b.cursor = "0"
		}
		return b
	}
	todo := ids
	for len(todo) > 0 {
		cmds := make([]*redis.Cmd, len(todo))
		_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for i, id := range todo {
				b := argsOf(id)
				cmds[i] = findScript.EvalSha(ctx, pipe, b.keys(), b.argv()...)
			}
			return nil
		})
		if err != nil && !isNoScript(err) {
			return nil, fmt.Errorf("find: %w", err)
		}
		var next []string
		for i, id := range todo {
			res, err := cmds[i].Slice()
			if isNoScript(err) { // the script was flushed since it was loaded
				b := argsOf(id)
				res, err = findScript.Run(ctx, s.rdb, b.keys(), b.argv()...).Slice()
			}
			if err != nil {
				return nil, fmt.Errorf("find in batch %s: %w", id, err)
			}
			cursor, hits, err := parseFind(id, res)
			if err != nil {
				return nil, err
			}
			byBatch[id] = append(byBatch[id], hits...)
			if cursor != "0" && cursor != "" {
				cursors[id] = cursor
				next = append(next, id)
			}
		}
		todo = next
	}
	var out []findHit
	for _, id := range ids {
		out = append(out, byBatch[id]...)
	}
	return out, nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// parseFind reads findScript's answer: the next cursor ("" when the batch is
// gone or not the owner's) and the hits.
func parseFind(batchID string, res []any) (string, []findHit, error) {
	if len(res) == 0 {
		return "", nil, nil
	}
	if len(res) < 2 || (len(res)-2)%5 != 0 {
		return "", nil, fmt.Errorf("find in batch %s: an answer of %d values", batchID, len(res))
	}
	cursor, _ := res[0].(string)
	job, _ := res[1].(string)
	var hits []findHit
	for i := 2; i < len(res); i += 5 {
		seq, _ := res[i].(int64)
		code, _ := res[i+1].(int64)
		h := findHit{batchID: batchID, job: job, seq: seq, code: int(code)}
		h.dead, _ = res[i+2].(string)
		h.ids, _ = res[i+3].(string)
		h.oth, _ = res[i+4].(string)
		hits = append(hits, h)
	}
	return cursor, hits, nil
}

// found turns hits into Found, reading the dead letters' shared parts and the
// ledger. ledgerFP is the person's fingerprint in the ledger when the key
// looked for was an email (candidateFP); "" when it was not, and each hit
// names the candidate's other key, which is.
func (s *Store) found(ctx context.Context, ledgerFP string, hits []findHit) ([]Found, error) {
	out := make([]Found, len(hits))
	cache := errorsCache{}
	var cur string // the batch whose shared errors cache holds
	for i, h := range hits {
		f := &out[i]
		f.BatchID, f.Seq, f.Outcome = h.batchID, h.seq, foundOutcome(h.code)
		job, err := s.hitJob(ctx, h.job)
		if err != nil {
			return nil, fmt.Errorf("find: batch %s: job: %w", h.batchID, err)
		}
		f.Target = job.Target
		if ids, ok := findIDs(h.ids, h.seq); ok {
			f.InvitationID, f.SubmissionID = ids.InvitationID, ids.SubmissionID
			f.At = &ids.At
		}
		if h.dead != "" {
			if h.batchID != cur {
				cache, cur = errorsCache{}, h.batchID
			}
			d, err := s.expandDeadLetter(ctx, h.batchID, h.seq, h.dead, cache)
			if err != nil {
				return nil, err
			}
			f.Reason, f.Message = d.Reason, d.Message()
			if !d.LastFailedAt.IsZero() {
				t := d.LastFailedAt
				f.At = &t
			}
		}
	}
	if err := s.ledgerOfFound(ctx, ledgerFP, hits, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ledgerSpot is a person at a target, as the ledger keys them.
type ledgerSpot struct {
	target payload.Target
	fp     string
}

// ledgerState is what the ledger's live weeks hold of a person at a target.
type ledgerState struct {
	until time.Time // the latest expiry of a week holding a success
	recs  []*LedgerRecord
}

// ledgerOfFound sets each Found's LedgerUntil, and the time of a success
// that kept no vendor ids from its ledger record.
func (s *Store) ledgerOfFound(ctx context.Context, ledgerFP string, hits []findHit, out []Found) error {
	spots := map[ledgerSpot]*ledgerState{}
	spotOf := make([]ledgerSpot, len(hits))
	for i, h := range hits {
		p := ledgerFP
		if p == "" {
			p = h.oth
		}
		if p == "" {
			continue
		}
		spotOf[i] = ledgerSpot{target: out[i].Target, fp: p}
		spots[spotOf[i]] = &ledgerState{}
	}
	for sp, st := range spots {
		if err := s.readLedgerSpot(ctx, sp, st); err != nil {
			return err
		}
	}
	for i := range out {
		st := spots[spotOf[i]]
		if st == nil {
			continue
		}
		if !st.until.IsZero() {
			t := st.until
			out[i].LedgerUntil = &t
		}
		if out[i].At == nil && (out[i].Outcome == payload.OutcomeInvited || out[i].Outcome == payload.OutcomeCVQueued) {
			for _, r := range st.recs {
				if r.OwnedBy(out[i].BatchID, out[i].Seq) {
					t := r.At
					out[i].At = &t
				}
			}
		}
	}
	return nil
}

// readLedgerSpot reads a person's entries in the target's live ledger weeks,
// and each week's expiry, in one pipeline.
func (s *Store) readLedgerSpot(ctx context.Context, sp ledgerSpot, st *ledgerState) error {
	weeks, err := s.liveWeeks(ctx, sp.target)
	if err != nil {
		return err
	}
	gets := make([]*redis.SliceCmd, len(weeks))
	exps := make([]*redis.Cmd, len(weeks))
	_, err = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range weeks {
			gets[i] = pipe.HMGet(ctx, k, ledgerBucket(sp.fp), sp.fp)
			exps[i] = pipe.Do(ctx, "PEXPIRETIME", k)
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return fmt.Errorf("find: read the ledger of %s: %w", sp.target, err)
	}
	for i := range weeks {
		vals := gets[i].Val()
		if len(vals) != 2 {
			continue
		}
		bucket, _ := vals[0].(string)
		old, _ := vals[1].(string)
		r, err := readLedger(bucket, old, sp.fp)
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		st.recs = append(st.recs, r)
		if ms, err := exps[i].Int64(); err == nil && ms > 0 {
			if t := time.UnixMilli(ms).UTC(); t.After(st.until) {
				st.until = t
			}
		}
	}
	return nil
}

// hitJob reads the job findScript answered: its JSON, or '@' and the ref of a
// shared job.
func (s *Store) hitJob(ctx context.Context, v string) (task.Job, error) {
	if ref, ok := strings.CutPrefix(v, "@"); ok {
		return s.sharedJob(ctx, ref)
	}
	var job task.Job
	return job, json.Unmarshal([]byte(v), &job)
}
