package deadletter_test

import (
	"context"
	"flag"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

var benchDeadLetters = flag.Int("replay.deadletters", 2000, "dead letters BenchmarkReplay replays per op")

// heapPeaks samples the heap every few milliseconds until stop is called, and
// returns the peak of the heap's objects (live or not yet collected) and of the
// live heap as the last GC marked it, in bytes.
func heapPeaks() (stop func() (heap, live uint64)) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var heap, live uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			heap = max(heap, samples[0].Value.Uint64())
			live = max(live, samples[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (uint64, uint64) { close(done); wg.Wait(); return heap, live }
}

// BenchmarkReplay replays -replay.deadletters dead letters of one batch per op
// (2,000 by default) into one replay batch, enqueued on the replay queue, and
// reports the peak heap and live heap the replay added, in MiB:
//
//	go test -run='^$' -bench=Replay -benchtime=1x -replay.deadletters=200000 ./internal/deadletter/
func BenchmarkReplay(b *testing.B) {
	n := *benchDeadLetters
	bundle := pipelinetest.New(b, pipelinetest.Options{SegmentSize: 1000})
	ctx := context.Background()
	var peakHeap, peakLive uint64
	for i := range b.N {
		b.StopTimer()
		seedDeadLetters(b, bundle.Store, "bench-"+strconv.Itoa(i), n)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop := heapPeaks()
		b.StartTimer()
		res, err := bundle.Replayer.Replay(ctx, deadletter.Options{})
		b.StopTimer()
		heap, live := stop()
		if err != nil || res.Replayed != n {
			b.Fatalf("replayed %+v, %v; want %d", res, err, n)
		}
		peakHeap = max(peakHeap, heap-min(heap, base))
		peakLive = max(peakLive, live-min(live, base))
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MiB")
	b.ReportMetric(float64(n), "deadletters/op")
}
