package store

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestCoalesceScriptsSharesRoundTrips: 64 callers at once each create, fill and
// seal a batch, once through a plain store and once through one that coalesces
// its scripts. Every batch ends the same either way, and the coalescing store
// makes Redis read its socket (total_reads_processed) less than half as often.
func TestCoalesceScriptsSharesRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	const callers, per = 64, 5

	run := func(t *testing.T, st *Store, prefix string) int64 {
		t.Helper()
		before := readServerStats(t, st.rdb).reads
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for c := range callers {
			wg.Go(func() {
				id := prefix + strconv.Itoa(c)
				if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: per}); err != nil {
					errs <- err
					return
				}
				if _, err := st.AdmitSegment(ctx, id, 0, cands(per), "", nil); err != nil {
					errs <- err
					return
				}
				errs <- st.Seal(ctx, id, 1, "")
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		reads := readServerStats(t, st.rdb).reads - before
		for c := range callers {
			b, err := st.Batch(ctx, prefix+strconv.Itoa(c))
			if err != nil {
				t.Fatal(err)
			}
			if b.Accepted != per || !b.Sealed {
				t.Fatalf("batch %s: %d accepted, sealed %v; want %d, sealed", b.ID, b.Accepted, b.Sealed, per)
			}
		}
		return reads
	}

	plain := run(t, New(srv.Client(), Config{}), "plain-")
	co := New(srv.Client(), Config{})
	if err := co.CoalesceScripts(); err != nil {
		t.Fatal(err)
	}
	coalesced := run(t, co, "coalesced-")
	t.Logf("Redis socket reads for %d callers × 3 steps: plain %d, coalesced %d", callers, plain, coalesced)
	if 2*coalesced >= plain {
		t.Fatalf("coalesced store: %d reads, plain %d; want fewer than half", coalesced, plain)
	}
}

// TestCoalesceScriptsLeavesWaitReplicasAlone: with WaitReplicas each write is
// followed by WAIT on its own connection, which a shared pipeline cannot give.
func TestCoalesceScriptsLeavesWaitReplicasAlone(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := New(rdb, Config{WaitReplicas: 1})
	if err := st.CoalesceScripts(); err != nil {
		t.Fatal(err)
	}
	if st.scripts != redis.Scripter(rdb) {
		t.Fatalf("scripts run through %T; want the client itself", st.scripts)
	}
}

// TestRecordOutcomesInOneScriptOnOneNode: where one node holds every key, a
// chunk's successes go to the ledger and the batch in one script call; both
// are written.
func TestRecordOutcomesInOneScriptOnOneNode(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := New(rdb, Config{})
	ctx := context.Background()
	const n = 5
	if _, _, err := st.CreateBatch(ctx, Meta{ID: "b", Job: task.Job{Target: target}, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	cs := cands(n)
	if _, err := st.AdmitSegment(ctx, "b", 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i, c := range cs {
		recs[i] = Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeInvited}
	}
	before := readServerStats(t, rdb).scriptCalls
	if got, err := st.RecordOutcomes(ctx, "b", target, recs); err != nil || got != n {
		t.Fatalf("RecordOutcomes: %d new, %v; want %d", got, err, n)
	}
	if calls := readServerStats(t, rdb).scriptCalls - before; calls != 1 {
		t.Fatalf("%d script calls; want 1", calls)
	}
	b, err := st.Batch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Invited != n {
		t.Fatalf("batch: %d invited; want %d", b.Invited, n)
	}
	claims, err := st.ClaimForSending(ctx, "other", target, cs, NewRunID(), time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range claims {
		if c != OtherCandidateDone {
			t.Fatalf("candidate %d of another batch: claim %v; want OtherCandidateDone (the ledger holds it)", i, c)
		}
	}
}
