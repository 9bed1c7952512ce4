package producer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// DefaultMemoryWait is how long an import waits for Redis memory by default
// (Config.MemoryWait).
const DefaultMemoryWait = 10 * time.Minute

// Bounds of the waits between tries of a write Redis refused for want of memory.
const (
	memoryBackoff    = 100 * time.Millisecond // the first
	memoryMaxBackoff = 3 * time.Second        // the longest
	memoryReportGap  = time.Second            // between two calls of Options.OnMemoryWait
	// memoryHighWater is the share of maxmemory past which an import admits no
	// more segments: the rest is the workers', whose dequeues and outcome writes
	// need room too. Without it the import fills Redis to the brim and the
	// workers, refused as well, cannot drain what is queued.
	memoryHighWater = 0.9
	// roomFresh is how long a reading of Redis's memory below memoryHighWater
	// stands for the next segments of every import of the Producer: INFO is a
	// round trip per segment otherwise (per request for an API server taking
	// one-candidate batches). The high water is a soft bound: a write Redis
	// refuses is retried whatever the last reading said, and a reading at or past
	// it is never reused.
	roomFresh = 100 * time.Millisecond
)

// MemoryWait is what an import waiting for Redis memory reports through
// Options.OnMemoryWait.
type MemoryWait struct {
	// Used and Max are the fullest Redis master's used_memory and maxmemory in
	// bytes; both 0 when INFO could not be read.
	Used, Max int64
	// Waited is how long Redis has refused the write.
	Waited time.Duration
	// Limit is how long the import waits before it fails.
	Limit time.Duration
}

// A write Redis refuses because it reached its maxmemory (an OOM reply, under
// maxmemory-policy noeviction) changed nothing: Redis refuses a script before
// its first write. So every write of an import is retried, after a backoff,
// while Redis refuses it for want of memory: a worker draining the queues, a
// batch expiring or an operator raising maxmemory lets the import go on. Each
// step is idempotent besides (CreateBatch returns the batch a first try made;
// AdmitSegment, RecordRejects and the enqueues are keyed by segment, row and
// task id), as a re-run of an import needs.

// memoryWaiter retries one import's writes while Redis is full, for up to
// limit from the first refusal of each write, and reports the wait.
type memoryWaiter struct {
	p      *Producer
	limit  time.Duration // <= 0: fail at once
	report func(MemoryWait)

	mu       sync.Mutex
	reported time.Time
}

func (p *Producer) memoryWaiter(opts *Options) *memoryWaiter {
	limit := p.cfg.MemoryWait
	if opts.MemoryWait != 0 {
		limit = opts.MemoryWait
	}
	return &memoryWaiter{p: p, limit: limit, report: opts.OnMemoryWait}
}

// do runs write, and runs it again while Redis refuses it for want of memory,
// for up to w.limit. Then, or when ctx ends, it returns Redis's refusal.
func (w *memoryWaiter) do(ctx context.Context, write func() error) error {
	return w.retry(ctx, false, write)
}

// doWithRoom is do for a step that adds much to Redis (a segment): it first
// waits, within the same limit, while Redis is past memoryHighWater of its
// maxmemory; past the limit it tries anyway and Redis says.
func (w *memoryWaiter) doWithRoom(ctx context.Context, write func() error) error {
	return w.retry(ctx, true, write)
}

func (w *memoryWaiter) retry(ctx context.Context, room bool, write func() error) error {
	backoff := memoryBackoff
	var since time.Time
	for {
		full := room && w.limit > 0 && w.full(ctx)
		var err error
		if !full {
			err = write()
			if w.limit <= 0 || !store.OutOfMemory(err) {
				return err
			}
			w.p.room.forget()
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		waited := now.Sub(since)
		switch {
		case waited >= w.limit && full:
			room = false // out of patience: try, and let Redis say
			continue
		case waited >= w.limit:
			return fmt.Errorf("redis had no memory for %s: %w", waited.Round(time.Millisecond), err)
		}
		w.tell(ctx, waited)
		if err := sleep.For(ctx, min(backoff, w.limit-waited)); err != nil {
			return err
		}
		backoff = min(2*backoff, memoryMaxBackoff)
	}
}

// full reports whether Redis is past memoryHighWater of its maxmemory (false
// without a maxmemory, or when INFO cannot be read: the write will tell).
func (w *memoryWaiter) full(ctx context.Context) bool {
	if w.p.room.fresh(time.Now()) {
		return false
	}
	m, err := w.p.store.Memory(ctx)
	full := err == nil && m.Max > 0 && float64(m.Used) >= memoryHighWater*float64(m.Max)
	if err == nil && !full {
		w.p.room.saw(time.Now())
	}
	return full
}

// roomCheck remembers when Redis last had room below memoryHighWater.
type roomCheck struct {
	mu   sync.Mutex
	seen time.Time
}

// fresh reports whether Redis had room less than roomFresh before now.
func (r *roomCheck) fresh(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.seen.IsZero() && now.Sub(r.seen) < roomFresh
}

// forget drops the last reading: Redis has just refused a write.
func (r *roomCheck) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = time.Time{}
}

// saw records that Redis had room at now.
func (r *roomCheck) saw(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = now
}

// tell reports the wait, at most once per memoryReportGap for the whole import
// (its enqueues wait together).
func (w *memoryWaiter) tell(ctx context.Context, waited time.Duration) {
	if w.report == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Sub(w.reported) < memoryReportGap {
		return
	}
	w.reported = now
	m, _ := w.p.store.Memory(ctx) // the figures are a courtesy: 0 when unknown
	w.report(MemoryWait{Used: m.Used, Max: m.Max, Waited: waited, Limit: w.limit})
}
