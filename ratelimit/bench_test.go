package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// The benchmarks measure the limiter's own cost per request, with a rate so high
// that nobody waits for a token.

func BenchmarkAcquireLocal(b *testing.B) {
	l := NewLocal(Config{Rate: 1e9, Burst: 1 << 20, MaxInFlight: 1 << 20})
	benchAcquire(b, l)
}

// BenchmarkAcquireRedis is Acquire and release through the local stage and the
// shared step: two Redis round trips per request.
func BenchmarkAcquireRedis(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	l, err := New(srv.Client(), "benchkey", Config{Rate: 1e9, Burst: 1 << 20, MaxInFlight: 1 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchAcquire(b, l)
}

// BenchmarkStepRedis is the Lua step alone, from several clients at once, with
// the candidates-per-minute cap on (the most work the script does).
func BenchmarkStepRedis(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	l, err := New(srv.Client(), "benchkey", Config{Rate: 1e9, Burst: 1 << 20, MaxInFlight: 1 << 30,
		CandidatesPerMinute: 1 << 30, InFlightTTL: time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.step(ctx, 10); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchAcquire measures Acquire and release of one request at a time, from
// GOMAXPROCS goroutines.
func benchAcquire(b *testing.B, l acquirer) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, err := l.Acquire(ctx, 1)
			if err != nil {
				b.Error(err)
				return
			}
			release()
		}
	})
}
