package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
)

// ErrBatchNotFound is returned for a batch id with no record.
var ErrBatchNotFound = errors.New("batch not found")

// Store reads and writes bulkinvite's own Redis keys. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a Store over rdb whose keys start with prefix ("bulkinvite:" when empty).
func New(rdb redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = "bulkinvite:"
	}
	return &Store{rdb: rdb, prefix: prefix, now: time.Now}
}

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, ":") }
func (s *Store) batchKey(id string) string  { return s.key("batch", id) }
func (s *Store) batchSub(id, sub string) string {
	return s.key("batch", id, sub)
}

func nowMS(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Meta is what a batch is created with.
type Meta struct {
	ID          string
	Job         payload.Job
	SegmentSize int
	// Source names where the candidates came from (a file name, "http", "replay").
	Source string
	// ReplayOf lists the batches whose dead letters this batch replays.
	ReplayOf []string
}

// CreateBatch writes the batch record unless one exists. It returns the record as
// stored, and whether this call created it: a re-run with the same id gets the
// original job and segment size back, so it cuts the same segments.
func (s *Store) CreateBatch(ctx context.Context, m Meta) (*Batch, bool, error) {
	job, err := json.Marshal(m.Job)
	if err != nil {
		return nil, false, err
	}
	created, err := createScript.Run(ctx, s.rdb, []string{s.batchKey(m.ID), s.key("batches")},
		m.ID, nowMS(s.now()), string(job), m.SegmentSize, m.Source, strings.Join(m.ReplayOf, ",")).Bool()
	if err != nil {
		return nil, false, fmt.Errorf("create batch %s: %w", m.ID, err)
	}
	b, err := s.Batch(ctx, m.ID)
	if err != nil {
		return nil, false, err
	}
	return b, created, nil
}

// DedupKeys are the keys under which a candidate counts as the same person within a
// batch: the email compared case-insensitively, the ATS id, and for a CV-only
// candidate its CV link.
func DedupKeys(c payload.Candidate) []string {
	keys := make([]string, 0, 2)
	if c.Email != "" {
		keys = append(keys, "e:"+strings.ToLower(c.Email))
	}
	if c.ATSCandidateID != "" {
		keys = append(keys, "a:"+strings.ToLower(c.ATSCandidateID))
	}
	if c.Email == "" && c.CVLink != "" {
		keys = append(keys, "c:"+c.CVLink)
	}
	return keys
}

// AdmitSegment counts a segment's candidates as accepted (once, however often it is
// called) and records in-batch duplicates as skipped_duplicate. It returns the
// candidates still to send, in order.
func (s *Store) AdmitSegment(ctx context.Context, batchID string, segment int, cands []payload.TaskCandidate) ([]payload.TaskCandidate, error) {
	args := make([]any, 0, 3+len(cands)*4)
	args = append(args, segment, len(cands), nowMS(s.now()))
	for _, c := range cands {
		keys := DedupKeys(c.Candidate)
		args = append(args, c.Seq, len(keys))
		for _, k := range keys {
			args = append(args, k)
		}
	}
	keys := []string{s.batchKey(batchID), s.batchSub(batchID, "segs"), s.batchSub(batchID, "seen"), s.batchSub(batchID, "out")}
	res, err := admitScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("admit segment %d of batch %s: %w", segment, batchID, err)
	}
	if len(res) == 0 {
		return cands, nil
	}
	dup := make(map[string]bool, len(res))
	for _, r := range res {
		dup[r] = true
	}
	open := make([]payload.TaskCandidate, 0, len(cands)-len(res))
	for _, c := range cands {
		if !dup[strconv.FormatInt(c.Seq, 10)] {
			open = append(open, c)
		}
	}
	return open, nil
}

// Reject is a source row that was not accepted, with why.
type Reject struct {
	Row    int64
	Reason string
}

// RecordRejects counts rejected rows, each row once however often it is called.
func (s *Store) RecordRejects(ctx context.Context, batchID string, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(rejects))
	for _, r := range rejects {
		args = append(args, r.Row, r.Reason)
	}
	keys := []string{s.batchKey(batchID), s.batchSub(batchID, "rej")}
	if err := rejectScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("record rejects of batch %s: %w", batchID, err)
	}
	return nil
}

// Rejects returns the batch's rejected rows, ordered by row.
func (s *Store) Rejects(ctx context.Context, batchID string) ([]Reject, error) {
	m, err := s.rdb.HGetAll(ctx, s.batchSub(batchID, "rej")).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Reject, 0, len(m))
	for k, v := range m {
		row, _ := strconv.ParseInt(k, 10, 64)
		out = append(out, Reject{Row: row, Reason: v})
	}
	sortRejects(out)
	return out, nil
}

// Seal marks the batch as fully enqueued with the given number of segments: from
// now on, no pending candidate means the batch is done.
func (s *Store) Seal(ctx context.Context, batchID string, segments int) error {
	if err := sealScript.Run(ctx, s.rdb, []string{s.batchKey(batchID)}, nowMS(s.now()), segments).Err(); err != nil {
		return fmt.Errorf("seal batch %s: %w", batchID, err)
	}
	return nil
}

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

// States reports, for each candidate, whether its outcome is recorded or it was
// sent without an outcome recorded since.
func (s *Store) States(ctx context.Context, batchID string, cands []payload.TaskCandidate) ([]CandidateState, error) {
	fields := make([]string, len(cands))
	for i, c := range cands {
		fields[i] = strconv.FormatInt(c.Seq, 10)
	}
	pipe := s.rdb.Pipeline()
	outs := pipe.HMGet(ctx, s.batchSub(batchID, "out"), fields...)
	sending := pipe.HMGet(ctx, s.sendingKey(batchID), fields...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read outcomes of batch %s: %w", batchID, err)
	}
	out := make([]CandidateState, len(cands))
	for i := range cands {
		switch {
		case outs.Val()[i] != nil:
			out[i] = Decided
		case sending.Val()[i] != nil:
			out[i] = Sending
		}
	}
	return out, nil
}

func (s *Store) sendingKey(batchID string) string { return s.batchSub(batchID, "sending") }

// MarkSending marks the candidates as sent, just before their request goes out.
// Recording a candidate's outcome clears its mark; ClearSending clears it when the
// vendor is known not to have acted. A mark left by an attempt that stopped in
// between tells the next attempt that the vendor may have acted (see States).
func (s *Store) MarkSending(ctx context.Context, batchID string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	now := nowMS(s.now())
	args := make([]any, 0, 2*len(seqs))
	for _, seq := range seqs {
		args = append(args, seq, now)
	}
	if err := s.rdb.HSet(ctx, s.sendingKey(batchID), args...).Err(); err != nil {
		return fmt.Errorf("mark candidates of batch %s as sent: %w", batchID, err)
	}
	return nil
}

// ClearSending removes the candidates' marks set by MarkSending: their request
// was answered in a way that says the vendor did not act (a 429, a 4xx, a refused
// connection).
func (s *Store) ClearSending(ctx context.Context, batchID string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	fields := make([]string, len(seqs))
	for i, seq := range seqs {
		fields[i] = strconv.FormatInt(seq, 10)
	}
	if err := s.rdb.HDel(ctx, s.sendingKey(batchID), fields...).Err(); err != nil {
		return fmt.Errorf("clear sent marks of batch %s: %w", batchID, err)
	}
	return nil
}

// Outcomes returns every recorded outcome of the batch by seq.
func (s *Store) Outcomes(ctx context.Context, batchID string) (map[int64]payload.Outcome, error) {
	m, err := s.rdb.HGetAll(ctx, s.batchSub(batchID, "out")).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[int64]payload.Outcome, len(m))
	for k, v := range m {
		seq, _ := strconv.ParseInt(k, 10, 64)
		out[seq] = outcomeOfCode[v]
	}
	return out, nil
}

var codeOfOutcome = map[payload.Outcome]string{
	payload.OutcomeInvited:          "i",
	payload.OutcomeCVQueued:         "c",
	payload.OutcomeDeadLettered:     "d",
	payload.OutcomeSkippedDuplicate: "s",
}

var outcomeOfCode = map[string]payload.Outcome{
	"i": payload.OutcomeInvited,
	"c": payload.OutcomeCVQueued,
	"d": payload.OutcomeDeadLettered,
	"s": payload.OutcomeSkippedDuplicate,
}

// LedgerKey is the ledger's key for a candidate invited to target: hashes of both,
// so that no email is written into a key name.
func (s *Store) LedgerKey(target payload.Target, c payload.Candidate) string {
	who := strings.ToLower(c.Email)
	if who == "" {
		who = "cv:" + c.CVLink
	}
	return s.key("ledger", shortHash(target.Key()), shortHash(who))
}

func (s *Store) claimKey(target payload.Target, c payload.Candidate) string {
	return s.LedgerKey(target, c) + ":claim"
}

// Claim is what ClaimForSending says of one candidate.
type Claim int

// The answers of ClaimForSending.
const (
	Claimed          Claim = iota // send it
	AlreadyDone                   // the ledger holds a success for it at the target: skip it
	ClaimedElsewhere              // another chunk is sending it to the target right now: wait
)

// claimOwner names the holder of a candidate's claim.
func claimOwner(batchID string, seq int64) string { return DeadLetterID(batchID, seq) }

// ClaimForSending checks the ledger and claims each candidate for ttl, in one step,
// so that two chunks never send the same person to the same target at once.
// Recording the candidate's outcome releases its claim; a claim left by a crashed
// worker expires after ttl, and the same candidate of the same batch may take it
// back at once.
func (s *Store) ClaimForSending(ctx context.Context, batchID string, target payload.Target, cands []payload.TaskCandidate, ttl time.Duration) ([]Claim, error) {
	keys := make([]string, 0, 2*len(cands))
	args := make([]any, 0, 1+len(cands))
	args = append(args, ttl.Milliseconds())
	for _, c := range cands {
		keys = append(keys, s.LedgerKey(target, c.Candidate), s.claimKey(target, c.Candidate))
		args = append(args, claimOwner(batchID, c.Seq))
	}
	res, err := claimScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("claim candidates of batch %s: %w", batchID, err)
	}
	out := make([]Claim, len(res))
	for i, r := range res {
		out[i] = Claim(r)
	}
	return out, nil
}

func shortHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:12])
}

// Record is one candidate's final outcome, for RecordOutcomes.
type Record struct {
	Seq     int64
	Outcome payload.Outcome
	// Candidate keys the ledger and the claim; required but for a skipped duplicate.
	Candidate payload.Candidate
	// LedgerValue is stored in the ledger for a success (the vendor's record id, say).
	LedgerValue string
	// DeadLetter is the entry stored for OutcomeDeadLettered.
	DeadLetter *DeadLetter
}

// RecordOutcomes records the outcomes of one batch's candidates in one atomic step:
// a candidate whose outcome is already recorded keeps it, and nothing else is
// written for it. Successes are written to the ledger for target with ttl. Each
// candidate's MarkSending mark is cleared. It returns how many outcomes were new.
func (s *Store) RecordOutcomes(ctx context.Context, batchID string, target payload.Target, recs []Record, ttl time.Duration) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	keys := []string{s.batchKey(batchID), s.batchSub(batchID, "out"), s.key("dl", "entries"), s.key("dl", "index"), s.sendingKey(batchID)}
	args := make([]any, 0, 2+6*len(recs))
	now := s.now()
	args = append(args, nowMS(now), ttl.Milliseconds(), batchID)
	for _, r := range recs {
		code, ok := codeOfOutcome[r.Outcome]
		if !ok {
			return 0, fmt.Errorf("record outcome of seq %d: unknown outcome %q", r.Seq, r.Outcome)
		}
		ledgerIdx, dlID, dlJSON := 0, "", ""
		if r.Outcome != payload.OutcomeSkippedDuplicate {
			if r.Candidate == (payload.Candidate{}) {
				return 0, fmt.Errorf("record outcome of seq %d: the candidate is needed to key the ledger and release its claim", r.Seq)
			}
			keys = append(keys, s.LedgerKey(target, r.Candidate), s.claimKey(target, r.Candidate))
			ledgerIdx = len(keys) - 1
		}
		switch r.Outcome {
		case payload.OutcomeDeadLettered:
			if r.DeadLetter == nil {
				return 0, fmt.Errorf("record outcome of seq %d: dead-lettered without an entry", r.Seq)
			}
			b, err := json.Marshal(r.DeadLetter)
			if err != nil {
				return 0, err
			}
			dlID, dlJSON = r.DeadLetter.ID, string(b)
		}
		args = append(args, r.Seq, code, ledgerIdx, r.LedgerValue, dlID, dlJSON)
	}
	n, err := recordScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("record outcomes of batch %s: %w", batchID, err)
	}
	return n, nil
}

// SpendSplits adds n to the requests spent splitting the chunk root of a batch
// (the chunk the API first refused as invalid) and returns the total so far.
func (s *Store) SpendSplits(ctx context.Context, batchID, root string, n int) (int64, error) {
	total, err := s.rdb.HIncrBy(ctx, s.batchSub(batchID, "split"), root, int64(n)).Result()
	if err != nil {
		return 0, fmt.Errorf("count the splits of chunk %s: %w", root, err)
	}
	return total, nil
}

// FirstFailure returns when the chunk task first failed, recording now as that time
// if it had not failed before.
func (s *Store) FirstFailure(ctx context.Context, batchID, taskID string) (time.Time, error) {
	k := s.batchSub(batchID, "ff")
	now := s.now()
	if err := s.rdb.HSetNX(ctx, k, taskID, now.UnixMilli()).Err(); err != nil {
		return now, err
	}
	ms, err := s.rdb.HGet(ctx, k, taskID).Int64()
	if err != nil {
		return now, err
	}
	return time.UnixMilli(ms).UTC(), nil
}
