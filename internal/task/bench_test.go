package task_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// benchChunk is a full chunk as a drain carries it: 50 candidates with every
// field, and a 1 KB invitation message.
func benchChunk() *task.Chunk {
	c := &task.Chunk{V: task.VersionInline, BatchID: "nightly-2026-12-01", Segment: 12, Chunk: 3,
		Job: task.Job{Target: payload.Target{InterviewSetID: uuidA}, InvitationMessage: strings.Repeat("Hello {{candidate_name}}! ", 40)}}
	for i := range task.DefaultChunkSize {
		c.Candidates = append(c.Candidates, task.Candidate{Seq: int64(600 + i), Row: int64(602 + i), Candidate: payload.Candidate{
			ATSCandidateID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Email: fmt.Sprintf("candidate%d@example.com", i),
			Firstname: "First", Lastname: fmt.Sprintf("Last%d", i), CVLink: fmt.Sprintf("https://cv.example.com/%d.pdf", i)}})
	}
	return c
}

// BenchmarkChunkEncode: a chunk task's payload as the producer and the segment
// split write it (per chunk of 50).
func BenchmarkChunkEncode(b *testing.B) {
	c := benchChunk()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := task.NewChunkTask(c, "bi:b:s0:c0", task.QueueDefault, task.DefaultChunkTimeout); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkDecode: a chunk task's payload as the worker reads it.
func BenchmarkChunkDecode(b *testing.B) {
	t, _, err := task.NewChunkTask(benchChunk(), "bi:b:s0:c0", "", task.DefaultChunkTimeout)
	if err != nil {
		b.Fatal(err)
	}
	body := t.Payload()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := task.DecodeChunk(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCandidates: a version 2 chunk's blob as the worker reads it.
func BenchmarkDecodeCandidates(b *testing.B) {
	blob, err := task.EncodeCandidates(benchChunk().Candidates)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := task.DecodeCandidates(blob); err != nil {
			b.Fatal(err)
		}
	}
}
