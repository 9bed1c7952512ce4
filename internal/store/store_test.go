package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

var target = payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}

func setup(t *testing.T) *Store { return setupWith(t, Config{}) }

// setupWith returns a store over a private redis-server, or with
// -redis_cluster (BULKINVITE_REDIS_CLUSTER=1) over the package's shared
// Cluster, with a prefix of the test's own.
func setupWith(t *testing.T, cfg Config) *Store {
	t.Helper()
	var rdb redis.UniversalClient
	if c := redistest.SharedCluster(t); c != nil {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = rdb.Close() })
		cfg.Prefix = strings.NewReplacer("/", ":").Replace(t.Name()) + ":"
	} else {
		rdb = redistest.Start(t, redistest.Options{}).Client()
	}
	return New(rdb, cfg)
}

func cands(n int) []task.Candidate {
	out := make([]task.Candidate, n)
	for i := range out {
		out[i] = task.Candidate{Seq: int64(i), Candidate: payload.Candidate{Email: fmt.Sprintf("c%d@example.com", i)}}
	}
	return out
}

// TestRecordOutcomesExactlyOnce: many writers race to record different outcomes for
// the same candidates; each candidate keeps exactly one, and the counters equal the
// recorded outcomes.
func TestRecordOutcomesExactlyOnce(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	const n = 200
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AdmitSegment(ctx, "b", 0, cands(n), "", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Seal(ctx, "b", 1, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]Record, 0, n)
			for i, c := range cands(n) {
				r := Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeInvited}
				if i%2 == 0 {
					r.Outcome = payload.OutcomeDeadLettered
					r.DeadLetter = &DeadLetter{ID: DeadLetterID("b", c.Seq), BatchID: "b", Reason: payload.ReasonRetriesExhausted, Candidate: c.Candidate}
				}
				recs = append(recs, r)
			}
			got, err := st.RecordOutcomes(ctx, "b", target, recs)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != n {
		t.Errorf("%d outcomes recorded as new across writers, want exactly %d", total, n)
	}
	b, err := st.Batch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := st.Outcomes(ctx, "b")
	count := map[payload.Outcome]int64{}
	for _, o := range outs {
		count[o]++
	}
	if len(outs) != n || count[payload.OutcomeInvited] != b.Invited || count[payload.OutcomeDeadLettered] != b.DeadLettered {
		t.Errorf("outcomes %v vs counters %+v", count, b.Status())
	}
	if b.State() != StateDone || b.FinishedAt.IsZero() {
		t.Errorf("batch %+v, want done with finished_at", b.Status())
	}
	dls, _ := st.CountDeadLetters(ctx)
	if dls != b.DeadLettered {
		t.Errorf("%d dead letters stored, counter says %d", dls, b.DeadLettered)
	}
	// Invited candidates are in the ledger; dead-lettered ones are not, and their
	// claims (none were taken here) leave them free to be claimed by another batch.
	claims, err := st.ClaimForSending(ctx, "other-batch", target, cands(n), NewRunID(), time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range claims {
		want := Claimed
		if outs[int64(i)] == payload.OutcomeInvited {
			want = OtherCandidateDone
		}
		if c != want {
			t.Errorf("seq %d (%s): claim %d, want %d", i, outs[int64(i)], c, want)
		}
	}
}

// TestRecordNewNamesTheNewRecords: RecordNew returns exactly the records whose
// outcome it wrote, leaving out a candidate already decided and a repeat within
// the call, so that what the worker counts equals what the batch counts.
func TestRecordNewNamesTheNewRecords(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	cs := cands(4)
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AdmitSegment(ctx, "b", 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	invited := func(i int) Record {
		return Record{Seq: cs[i].Seq, Candidate: cs[i].Candidate, Outcome: payload.OutcomeInvited}
	}
	dead := Record{Seq: cs[1].Seq, Candidate: cs[1].Candidate, Outcome: payload.OutcomeDeadLettered,
		DeadLetter: &DeadLetter{ID: DeadLetterID("b", cs[1].Seq), BatchID: "b", Reason: payload.ReasonValidation, Candidate: cs[1].Candidate}}
	skipped := Record{Seq: cs[2].Seq, Outcome: payload.OutcomeSkippedDuplicate}

	fresh, err := st.RecordNew(ctx, "b", target, "", []Record{invited(0), dead, invited(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(fresh); fmt.Sprint(got) != "[0 1]" {
		t.Errorf("first call: new records %v, want [0 1] (the repeat of 0 is not new)", got)
	}
	fresh, err = st.RecordNew(ctx, "b", target, "", []Record{invited(1), skipped, invited(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(fresh); fmt.Sprint(got) != "[2 3]" || fresh[0].Outcome != payload.OutcomeSkippedDuplicate {
		t.Errorf("second call: new records %v (%+v), want [2 3] (1 was decided before)", got, fresh)
	}
	if n, err := st.RecordOutcomes(ctx, "b", target, []Record{invited(3)}); err != nil || n != 0 {
		t.Errorf("RecordOutcomes of a decided candidate = %d, %v; want 0", n, err)
	}
}

func seqsOf(recs []Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// TestAdmitSegmentIdempotent: admitting the same segment twice counts it once and
// gives the same duplicates.
func TestAdmitSegmentIdempotent(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: 5}); err != nil {
		t.Fatal(err)
	}
	seg := cands(5)
	seg[3].Email = "C1@Example.com"                                // same person as seq 1
	seg[4].ATSCandidateID = "7c0d5c3e-8a4f-4b1e-9d2a-1f3e5a7b9c01" // new
	for range 2 {
		adm, err := st.AdmitSegment(ctx, "b", 0, seg, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if open := adm.Open; len(open) != 4 || open[3].Seq != 4 || adm.Duplicates != 1 {
			t.Errorf("admission %+v, want seqs 0,1,2,4 open and one duplicate", adm)
		}
	}
	b, _ := st.Batch(ctx, "b")
	if b.Accepted != 5 || b.SkippedDuplicate != 1 {
		t.Errorf("batch %+v", b.Status())
	}
}

// TestAuthStop round-trips the stop.
func TestAuthStop(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	if s, err := st.AuthStopped(ctx, "k1"); err != nil || s != nil {
		t.Fatalf("fresh: %+v %v", s, err)
	}
	if err := st.StopAuth(ctx, "k1", "fl_live_x.****", 401, "key deleted"); err != nil {
		t.Fatal(err)
	}
	s, err := st.AuthStopped(ctx, "k1")
	if err != nil || s == nil || s.Status != 401 || s.Key != "fl_live_x.****" || s.Since.IsZero() {
		t.Fatalf("stopped: %+v %v", s, err)
	}
	if other, _ := st.AuthStopped(ctx, "k2"); other != nil {
		t.Errorf("another key is stopped too: %+v", other)
	}
	// A second stop for the same key keeps the first time.
	if err := st.StopAuth(ctx, "k1", "fl_live_x.****", 403, "scope missing"); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.AuthStopped(ctx, "k1"); again == nil || !again.Since.Equal(s.Since) || again.Status != 403 {
		t.Errorf("stopped again: %+v, want status 403 since %s", again, s.Since)
	}
	if err := st.StopAuth(ctx, "k2", "fl_live_y.****", 401, "key expired"); err != nil {
		t.Fatal(err)
	}
	if stopped, err := st.PausedForAuth(ctx, "k1", "default"); err != nil || !stopped {
		t.Fatalf("record the queue paused for k1's stop: %v %v", stopped, err)
	}
	if all, err := st.AuthStops(ctx); err != nil || len(all) != 2 {
		t.Errorf("all stops: %+v %v", all, err)
	}
	// Resume clears every key's stop (a rotated key has a new id) and hands back
	// the queues paused for them.
	res, err := st.ResumeAuth(ctx)
	if err != nil || len(res.Stops) != 2 || res.Stops[0].Key != "fl_live_x.****" || fmt.Sprint(res.Queues) != "[default]" {
		t.Errorf("resume: %+v %v", res, err)
	}
	if all, _ := st.AuthStops(ctx); len(all) != 0 {
		t.Errorf("still stopped: %+v", all)
	}
	if res, err := st.ResumeAuth(ctx); err != nil || len(res.Stops) != 0 || len(res.Queues) != 0 {
		t.Errorf("second resume: %+v %v", res, err)
	}
	// A queue is recorded only while the key's stop holds: after the resume, not.
	if stopped, err := st.PausedForAuth(ctx, "k1", "bulk"); err != nil || stopped {
		t.Errorf("record a queue after the resume: stopped=%v %v, want false", stopped, err)
	}
	if res, err := st.ResumeAuth(ctx); err != nil || len(res.Queues) != 0 {
		t.Errorf("a queue was recorded for a cleared stop: %+v %v", res, err)
	}
}

// TestClaims: a claim is one run's: it keeps other runs off a candidate, of
// another batch or of the same candidate run twice, until the run records the
// outcome or releases it; only its own run renews or releases it.
func TestClaims(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	cs := cands(3)
	a1, a2, b := NewRunID(), NewRunID(), NewRunID()
	mustClaim := func(batch string, run RunID, want ...Claim) {
		t.Helper()
		got, err := st.ClaimForSending(ctx, batch, target, cs, run, time.Minute, false)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s (run %s) claims %v, want %v", batch, run, got, want)
		}
	}
	mustClaim("a", a1, Claimed, Claimed, Claimed)
	mustClaim("a", a1, Claimed, Claimed, Claimed)                            // the run renews its own
	mustClaim("a", a2, ClaimedElsewhere, ClaimedElsewhere, ClaimedElsewhere) // the same candidates, another run
	mustClaim("b", b, ClaimedElsewhere, ClaimedElsewhere, ClaimedElsewhere)
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "a", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	// Another run of a's candidates records 1 as failed: a1's claim on 1 stays.
	if _, err := st.RecordNew(ctx, "a", target, a2, []Record{
		{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: cs[1].Candidate, DeadLetter: &DeadLetter{ID: "a:1"}},
	}); err != nil {
		t.Fatal(err)
	}
	mustClaim("b", b, ClaimedElsewhere, ClaimedElsewhere, ClaimedElsewhere)
	held, err := st.RenewClaims(ctx, target, a2, task.Candidates(cs), time.Minute)
	if err != nil || fmt.Sprint(held) != "[false false false]" {
		t.Errorf("another run renews %v %v, want none held", held, err)
	}
	// a1 records 0 invited and releases 2: 0 is done for everyone, 2 free; 1's
	// claim is a1's until a1 lets go of it.
	if _, err := st.RecordNew(ctx, "a", target, a1, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseClaims(ctx, target, a1, []payload.Candidate{cs[2].Candidate}); err != nil {
		t.Fatal(err)
	}
	held, err = st.RenewClaims(ctx, target, a1, task.Candidates(cs), time.Minute)
	if err != nil || fmt.Sprint(held) != "[false true false]" {
		t.Errorf("a1 renews %v %v, want only 1 held", held, err)
	}
	mustClaim("b", b, OtherCandidateDone, ClaimedElsewhere, Claimed)
}

// TestClaimsRunOutByRedisClock: a claim runs out by Redis's clock, not the
// claiming worker's: a worker whose clock runs ahead does not take a live claim,
// and a claim does run out after its ttl; a renewed claim lasts on.
func TestClaimsRunOutByRedisClock(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ahead := New(a.rdb, a.cfg)
	ahead.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	ctx := context.Background()
	cs := cands(2)
	run := NewRunID()
	if got, err := a.ClaimForSending(ctx, "a", target, cs, run, 300*time.Millisecond, false); err != nil || fmt.Sprint(got) != "[0 0]" {
		t.Fatalf("a: %v %v", got, err)
	}
	got, err := ahead.ClaimForSending(ctx, "b", target, cs, NewRunID(), time.Minute, false)
	if err != nil || fmt.Sprint(got) != "[2 2]" {
		t.Errorf("a worker 2 min ahead claims a live claim: %v %v, want [2 2] (ClaimedElsewhere)", got, err)
	}
	// Keep 0 alive; let 1 run out.
	for range 4 {
		time.Sleep(100 * time.Millisecond)
		if _, err := a.RenewClaims(ctx, target, run, []payload.Candidate{cs[0].Candidate}, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	got, err = ahead.ClaimForSending(ctx, "b", target, cs, NewRunID(), time.Minute, false)
	if err != nil || fmt.Sprint(got) != "[2 0]" {
		t.Errorf("after 400 ms: %v %v, want [2 0]: the renewed claim held, the other ran out", got, err)
	}
}

// TestMarkSendingDecidesWhoSends: of two runs marking the same candidates, only
// the one that found them in the state expected may send them.
func TestMarkSendingDecidesWhoSends(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "m", Job: task.Job{Target: target}, SegmentSize: 4}); err != nil {
		t.Fatal(err)
	}
	// A batch whose record is gone marks nothing, and writes no states back.
	if got, err := st.MarkSending(ctx, "gone", []int64{0}, nil); !errors.Is(err, ErrBatchExpired) || got != nil {
		t.Errorf("mark on a batch with no record: %v %v, want ErrBatchExpired", got, err)
	}
	if n, _ := st.rdb.Exists(ctx, st.bkey("gone", "st")).Result(); n != 0 {
		t.Errorf("marking a gone batch wrote its states")
	}
	first, err := st.MarkSending(ctx, "m", []int64{0, 1}, nil)
	if err != nil || fmt.Sprint(first) != "[0 1]" {
		t.Fatalf("first %v %v", first, err)
	}
	second, err := st.MarkSending(ctx, "m", []int64{0, 1, 2}, nil)
	if err != nil || fmt.Sprint(second) != "[2]" {
		t.Errorf("second %v %v, want [2]", second, err)
	}
	// Sending again what an earlier attempt sent: only candidates still marked.
	if _, err := st.RecordOutcomes(ctx, "m", target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cands(1)[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	again, err := st.MarkSending(ctx, "m", []int64{3}, []int64{0, 1})
	if err != nil || fmt.Sprint(again) != "[3 1]" {
		t.Errorf("again %v %v, want [3 1]", again, err)
	}
}

// TestWaitReplicas: with WaitReplicas, a write returns once a replica has it, and
// fails with ErrNotReplicated when no replica acknowledges it in time (the write
// itself stands on the master, and retrying it is safe).
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t, redistest.Options{})
	replica := master.StartReplica()
	s := New(master.Client(), Config{WaitReplicas: 1, WaitTimeout: 2 * time.Second})
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "w", Job: task.Job{Target: target}, SegmentSize: 2}); err != nil {
		t.Fatalf("create with a replica: %v", err)
	}
	if _, err := s.AdmitSegment(ctx, "w", 0, cands(2), "", nil); err != nil {
		t.Fatalf("admit with a replica: %v", err)
	}
	if err := s.SyncQueue(ctx, "default"); err != nil {
		t.Fatalf("sync queue: %v", err)
	}
	replica.Kill()
	_, err := s.MarkSending(ctx, "w", []int64{0}, nil)
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("mark without a replica: %v, want ErrNotReplicated", err)
	}
	// Retrying changes nothing: the mark is on the master once.
	states, _ := s.States(ctx, "w", cands(2))
	if fmt.Sprint(states) != fmt.Sprint([]CandidateState{Sending, Open}) {
		t.Errorf("states %v", states)
	}
}

// TestClaimSeesOlderWeeksAfterTheCache: the ledger index a store caches (for
// WeeksReread, by its own clock) never hides a success in an older week: three
// weeks on, a claim reads the index again and still finds it.
func TestClaimSeesOlderWeeksAfterTheCache(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	at := time.Now()
	st.now = func() time.Time { return at }
	cs := cands(1)
	claim := func(batch string) Claim {
		t.Helper()
		got, err := st.ClaimForSending(ctx, batch, target, cs, NewRunID(), time.Minute, false)
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	if got := claim("a"); got != Claimed { // reads (and caches) the index: empty
		t.Fatalf("first claim %v", got)
	}
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "a", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordOutcomes(ctx, "a", target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}}); err != nil {
		t.Fatal(err)
	}
	if got := claim("b"); got != OtherCandidateDone {
		t.Errorf("same week: %v, want OtherCandidateDone", got)
	}
	at = at.Add(3 * ledgerWeek)
	if got := claim("c"); got != OtherCandidateDone {
		t.Errorf("three weeks on: %v, want OtherCandidateDone (the success's week is in the index, not around now)", got)
	}
}

// CreateBatch returns the record as stored, read in the step that creates it
// (no read of its own): a new batch, and one created before with another call
// (an import run again: the first call's job, segment size and owner), are the
// batch Batch reads.
func TestCreateBatchReturnsTheRecord(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	job := task.Job{Target: target, InvitationMessage: "<p>Hello</p>"}
	first := Meta{ID: "returned", Job: job, SegmentSize: 7, Source: "http", CallbackURL: "https://example.com/cb",
		CallbackKey: "svc", Owner: "team-a", By: "svc", From: "192.0.2.1"}
	again := Meta{ID: "returned", Job: task.Job{Target: target}, SegmentSize: 99, Source: "file.csv", Owner: "team-b"}
	for i, m := range []Meta{first, again} {
		got, created, err := s.CreateBatch(ctx, m)
		if err != nil || created != (i == 0) {
			t.Fatalf("CreateBatch %d: created %v, %v", i, created, err)
		}
		want, err := s.Batch(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.at, want.at = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CreateBatch %d returned\n%+v\nBatch reads\n%+v", i, got, want)
		}
		if got.SegmentSize != 7 || got.Owner != "team-a" || got.Job.InvitationMessage != job.InvitationMessage || got.CallbackURL != first.CallbackURL {
			t.Errorf("CreateBatch %d returned %+v, want the first call's record", i, got)
		}
	}
	// A done batch whose record is packed, imported again.
	doneOfOne(t, s, "returned-done", 1)
	got, created, err := s.CreateBatch(ctx, Meta{ID: "returned-done", Job: task.Job{Target: target}, SegmentSize: 1})
	if err != nil || created {
		t.Fatalf("CreateBatch of a done batch: created %v, %v", created, err)
	}
	want, err := s.Batch(ctx, "returned-done")
	if err != nil {
		t.Fatal(err)
	}
	got.at, want.at = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) || !got.Done() || got.Invited != 1 {
		t.Errorf("CreateBatch of a done batch returned\n%+v\nBatch reads\n%+v", got, want)
	}
}

// CreateBatch looks the id up and keeps the shared job in one pipeline, where a
// script Redis does not know (after a restart or SCRIPT FLUSH) cannot fall back
// by itself: the job is still written, before the record that names it.
func TestCreateBatchKeepsTheJobOnAForgetfulRedis(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	for i, msg := range []string{"<p>first</p>", "<p>second</p>"} {
		if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("forgetful-%d", i)
		job := task.Job{Target: target, InvitationMessage: msg}
		if _, created, err := s.CreateBatch(ctx, Meta{ID: id, Job: job, SegmentSize: 1}); err != nil || !created {
			t.Fatalf("CreateBatch %s: created %v, %v", id, created, err)
		}
		b, err := s.Batch(ctx, id)
		if err != nil || b.Job.InvitationMessage != msg {
			t.Fatalf("batch %s: %+v, %v; want the message %q", id, b, err, msg)
		}
		if ttl := s.rdb.PTTL(ctx, s.jobKey(b.jobRef)).Val(); ttl <= 0 {
			t.Errorf("the shared job of %s has ttl %v, want one", id, ttl)
		}
	}
}
