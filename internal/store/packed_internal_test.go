package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// packScript packs a record as finish does (pack) and answers it as stored.
var packScript = newScript(`
pack(KEYS[1])
return redis.call('HGETALL', KEYS[1])
`)

// rmgetScript answers the fields ARGV of a record as the scripts read them
// (rmget), and whether it is a record (alive).
var rmgetScript = newScript(`
local v, out = rmget(KEYS[1], ARGV), {}
for k = 1, #ARGV do out[k] = v[k] end
out[#ARGV + 1] = alive(KEYS[1]) and 1 or 0
return out
`)

// TestPackRoundTrip: a record packed by Lua reads back field for field as it
// was, in Go (Batch's unpackRecord, the readers' recordValues) and in Lua
// (rmget); a field whose value does not fit its kind stays a field of the
// hash; a record not done, with a callback still to deliver or too large for
// the pieces is not packed.
func TestPackRoundTrip(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	hex32 := strings.Repeat("0f1e2d3c4b5a6978", 2)
	done := map[string]string{
		"id": "1", "sealed": "1", "created_at": "1765000000000", "finished_at": "1765000001234", "jobref": "c5b91613588a9eca",
		"segment_size": "100", "segments": "1", "accepted": "21", "invited": "1", "seg0": "21:" + hex32, "source": "http",
		"owner": "team-a", "by": "", "from": "10.0.0.1", "st": "\x02\x04\x00\x05", "xs0": "\x00\xff\x01abcdefgh\x00\x00\x00",
		"xi0": strings.Repeat("\xff\x00", 19) + "x", "dead_lettered": "0", "rejected": "12", "cv_queued": "3",
		"skipped_duplicate": "4", "cancelled": "13", "digest": hex32, "replay_of": "a,b",
		"hold": "cancelled", "callback_url": "https://example.com/hook", "callback_key": "k", "cb_at": "1765000002000",
		"cb_state": "delivered", "cb_attempts": "2", "job": `{"target":{}}`,
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		rec   map[string]string
		plain []string // the fields left in the hash, besides those not in packedSchema
		none  bool     // not packed at all
	}{
		{name: "every field", rec: done},
		{name: "two pieces", rec: with(done, "xi0", strings.Repeat("i", 64), "replay_of", strings.Repeat("r", 64))},
		{name: "values that do not fit", rec: with(done, "id", "older-build-id", "jobref", "XYZ", "seg0", "3:abc",
			"finished_at", "1764999999999", "accepted", "007", "segments", "-1", "invited", "12345678901234567", "digest", "",
			"st", "", "by", "-", "owner", "-"),
			plain: []string{"accepted", "digest", "finished_at", "id", "invited", "jobref", "seg0", "segments"}},
		{name: "not done", rec: with(done, "finished_at", "-"), none: true},
		{name: "callback to deliver", rec: with(done, "cb_at", "-"), none: true},
		{name: "too large", rec: with(done, "replay_of", strings.Repeat("r", packedPieces*packedPiece)), none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := s.bkey("pack-"+strings.ReplaceAll(tc.name, " ", "-"), "")
			if err := s.rdb.HSet(ctx, key, tc.rec).Err(); err != nil {
				t.Fatal(err)
			}
			raw, err := packScript.Run(ctx, s.rdb, []string{key}).StringSlice()
			if err != nil {
				t.Fatal(err)
			}
			stored := map[string]string{}
			for i := 0; i+1 < len(raw); i += 2 {
				stored[raw[i]] = raw[i+1]
			}
			inSchema := map[string]bool{}
			for _, f := range packedSchema {
				inSchema[f.name] = true
			}
			var plain []string
			for f, v := range stored {
				switch {
				case strings.HasPrefix(f, fieldPacked) && len(f) == 2:
					if len(v) > packedPiece {
						t.Errorf("piece %s holds %d bytes, want at most %d", f, len(v), packedPiece)
					}
				case inSchema[f]:
					plain = append(plain, f)
				}
			}
			_, packed := stored[packedFields[0]]
			if packed == tc.none {
				t.Fatalf("packed %v, want %v: %q", packed, !tc.none, stored)
			}
			if !tc.none {
				if got, want := fmt.Sprint(slices.Sorted(slices.Values(plain))), fmt.Sprint(tc.plain); got != want {
					t.Errorf("fields left in the hash %s, want %s", got, want)
				}
				if enc := s.rdb.ObjectEncoding(ctx, key).Val(); enc != "listpack" && redisVersionKeepsListpack(t, s) {
					t.Errorf("record encoding %s, want listpack", enc)
				}
			}
			got := maps.Clone(stored)
			if err := unpackRecord(got); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.rec) {
				t.Errorf("Go reads %q, want %q", got, tc.rec)
			}
			names := append(slices.Sorted(maps.Keys(tc.rec)), "absent")
			hm, err := s.rdb.HMGet(ctx, key, recordFields(names...)...).Result()
			if err != nil {
				t.Fatal(err)
			}
			vals, err := recordValues(names, hm)
			if err != nil {
				t.Fatal(err)
			}
			lua, err := rmgetScript.Run(ctx, s.rdb, []string{key}, toAny(names)...).Slice()
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range names {
				want, ok := tc.rec[f]
				var wantV any
				if ok {
					wantV = want
				}
				if vals[i] != wantV {
					t.Errorf("recordValues %s: %q, want %q", f, vals[i], wantV)
				}
				if lua[i] != wantV {
					t.Errorf("rmget %s: %q, want %q", f, lua[i], wantV)
				}
			}
			if lua[len(names)] != int64(1) {
				t.Errorf("alive: %v, want 1", lua[len(names)])
			}
		})
	}
}

// redisVersionKeepsListpack tells whether the server names its small hashes
// listpack (Redis 7; miniredis and older servers do not).
func redisVersionKeepsListpack(t *testing.T, s *Store) bool {
	t.Helper()
	return strings.Contains(s.rdb.Info(context.Background(), "server").Val(), "redis_version:7")
}

func toAny(in []string) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

// doneWithEverything makes a done batch of three candidates in one segment
// with every field a record may have but a callback: owner, creator, client
// address, source, digest, rejects, a duplicate, an invited candidate with
// the vendor's ids and a dead letter.
func doneWithEverything(t *testing.T, s *Store, id string) []task.Candidate {
	t.Helper()
	ctx := context.Background()
	cs := cands(3)
	for i := range cs {
		cs[i].Email = id + "-" + cs[i].Email
	}
	cs[2].Email = strings.ToUpper(cs[0].Email) // a duplicate of the first
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target, InvitationMessage: "hello"}, SegmentSize: 10, Owner: foldOwner,
		By: "cli@host", From: "10.1.2.3", Source: "people.csv"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, id, []Reject{{Row: 4, Where: "line", Field: "email", Reason: "bad"}, {Row: 7, Where: "line", Reason: "short"}}); err != nil {
		t.Fatal(err)
	}
	adm, err := s.AdmitSegment(ctx, id, 0, cs, "d1", nil)
	if err != nil || adm.Duplicates != 1 {
		t.Fatalf("admission %+v, %v; want one duplicate", adm, err)
	}
	if _, err := s.RecordOutcomes(ctx, id, target, []Record{
		{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate, InvitationID: foldInv, SubmissionID: foldSub},
		{Seq: 1, Outcome: payload.OutcomeDeadLettered, Candidate: cs[1].Candidate, DeadLetter: &DeadLetter{ID: DeadLetterID(id, 1), BatchID: id, Seq: 1,
			Reason: payload.ReasonUnknownOutcome, Detail: "lost", Attempts: 2, Candidate: cs[1].Candidate, Target: target}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, id, 1, "d1"); err != nil {
		t.Fatal(err)
	}
	return cs
}

// readersSee is what every reader shows of a batch: its status and fields,
// events, outcomes, rejects, dead letters, what find answers for each
// candidate and the owner's list.
func readersSee(t *testing.T, s *Store, id string, cs []task.Candidate) string {
	t.Helper()
	ctx := context.Background()
	b, err := s.Batch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	b.at = time.Time{}
	evs, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Outcomes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rej, err := s.Rejects(ctx, id, 10)
	if err != nil {
		t.Fatal(err)
	}
	var dls []DeadLetter
	if err := s.DeadLetters(ctx, Filter{BatchID: id, Owner: foldOwner}, func(d *DeadLetter) error { dls = append(dls, *d); return nil }); err != nil {
		t.Fatal(err)
	}
	var found [][]Found
	for _, c := range cs {
		f, err := s.Find(ctx, FindKey{Email: c.Email}, foldOwner)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, f)
	}
	ids, _, err := s.OwnedBatchPage(ctx, foldOwner, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	unsent, err := s.Unsent(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("batch %+v\nstatus %+v\nevents %+v\noutcomes %v\nrejects %+v\ndead letters %+v\nfound %+v\nowned %v\nunsent %d",
		*b, b.Status(), evs, out, rej, dls, found, ids, unsent)
}

// TestPackedRecordReadsAsUnpacked: every reader shows a packed done batch
// exactly as the same record with its fields of their own (as the build
// before packing wrote it), a batch with every field a record may have; a
// counter added to after packing (a new reject of an import run again) goes
// on from its packed value.
func TestPackedRecordReadsAsUnpacked(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	cs := doneWithEverything(t, s, "everything")
	if got := recordFieldNames(t, s, "everything"); !packedRecord(got) {
		t.Fatalf("record fields %s, want only the packed value", got)
	}
	packed := readersSee(t, s, "everything", cs)
	for _, want := range []string{"Rejected:2", "Invited:1", "DeadLettered:1", "SkippedDuplicate:1", "Digest:d1", "Source:people.csv",
		"By:cli@host", "from 10.1.2.3", "InvitationMessage:hello", foldInv, "unsent 0"} {
		if !strings.Contains(packed, want) {
			t.Errorf("readers of the packed batch miss %q:\n%s", want, packed)
		}
	}
	unpackInPlace(t, s, "everything")
	if plain := readersSee(t, s, "everything", cs); plain != packed {
		t.Errorf("the packed record reads\n%s\nthe same record unpacked\n%s", packed, plain)
	}

	doneWithEverything(t, s, "counted")
	if err := s.RecordRejects(ctx, "counted", []Reject{{Row: 4, Where: "line", Field: "email", Reason: "bad"}, {Row: 9, Reason: "late"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Batch(ctx, "counted"); err != nil || b.Rejected != 3 || b.Accepted != 3 || !b.Done() {
		t.Errorf("after a new reject: %+v, %v; want 3 rejected (2 packed + 1), done", b, err)
	}
}

// doneOneCandidate makes a done batch of one candidate, created with m (its
// job and segment size set here), whose candidate had outcome (invited or
// dead-lettered).
func doneOneCandidate(t *testing.T, s *Store, m Meta, outcome payload.Outcome) []task.Candidate {
	t.Helper()
	ctx := context.Background()
	cs := cands(1)
	m.Job, m.SegmentSize = task.Job{Target: target}, 1
	if _, _, err := s.CreateBatch(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, m.ID, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	r := Record{Seq: 0, Outcome: outcome, Candidate: cs[0].Candidate}
	if outcome == payload.OutcomeDeadLettered {
		r.DeadLetter = &DeadLetter{ID: DeadLetterID(m.ID, 0), BatchID: m.ID, Reason: payload.ReasonUnknownOutcome, Candidate: cs[0].Candidate, Target: target}
	}
	if _, err := s.RecordOutcomes(ctx, m.ID, target, []Record{r}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, m.ID, 1, ""); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestPackedCallback: the record of a batch with a callback is packed once
// the callback is settled, not before (an older build delivering it would
// find no record: see the package doc); the callback's fields stay fields of
// their own, and an attempt that comes after reads and writes as before.
func TestPackedCallback(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const id = "called"
	doneOneCandidate(t, s, Meta{ID: id, CallbackURL: "https://example.com/hook/secret"}, payload.OutcomeInvited)
	if err := s.RecordCallback(ctx, id, CallbackAttempt{HTTPStatus: 503, Err: errors.New("busy"), Reason: "http_status"}); err != nil {
		t.Fatal(err)
	}
	if got := recordFieldNames(t, s, id); packedRecord(got) || strings.Contains(got, packedFields[0]) {
		t.Errorf("record fields %s while the callback is pending, want none packed", got)
	}
	if err := s.RecordCallback(ctx, id, CallbackAttempt{HTTPStatus: 200, By: "worker@host"}); err != nil {
		t.Fatal(err)
	}
	if got, want := recordFieldNames(t, s, id), "[callback_key callback_url cb_at cb_attempts cb_error cb_state cb_status p0]"; got != want {
		t.Errorf("record fields %s once the callback is delivered, want %s", got, want)
	}
	b, err := s.Batch(ctx, id)
	if err != nil || !b.Done() || b.Callback == nil || b.Callback.State != CallbackDelivered || b.Callback.Attempts != 2 ||
		b.Callback.LastHTTPStatus != 200 || b.Callback.SettledAt == nil || b.Invited != 1 {
		t.Fatalf("batch %+v (callback %+v), %v; want done, delivered after 2 attempts", b, b.Callback, err)
	}
	// An attempt that comes again after (a task delivered twice).
	if err := s.RecordCallback(ctx, id, CallbackAttempt{HTTPStatus: 200, By: "worker@host"}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Batch(ctx, id); err != nil || b.Callback.Attempts != 3 || b.Invited != 1 || !b.Done() {
		t.Errorf("after another attempt: %+v (callback %+v), %v; want 3 attempts, done", b, b.Callback, err)
	}
	evs, err := s.Events(ctx, id)
	if err != nil || len(evs) != 3 || evs[1].What != EventCallbackDelivered {
		t.Errorf("events %+v, %v; want created and two callback_delivered", evs, err)
	}
}

// TestPackedDeadLetters: a done one-candidate batch whose candidate was
// dead-lettered is packed; its dead letter lists, and once purged the batch
// leaves the index of batches with dead letters (it is done: drainedScript
// reads its packed finished_at); the index of batches forgets it only once
// its record is gone.
func TestPackedDeadLetters(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const id = "dead"
	cs := doneOneCandidate(t, s, Meta{ID: id}, payload.OutcomeDeadLettered)
	if got := recordFieldNames(t, s, id); !packedRecord(got) {
		t.Errorf("record fields %s, want only the packed value", got)
	}
	var ids []string
	if err := s.DeadLetters(ctx, Filter{}, func(d *DeadLetter) error { ids = append(ids, d.ID); return nil }); err != nil || len(ids) != 1 {
		t.Fatalf("dead letters %v, %v; want one", ids, err)
	}
	if found, err := s.Find(ctx, FindKey{Email: cs[0].Email}, ""); err != nil || len(found) != 1 || found[0].Outcome != payload.OutcomeDeadLettered {
		t.Errorf("find %+v, %v; want the dead letter", found, err)
	}
	if n, err := s.PurgeDeadLetters(ctx, ids, "op"); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if n := s.rdb.ZCard(ctx, s.key("dlbatches")).Val(); n != 0 {
		t.Errorf("batches with dead letters: %d after the purge, want 0", n)
	}
	if b, err := s.Batch(ctx, id); err != nil || b.DeadLettered != 1 || !b.Done() {
		t.Errorf("batch %+v, %v; want done with its dead letter counted", b, err)
	}
	idx := s.key("batches")
	if n, err := s.forget(ctx, idx, []string{id}); err != nil || n != 0 {
		t.Errorf("forget while the record is there: %d, %v; want 0", n, err)
	}
	s.rdb.Del(ctx, s.bkey(id, "")) // expired
	if n, err := s.forget(ctx, idx, []string{id}); err != nil || n != 1 {
		t.Errorf("forget once the record is gone: %d, %v; want 1", n, err)
	}
	if _, err := s.Batch(ctx, id); !errors.Is(err, ErrBatchNotFound) && !errors.Is(err, ErrBatchExpired) {
		t.Errorf("batch once forgotten: %v", err)
	}
}
