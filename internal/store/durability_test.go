package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestPersistence: the store reads the AOF settings of every master it writes to
// (each of a cluster's), and says which it could not read.
func TestPersistence(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	masters, err := st.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	if redistest.OnCluster() {
		want = 3
	}
	if len(masters) != want {
		t.Fatalf("%d masters read, want %d: %+v", len(masters), want, masters)
	}
	for _, m := range masters {
		// redistest's servers run without AOF unless asked.
		if m.Err != nil || m.Addr == "" || m.AppendOnly || m.AppendFsync == "" || m.FsyncsEachWrite() {
			t.Errorf("master %+v, want appendonly no and its appendfsync", m)
		}
	}
	if redistest.OnCluster() {
		return
	}
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	opt, err := redis.ParseURL(srv.ACLUser("noconfig", "noconfig-password", "-config"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	masters, err = New(rdb, Config{}).Persistence(ctx)
	if err != nil || len(masters) != 1 || masters[0].Err == nil || !strings.Contains(masters[0].Err.Error(), "NOPERM") {
		t.Errorf("CONFIG refused: %+v %v, want the master with its NOPERM", masters, err)
	}
	if masters, _ := New(srv.Client(), Config{}).Persistence(ctx); len(masters) != 1 || !masters[0].FsyncsEachWrite() {
		t.Errorf("AOF always: %+v", masters)
	}
}

// TestPersistenceNamesTheSentinelMaster: through a client that Sentinel steers,
// Persistence names the master by its address, not by the client's.
func TestPersistenceNamesTheSentinelMaster(t *testing.T) {
	t.Parallel()
	if redistest.OnCluster() {
		t.Skip("starts a Sentinel of its own")
	}
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.MasterName, SentinelAddrs: []string{s.Sentinels[0].Addr()}})
	t.Cleanup(func() { _ = rdb.Close() })
	masters, err := New(rdb, Config{}).Persistence(context.Background())
	if err != nil || len(masters) != 1 || masters[0].Addr != s.Master().Addr() {
		t.Errorf("%+v, %v: want the master %s", masters, err, s.Master().Addr())
	}
}

// TestWaitOnEveryMasterWritten (invariant 2 through a failover): on a Cluster with replicas and WaitReplicas, each
// write waits on the master it went to: the sent mark on the batch's master before
// its request goes, and recording a success on the target's master (the ledger)
// and then on the batch's (the outcome), which are different masters here.
func TestWaitOnEveryMasterWritten(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{Replicas: 1})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	st := New(rdb, Config{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	ctx := context.Background()
	masterOf := func(key string) *redis.Client {
		t.Helper()
		m, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tm := masterOf(st.tkey(target, "claims"))
	batch := ""
	for i := 0; batch == ""; i++ {
		if id := "wait-" + strconv.Itoa(i); masterOf(st.bkey(id, "")).Options().Addr != tm.Options().Addr {
			batch = id
		}
	}
	bm := masterOf(st.bkey(batch, ""))
	cs := cands(1)
	if _, _, err := st.CreateBatch(ctx, Meta{ID: batch, Job: task.Job{Target: target}, SegmentSize: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AdmitSegment(ctx, batch, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	waits := func() (target, batch int) { return waitCalls(t, tm), waitCalls(t, bm) }
	check := func(what string, step func() error, dt, db int) {
		t.Helper()
		t0, b0 := waits()
		if err := step(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t1, b1 := waits()
		if t1-t0 != dt || b1-b0 != db {
			t.Errorf("%s: WAITs on the target's master %d, on the batch's %d; want %d and %d", what, t1-t0, b1-b0, dt, db)
		}
	}
	check("sent mark", func() error { _, err := st.MarkSending(ctx, batch, []int64{0}, nil); return err }, 0, 1)
	check("record a success", func() error {
		_, err := st.RecordOutcomes(ctx, batch, target, []Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cs[0].Candidate}})
		return err
	}, 1, 1)
}

// waitCalls is how many WAITs the node has run (INFO commandstats).
func waitCalls(t *testing.T, node *redis.Client) int {
	t.Helper()
	info, err := node.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_wait:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}
