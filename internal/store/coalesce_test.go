package store

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
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
		before := readsProcessed(t, st.rdb)
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
		reads := readsProcessed(t, st.rdb) - before
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

// readsProcessed is Redis's total_reads_processed (INFO stats).
func readsProcessed(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, v, _ := strings.Cut(info, "total_reads_processed:")
	v, _, _ = strings.Cut(v, "\r\n")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("total_reads_processed in INFO stats: %v", err)
	}
	return n
}
