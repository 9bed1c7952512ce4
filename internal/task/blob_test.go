package task_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestCandidatesBlobRoundTrip: every field of a chunk's candidates, a replay
// history included, comes back from its blob as it went in.
func TestCandidatesBlobRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleChunk().Candidates
	want = append(want, task.Candidate{Seq: 9, Row: 4, Candidate: payload.Candidate{ATSCandidateID: uuidA, Firstname: "Jo", Lastname: "Ng", Email: "jo@example.com"}})
	blob, err := task.EncodeCandidates(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.DecodeCandidates(blob)
	if err != nil {
		t.Fatalf("DecodeCandidates = %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range [][]byte{nil, blob[:len(blob)/2], []byte("not zstd")} {
		if _, err := task.DecodeCandidates(bad); err == nil {
			t.Errorf("DecodeCandidates(%q) = nil error", bad)
		}
	}
}

// TestCandidatesBlobSize: a chunk of 50 candidates like bench/redis's (email,
// name, CV link: about 120 bytes of fields) takes well under 60 bytes each.
func TestCandidatesBlobSize(t *testing.T) {
	t.Parallel()
	cands := make([]task.Candidate, 50)
	fields := 0
	for i := range cands {
		c := payload.Candidate{Email: fmt.Sprintf("candidate%07d@example-mail%d.com", 1000+i, i%7), Name: fmt.Sprintf("Candidate Number %d", 1000+i),
			CVLink: fmt.Sprintf("https://cdn.example.com/cv/2026/%d/resume-%07d.pdf", i%12, 1000+i)}
		cands[i] = task.Candidate{Seq: int64(5000 + i), Row: int64(5002 + i), Candidate: c}
		fields += len(c.Email) + len(c.Name) + len(c.CVLink)
	}
	blob, err := task.EncodeCandidates(cands)
	if err != nil {
		t.Fatal(err)
	}
	per := float64(len(blob)) / float64(len(cands))
	t.Logf("%.1f B of fields, %.1f B of blob per candidate", float64(fields)/50, per)
	if per > 60 {
		t.Errorf("blob takes %.1f B per candidate, want at most 60", per)
	}
}

// TestRefChunkRoundTrip: a version 2 chunk task carries its reference, its
// schedule and its split origin, and neither its job nor its candidates.
func TestRefChunkRoundTrip(t *testing.T) {
	t.Parallel()
	c := sampleChunk()
	c.Job.Schedule = &task.Schedule{NotBefore: 1700000000000, Window: "Mon-Fri 09:00-17:00 UTC"}
	c.Split = &task.SplitOrigin{Root: "bi:b1:s2:c3", Size: 50}
	c.Ref = &task.Ref{From: 0, To: 2, Lo: 0, Hi: 7}
	c.Ref = c.Sub(1, 2)
	at, _, err := task.NewChunkTask(c, "bi:b1:s2:c3/1", "", task.DefaultChunkTimeout)
	if err != nil {
		t.Fatal(err)
	}
	body := string(at.Payload())
	for _, leak := range []string{"a@example.com", "Hello", uuidA} {
		if strings.Contains(body, leak) {
			t.Errorf("payload %s carries %q", body, leak)
		}
	}
	got, err := task.DecodeChunk(at.Payload())
	if err != nil {
		t.Fatalf("DecodeChunk = %v", err)
	}
	want := &task.Chunk{V: task.VersionRef, BatchID: "b1", Segment: 2, Chunk: 3, Job: task.Job{Schedule: c.Job.Schedule}, Split: c.Split,
		Ref: &task.Ref{From: 1, To: 2, Lo: 7, Hi: 7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	part, err := got.Cover(c.Candidates)
	if err != nil || len(part) != 1 || part[0].Seq != 7 {
		t.Errorf("Cover = %+v, %v; want seq 7", part, err)
	}
	got.Ref.Lo = 6
	if _, err := got.Cover(c.Candidates); err == nil {
		t.Error("Cover of a blob that does not hold the seqs named: nil error")
	}
}
