package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// foldInv and foldSub are the vendor's ids of the fold tests' invitation,
// foldOwner the owner of their batches.
const foldInv, foldSub, foldOwner = "019c6b0e-1111-7222-8333-444455556666", "019c6b0e-2222-7222-8333-444455556666", "team-a"

// doneOfOne creates batch id with n candidates in one segment and one chunk
// blob, records the first as invited (with the vendor's ids) and the others
// as dead-lettered, deleting the blob with the last outcome, and seals it:
// done.
func doneOfOne(t *testing.T, s *Store, id string, n int) []task.Candidate {
	t.Helper()
	cs := decidedOfOne(t, s, id, n)
	if err := s.Seal(context.Background(), id, 1, ""); err != nil {
		t.Fatal(err)
	}
	return cs
}

// decidedOfOne is doneOfOne but the seal: every candidate decided, the batch
// not done until it is sealed.
func decidedOfOne(t *testing.T, s *Store, id string, n int) []task.Candidate {
	t.Helper()
	ctx := context.Background()
	cs := cands(n)
	for i := range cs {
		cs[i].Email = id + "-" + cs[i].Email
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: n, Owner: foldOwner}); err != nil {
		t.Fatal(err)
	}
	blob := ChunkBlob{Lo: 0, Hi: int64(n - 1), Blob: []byte("blob")}
	if _, err := s.AdmitChunks(ctx, id, 0, cs, "", []ChunkBlob{blob}, nil); err != nil {
		t.Fatal(err)
	}
	recs := []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate, InvitationID: foldInv, SubmissionID: foldSub}}
	for _, c := range cs[1:] {
		recs = append(recs, Record{Seq: c.Seq, Outcome: payload.OutcomeDeadLettered, Candidate: c.Candidate, DeadLetter: &DeadLetter{
			ID: DeadLetterID(id, c.Seq), BatchID: id, Seq: c.Seq, Reason: payload.ReasonUnknownOutcome, Candidate: c.Candidate, Target: target}})
	}
	if _, err := s.RecordChunk(ctx, id, target, "", recs, &blob); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestFinishingALargeBatchReadsNoWholeKey: the step that finishes a batch
// asks the sizes of its state string and find index before folding them, so
// that a large batch's (10,000,000 candidates: 10 MB and 600 MB) are never
// read whole — that read stalled Redis for seconds. Told by the commands the
// finishing step ran (INFO commandstats).
func TestFinishingALargeBatchReadsNoWholeKey(t *testing.T) {
	t.Parallel()
	// A private server always: the shared Cluster's counts are other tests' too.
	s := New(redistest.Start(t, redistest.Options{}).Client(), Config{})
	ctx := context.Background()
	decidedOfOne(t, s, "large", foldMax+1)
	if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "large", 1, ""); err != nil {
		t.Fatal(err)
	}
	stats := s.rdb.Info(ctx, "commandstats").Val()
	for _, cmd := range []string{"cmdstat_get:", "cmdstat_hgetall:", "cmdstat_hvals:"} {
		if strings.Contains(stats, cmd) {
			t.Errorf("finishing a batch of %d ran %s", foldMax+1, strings.TrimSuffix(cmd, ":"))
		}
	}
	if got := batchKeysOf(t, s, "large"); !got["st"] || !got["fx"] {
		t.Errorf("the large batch's keys %v: its state string and index folded", got)
	}
}

// unpackInPlace writes a done batch's packed record back as fields of its
// own: the record as the build before packing left it.
func unpackInPlace(t *testing.T, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	rec := s.bkey(id, "")
	m := s.rdb.HGetAll(ctx, rec).Val()
	if err := unpackRecord(m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, rec, m)
		p.HDel(ctx, rec, packedFields...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// recordFieldNames lists the fields of a batch's record as stored, sorted.
func recordFieldNames(t *testing.T, s *Store, id string) string {
	t.Helper()
	fields := s.rdb.HKeys(context.Background(), s.bkey(id, "")).Val()
	sort.Strings(fields)
	return fmt.Sprint(fields)
}

// packedOnly is what recordFieldNames says of a record packed into n pieces
// with no field of its own.
func packedOnly(n int) string { return fmt.Sprint(packedFields[:n]) }

// unfold puts a done batch's folded state string and find index back into
// keys of their own, and its record's packed fields into fields of their
// own: the batch as the build before folding left it.
func unfold(t *testing.T, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	rec := s.bkey(id, "")
	unpackInPlace(t, s, id)
	m := s.rdb.HGetAll(ctx, rec).Val()
	ttl := s.rdb.PTTL(ctx, rec).Val()
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.bkey(id, "st"), m[fieldFoldedStates], ttl)
		p.HSet(ctx, s.bkey(id, "fx"), "s0", m[fieldFoldedIndex+"s0"], "i0", m[fieldFoldedIndex+"i0"])
		p.PExpire(ctx, s.bkey(id, "fx"), ttl)
		p.HDel(ctx, rec, fieldFoldedStates, fieldFoldedIndex+"s0", fieldFoldedIndex+"i0")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// batchKeysOf lists which of the batch's keys exist.
func batchKeysOf(t *testing.T, s *Store, id string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, sub := range []string{"st", "fx", "c"} {
		out[sub] = s.rdb.Exists(context.Background(), s.bkey(id, sub)).Val() == 1
	}
	return out
}

// checkDone asserts what every reader and every late step sees of a batch
// made by doneOfOne: the outcomes, the states, a chunk task that comes again,
// the find index with the vendor's ids, the created event, the owner's list;
// a late mark, clear, outcome, admission, seal, pause or cancel changes
// nothing, not even the record's fields, and the record keeps its expiry.
func checkDone(t *testing.T, s *Store, id string, cs []task.Candidate) {
	t.Helper()
	ctx := context.Background()
	fields := recordFieldNames(t, s, id)
	defer func() {
		if got := recordFieldNames(t, s, id); got != fields {
			t.Errorf("record fields after the late steps %s, want %s as before", got, fields)
		}
		if ttl := s.rdb.PTTL(ctx, s.bkey(id, "")).Val(); ttl <= 0 {
			t.Errorf("record ttl after the late steps %v, want its retention", ttl)
		}
	}()
	if evs, err := s.Events(ctx, id); err != nil || len(evs) != 1 || evs[0].What != EventCreated || evs[0].By != foldOwner ||
		evs[0].Detail != fmt.Sprintf("%d accepted, 0 rejected", len(cs)) {
		t.Errorf("events %+v, %v; want created by %s with the counts", evs, err, foldOwner)
	}
	if ids, _, err := s.OwnedBatchPage(ctx, foldOwner, "", 100); err != nil || !slices.Contains(ids, id) {
		t.Errorf("the owner's batches %v, %v; want %s among them", ids, err, id)
	}
	if b, err := s.PauseBatch(ctx, id, "op"); err != nil || b.State() != StateDone || b.Hold != HoldNone {
		t.Errorf("a pause of the done batch: %+v, %v; want done, no hold", b, err)
	}
	if _, err := s.ResumeBatch(ctx, id, "op"); err != nil {
		t.Errorf("a resume of the done batch: %v", err)
	}
	if _, _, err := s.CancelBatch(ctx, id, "op"); !errors.Is(err, ErrBatchDone) {
		t.Errorf("a cancel of the done batch: %v, want ErrBatchDone", err)
	}
	if n, err := s.PausedBatches(ctx); err != nil || n != 0 {
		t.Errorf("paused batches %d, %v; want 0", n, err)
	}
	if err := s.Seal(ctx, id, 1, ""); err != nil {
		t.Errorf("a seal again: %v", err)
	}
	out, err := s.Outcomes(ctx, id)
	if err != nil || len(out) != len(cs) || out[0] != payload.OutcomeInvited || (len(cs) > 1 && out[int64(len(cs)-1)] != payload.OutcomeDeadLettered) {
		t.Errorf("Outcomes: %v, %v; want 0 invited, the rest dead-lettered", out, err)
	}
	if st, err := s.States(ctx, id, cs); err != nil || st[0] != Decided || st[len(st)-1] != Decided {
		t.Errorf("States: %v, %v; want decided", st, err)
	}
	if hold, st, err := s.HoldAndStates(ctx, id, cs[:1]); err != nil || hold != HoldNone || st[0] != Decided {
		t.Errorf("HoldAndStates: %v %v, %v; want no hold, decided", hold, st, err)
	}
	c := &task.Chunk{BatchID: id, Ref: &task.Ref{To: len(cs), Lo: 0, Hi: int64(len(cs) - 1)}}
	if _, err := s.LoadChunk(ctx, c, false); err != nil || len(c.Candidates) != 0 {
		t.Errorf("LoadChunk of a chunk come again: %d candidates, %v; want none, no error", len(c.Candidates), err)
	}
	b, err := s.Batch(ctx, id)
	if err != nil || b.State() != StateDone {
		t.Fatalf("batch %+v, %v; want done", b, err)
	}
	if n, err := s.Unsent(ctx, b); err != nil || n != 0 {
		t.Errorf("Unsent: %d, %v; want 0", n, err)
	}
	found, err := s.Find(ctx, FindKey{Email: cs[0].Candidate.Email}, "")
	if err != nil || len(found) != 1 || found[0].Outcome != payload.OutcomeInvited || found[0].InvitationID != foldInv || found[0].SubmissionID != foldSub {
		t.Errorf("Find: %+v, %v; want seq 0 invited with the vendor's ids", found, err)
	}
	if marked, err := s.MarkSending(ctx, id, []int64{0}, nil); err != nil || len(marked) != 0 {
		t.Errorf("MarkSending a decided candidate: %v, %v; want none", marked, err)
	}
	if err := s.ClearSending(ctx, id, []int64{0}); err != nil {
		t.Error(err)
	}
	if n, err := s.RecordOutcomes(ctx, id, target, []Record{{Seq: 0, Outcome: payload.OutcomeDeadLettered, Candidate: cs[0].Candidate,
		DeadLetter: &DeadLetter{ID: DeadLetterID(id, 0), BatchID: id, Reason: payload.ReasonUnknownOutcome, Candidate: cs[0].Candidate, Target: target}}}); err != nil || n != 0 {
		t.Errorf("a late outcome: %d new, %v; want none", n, err)
	}
	blob := ChunkBlob{Lo: 0, Hi: int64(len(cs) - 1), Blob: []byte("blob")}
	if _, err := s.AdmitChunks(ctx, id, 0, cs, "", []ChunkBlob{blob}, nil); err != nil {
		t.Errorf("the import again: %v", err)
	}
	if out, err := s.Outcomes(ctx, id); err != nil || out[0] != payload.OutcomeInvited {
		t.Errorf("Outcomes after the late steps: %v, %v; want 0 still invited", out, err)
	}
	if b, err := s.Batch(ctx, id); err != nil || b.Accepted != int64(len(cs)) || b.Invited != 1 || b.DeadLettered != int64(len(cs)-1) ||
		!b.Done() || b.Owner != foldOwner || b.Job.Target != target || b.CreatedAt.IsZero() || b.FinishedAt.Before(b.CreatedAt) {
		t.Errorf("batch after the late steps %+v, %v; want the same counts, owner and job, done", b, err)
	}
}

// packedRecord reports whether a record's fields (recordFieldNames) are the
// pieces of a packed value and nothing else.
func packedRecord(fields string) bool {
	for n := 1; n <= packedPieces; n++ {
		if fields == packedOnly(n) {
			return true
		}
	}
	return false
}

// TestDoneSmallBatchFolds: a done batch whose state string and find index are
// small keeps them as fields of its record, not as keys (issue 20: a key
// costs far more than its bytes), and every reader and late step sees it as
// it saw the keys, bringing none of them back; a larger batch keeps its keys.
// A batch done by a build before folding (its keys of its own) reads the same.
func TestDoneSmallBatchFolds(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, tc := range []struct {
		name     string
		n        int
		unfolded bool // as the build before folding left it
		unpacked bool // as the build before packing left it
		keys     map[string]bool
	}{
		{name: "one candidate", n: 1, keys: map[string]bool{"st": false, "fx": false, "c": false}},
		{name: "six candidates", n: 6, keys: map[string]bool{"st": false, "fx": true, "c": false}},
		{name: "one hundred candidates", n: 100, keys: map[string]bool{"st": true, "fx": true, "c": false}},
		{name: "written before folding", n: 1, unfolded: true, keys: map[string]bool{"st": true, "fx": true, "c": false}},
		{name: "written before packing", n: 1, unpacked: true, keys: map[string]bool{"st": false, "fx": false, "c": false}},
		{name: "six written before packing", n: 6, unpacked: true, keys: map[string]bool{"st": false, "fx": true, "c": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("fold-%d-%v-%v", tc.n, tc.unfolded, tc.unpacked)
			cs := doneOfOne(t, s, id, tc.n)
			if fields := recordFieldNames(t, s, id); !packedRecord(fields) {
				t.Errorf("the done batch's record fields %s, want only the packed value", fields)
			}
			switch {
			case tc.unfolded:
				unfold(t, s, id)
			case tc.unpacked:
				unpackInPlace(t, s, id)
			}
			checkDone(t, s, id, cs)
			if got := batchKeysOf(t, s, id); fmt.Sprint(got) != fmt.Sprint(tc.keys) {
				t.Errorf("keys after the late steps %v, want %v", got, tc.keys)
			}
		})
	}
}

// TestDoneOneCandidateRecordFields: the record of a done batch of one
// candidate holds only what cannot be told otherwise (issue 20): no id (its
// key names it), no empty replay_of, no started_at (nothing reads it), no
// digest equal to segment 0's; the states and the find index are folded in;
// and all of it is packed into one value, the record's only fields its
// pieces. The digest is told from seg0: a seal again with another one is
// refused. A record written before, its digest a field of its own, reads as
// before.
func TestDoneOneCandidateRecordFields(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const id, d1 = "fields", "d1"
	cs := cands(1)
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 10, Owner: "team-a", By: "tok", Source: "http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, id, 0, cs, d1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordOutcomes(ctx, id, target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate, InvitationID: foldInv, SubmissionID: foldSub}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a seal again with the same digest is fine
		if err := s.Seal(ctx, id, 1, d1); err != nil {
			t.Fatal(err)
		}
	}
	if got := recordFieldNames(t, s, id); !packedRecord(got) {
		t.Errorf("record fields %s, want only the packed value", got)
	}
	m := s.rdb.HGetAll(ctx, s.bkey(id, "")).Val()
	if err := unpackRecord(m); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for f := range m {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	const want = "[accepted by created_at finished_at id invited jobref owner sealed seg0 segment_size segments source st xi0 xs0]"
	if fmt.Sprint(fields) != want || m["id"] != "1" {
		t.Errorf("packed record fields %v (id %q), want %s (id 1)", fields, m["id"], want)
	}
	if enc := s.rdb.ObjectEncoding(ctx, s.bkey(id, "")).Val(); enc != "listpack" {
		t.Errorf("record encoding %s, want listpack", enc)
	}
	b, err := s.Batch(ctx, id)
	if err != nil || b.ID != id || b.Digest != d1 || len(b.ReplayOf) != 0 || b.Source != "http" || b.Owner != "team-a" || !b.Done() {
		t.Errorf("batch %+v, %v; want %s, digest %s, done", b, err, id, d1)
	}
	if err := s.Seal(ctx, id, 1, "d2"); !errors.Is(err, ErrOtherInput) {
		t.Errorf("a seal with another digest: %v, want ErrOtherInput", err)
	}
	// As the build before wrote it: the id and the digest as fields.
	s.rdb.HSet(ctx, s.bkey(id, ""), "id", id, "digest", "d0")
	if b, err := s.Batch(ctx, id); err != nil || b.ID != id || b.Digest != "d0" {
		t.Errorf("a record written before: %+v, %v; want digest d0", b, err)
	}
	if err := s.Seal(ctx, id, 1, d1); !errors.Is(err, ErrOtherInput) {
		t.Errorf("a seal with another digest than the field's: %v, want ErrOtherInput", err)
	}
}

// TestCreatedByTheOwner: a batch created by its owner keeps no copy of the
// owner as by; its created event names the owner, as one whose by differs
// names that.
func TestCreatedByTheOwner(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	for _, tc := range []struct{ id, owner, by, stored, want string }{
		{id: "by-owner", owner: "team-a", by: "team-a", stored: "", want: "team-a"},
		{id: "by-default", owner: "team-a", stored: "", want: "team-a"},
		{id: "by-cli", owner: "team-a", by: "cli@host", stored: "cli@host", want: "cli@host"},
		{id: "by-nobody", by: "cli@host", stored: "cli@host", want: "cli@host"},
	} {
		if _, _, err := s.CreateBatch(ctx, Meta{ID: tc.id, Job: task.Job{Target: target}, SegmentSize: 1, Owner: tc.owner, By: tc.by}); err != nil {
			t.Fatal(err)
		}
		if v, err := s.rdb.HGet(ctx, s.bkey(tc.id, ""), "by").Result(); err != nil || v != tc.stored {
			t.Errorf("%s: by %q, %v; want %q", tc.id, v, err, tc.stored)
		}
		evs, err := s.Events(ctx, tc.id)
		if err != nil || len(evs) != 1 || evs[0].What != EventCreated || evs[0].By != tc.want {
			t.Errorf("%s: events %+v, %v; want created by %s", tc.id, evs, err, tc.want)
		}
	}
}
