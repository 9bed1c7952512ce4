package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// The send path's store steps for one chunk of 50 candidates, against a private
// redis-server: what a worker spends per chunk besides asynq and the request.
// Each iteration uses a new chunk of the same batch (the seqs move on), as a
// drain does; the batch is sized for the largest b.N seen here. Besides the
// time, each reports what the server spent per op (serverStats): script-µs/op
// in its scripts (EVAL, EVALSHA), redis-µs/op of CPU in all.
//
//	go test -run='^$' -bench=. -benchmem ./internal/store/

const benchChunk = 50

// benchStore starts a store on a private server with one batch, and reports
// the server's CPU per op of what follows (reportRedisCPU) when b ends.
func benchStore(b *testing.B) (*Store, string) {
	b.Helper()
	st := New(redistest.Start(b, redistest.Options{}).Client(), Config{})
	ctx := context.Background()
	const id = "bench"
	if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: benchChunk}); err != nil {
		b.Fatal(err)
	}
	reportRedisCPU(b, st.rdb)
	return st, id
}

// reportRedisCPU reports, when b ends, the server's CPU per op since now:
// script-µs/op and redis-µs/op (serverStats).
func reportRedisCPU(b *testing.B, rdb redis.UniversalClient) {
	b.Helper()
	before := readServerStats(b, rdb)
	b.Cleanup(func() {
		after := readServerStats(b, rdb)
		b.ReportMetric((after.scriptUS-before.scriptUS)/float64(b.N), "script-µs/op")
		b.ReportMetric((after.cpuUS-before.cpuUS)/float64(b.N), "redis-µs/op")
	})
}

// benchCands returns chunk i's candidates: seqs i*50..i*50+49.
func benchCands(i int) []task.Candidate {
	out := make([]task.Candidate, benchChunk)
	for k := range out {
		seq := int64(i*benchChunk + k)
		out[k] = task.Candidate{Seq: seq, Candidate: payload.Candidate{
			Email: fmt.Sprintf("cand%d@example.com", seq), ATSCandidateID: fmt.Sprintf("00000000-0000-4000-8000-%012d", seq)}}
	}
	return out
}

func BenchmarkStates(b *testing.B) {
	st, id := benchStore(b)
	ctx := context.Background()
	cs := benchCands(0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.States(ctx, id, cs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimForSending(b *testing.B) {
	st, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.ClaimForSending(ctx, id, target, benchCands(i), NewRunID(), task.DefaultChunkTimeout, false); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMarkSending(b *testing.B) {
	st, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.MarkSending(ctx, id, seqs(benchCands(i)), nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRecordOutcomes records a chunk's 50 successes: the ledger, then the batch.
func BenchmarkRecordOutcomes(b *testing.B) {
	st, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		cs := benchCands(i)
		recs := make([]Record, len(cs))
		for k, c := range cs {
			recs[k] = Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeInvited}
		}
		if _, err := st.RecordOutcomes(ctx, id, target, recs); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAdmitSegment admits a segment of 50 candidates with two
// de-duplication keys each, as an import does.
func BenchmarkAdmitSegment(b *testing.B) {
	st, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.AdmitSegment(ctx, id, i, benchCands(i), "", nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func seqs(cs []task.Candidate) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Seq
	}
	return out
}

// BenchmarkFind looks one person up across 1,000 batches of 20 candidates (an
// email and an ATS id each), the person in ten of them: one pipeline of
// findScript calls, then the ledger of the target.
func BenchmarkFind(b *testing.B) {
	st := New(redistest.Start(b, redistest.Options{}).Client(), Config{})
	ctx := context.Background()
	const batches, per = 1000, 20
	for i := range batches {
		id := fmt.Sprintf("find-%d", i)
		if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: per}); err != nil {
			b.Fatal(err)
		}
		cs := make([]task.Candidate, per)
		for k := range cs {
			email := fmt.Sprintf("p%d-%d@example.com", i, k)
			if k == 0 && i%100 == 0 {
				email = "alex@example.com"
			}
			cs[k] = task.Candidate{Seq: int64(k), Candidate: payload.Candidate{Email: email, ATSCandidateID: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", i, k)}}
		}
		if _, err := st.AdmitSegment(ctx, id, 0, cs, "", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := st.Find(ctx, FindKey{Email: "alex@example.com"}, "")
		if err != nil || len(got) != batches/100 {
			b.Fatalf("found %d, %v; want %d", len(got), err, batches/100)
		}
	}
}
