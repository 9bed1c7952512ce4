package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// alexATS is the ATS id of the person the find tests look for.
const alexATS = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

// findBatch creates batch id (owned by owner, for tgt), admits cs as one
// segment, records recs and seals it.
func findBatch(t *testing.T, s *Store, id, owner string, tgt payload.Target, cs []task.Candidate, recs []Record) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: tgt}, SegmentSize: len(cs), Owner: owner}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, id, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	if len(recs) > 0 {
		if _, err := s.RecordOutcomes(ctx, id, tgt, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Seal(ctx, id, 1, ""); err != nil {
		t.Fatal(err)
	}
}

// TestFind: a person is found in every batch whose record is kept that held
// them, newest first, by email in any letter case or by ATS id, with what came
// of them there: the vendor's ids of an invitation, a dead letter's reason and
// message, a duplicate, a candidate still pending; the ledger's block at each
// target; only the owner's batches for an owner; not a batch whose record
// expired.
func TestFind(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: time.Hour})
	// Each batch is created 10 ms after the one before: newest first is an order.
	clock := time.Now()
	s.now = func() time.Time { clock = clock.Add(10 * time.Millisecond); return clock }
	ctx := context.Background()
	alex := payload.Candidate{Email: "Alex@Example.com", ATSCandidateID: alexATS}
	other := payload.Candidate{Email: "sam@example.com"}
	project := payload.Target{ProjectID: "019c5eaa-3c41-7a2e-8f10-6b7d2c9e0a01"}
	const inv, sub = "019c6b0e-1111-7222-8333-444455556666", "sub-42"

	// invited: Alex is seq 1, invited, with the vendor's ids.
	findBatch(t, s, "invited", "team-a", target, []task.Candidate{{Seq: 0, Candidate: other}, {Seq: 1, Candidate: alex}},
		[]Record{{Seq: 1, Outcome: payload.OutcomeInvited, Candidate: alex, InvitationID: inv, SubmissionID: sub}})
	// dead: Alex dead-lettered at the project, and again as a duplicate (seq 1).
	msg, _ := json.Marshal("Candidate already has an active invitation")
	dl := &DeadLetter{ID: DeadLetterID("dead", 0), BatchID: "dead", Seq: 0, Reason: payload.ReasonInvitationError, Candidate: alex, Target: project,
		Errors: map[string]json.RawMessage{payload.FieldInvitationErrorMessage: msg}, LastFailedAt: time.UnixMilli(1_700_000_000_123).UTC()}
	dup := payload.Candidate{Email: "ALEX@example.COM"}
	findBatch(t, s, "dead", "team-b", project, []task.Candidate{{Seq: 0, Candidate: alex}, {Seq: 1, Candidate: dup}},
		[]Record{{Seq: 0, Outcome: payload.OutcomeDeadLettered, Candidate: alex, DeadLetter: dl}})
	// pending: Alex by ATS id only (another email), not sent yet.
	moved := payload.Candidate{Email: "alex.new@example.com", ATSCandidateID: "0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}
	findBatch(t, s, "pending", "team-a", target, []task.Candidate{{Seq: 0, Candidate: moved}}, nil)
	// someone else's batch only.
	findBatch(t, s, "nobody", "team-a", target, []task.Candidate{{Seq: 0, Candidate: other}}, nil)

	at := func(f Found) string {
		if f.At == nil {
			return "-"
		}
		return f.At.Format(time.RFC3339)
	}
	show := func(fs []Found) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprintf("%s/%d %s %s %s %s %s %q ledger:%v", f.BatchID, f.Seq, f.Outcome, f.Target.Key(), f.InvitationID, f.SubmissionID, f.Reason, f.Message, f.LedgerUntil != nil))
		}
		return out
	}
	want := func(t *testing.T, got []Found, lines ...string) {
		t.Helper()
		g := show(got)
		if fmt.Sprint(g) != fmt.Sprint(lines) {
			t.Errorf("found\n%q\nwant\n%q", g, lines)
		}
	}
	invited := "invited/1 invited is:" + target.InterviewSetID + " " + inv + " " + sub + "  \"\" ledger:true"
	dead0 := "dead/0 dead_lettered " + project.Key() + "   invitation_error \"Candidate already has an active invitation\" ledger:false"
	dead1 := "dead/1 skipped_duplicate " + project.Key() + "    \"\" ledger:false"
	pendingLine := "pending/0 pending is:" + target.InterviewSetID + "    \"\" ledger:false"

	t.Run("email in any case", func(t *testing.T) {
		got, err := s.Find(ctx, FindKey{Email: " aLeX@example.com "}, "")
		if err != nil {
			t.Fatal(err)
		}
		want(t, got, dead0, dead1, invited)
		for _, f := range got {
			switch f.BatchID + "/" + fmt.Sprint(f.Seq) {
			case "invited/1":
				if f.At == nil || time.Since(*f.At) > time.Minute {
					t.Errorf("invited at %s, want about now", at(f))
				}
			case "dead/0":
				if f.At == nil || !f.At.Equal(dl.LastFailedAt) {
					t.Errorf("dead letter at %s, want its last failure %s", at(f), dl.LastFailedAt)
				}
			}
		}
	})
	t.Run("ats id", func(t *testing.T) {
		got, err := s.Find(ctx, FindKey{ATSCandidateID: "0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}, "")
		if err != nil {
			t.Fatal(err)
		}
		// pending is newest; the duplicate of dead had no ATS id.
		want(t, got, pendingLine, dead0, invited)
	})
	t.Run("owner", func(t *testing.T) {
		got, err := s.Find(ctx, FindKey{Email: "alex@example.com"}, "team-a")
		if err != nil {
			t.Fatal(err)
		}
		want(t, got, invited)
		if got, err = s.Find(ctx, FindKey{Email: "alex@example.com"}, "team-c"); err != nil || len(got) != 0 {
			t.Errorf("another owner finds %v, %v; want nothing", show(got), err)
		}
	})
	t.Run("nobody", func(t *testing.T) {
		got, err := s.Find(ctx, FindKey{Email: "nobody@example.com"}, "")
		if err != nil || len(got) != 0 {
			t.Errorf("found %v, %v; want nothing", show(got), err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		for _, k := range []FindKey{{}, {Email: "a@b.c", ATSCandidateID: alexATS}, {ATSCandidateID: "not-a-uuid"}} {
			if _, err := s.Find(ctx, k, ""); !errors.Is(err, ErrBadFindKey) {
				t.Errorf("Find(%+v): %v, want ErrBadFindKey", k, err)
			}
		}
	})
}

// TestFindLedgerUntil: ledger_until is the expiry of the ledger week holding
// the person's success at the target, whichever batch recorded it: a later
// batch of the same target shows it too, another target none.
func TestFindLedgerUntil(t *testing.T) {
	t.Parallel()
	ttl := 48 * time.Hour
	s := setupWith(t, Config{LedgerTTL: ttl})
	ctx := context.Background()
	alex := payload.Candidate{Email: "alex@example.com", ATSCandidateID: alexATS}
	findBatch(t, s, "first", "", target, []task.Candidate{{Seq: 0, Candidate: alex}},
		[]Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: alex}})
	findBatch(t, s, "again", "", target, []task.Candidate{{Seq: 0, Candidate: alex}},
		[]Record{{Seq: 0, Outcome: payload.OutcomeSkippedDuplicate}})
	elsewhere := payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c16020999"}
	findBatch(t, s, "elsewhere", "", elsewhere, []task.Candidate{{Seq: 0, Candidate: alex}}, nil)

	week := weekOf(time.Now())
	wantUntil := time.UnixMilli((week+1)*ledgerWeek.Milliseconds() + ttl.Milliseconds()).UTC()
	for _, key := range []FindKey{{Email: "ALEX@example.com"}, {ATSCandidateID: alexATS}} {
		got, err := s.Find(ctx, key, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%+v: found %d, want 3", key, len(got))
		}
		for _, f := range got {
			switch f.BatchID {
			case "elsewhere":
				if f.LedgerUntil != nil {
					t.Errorf("%+v: at another target the ledger blocks until %v, want nothing", key, f.LedgerUntil)
				}
			default:
				if f.LedgerUntil == nil || !f.LedgerUntil.Equal(wantUntil) {
					t.Errorf("%+v: batch %s: ledger_until %v, want %v", key, f.BatchID, f.LedgerUntil, wantUntil)
				}
			}
			// first's success kept no vendor ids: its time comes from the ledger.
			if f.BatchID == "first" && (f.At == nil || time.Since(*f.At) > time.Minute) {
				t.Errorf("%+v: first invited at %v, want about now (from the ledger)", key, f.At)
			}
		}
	}
}

// TestFindExpiredBatch: a batch whose record expired is not listed, though its
// id stays in the batches index.
func TestFindExpiredBatch(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{Retention: 300 * time.Millisecond})
	ctx := context.Background()
	cs := doneWithADeadLetter(t, s, "x")
	if got, err := s.Find(ctx, FindKey{Email: cs[0].Email}, ""); err != nil || len(got) != 1 {
		t.Fatalf("before expiry: %v, %v; want one", got, err)
	}
	expire(t, s, "x")
	if got, err := s.Find(ctx, FindKey{Email: cs[0].Email}, ""); err != nil || len(got) != 0 {
		t.Errorf("after expiry: %+v, %v; want nothing", got, err)
	}
	if n, err := s.rdb.Exists(ctx, s.bkey("x", "fx")).Result(); err != nil || n != 0 {
		t.Errorf("find index of the expired batch: exists %d, %v", n, err)
	}
}

// TestFindManySegments: a batch of more segments than one script call reads
// (findSegments) is read in several, and a person in the last segment found.
func TestFindManySegments(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const segs, per = findSegments*2 + 3, 4
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "big", Job: task.Job{Target: target}, SegmentSize: per}); err != nil {
		t.Fatal(err)
	}
	for g := range segs {
		cs := make([]task.Candidate, per)
		for k := range cs {
			seq := int64(g*per + k)
			cs[k] = task.Candidate{Seq: seq, Candidate: payload.Candidate{Email: fmt.Sprintf("p%d@example.com", seq)}}
		}
		if _, err := s.AdmitSegment(ctx, "big", g, cs, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []int64{0, segs*per/2 + 1, segs*per - 1} {
		got, err := s.Find(ctx, FindKey{Email: fmt.Sprintf("P%d@example.com", seq)}, "")
		if err != nil || len(got) != 1 || got[0].Seq != seq || got[0].Outcome != FoundPending {
			t.Errorf("seq %d: found %+v, %v", seq, got, err)
		}
	}
}

func TestIDsEntry(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_765_000_000, 0).UTC()
	long := string(make([]byte, 300))
	for _, c := range []struct{ name, inv, sub, wantInv, wantSub string }{
		{"uuids", "019c6b0e-1111-7222-8333-444455556666", "019c6b0e-1111-7222-8333-444455556667", "", ""},
		{"upper case uuid kept as text", "019C6B0E-1111-7222-8333-444455556666", "", "", ""},
		{"text", "inv-1", "sub-2", "", ""},
		{"only a submission", "", "019c6b0e-1111-7222-8333-444455556667", "", ""},
		{"too long", long, "s", long[:maxIDLen], ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantInv, wantSub := c.inv, c.sub
			if c.wantInv != "" {
				wantInv = c.wantInv
			}
			field := idsEntry(64, at.Add(-time.Hour), "x", "y") + idsEntry(127, at, c.inv, c.sub)
			got, ok := findIDs(field, 127)
			if !ok || got.InvitationID != wantInv || got.SubmissionID != wantSub || !got.At.Equal(at) {
				t.Errorf("got %+v %v, want %q %q at %v", got, ok, wantInv, wantSub, at)
			}
			if _, ok := findIDs(field, 65); ok {
				t.Error("found an entry for a seq without one")
			}
		})
	}
	if e := idsEntry(1, at, "", ""); e != "" {
		t.Errorf("an entry without ids: %q, want none", e)
	}
	if n := len(idsEntry(1, at, "019c6b0e-1111-7222-8333-444455556666", "019c6b0e-1111-7222-8333-444455556667")); n != 39 {
		t.Errorf("an entry with two UUIDs takes %d bytes, want 39", n)
	}
}

// TestFindIndexCost measures what the find index costs in Redis (MEMORY USAGE
// of P{b:id}:fx, every element sampled) for a batch of 10,000 candidates with an
// email and an ATS id each, in segments of 1,000 (the producer's default), and
// for a batch of one: the index written at admission per candidate, then the
// vendor's ids (two UUIDs) per invited candidate. It fails past 30 B and 45 B
// per candidate for the large batch. The figures are in internal/store/doc.go:
//
//	go test -run '^TestFindIndexCost$' -v ./internal/store/
func TestFindIndexCost(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, c := range []struct {
		n, seg         int
		maxIdx, maxIDs float64 // bytes per candidate; 0: only reported
	}{{10_000, 1000, 30, 45}, {1, 1, 0, 0}} {
		index, ids := findIndexCost(t, s, c.n, c.seg)
		t.Logf("%d candidates: find index %.1f B per candidate, vendor ids %.1f B per invited candidate", c.n, index, ids)
		if c.maxIdx > 0 && (index > c.maxIdx || ids > c.maxIDs) {
			t.Errorf("%d candidates: %.1f B and %.1f B per candidate, want at most %.0f and %.0f", c.n, index, ids, c.maxIdx, c.maxIDs)
		}
	}
}

// findIndexCost imports n candidates in segments of seg into a new batch and
// records them all invited, and returns the find index's bytes per candidate
// after the import and what the vendor ids added per candidate.
func findIndexCost(t *testing.T, s *Store, n, seg int) (index, ids float64) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("cost-%d", n)
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: seg}); err != nil {
		t.Fatal(err)
	}
	uuidOf := func(kind, seq int) string { return fmt.Sprintf("019c6b0e-%04x-7222-8333-%012x", kind, seq) }
	all := make([]task.Candidate, n)
	for i := range all {
		all[i] = task.Candidate{Seq: int64(i), Candidate: payload.Candidate{Email: fmt.Sprintf("person%d@example.com", i), ATSCandidateID: uuidOf(0, i)}}
	}
	for g := 0; g*seg < n; g++ {
		if _, err := s.AdmitSegment(ctx, id, g, all[g*seg:min((g+1)*seg, n)], "", nil); err != nil {
			t.Fatal(err)
		}
	}
	usage := func() float64 {
		t.Helper()
		b, err := s.rdb.MemoryUsage(ctx, s.bkey(id, "fx"), 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		return float64(b)
	}
	before := usage()
	for i := 0; i < n; i += 50 {
		var recs []Record
		for _, c := range all[i:min(i+50, n)] {
			recs = append(recs, Record{Seq: c.Seq, Outcome: payload.OutcomeInvited, Candidate: c.Candidate,
				InvitationID: uuidOf(1, int(c.Seq)), SubmissionID: uuidOf(2, int(c.Seq))})
		}
		if _, err := s.RecordOutcomes(ctx, id, target, recs); err != nil {
			t.Fatal(err)
		}
	}
	return before / float64(n), (usage() - before) / float64(n)
}
