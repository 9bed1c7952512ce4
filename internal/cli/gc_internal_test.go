package cli

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcReadings are GOGC, the heap goal and the live heap now.
func gcReadings() (gogc, goal, live uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// collectUntil collects until GOGC is want (the tuner runs after a
// collection, on the runtime's cleanup goroutine), at most 100 times; it returns
// the last readings.
func collectUntil(want uint64) (gogc, goal, live uint64) {
	for range 100 {
		runtime.GC()
		if gogc, goal, live = gcReadings(); gogc == want {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return gogc, goal, live
}

// TestImportGCKeepsTheHeapGoalNearTheLiveHeap: while an import holds the tuner,
// a collection that finds 80 MiB live sets GOGC to the floor of 12 (8 MiB is
// 10% of it), so that the heap goal is 112% of the live heap where Go's default
// would double it; once the live heap is small again GOGC is 100; released, the
// GOGC it found is back.
func TestImportGCKeepsTheHeapGoalNearTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	tu := gcTuner{headroom: 8 << 20, minPercent: 12, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	release := tu.hold()
	defer release()
	big := make([]byte, 80<<20)
	gogc, goal, live := collectUntil(12)
	if gogc != 12 || float64(goal) > 1.13*float64(live) {
		t.Errorf("with %d MiB live: GOGC %d, heap goal %d MiB, want 12 and at most 113%% of the live heap", live>>20, gogc, goal>>20)
	}
	runtime.KeepAlive(big)
	big = nil
	if gogc, _, live := collectUntil(100); gogc != 100 {
		t.Errorf("with %d MiB live: GOGC %d, want 100", live>>20, gogc)
	}
	release()
	if gogc, _, _ := gcReadings(); gogc != 150 {
		t.Errorf("released: GOGC %d, want the 150 it found", gogc)
	}
}

// TestImportGCLeavesAUsersGCAlone: with GOGC or GOMEMLIMIT in the environment
// the tuner changes nothing, however large the live heap.
func TestImportGCLeavesAUsersGCAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}[env])
			tu := gcTuner{headroom: 8 << 20, minPercent: 12, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
			release := tu.hold()
			defer release()
			big := make([]byte, 80<<20)
			if gogc, _, live := collectUntil(12); gogc != 150 {
				t.Errorf("with %d MiB live: GOGC %d, want the user's 150", live>>20, gogc)
			}
			runtime.KeepAlive(big)
		})
	}
}
