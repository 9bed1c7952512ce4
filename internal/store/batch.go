package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// ErrBatchNotFound is returned for a batch id with no record.
var ErrBatchNotFound = errors.New("batch not found")

// ErrBatchExpired is returned for a batch that was done and whose record has
// expired (Config.Retention).
var ErrBatchExpired = errors.New("batch expired")

// BatchExpiredError is ErrBatchExpired for a batch id that CreateBatch refuses:
// the id was used, and its batch's record has expired. A batch id names one
// batch for good: a new batch under it would start over on top of what is left
// of the old one (its dead letters, its candidates' sent marks).
type BatchExpiredError struct {
	ID string
	// CreatedAt is when the batch was created; zero when only its dead letters
	// tell that it existed.
	CreatedAt time.Time
}

func (e *BatchExpiredError) Error() string {
	if e.CreatedAt.IsZero() {
		return fmt.Sprintf("batch expired: batch id %s was used before and its record has expired", e.ID)
	}
	return fmt.Sprintf("batch expired: batch id %s was used on %s and its record has expired", e.ID, e.CreatedAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrBatchExpired) hold.
func (e *BatchExpiredError) Unwrap() error { return ErrBatchExpired }

// Batch states, as status shows them.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
	// StatePaused: paused (PauseBatch) and not done.
	StatePaused = "paused"
	// StateCancelled: cancelled (CancelBatch); done once the candidates that
	// were in flight at the cancel are recorded (Batch.Done).
	StateCancelled = "cancelled"
	// StateScheduled is a batch before its not-before time (task.Schedule).
	StateScheduled = "scheduled"
	// StateWaitingForWindow is a batch past its not-before time, if any, while
	// its send window is closed.
	StateWaitingForWindow = "waiting_for_window"
)

// Meta is what a batch is created with.
type Meta struct {
	ID          string
	Job         task.Job
	SegmentSize int
	// Source names where the candidates came from (a file name, "http", "replay").
	Source string
	// ReplayOf lists the batches whose dead letters this batch replays.
	ReplayOf []string
	// CallbackURL, when set, is told when the batch is done (package callback).
	CallbackURL string
	// CallbackKey names the key that signs the callback: a token's name for its
	// own key (callback.TokenKey), "" for BULKINVITE_CALLBACK_SECRET itself.
	CallbackKey string
	// Owner is the name of the token that creates the batch (auth.CLIName for
	// the CLI); it is written once, at creation.
	Owner string
	// By names who creates it in its created event (Event.By): the token's
	// name, "cli@<host>" for the CLI. Default Owner.
	By string
	// From says where the request came from, for the created event: an HTTP
	// client's address; "" for none (the CLI's host is in By).
	From string
}

// retainedKeys are the batch's keys that expire Config.Retention after it is done,
// its candidate states first and its find index second (the scripts rely on
// it: see finish).
func (s *Store) retainedKeys(id string) []string {
	return []string{s.bkey(id, "st"), s.bkey(id, "fx"), s.bkey(id, ""), s.bkey(id, "segs"), s.bkey(id, "rej"), s.bkey(id, "ff"), s.bkey(id, "split"), s.bkey(id, "rejord"),
		s.bkey(id, "ev"), s.bkey(id, "c")}
}

// ErrOtherInput is returned when an import under a batch's id read other
// records than the import that created the batch: a batch id names one input.
var ErrOtherInput = errors.New("batch id names a batch with other candidates")

// isReply reports whether err is a script's error reply holding reply.
func isReply(err error, reply string) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), reply)
}

// errOtherInput turns a script's otherInputReply into ErrOtherInput.
func errOtherInput(id string, err error) error {
	if isReply(err, otherInputReply) {
		return fmt.Errorf("batch %s: %w", id, ErrOtherInput)
	}
	return err
}

// errGone turns a script's goneReply into ErrBatchExpired: the batch's record is
// gone, done and expired or an import abandoned for Config.UnsealedTTL.
func (s *Store) errGone(id string, err error) error {
	if isReply(err, goneReply) {
		return fmt.Errorf("%w: the record of batch %s is gone (done more than %s ago, or its import abandoned for %s)", ErrBatchExpired, id, s.cfg.Retention, s.cfg.UnsealedTTL)
	}
	return err
}

// CreateBatch writes the batch record unless one exists. It returns the record as
// stored, and whether this call created it: a re-run with the same id gets the
// original job and segment size back, so it cuts the same segments. An id that
// was used before and whose record has expired is refused with a
// *BatchExpiredError (see the package doc, "Batch ids are used once").
func (s *Store) CreateBatch(ctx context.Context, m Meta) (*Batch, bool, error) {
	job, err := json.Marshal(m.Job)
	if err != nil {
		return nil, false, err
	}
	idx := s.key("batches")
	ref := jobRef(job)
	// The shared job is written before the record that names it.
	used, known, err := s.lookUpAndKeepJob(ctx, idx, m.ID, ref, job, s.cfg.UnsealedTTL+s.cfg.Retention)
	if err != nil {
		return nil, false, fmt.Errorf("create batch %s: %w", m.ID, err)
	}
	// A replay batch does not expire unsealed: the next replay finishes it.
	ttl := s.cfg.UnsealedTTL
	if len(m.ReplayOf) > 0 {
		ttl = 0
	}
	now := s.now()
	by := m.By
	if by == m.Owner {
		by = "" // told from the owner (createdEvent): a done batch's record is kept long
	}
	a := createArgs{batch: s.bkey(m.ID, ""), dl: s.bkey(m.ID, "dl"), ev: s.bkey(m.ID, "ev"),
		now: nowMS(now), jobRef: ref, segmentSize: m.SegmentSize, source: m.Source,
		replayOf: strings.Join(m.ReplayOf, ","), callbackURL: m.CallbackURL, known: known,
		ttlMS: ttl.Milliseconds(), callbackKey: m.CallbackKey, owner: m.Owner,
		by: by, from: m.From}
	res, rec, err := createReply(s.eval(ctx, createScript, a.keys(), a.argv()...))
	if err != nil {
		return nil, false, fmt.Errorf("create batch %s: %w", m.ID, err)
	}
	if res == createRefused {
		e := &BatchExpiredError{ID: m.ID}
		if known {
			e.CreatedAt = time.UnixMilli(int64(used)).UTC()
		}
		return nil, false, e
	}
	// The index is written after the record (another slot): a crash between leaves
	// a record that the re-run indexes, never an index entry without a record.
	if err := s.write(ctx, idx, func(pipe redis.Pipeliner) { pipe.ZAddNX(ctx, idx, redisZ(now, m.ID)) }); err != nil {
		return nil, false, fmt.Errorf("index batch %s: %w", m.ID, err)
	}
	if res == createdNew {
		s.maybeTrim(ctx)
	}
	b, err := s.batchFrom(ctx, m.ID, rec)
	if err != nil {
		return nil, false, err
	}
	if err := s.indexScheduled(ctx, b); err != nil {
		return nil, false, err
	}
	return b, res == createdNew, nil
}

// lookUpAndKeepJob asks the batches index idx for id (its score, and whether
// it is there) and keeps the shared job ref (keepJob): in one round trip, a
// pipeline of both (keys of two slots; a Cluster client sends each to its
// node), unless the job's write waits for replicas (Config.WaitReplicas: WAIT
// on its own connection) or Redis does not know the script yet (NOSCRIPT
// within a pipeline has no fallback): then one after the other.
func (s *Store) lookUpAndKeepJob(ctx context.Context, idx, id, ref string, job []byte, ttl time.Duration) (float64, bool, error) {
	var score *redis.FloatCmd
	var keep *redis.Cmd // nil: not sent
	_, _ = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		score = pipe.ZScore(ctx, idx, id)
		if s.cfg.WaitReplicas <= 0 {
			a := keepJobArgs{key: s.jobKey(ref), job: job, ttlMS: ttl.Milliseconds()}
			keep = keepJobScript.EvalSha(ctx, pipe, a.keys(), a.argv()...)
		}
		return nil
	})
	used, err := score.Result()
	known := err == nil
	if err != nil && !isNil(err) {
		return 0, false, err
	}
	switch {
	case keep == nil || isNoScript(keep.Err()):
		if err := s.keepJob(ctx, ref, job, ttl); err != nil {
			return 0, false, err
		}
	case keep.Err() != nil:
		return 0, false, fmt.Errorf("keep the job %s: %w", ref, keep.Err())
	}
	return used, known, nil
}

// createScript's answers.
const (
	createRefused = -1 // the id was used and its record is gone
	createdBefore = 0  // the record exists
	createdNew    = 1
)

// createReply reads createScript's answer: the code, and the record as the
// script left it (nil when refused).
func createReply(cmd *redis.Cmd) (int, map[string]string, error) {
	v, err := cmd.Slice()
	if err != nil {
		return 0, nil, err
	}
	code, ok := v[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected answer %v", v)
	}
	if len(v) < 2 {
		return int(code), nil, nil
	}
	fields, ok := v[1].([]any)
	if !ok || len(fields)%2 != 0 {
		return 0, nil, fmt.Errorf("unexpected record %v", v[1])
	}
	rec := make(map[string]string, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		f, _ := fields[i].(string)
		rec[f], _ = fields[i+1].(string)
	}
	return int(code), rec, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// DedupKeys are the keys under which a candidate counts as the same person within a
// batch: the email compared case-insensitively, the ATS id, and for a CV-only
// candidate its CV link.
func DedupKeys(c payload.Candidate) []string {
	keys := make([]string, 0, 2)
	eachDedupKey(c, nil, func(key []byte) { keys = append(keys, string(key)) })
	return keys
}

// eachDedupKey calls fn with each of c's DedupKeys in turn, built in buf
// (grown as needed, and returned for the next call): fn must not keep it.
func eachDedupKey(c payload.Candidate, buf []byte, fn func(key []byte)) []byte {
	if c.Email != "" {
		buf = appendLower(append(buf[:0], "e:"...), c.Email)
		fn(buf)
	}
	if c.ATSCandidateID != "" {
		buf = appendLower(append(buf[:0], "a:"...), c.ATSCandidateID)
		fn(buf)
	}
	if c.Email == "" && c.CVLink != "" {
		buf = append(append(buf[:0], "c:"...), c.CVLink...)
		fn(buf)
	}
	return buf
}

// appendLower appends strings.ToLower(s) to b, without allocating when s is
// ASCII.
func appendLower(b []byte, s string) []byte {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// Admission is what AdmitSegment decided about a segment's candidates.
type Admission struct {
	// Open are the candidates to send, in order.
	Open []task.Candidate
	// Duplicates is how many repeat an earlier candidate of the batch
	// (skipped_duplicate).
	Duplicates int
	// Cancelled is how many are not sent because the batch was cancelled.
	Cancelled int
}

// AdmitSegment counts a segment's candidates as accepted (once, however often it is
// called) and records in-batch duplicates as skipped_duplicate: those dedup
// finds repeating an earlier candidate of the import (nil: of this segment
// only). In a cancelled batch, the others are admitted as cancelled: none is
// open.
//
// digest sums the import's input up to the segment's end ("" for none). The
// first admission records it; a later one with another digest admits nothing
// and returns ErrOtherInput: a re-run under the batch's id read other records.
func (s *Store) AdmitSegment(ctx context.Context, batchID string, segment int, cands []task.Candidate, digest string, dedup *Dedup) (Admission, error) {
	return s.AdmitChunks(ctx, batchID, segment, cands, digest, nil, dedup)
}

// AdmitChunks is AdmitSegment that also stores, in the same step, the blobs of
// the segment's chunks (see ChunkBlob), each unless it is stored already or
// none of its candidates is undecided any more (a re-run: it was deleted).
func (s *Store) AdmitChunks(ctx context.Context, batchID string, segment int, cands []task.Candidate, digest string, chunks []ChunkBlob, dedup *Dedup) (Admission, error) {
	if dedup == nil {
		dedup = NewDedup()
	}
	fps := keysOf(cands)
	a := admitArgs{batch: s.bkey(batchID, ""), segs: s.bkey(batchID, "segs"),
		st: s.bkey(batchID, "st"), fx: s.bkey(batchID, "fx"), blobs: s.bkey(batchID, "c"), live: s.retainedKeys(batchID),
		ttlMS: s.cfg.UnsealedTTL.Milliseconds(), segment: segment, digest: digest, chunks: chunks, cands: cands,
		fps: fps, dups: dedup.judge(segment, cands, fps)}
	res, err := s.eval(ctx, admitScript, a.keys(), a.argv()...).Slice()
	if err != nil {
		return Admission{}, fmt.Errorf("admit segment %d of batch %s: %w", segment, batchID, s.errGone(batchID, errOtherInput(batchID, err)))
	}
	if len(res) != 2 {
		return Admission{}, fmt.Errorf("admit segment %d of batch %s: the script answered %d lists, want 2", segment, batchID, len(res))
	}
	dups, _ := res[0].([]any)
	cancelled, _ := res[1].([]any)
	out := Admission{Duplicates: len(dups), Cancelled: len(cancelled)}
	if len(dups)+len(cancelled) == 0 {
		out.Open = cands
		return out, nil
	}
	closed := make(map[string]bool, len(dups)+len(cancelled))
	for _, r := range append(dups, cancelled...) {
		if q, ok := r.(string); ok {
			closed[q] = true
		}
	}
	out.Open = make([]task.Candidate, 0, len(cands)-len(closed))
	for _, c := range cands {
		if !closed[strconv.FormatInt(c.Seq, 10)] {
			out.Open = append(out.Open, c)
		}
	}
	return out, nil
}

// Reject is a source row that was not accepted, with why.
type Reject struct {
	// Row is the row's place in its input: a line of a file, or the 1-based
	// position of a candidate in a JSON array (Where says which).
	Row int64
	// Where is what Row counts, as the file readers name it: "line" or
	// "candidate" (producer.WhereLine, producer.WhereCandidate).
	Where string
	// Field is the name of the first field at fault, "" for the row as a whole
	// (and for rejects recorded before fields were, whose Reason names it).
	Field string
	// Reason is what is wrong.
	Reason string
}

// Text reads like the import's message, `line 17: email: not a valid email
// address: "x@"`.
func (r Reject) Text() string {
	where := r.Where
	if where == "" {
		where = "row"
	}
	s := where + " " + strconv.FormatInt(r.Row, 10) + ": "
	if r.Field != "" {
		s += r.Field + ": "
	}
	return s + r.Reason
}

// RecordRejects counts rejected rows, each row once however often it is called.
func (s *Store) RecordRejects(ctx context.Context, batchID string, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	a := rejectArgs{batch: s.bkey(batchID, ""), rej: s.bkey(batchID, "rej"), ord: s.bkey(batchID, "rejord"), live: s.retainedKeys(batchID),
		ttlMS: s.cfg.UnsealedTTL.Milliseconds(), rejects: rejects}
	if err := s.eval(ctx, rejectScript, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("record rejects of batch %s: %w", batchID, s.errGone(batchID, err))
	}
	return nil
}

// Seal marks the batch as fully enqueued with the given number of segments: from
// now on, no pending candidate means the batch is done, and its keys no longer
// expire before then. The de-duplication data an earlier build's import kept
// in Redis is dropped: every candidate was admitted. digest sums the whole input ("" for none) and is kept as
// Batch.Digest; a seal with another digest than one kept before is
// ErrOtherInput.
func (s *Store) Seal(ctx context.Context, batchID string, segments int, digest string) error {
	a := sealArgs{batch: s.bkey(batchID, ""), seen: s.bkey(batchID, "seen"), ev: s.bkey(batchID, "ev"), retained: s.retainedKeys(batchID),
		now: nowMS(s.now()), segments: segments, retentionMS: s.cfg.Retention.Milliseconds(), digest: digest}
	ref, err := s.eval(ctx, sealScript, a.keys(), a.argv()...).Text()
	if err != nil {
		return fmt.Errorf("seal batch %s: %w", batchID, s.errGone(batchID, errOtherInput(batchID, err)))
	}
	return s.keepFinishedJob(ctx, ref)
}

// SpendSplits adds n to the requests spent splitting the chunk root of a batch
// (the chunk the API first refused as invalid) and returns the total so far. For
// a batch whose record is gone it writes nothing and returns n.
func (s *Store) SpendSplits(ctx context.Context, batchID, root string, n int) (int64, error) {
	a := spendSplitsArgs{batch: s.bkey(batchID, ""), split: s.bkey(batchID, "split"), root: root, n: n}
	total, err := spendSplitsScript.Run(ctx, s.rdb, a.keys(), a.argv()...).Int64()
	if err != nil {
		return 0, fmt.Errorf("count the splits of chunk %s: %w", root, err)
	}
	return total, nil
}

// FirstFailure returns when the chunk task first failed, recording now as that time
// if it had not failed before. For a batch whose record is gone it writes nothing
// and returns now.
func (s *Store) FirstFailure(ctx context.Context, batchID, taskID string) (time.Time, error) {
	now := s.now()
	a := firstFailureArgs{batch: s.bkey(batchID, ""), ff: s.bkey(batchID, "ff"), taskID: taskID, nowMS: now.UnixMilli()}
	ms, err := firstFailureScript.Run(ctx, s.rdb, a.keys(), a.argv()...).Int64()
	if err != nil {
		return now, fmt.Errorf("first failure of chunk %s: %w", taskID, err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Batch is a batch record with its counters.
type Batch struct {
	ID          string
	Job         task.Job
	SegmentSize int
	Segments    int
	Source      string
	ReplayOf    []string
	CallbackURL string
	CallbackKey string // Meta.CallbackKey
	// Owner is the name of the token that created the batch; "" for a batch
	// created before batches had owners (only admins see it).
	Owner string
	// Digest sums the input the batch was sealed from (Seal); "" until sealed,
	// and for a batch sealed before digests were kept.
	Digest string
	// at is when the record was read: its schedule's state is as of then (the
	// zero time: when asked).
	at               time.Time
	Callback         *CallbackState // nil without a callback_url
	Sealed           bool
	CreatedAt        time.Time
	FinishedAt       time.Time // zero until sealed with nothing pending
	Accepted         int64
	Rejected         int64
	Invited          int64
	CVQueued         int64
	DeadLettered     int64
	SkippedDuplicate int64
	Cancelled        int64
	// Hold is what an operator put the batch on (PauseBatch, CancelBatch).
	Hold Hold
	// jobRef names the batch's shared job (P{j:ref}); "" for a record that
	// holds its job inline.
	jobRef string
}

// Pending is the accepted candidates without a final outcome yet.
func (b *Batch) Pending() int64 {
	return b.Accepted - b.Invited - b.CVQueued - b.DeadLettered - b.SkippedDuplicate - b.Cancelled
}

// Done reports whether every candidate has its outcome: the batch is sealed
// and nothing is pending. A cancelled batch is done once the candidates in
// flight at the cancel are recorded.
func (b *Batch) Done() bool { return b.Sealed && b.Pending() == 0 }

// State is cancelled once the batch is cancelled; otherwise done when it is
// done, paused while paused, scheduled or waiting_for_window while its
// schedule holds it back (heldState), queued before any outcome, running
// otherwise.
func (b *Batch) State() string {
	held := b.heldState()
	switch {
	case b.Hold == HoldCancelled:
		return StateCancelled
	case b.Done():
		return StateDone
	case b.Hold == HoldPaused:
		return StatePaused
	case held != "":
		return held
	case b.Invited+b.CVQueued+b.DeadLettered+b.SkippedDuplicate > 0:
		return StateRunning
	default:
		return StateQueued
	}
}

// Status is the batch as `status --json` prints it. The fields up to Pending are
// contract (docs/architecture.md, "The contract"); the rest extend it. State is
// one of the State* constants; accepted = invited + cv_queued + dead_lettered
// + skipped_duplicate + cancelled + pending.
type Status struct {
	BatchID          string `json:"batch_id"`
	State            string `json:"state"`
	Total            int64  `json:"total"`
	Accepted         int64  `json:"accepted"`
	Rejected         int64  `json:"rejected"`
	Invited          int64  `json:"invited"`
	CVQueued         int64  `json:"cv_queued"`
	DeadLettered     int64  `json:"dead_lettered"`
	SkippedDuplicate int64  `json:"skipped_duplicate"`
	Cancelled        int64  `json:"cancelled"`
	Pending          int64  `json:"pending"`

	Sealed     bool           `json:"sealed"`
	Target     payload.Target `json:"target"`
	ReplayOf   []string       `json:"replay_of,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	// AuthStop is set while sending is stopped by a 401/403 (see `bulkinvite resume`).
	AuthStop *AuthStop `json:"auth_stop,omitempty"`
	// Callback is set for a batch with a callback_url.
	Callback *CallbackState `json:"callback,omitempty"`
	// NotBefore is the batch's start time, for a batch enqueued with one.
	NotBefore *time.Time `json:"not_before,omitempty"`
	// SendWindow is the batch's send window, canonical, for a batch enqueued
	// with one.
	SendWindow string `json:"send_window,omitempty"`
	// NextWindow is when the send window opens next, while the batch is
	// scheduled or waiting_for_window and has a window.
	NextWindow *time.Time `json:"next_window,omitempty"`
}

// Done reports whether every candidate has its outcome (Batch.Done).
func (s Status) Done() bool { return s.Sealed && s.Pending == 0 }

// Status returns the batch's status.
func (b *Batch) Status() Status {
	st := Status{
		BatchID: b.ID, State: b.State(),
		Total: b.Accepted + b.Rejected, Accepted: b.Accepted, Rejected: b.Rejected,
		Invited: b.Invited, CVQueued: b.CVQueued, DeadLettered: b.DeadLettered,
		SkippedDuplicate: b.SkippedDuplicate, Cancelled: b.Cancelled, Pending: b.Pending(),
		Sealed: b.Sealed, Target: b.Job.Target, ReplayOf: b.ReplayOf, CreatedAt: b.CreatedAt,
		Callback: b.Callback,
	}
	if !b.FinishedAt.IsZero() {
		t := b.FinishedAt
		st.FinishedAt = &t
	}
	b.scheduleStatus(&st)
	return st
}

// Batch reads a batch record. A batch that was done and has expired gives
// ErrBatchExpired; one never created, ErrBatchNotFound.
func (s *Store) Batch(ctx context.Context, id string) (*Batch, error) {
	m, err := s.rdb.HGetAll(ctx, s.bkey(id, "")).Result()
	if err != nil {
		return nil, fmt.Errorf("read batch %s: %w", id, err)
	}
	return s.batchFrom(ctx, id, m)
}

// batchFrom is the batch whose record, as HGETALL answers it (packed or not),
// is m; an m without an id is no record (Batch's errors).
func (s *Store) batchFrom(ctx context.Context, id string, m map[string]string) (*Batch, error) {
	if err := unpackRecord(m); err != nil {
		return nil, fmt.Errorf("read batch %s: %w", id, err)
	}
	if m["id"] == "" {
		return nil, s.missing(ctx, id)
	}
	var err error
	b := &Batch{
		ID:               id,
		at:               s.now(),
		Source:           m["source"],
		CallbackURL:      m["callback_url"],
		CallbackKey:      m["callback_key"],
		Owner:            m["owner"],
		Digest:           recordDigest(m),
		Callback:         callbackState(m),
		Sealed:           m["sealed"] == "1",
		SegmentSize:      atoi(m["segment_size"]),
		Segments:         atoi(m["segments"]),
		CreatedAt:        msTime(m["created_at"]),
		FinishedAt:       msTime(m["finished_at"]),
		Accepted:         atoi64(m["accepted"]),
		Rejected:         atoi64(m["rejected"]),
		Invited:          atoi64(m["invited"]),
		CVQueued:         atoi64(m["cv_queued"]),
		DeadLettered:     atoi64(m["dead_lettered"]),
		SkippedDuplicate: atoi64(m["skipped_duplicate"]),
		Cancelled:        atoi64(m["cancelled"]),
		Hold:             Hold(m[fieldHold]),
		jobRef:           m["jobref"],
	}
	if r := m["replay_of"]; r != "" {
		b.ReplayOf = strings.Split(r, ",")
	}
	if b.Job, err = s.recordJob(ctx, m); err != nil {
		return nil, fmt.Errorf("read batch %s: job: %w", id, err)
	}
	return b, nil
}

// recordDigest is a record's digest: its field digest, else, for a batch
// sealed as one segment, the digest its segment 0 recorded (sealScript keeps
// no field then).
func recordDigest(m map[string]string) string {
	if d := m["digest"]; d != "" || m["sealed"] != "1" || m["segments"] != "1" {
		return d
	}
	_, d, _ := strings.Cut(m["seg0"], ":")
	return d
}

// RecentBatches returns the ids of the batches created last, newest first: at most
// limit, after skipping offset. A batch whose record has expired may still be
// listed (Batch says ErrBatchExpired).
func (s *Store) RecentBatches(ctx context.Context, offset, limit int64) ([]string, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.key("batches"), offset, offset+limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	return ids, nil
}

func sortDeadLetters(d []*DeadLetter) {
	sort.Slice(d, func(i, j int) bool {
		if d[i].BatchID != d[j].BatchID {
			return d[i].BatchID < d[j].BatchID
		}
		return d[i].Seq < d[j].Seq
	})
}
