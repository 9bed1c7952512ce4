package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestClusterEndToEnd runs batches with dead letters and a replay on a 3-master
// Redis Cluster reached through one node's URL: exact accounting, the right dead
// letters, the replay to a corrected target invites everyone, nobody twice, and
// our keys spread over more than one master.
func TestClusterEndToEnd(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Topology: pipelinetest.Cluster})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5}})

	cands := pipelinetest.Candidates("cl", 60)
	for i := 0; i < 60; i += 12 {
		cands[i].Email = fmt.Sprintf("cl-%d+invitation_error@example.com", i)
	}
	main := b.Import("cluster-main", cands, nil)
	wrong := payload.Target{InterviewSetID: "0193a1d6-0000-7000-8000-00000000dead"}
	lost := b.Import("cluster-wrong-target", pipelinetest.Candidates("nf", 20), &task.Job{Target: wrong})

	bt := b.WaitDone(main.BatchID, wait)
	b.CheckAccounting(main.BatchID)
	if bt.Invited != 55 || bt.DeadLettered != 5 {
		t.Errorf("main batch %+v, want 55 invited and 5 dead-lettered", bt.Status())
	}
	for email, d := range b.DeadLetters(main.BatchID) {
		if d.Reason != payload.ReasonInvitationError || !strings.Contains(email, "+invitation_error") {
			t.Errorf("dead letter %s: %s", email, d.Reason)
		}
	}
	if lt := b.WaitDone(lost.BatchID, wait); lt.DeadLettered != 20 {
		t.Fatalf("wrong-target batch %+v, want 20 target_not_found", lt.Status())
	}

	rep, err := b.Replayer.Replay(context.Background(), deadletter.Options{
		Filter: store.Filter{Reason: payload.ReasonTargetNotFound}, Target: pipelinetest.Target,
	})
	if err != nil || rep.Replayed != 20 || len(rep.Batches) != 1 {
		t.Fatalf("replay %+v %v", rep, err)
	}
	if rb := b.WaitDone(rep.Batches[0], wait); rb.Invited != 20 {
		t.Errorf("replay batch %+v, want 20 invited", rb.Status())
	}
	b.CheckAccounting(rep.Batches[0])
	if n, _ := b.Store.CountDeadLetters(context.Background()); n != 5 {
		t.Errorf("%d dead letters left, want the 5 invitation errors", n)
	}
	if st := b.API.Stats(); st.Invites != 75 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v, want 75 invites, none twice", st)
	}

	var mu sync.Mutex
	holding := 0
	err = redisconn.ForEachMaster(context.Background(), b.RDB, func(ctx context.Context, m *redis.Client) error {
		keys, _, err := m.Scan(ctx, 0, pipelinetest.Prefix+"*", 1000).Result()
		if len(keys) > 0 {
			mu.Lock()
			holding++
			mu.Unlock()
		}
		return err
	})
	if err != nil || holding < 2 {
		t.Errorf("our keys are on %d of 3 masters (%v); they should spread", holding, err)
	}
}

// TestSentinelFailoverMidBatch fails the master over to its replica (Sentinel, with
// a password) in the middle of a batch. With BULKINVITE_REDIS_WAIT_REPLICAS=1 no
// write the worker acted on is lost with the old master: nothing lost, nobody
// invited twice.
func TestSentinelFailoverMidBatch(t *testing.T) {
	t.Parallel()
	const n = 300
	b := pipelinetest.New(t, pipelinetest.Options{
		Topology: pipelinetest.Sentinel,
		Store:    store.Config{WaitReplicas: 1},
		Sandbox:  sandbox.Config{Seed: 5, Faults: sandbox.Faults{Latency: 40 * time.Millisecond, LatencyJitter: 40 * time.Millisecond}},
	})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5}, Concurrency: 4})
	res := b.Import("failover", pipelinetest.Candidates("fo", n), nil)
	b.WaitFor(res.BatchID, wait, "a quarter recorded", func(bt *store.Batch) bool { return n-bt.Pending() >= n/4 })

	b.Sentinel.Failover()
	before := b.API.Stats()

	bt := b.WaitDone(res.BatchID, crashRecovery)
	b.CheckAccounting(res.BatchID)
	st := b.API.Stats()
	if bt.Invited != n || st.DuplicateInvites != 0 {
		t.Errorf("status %+v; sandbox %+v: want all %d invited once", bt.Status(), st, n)
	}
	t.Logf("failed over with %d invites made; done with %+v", before.Invites, st)
}

// TestACLUserWithOnlyOurKeys runs a batch with dead letters and their replay as an
// ACL user that may touch only our keys and asynq's, and no admin command: nothing
// of ours reaches outside BULKINVITE_PREFIX.
func TestACLUserWithOnlyOurKeys(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{
		ACLRules: []string{"resetkeys", "~" + pipelinetest.Prefix + "*", "~asynq:*", "resetchannels", "&asynq:*", "-@admin", "-@dangerous", "+info"},
	})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 4}})
	cands := pipelinetest.Candidates("acl", 12)
	cands[5].Email = "acl-5+submission_error@example.com"
	res := b.Import("acl", cands, nil)
	if bt := b.WaitDone(res.BatchID, wait); bt.Invited != 11 || bt.DeadLettered != 1 {
		t.Fatalf("status %+v", bt.Status())
	}
	b.CheckAccounting(res.BatchID)
	rep, err := b.Replayer.Replay(context.Background(), deadletter.Options{})
	if err != nil || rep.Replayed != 1 {
		t.Fatalf("replay %+v %v", rep, err)
	}
	if rb := b.WaitDone(rep.Batches[0], wait); rb.DeadLettered != 1 {
		t.Errorf("replay batch %+v: the candidate's own error comes back", rb.Status())
	}
}
