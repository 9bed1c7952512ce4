package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// batchSubs are the sub keys of a batch that expire with it.
var batchSubs = []string{"", "st", "seen", "segs", "rej", "ff", "split", "rejord", "fx", "ev", "c"}

// lifetimes returns the PTTL of each of the batch's keys that exist, by sub key
// (-1: no expiry).
func lifetimes(t *testing.T, s *Store, id string) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, sub := range batchSubs {
		d, err := s.rdb.PTTL(context.Background(), s.bkey(id, sub)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d != -2*time.Nanosecond && d != -2*time.Millisecond { // -2: no such key
			out[sub] = d
		}
	}
	return out
}

// TestWritesAfterExpiryRecreateNothing: steps that come late, after a batch's
// keys expired (a chunk's outcomes recorded again, a failure or a split counted,
// a callback attempt, an event), write nothing: no key of the batch comes back, least of
// all without an expiry. The import's steps fail with ErrBatchExpired.
func TestWritesAfterExpiryRecreateNothing(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: 300 * time.Millisecond})
	ctx := context.Background()
	cs := doneWithADeadLetter(t, s, "x")
	expire(t, s, "x")

	n, err := s.RecordOutcomes(ctx, "x", target, []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate},
		{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: cs[1].Candidate, DeadLetter: &DeadLetter{
			ID: DeadLetterID("x", 1), BatchID: "x", Seq: 1, Reason: payload.ReasonRetriesExhausted, Candidate: cs[1].Candidate, Target: target}},
	})
	if err != nil || n != 0 {
		t.Errorf("late RecordOutcomes: %d new, %v; want none", n, err)
	}
	if _, err := s.FirstFailure(ctx, "x", "bi:x:s0:c0"); err != nil {
		t.Errorf("late FirstFailure: %v", err)
	}
	if _, err := s.SpendSplits(ctx, "x", "bi:x:s0:c0", 2); err != nil {
		t.Errorf("late SpendSplits: %v", err)
	}
	if err := s.RecordCallback(ctx, "x", CallbackAttempt{HTTPStatus: 200}); err != nil {
		t.Errorf("late RecordCallback: %v", err)
	}
	if err := s.RecordEvent(ctx, "x", Event{What: EventPurged, By: "o"}); err != nil {
		t.Errorf("late RecordEvent: %v", err)
	}
	if _, err := s.AdmitSegment(ctx, "x", 1, cands(2), "", nil); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("late AdmitSegment: %v, want ErrBatchExpired", err)
	}
	if err := s.RecordRejects(ctx, "x", []Reject{{Row: 3, Reason: "email: bad"}}); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("late RecordRejects: %v, want ErrBatchExpired", err)
	}
	if err := s.Seal(ctx, "x", 2, ""); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("late Seal: %v, want ErrBatchExpired", err)
	}
	if left := lifetimes(t, s, "x"); len(left) != 0 {
		t.Errorf("keys of the expired batch written again (sub key: TTL, -1ns = none): %v", left)
	}
	if _, err := s.Batch(ctx, "x"); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("status: %v, want ErrBatchExpired", err)
	}
}

// TestAbandonedImportExpires: the keys of a batch whose import never sealed it
// expire Config.UnsealedTTL after its last import
// or worker step; an import that goes on keeps them. A sealed batch waiting for
// its workers and a replay batch (the next replay finishes it) never expire
// before they are done.
func TestAbandonedImportExpires(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	s := setupWith(t, Config{UnsealedTTL: ttl})
	ctx := context.Background()
	seg := cands(3)
	seg[2].Email = "C0@example.com" // a duplicate: writes a state
	create := func(id string, replayOf ...string) {
		t.Helper()
		if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 3, ReplayOf: replayOf}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordRejects(ctx, id, []Reject{{Row: 9, Reason: "email: bad"}}); err != nil {
			t.Fatal(err)
		}
		// An event besides the creation (told from the record) writes the log.
		if err := s.RecordEvent(ctx, id, Event{What: EventPaused, By: "tester"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AdmitChunks(ctx, id, 0, seg, "", []ChunkBlob{{Lo: 0, Hi: 2, Blob: []byte("blob")}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	create("abandoned")
	create("going-on")
	create("sealed")
	create("replay", "orig")
	if err := s.Seal(ctx, "sealed", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FirstFailure(ctx, "abandoned", "bi:abandoned:s0:c0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SpendSplits(ctx, "abandoned", "bi:abandoned:s0:c0", 2); err != nil {
		t.Fatal(err)
	}
	keys := lifetimes(t, s, "abandoned")
	for _, sub := range batchSubs {
		if sub == "segs" { // one segment: its admission is in the record
			continue
		}
		if sub == "seen" { // the import's duplicates are found in its process (Dedup)
			if _, ok := keys[sub]; ok {
				t.Errorf("the import wrote de-duplication data to Redis (%q)", sub)
			}
			continue
		}
		if d, ok := keys[sub]; !ok || d <= 0 || d > ttl {
			t.Errorf("key %q of the unsealed batch: TTL %v (present %v), want (0, %v]", sub, d, ok, ttl)
		}
	}
	for id, want := range map[string]int{"sealed": 7, "replay": 7} { // no segs: one segment each; the chunk blob
		for sub, d := range lifetimes(t, s, id) {
			if d != -time.Nanosecond && d != -time.Millisecond {
				t.Errorf("key %q of %s expires in %v, want no expiry", sub, id, d)
			}
		}
		if n := len(lifetimes(t, s, id)); n != want {
			t.Errorf("%s has %d keys, want %d", id, n, want)
		}
	}

	// The import of going-on goes on, a step every ttl/4, past the first ttl.
	for i := 1; i <= 8; i++ {
		time.Sleep(ttl / 4)
		next := []task.Candidate{{Seq: int64(3 * i), Candidate: payload.Candidate{Email: fmt.Sprintf("n%d@example.com", i)}}}
		if _, err := s.AdmitSegment(ctx, "going-on", i, next, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(lifetimes(t, s, "going-on")); n != 8 {
		t.Errorf("the import that goes on has %d keys left, want its 8", n)
	}
	if left := lifetimes(t, s, "abandoned"); len(left) != 0 {
		t.Errorf("keys of the abandoned import left after %v: %v", 2*ttl, left)
	}
	if _, err := s.Batch(ctx, "abandoned"); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("status of the abandoned import: %v, want ErrBatchExpired", err)
	}
	for _, id := range []string{"sealed", "replay"} {
		if b, err := s.Batch(ctx, id); err != nil || b.Accepted != 3 {
			t.Errorf("%s after %v: %+v %v, want it kept", id, 2*ttl, b, err)
		}
	}
}

// TestJobsCacheIsBounded: the store's cache of dead-letter jobs holds at most
// maxCachedJobs, however many jobs it sees, and what it dropped is read again.
func TestJobsCacheIsBounded(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const n = maxCachedJobs + 100
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "j", Job: task.Job{Target: target}, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i := range recs {
		c := payload.Candidate{Email: fmt.Sprintf("j%d@example.com", i)}
		recs[i] = Record{Seq: int64(i), Outcome: payload.OutcomeDeadLettered, Candidate: c, DeadLetter: &DeadLetter{
			ID: DeadLetterID("j", int64(i)), BatchID: "j", Seq: int64(i), Reason: payload.ReasonValidation, Candidate: c,
			Target: target, InvitationMessage: fmt.Sprintf("Hello {{candidate_name}}, number %d", i)}}
	}
	if _, err := s.RecordOutcomes(ctx, "j", target, recs); err != nil {
		t.Fatal(err)
	}
	if got := cachedJobs(s); got > maxCachedJobs {
		t.Errorf("%d jobs cached after %d, want at most %d", got, n, maxCachedJobs)
	}
	seen := 0
	err := s.DeadLetters(ctx, Filter{BatchID: "j"}, func(d *DeadLetter) error {
		if want := fmt.Sprintf("Hello {{candidate_name}}, number %d", d.Seq); d.InvitationMessage != want {
			t.Errorf("dead letter %s: message %q, want %q", d.ID, d.InvitationMessage, want)
		}
		seen++
		return nil
	})
	if err != nil || seen != n {
		t.Errorf("%d dead letters read (%v), want %d", seen, err, n)
	}
	if got := cachedJobs(s); got > maxCachedJobs {
		t.Errorf("%d jobs cached after reading, want at most %d", got, maxCachedJobs)
	}
}

// TestBatchesIndexTrimmed: the batches index forgets a batch id once nothing of
// its batch is left (its record expired, no dead letter, nothing staged) and it
// was created more than Config.Retention + Config.LedgerTTL ago; the orphans of
// writes that came late go with it. An id whose dead letters are kept, a batch
// still alive and a young one stay known. Creating batches trims now and then.
func TestBatchesIndexTrimmed(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: 300 * time.Millisecond})
	ctx := context.Background()
	t0 := time.Now()
	s.now = func() time.Time { return t0 }
	doneWithADeadLetter(t, s, "kept") // keeps a dead letter
	doneWithADeadLetter(t, s, "gone")
	if n, err := s.PurgeDeadLetters(ctx, []string{DeadLetterID("gone", 1)}, "tester"); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "alive", Job: task.Job{Target: target}, SegmentSize: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, "alive", 0, cands(2), "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "alive", 1, ""); err != nil { // sealed, pending: no expiry
		t.Fatal(err)
	}
	horizon := s.cfg.Retention + s.cfg.LedgerTTL
	young := t0.Add(horizon / 2)
	s.now = func() time.Time { return young }
	doneWithADeadLetter(t, s, "young")
	if _, err := s.PurgeDeadLetters(ctx, []string{DeadLetterID("young", 1)}, "tester"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"kept", "gone", "young"} {
		expire(t, s, id)
	}
	// A late write left an orphan of gone behind.
	if err := s.rdb.Set(ctx, s.bkey("gone", "st"), "\x02", 0).Err(); err != nil {
		t.Fatal(err)
	}

	later := t0.Add(horizon + time.Hour)
	s.now = func() time.Time { return later }
	if _, created, err := s.CreateBatch(ctx, Meta{ID: "next", Job: task.Job{Target: target}, SegmentSize: 2}); err != nil || !created {
		t.Fatalf("create next: %v %v", created, err)
	}
	for id, want := range map[string]bool{"gone": false, "kept": true, "alive": true, "young": true, "next": true} {
		_, err := s.rdb.ZScore(ctx, s.key("batches"), id).Result()
		if known := err == nil; known != want {
			t.Errorf("%s in the batches index: %v, want %v (%v)", id, known, want, err)
		}
	}
	if n, _ := s.rdb.Exists(ctx, s.bkey("gone", "st")).Result(); n != 0 {
		t.Errorf("the orphan state of the forgotten batch is left")
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "kept", Job: task.Job{Target: target}, SegmentSize: 2}); !errors.Is(err, ErrBatchExpired) {
		t.Errorf("create kept (its dead letter is there): %v, want ErrBatchExpired", err)
	}
	if _, created, err := s.CreateBatch(ctx, Meta{ID: "gone", Job: task.Job{Target: target}, SegmentSize: 2}); err != nil || !created {
		t.Errorf("create gone (nothing of it left, long ago): created %v, %v; want a new batch", created, err)
	}

	// Once kept's dead letter is purged, the next trim forgets it too.
	if _, err := s.PurgeDeadLetters(ctx, []string{DeadLetterID("kept", 1)}, "tester"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.trimBatches(ctx); err != nil || n != 1 {
		t.Errorf("trim: %d forgotten, %v; want kept", n, err)
	}
	if _, err := s.rdb.ZScore(ctx, s.key("batches"), "kept").Result(); !isNil(err) {
		t.Errorf("kept still in the index: %v", err)
	}
}

func cachedJobs(s *Store) int { return s.jobs.len() }
