package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The collector's settings for an enqueue, unless GOGC or GOMEMLIMIT is set.
// Most of an import's live heap is its de-duplication set (store.Dedup), which
// holds no pointers and costs a collection little; at Go's GOGC=100 the heap
// would grow to twice that between collections. Instead it may grow by
// importGCHeadroom past the live heap, or by importGCMinPercent of it once that
// is more: a large import's collections mark more each, and come less often.
const (
	importGCHeadroom   = 8 << 20
	importGCMinPercent = 12
)

// gcTuner keeps the heap goal at about the live heap plus a fixed headroom: after
// each collection it sets GOGC to headroom / live heap, between minPercent and
// 100 (Go's default). One serves the process; each import holds it while it
// runs.
type gcTuner struct {
	mu         sync.Mutex
	holders    int
	armed      bool // a tune is due after the next collection
	headroom   uint64
	minPercent int
	before     int // the GOGC found by the first holder, put back by the last
	live       []metrics.Sample
}

var importGC = gcTuner{headroom: importGCHeadroom, minPercent: importGCMinPercent, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}

// userSetsGC reports whether the process's environment sets the collector's
// GOGC or GOMEMLIMIT, which then win over the CLI's own settings.
func userSetsGC() bool { return os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" }

// hold starts tuning unless the environment sets the collector; release, which
// the caller must call, stops once no one else holds it.
func (t *gcTuner) hold() (release func()) {
	if userSetsGC() {
		return func() {}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.holders++; t.holders == 1 {
		t.before = debug.SetGCPercent(t.percent())
		if !t.armed {
			t.arm()
		}
	}
	return sync.OnceFunc(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.holders--; t.holders == 0 {
			debug.SetGCPercent(t.before)
		}
	})
}

// arm has tune run after the next collection: then the new object is unreachable.
func (t *gcTuner) arm() {
	t.armed = true
	runtime.AddCleanup(new([16]byte), func(t *gcTuner) { t.tune() }, t) // 16 bytes: not a tiny allocation, freed on its own
}

// tune sets GOGC for the live heap the last collection found, and arms again,
// while anyone holds the tuner.
func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.armed = false; t.holders == 0 {
		return
	}
	debug.SetGCPercent(t.percent())
	t.arm()
}

// percent is the GOGC that lets the heap grow by the headroom past the live heap.
func (t *gcTuner) percent() int {
	metrics.Read(t.live)
	live := t.live[0].Value.Uint64()
	if live <= t.headroom {
		return 100
	}
	return max(t.minPercent, int(100*t.headroom/live))
}
