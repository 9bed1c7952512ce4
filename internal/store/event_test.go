package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// whats is the What of each event, in order.
func whats(evs []Event) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.What
	}
	return strings.Join(out, ",")
}

func readEvents(tb testing.TB, s *Store, id string) []Event {
	tb.Helper()
	evs, err := s.Events(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

// TestEvents: a batch's log starts with its creation (who, from where, the
// import's counts once sealed) and keeps what follows in order, each with its
// time, who and detail.
func TestEvents(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Millisecond)
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "e", Job: task.Job{Target: target}, SegmentSize: 3, Source: "http",
		Owner: "ci-bot", From: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	// A re-run of the import is no new creation.
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "e", Job: task.Job{Target: target}, SegmentSize: 3, Owner: "ci-bot"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, "e", []Reject{{Row: 4, Where: "line", Field: "email", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdmitSegment(ctx, "e", 0, cands(3), "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "e", 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "e", 1, ""); err != nil { // again: the counts are noted once
		t.Fatal(err)
	}
	for _, e := range []Event{
		{What: EventPaused, By: "ops", Detail: "paused"},
		{What: EventResumed, By: "cli@ws-1", Detail: "resumed <b>now</b> \"quoted\""},
	} {
		if err := s.RecordEvent(ctx, "e", e); err != nil {
			t.Fatal(err)
		}
	}
	evs := readEvents(t, s, "e")
	if got := whats(evs); got != "created,paused,resumed" {
		t.Fatalf("events %s, want created,paused,resumed", got)
	}
	c := evs[0]
	if c.By != "ci-bot" || c.Detail != "source http, from 203.0.113.9; 3 accepted, 1 rejected" {
		t.Errorf("created: by %q, detail %q", c.By, c.Detail)
	}
	for _, e := range evs {
		if e.At.Before(before) || e.At.After(time.Now()) || e.At.Location() != time.UTC || e.At.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("%s at %v: not a time of this test in UTC, in ms", e.What, e.At)
		}
	}
	if r := evs[2]; r.By != "cli@ws-1" || r.Detail != "resumed <b>now</b> \"quoted\"" {
		t.Errorf("resumed: %+v, want by and detail as given", r)
	}

	// A replay batch's creation names its sources; By names the CLI's host.
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "rp", Job: task.Job{Target: target}, Source: "replay", Owner: "cli", By: "cli@ws-1",
		ReplayOf: []string{"a", "b", "c", "d", "e", "f", "g"}}); err != nil {
		t.Fatal(err)
	}
	if evs := readEvents(t, s, "rp"); len(evs) != 1 || evs[0].By != "cli@ws-1" ||
		evs[0].Detail != "replay of dead letters of batches a, b, c, d, e and 2 more" {
		t.Errorf("replay batch's events: %+v", evs)
	}
	// Nothing known of where it came from: the counts alone.
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "plain", Job: task.Job{Target: target}, Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "plain", 0, ""); err != nil {
		t.Fatal(err)
	}
	if evs := readEvents(t, s, "plain"); len(evs) != 1 || evs[0].Detail != "0 accepted, 0 rejected" {
		t.Errorf("events of a batch without a source: %+v", evs)
	}
	if evs := readEvents(t, s, "never"); len(evs) != 0 {
		t.Errorf("an unknown batch has events: %+v", evs)
	}
}

// TestEventsCapped: past MaxEvents the oldest entries after the creation go;
// the creation and the newest stay, in order; a long detail is cut.
func TestEventsCapped(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "cap", Job: task.Job{Target: target}, Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	const n = MaxEvents + 37
	for i := range n {
		if err := s.RecordEvent(ctx, "cap", Event{What: EventPaused, By: "o", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	evs := readEvents(t, s, "cap")
	if len(evs) != MaxEvents || evs[0].What != EventCreated {
		t.Fatalf("%d events, first %q; want %d, the creation first", len(evs), evs[0].What, MaxEvents)
	}
	for i, e := range evs[1:] {
		if want := fmt.Sprint(n - (MaxEvents - 1) + i); e.Detail != want {
			t.Fatalf("event %d: detail %q, want %q (the newest, in order)", i+1, e.Detail, want)
		}
	}
	long := strings.Repeat("é", MaxEventDetail)
	if err := s.RecordEvent(ctx, "cap", Event{What: EventPaused, By: "o", Detail: long}); err != nil {
		t.Fatal(err)
	}
	evs = readEvents(t, s, "cap")
	if d := evs[len(evs)-1].Detail; len(d) > MaxEventDetail || !strings.HasSuffix(d, "…") || !strings.HasPrefix(long, strings.TrimSuffix(d, "…")) {
		t.Errorf("a long detail is kept as %d bytes %q…, want at most %d, cut on a rune", len(d), d[:20], MaxEventDetail)
	}
}

// TestEventsLiveWithTheRecord: the log has the record's expiry at every stage
// (unsealed, sealed, done); an event recorded after the record is gone writes
// nothing (see also TestWritesAfterExpiryRecreateNothing).
func TestEventsLiveWithTheRecord(t *testing.T) {
	t.Parallel()
	s := setupWith(t, Config{UnsealedTTL: time.Hour, Retention: 400 * time.Millisecond})
	ctx := context.Background()
	ttls := func(id string) (rec, ev time.Duration) {
		t.Helper()
		rec, err1 := s.rdb.PTTL(ctx, s.bkey(id, "")).Result()
		ev, err2 := s.rdb.PTTL(ctx, s.bkey(id, "ev")).Result()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		return rec, ev
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "l", Job: task.Job{Target: target}, SegmentSize: 2, Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	if _, ev := ttls("l"); ev != -2*time.Nanosecond && ev != -2*time.Millisecond {
		t.Errorf("created: log TTL %v, want no log (the creation is told from the record)", ev)
	}
	if err := s.RecordEvent(ctx, "l", Event{What: EventPaused, By: "o"}); err != nil {
		t.Fatal(err)
	}
	if rec, ev := ttls("l"); rec <= 0 || ev <= 0 || rec-ev > time.Second || ev-rec > time.Second {
		t.Errorf("unsealed: record TTL %v, log TTL %v; want the same", rec, ev)
	}
	cs := cands(2)
	if _, err := s.AdmitSegment(ctx, "l", 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, "l", 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEvent(ctx, "l", Event{What: EventPaused, By: "o"}); err != nil {
		t.Fatal(err)
	}
	if rec, ev := ttls("l"); rec != -time.Nanosecond && rec != -time.Millisecond || ev != rec {
		t.Errorf("sealed: record TTL %v, log TTL %v; want none for both", rec, ev)
	}
	recordDone(t, s, "l", cs)
	if err := s.RecordEvent(ctx, "l", Event{What: EventPurged, By: "o"}); err != nil {
		t.Fatal(err)
	}
	if rec, ev := ttls("l"); rec <= 0 || ev <= 0 || ev > rec+50*time.Millisecond || rec > ev+50*time.Millisecond {
		t.Errorf("done: record TTL %v, log TTL %v; want the retention for both", rec, ev)
	}
	time.Sleep(600 * time.Millisecond)
	if err := s.RecordEvent(ctx, "l", Event{What: EventPurged, By: "o"}); err != nil {
		t.Errorf("an event after the record is gone: %v, want none written and no error", err)
	}
	if n, err := s.rdb.Exists(ctx, s.bkey("l", "ev"), s.bkey("l", "")).Result(); n != 0 || err != nil {
		t.Errorf("%d keys of the expired batch (%v), want the log not written again", n, err)
	}
}

// recordDone records every candidate of cs as invited: the sealed batch is done.
func recordDone(tb testing.TB, s *Store, id string, cs []task.Candidate) {
	tb.Helper()
	recs := make([]Record, len(cs))
	for i, c := range cs {
		recs[i] = Record{Seq: c.Seq, Outcome: payload.OutcomeInvited, Candidate: c.Candidate}
	}
	if _, err := s.RecordOutcomes(context.Background(), id, target, recs); err != nil {
		tb.Fatal(err)
	}
	if b, err := s.Batch(context.Background(), id); err != nil || b.State() != StateDone {
		tb.Fatalf("batch %s: %+v %v, want done", id, b, err)
	}
}

// TestEventsOfCallbacksPurgesAndAuthStops: the steps that record events of
// their own write them: a callback delivered or given up on (with the
// attempts it took; a failure that is retried writes none), a purge (how
// many, once per batch), an auth stop (once per batch) and its resume (on
// the batches that recorded the stop).
func TestEventsOfCallbacksPurgesAndAuthStops(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	for _, id := range []string{"cb", "cf", "pg"} {
		if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, Owner: "o", CallbackURL: "https://example.com/hook"}); err != nil {
			t.Fatal(err)
		}
	}
	failed := errors.New("refused")
	for _, step := range []struct {
		id string
		a  CallbackAttempt
	}{
		{"cb", CallbackAttempt{HTTPStatus: 503, Err: failed, Reason: "http_status", By: "worker@w1"}},
		{"cb", CallbackAttempt{HTTPStatus: 200, By: "worker@w2"}},
		{"cf", CallbackAttempt{Err: failed, Reason: "timeout", Final: true, By: "worker@w1"}},
	} {
		if err := s.RecordCallback(ctx, step.id, step.a); err != nil {
			t.Fatal(err)
		}
	}
	if evs := readEvents(t, s, "cb"); whats(evs) != "created,callback_delivered" || evs[1].By != "worker@w2" ||
		evs[1].Detail != "callback delivered: HTTP 200 after 2 attempts" {
		t.Errorf("delivered callback's events: %+v", evs)
	}
	if evs := readEvents(t, s, "cf"); whats(evs) != "created,callback_failed" || evs[1].Detail != "callback given up on: timeout after 1 attempt" {
		t.Errorf("failed callback's events: %+v", evs)
	}

	seedDeadLetters(t, s, "pg", task.Job{Target: target}, "target_not_found", 3)
	ids := listIDs(t, s, Filter{BatchID: "pg"})
	if n, err := s.PurgeDeadLetters(ctx, append(ids, DeadLetterID("pg", 99)), "ops"); err != nil || n != 3 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := s.PurgeDeadLetters(ctx, ids, "ops"); err != nil { // none left: no event
		t.Fatal(err)
	}
	if evs := readEvents(t, s, "pg"); whats(evs) != "created,purged" || evs[1].By != "ops" || evs[1].Detail != "purged 3 dead letters" {
		t.Errorf("purged batch's events: %+v", evs)
	}

	// No stop set: nothing is recorded.
	if err := s.RecordAuthStopped(ctx, "cb", "worker@w1", 401, "key deleted", "fl_live_x.****"); err != nil {
		t.Fatal(err)
	}
	if err := s.StopAuth(ctx, "k1", "fl_live_x.****", 401, "key deleted"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cb", "cf", "cb"} { // twice for cb: once in its log
		if err := s.RecordAuthStopped(ctx, id, "worker@w1", 401, "key deleted", "fl_live_x.****"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.ResumeAuth(ctx)
	if err != nil || fmt.Sprint(res.Batches) != "[cb cf]" {
		t.Fatalf("resume: %+v %v, want batches cb and cf", res, err)
	}
	if err := s.RecordAuthResumed(ctx, res.Batches, "cli@ws-1"); err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, s, "cb")
	if whats(evs) != "created,callback_delivered,auth_stopped,auth_resumed" {
		t.Fatalf("events of cb: %s", whats(evs))
	}
	if e := evs[2]; e.By != "worker@w1" || e.Detail != "vendor answered 401: key deleted; sending stopped for key fl_live_x.****" {
		t.Errorf("auth_stopped: %+v", e)
	}
	if e := evs[3]; e.By != "cli@ws-1" {
		t.Errorf("auth_resumed: %+v", e)
	}
	if res, err := s.ResumeAuth(ctx); err != nil || len(res.Batches) != 0 {
		t.Errorf("second resume: %+v %v, want no batch", res, err)
	}
}

// TestEventMemory measures what an event costs in Redis (MEMORY USAGE of the
// log, per entry, with typical entries), the figure the package doc states.
func TestEventMemory(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "0193a3c4-5b6e-7f00-8a1b-2c3d4e5f6a7b", Job: task.Job{Target: target}, Source: "http",
		Owner: "ci-bot", From: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	usage := func() int64 {
		t.Helper()
		n, err := s.rdb.MemoryUsage(ctx, s.bkey("0193a3c4-5b6e-7f00-8a1b-2c3d4e5f6a7b", "ev"), 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	replayed := func() {
		t.Helper()
		if err := s.RecordReplayed(ctx, "0193a3c4-5b6e-7f00-8a1b-2c3d4e5f6a7b", "0193a3c4-9999-7f00-8a1b-2c3d4e5f6a7b", 12, "cli@build-host-01"); err != nil {
			t.Fatal(err)
		}
	}
	replayed() // the created event is told from the record: the log starts with the next
	one := usage()
	for range MaxEvents - 2 {
		replayed()
	}
	full := usage()
	per := float64(full-one) / float64(MaxEvents-2)
	t.Logf("event log: %d bytes with one event after the creation, %d with %d (the creation told from the record): %.0f bytes an event", one, full, MaxEvents, per)
	if per > 200 || full > 40_000 {
		t.Errorf("an event costs %.0f bytes (log %d): more than the package doc says", per, full)
	}
}

// TestEventsOfAnOlderRecord: a log written before the creation was told from
// the record holds the created event first; it is shown once, and kept first
// when the log is capped.
func TestEventsOfAnOlderRecord(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "old", Job: task.Job{Target: target}, Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	// What the previous build wrote: no by field, the creation in the log.
	s.rdb.HDel(ctx, s.bkey("old", ""), "by")
	s.rdb.RPush(ctx, s.bkey("old", "ev"), s.encodeEvent(Event{What: EventCreated, By: "older", Detail: "source x"}))
	for range MaxEvents + 3 {
		if err := s.RecordEvent(ctx, "old", Event{What: EventPaused, By: "o"}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, e := range evs {
		if e.What == EventCreated {
			created++
		}
	}
	if len(evs) != MaxEvents || evs[0].What != EventCreated || evs[0].By != "older" || created != 1 {
		t.Errorf("%d events, the first %+v, %d created; want %d, the stored creation first and once", len(evs), evs[0], created, MaxEvents)
	}
}
