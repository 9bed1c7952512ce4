package presence

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestVersionOf: the stamped module version first, then the commit, then
// "(devel)".
func TestVersionOf(t *testing.T) {
	t.Parallel()
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: rev}, "v1.4.0"},
		{"pseudo-version, dirty", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207160000-0123456789ab+dirty"}}, "v0.0.0-20261207160000-0123456789ab+dirty"},
		{"commit only", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "0123456789ab"},
		{"commit with changes", debug.BuildInfo{Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "0123456789ab+dirty"},
		{"nothing stamped", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := versionOf(&tc.bi); got != tc.want {
				t.Errorf("versionOf = %q, want %q", got, tc.want)
			}
		})
	}
}

// waitFor polls lookup until present is what it reports, or fails after 10s.
func waitFor(t *testing.T, lookup func() (Entry, bool), present bool) Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, ok := lookup()
		if ok == present {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the entry is present=%v, want %v", ok, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lookupOf(t *testing.T, srv *redistest.Server, p Proc) func() (Entry, bool) {
	t.Helper()
	ctx, rdb := t.Context(), srv.Client()
	return func() (Entry, bool) {
		got, err := Lookup(ctx, rdb, "bi:", []Proc{p, {Host: p.Host, PID: p.PID + 1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 1 {
			t.Fatalf("Lookup found %v, want at most the one published", got)
		}
		e, ok := got[p]
		return e, ok
	}
}

// TestRunningWorkerPublishesAndRemovesOnStop: while it runs, a worker's entry
// holds its version and an expiry of at most TTL; a graceful stop deletes it.
func TestRunningWorkerPublishesAndRemovesOnStop(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	p := Proc{Host: "worker-a", PID: 41}
	started := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	pub := NewPublisher(srv.Client(), "bi:", Config{Every: 50 * time.Millisecond, Version: "v1.4.0", Proc: p, Now: func() time.Time { return started }})
	stop := pub.Start()
	lookup := lookupOf(t, srv, p)
	e := waitFor(t, lookup, true)
	if e.Version != "v1.4.0" || !e.Started.Equal(started) {
		t.Errorf("entry %+v, want version v1.4.0 started %s", e, started)
	}
	ttl, err := srv.Client().PTTL(ctx, "bi:worker:worker-a:41").Result()
	if err != nil || ttl <= 0 || ttl > 150*time.Millisecond {
		t.Errorf("the key's TTL is %s (%v), want (0, 150ms]", ttl, err)
	}
	// Refreshed: still there after several TTLs.
	time.Sleep(400 * time.Millisecond)
	if _, ok := lookup(); !ok {
		t.Error("the entry of a running worker lapsed")
	}
	stop()
	if _, ok := lookup(); ok {
		t.Error("the entry is still there after a graceful stop")
	}
}

// TestKilledWorkersEntryLapses: a worker that dies without stopping leaves its
// last write, which expires TTL after it.
func TestKilledWorkersEntryLapses(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	p := Proc{Host: "worker-b", PID: 7}
	pub := NewPublisher(srv.Client(), "bi:", Config{Every: 100 * time.Millisecond, TTL: 500 * time.Millisecond, Version: "v1.3.9", Proc: p})
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	lookup := lookupOf(t, srv, p)
	if e, ok := lookup(); !ok || e.Version != "v1.3.9" {
		t.Fatalf("entry %+v present=%v, want v1.3.9", e, ok)
	}
	waitFor(t, lookup, false)
	if d := time.Since(written); d < 400*time.Millisecond {
		t.Errorf("the entry lapsed after %s, want about its TTL of 500ms", d)
	}
}
