package task_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// blobSample is sampleChunk's candidates and one with an ATS id and names.
func blobSample() []task.Candidate {
	return append(sampleChunk().Candidates, task.Candidate{Seq: 9, Row: 4, Candidate: payload.Candidate{ATSCandidateID: uuidA, Firstname: "Jo", Lastname: "Ng", Email: "jo@example.com"}})
}

// TestCandidatesBlobRoundTrip: every field of a chunk's candidates, a replay
// history included, comes back from its blob as it went in.
func TestCandidatesBlobRoundTrip(t *testing.T) {
	t.Parallel()
	want := blobSample()
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
	blob, err := task.EncodeCandidates(c.Candidates)
	if err != nil {
		t.Fatal(err)
	}
	part, first, last, err := got.Load(blob)
	if err != nil || len(part) != 1 || !reflect.DeepEqual(part[0], c.Candidates[1]) || first != 0 || last != 7 {
		t.Errorf("Load = %+v, %d..%d, %v; want seq 7 of a blob of 0..7", part, first, last, err)
	}
	got.Ref.Lo = 6
	if _, _, _, err := got.Load(blob); err == nil {
		t.Error("Load of a blob that does not hold the seqs named: nil error")
	}
	got.Ref.Lo, got.Ref.To = 7, 3
	if _, _, _, err := got.Load(blob); err == nil {
		t.Error("Load of candidates past the blob's end: nil error")
	}
}

// TestSharedRefChunk: a chunk task naming a blob shared by several chunks is
// written as version 3, which a build that reads only up to version 2 refuses
// as newer (and so hands back rather than archives); its parts keep naming the
// shared blob; a task naming its own blob is still version 2.
func TestSharedRefChunk(t *testing.T) {
	t.Parallel()
	c := &task.Chunk{BatchID: "b1", Segment: 2, Chunk: 6, Ref: &task.Ref{From: 100, To: 150, Lo: 2100, Hi: 2149, Shared: task.BlobChunks}}
	at, _, err := task.NewChunkTask(c, "bi:b1:s2:c6", "", task.DefaultChunkTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ V int }
	if err := json.Unmarshal(at.Payload(), &head); err != nil || head.V != task.VersionShared {
		t.Fatalf("payload %s: version %d, want %d", at.Payload(), head.V, task.VersionShared)
	}
	got, err := task.DecodeChunk(at.Payload())
	if err != nil || !reflect.DeepEqual(got.Ref, c.Ref) || got.FirstChunk() != 4 {
		t.Fatalf("DecodeChunk = %+v, %v; want its ref back, first chunk 4", got, err)
	}
	got.Candidates = make([]task.Candidate, 50)
	for i := range got.Candidates {
		got.Candidates[i].Seq = 2100 + int64(i)
	}
	if sub := got.Sub(10, 20); *sub != (task.Ref{From: 110, To: 120, Lo: 2110, Hi: 2119, Shared: task.BlobChunks}) {
		t.Errorf("Sub = %+v, want candidates [110, 120) of the same shared blob", sub)
	}
	c.Ref.Shared = 0
	if at, _, err = task.NewChunkTask(c, "bi:b1:s2:c6", "", task.DefaultChunkTimeout); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(at.Payload(), &head); err != nil || head.V != task.VersionRef {
		t.Errorf("payload %s of a chunk's own blob: version %d, want %d", at.Payload(), head.V, task.VersionRef)
	}
}

// TestBlobEdgeCases: what blob format 2 stores apart (an email's domain, a
// link's prefix shared with the one before, a canonical UUID's 16 bytes)
// comes back exactly, whatever the text: upper-case (one digit or all), braced
// and plain-text ids, emails with no '@' or several, empty fields, links that
// share all or nothing with the one before.
func TestBlobEdgeCases(t *testing.T) {
	t.Parallel()
	cands := []payload.Candidate{
		{ATSCandidateID: uuidA, Email: "a@b@example.com", CVLink: "https://x.example/cv/1"},
		{ATSCandidateID: strings.ToUpper(uuidA), Email: "no-at-sign", CVLink: "https://x.example/cv/1"},
		{ATSCandidateID: uuidA[:35] + "E", Email: "one@upper.example", CVLink: "https://x.example/cv/1"}, // one upper-case digit
		{ATSCandidateID: "{" + uuidA + "}", Email: "@", CVLink: "https://x.example/cv"},
		{ATSCandidateID: "ats-42", Email: "", Name: "Zoë", CVLink: ""},
		{ATSCandidateID: "", Email: "Mixed.Case@Example.COM", Firstname: "F", Lastname: "L", CVLink: "ftp://other"},
		{ATSCandidateID: uuidB, Email: "x@y", CVLink: "ftp://other/longer"},
	}
	want := make([]task.Candidate, len(cands))
	for i, c := range cands {
		want[i] = task.Candidate{Seq: int64(10 * i), Row: int64(3 * i), Candidate: c}
	}
	blob, err := task.EncodeCandidates(want)
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, blob, want, 4, 6)
}

// checkBlob asserts that blob holds want, and that a chunk task naming its
// candidates [from, to) loads those.
func checkBlob(t *testing.T, blob []byte, want []task.Candidate, from, to int) {
	t.Helper()
	got, err := task.DecodeCandidates(blob)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeCandidates: %v\n got %+v\nwant %+v", err, got, want)
	}
	c := &task.Chunk{Ref: &task.Ref{From: from, To: to, Lo: want[from].Seq, Hi: want[to-1].Seq}}
	part, first, last, err := c.Load(blob)
	if err != nil || !reflect.DeepEqual(part, want[from:to]) || first != want[0].Seq || last != want[len(want)-1].Seq {
		t.Errorf("Load of [%d, %d) = %+v, %d..%d, %v; want %+v of a blob of %d..%d", from, to, part, first, last, err, want[from:to], want[0].Seq, want[len(want)-1].Seq)
	}
}

// format1Blob is a blob of blob format 1, as the previous build's producer
// wrote it (task.EncodeCandidates then) for blobSample.
const format1Blob = "28b52ffd04007d0500a24b2824308bb80118d8a9b7eeab823f97a6153d42ab0a29efb4959018d33b8e0651c02f8f502403fab0090e868e6183111a2fc68b69dc16ee779c1e41fdc4af20d0b38a835b3d25f97fafb2ec3ce4b7b3cab2682edc094588ff7b1467fb5c070575f7b831c36443bac51ac659939f66b5d7f47aed0ef9180fa86a835c1891658115f5ff10d0858384ea649050552d404c0c894a93647844491d71820e005824c942158803000bcd11c52a1b0e37f13f45d99a"

// TestFormat1BlobStillDecodes: a blob an older producer stored (format 1)
// reads as it did, whole or in part, so that its version 2 tasks still send
// their candidates after the upgrade.
func TestFormat1BlobStillDecodes(t *testing.T) {
	t.Parallel()
	blob, err := hex.DecodeString(format1Blob)
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, blob, blobSample(), 1, 3)
}

// TestBlobSizeOfBackfillRows: bench/backfill's rows (ATS id, email, name, CV
// link) take at most 47 bytes each in a blob of a chunk of 50 and at most 41
// in a shared blob of task.BlobChunks chunks (blob format 1 took 52 in 50).
func TestBlobSizeOfBackfillRows(t *testing.T) {
	t.Parallel()
	cands := backfillRows(2000)
	for _, c := range []struct {
		size int
		max  float64
	}{{task.DefaultChunkSize, 47}, {task.BlobChunks * task.DefaultChunkSize, 41}} {
		total := 0
		for i := 0; i < len(cands); i += c.size {
			blob, err := task.EncodeCandidates(cands[i:min(i+c.size, len(cands))])
			if err != nil {
				t.Fatal(err)
			}
			total += len(blob)
		}
		per := float64(total) / float64(len(cands))
		t.Logf("blobs of %d: %.1f B per candidate", c.size, per)
		if per > c.max {
			t.Errorf("blobs of %d: %.1f B per candidate, want at most %.0f", c.size, per, c.max)
		}
	}
}

// backfillRows are n candidates as bench/backfill generates them (its
// bench/internal/names and data.go): a UUID ATS id, an email made of the
// name and the row, the name, a CV link with a hash and the name.
func backfillRows(n int) []task.Candidate {
	first := []string{"Anna", "Bertrand", "Chiara", "Dmitri", "Elif", "Fatima", "Gustavo", "Hiroshi",
		"Ines", "Jonas", "Katarzyna", "Liam", "Mariana", "Nguyen", "Olusegun", "Priya"}
	last := []string{"Andersson", "Bianchi", "Castillo", "Dubois", "Evans", "Fischer", "Garcia", "Hoffmann",
		"Ivanova", "Jensen", "Kowalski", "Lefebvre", "Moreau", "Nakamura", "Okafor", "Papadopoulos"}
	out := make([]task.Candidate, n)
	for i := range out {
		f, l := first[i%len(first)], last[(i/len(first))%len(last)]
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		h[6] = h[6]&0x0f | 0x40
		h[8] = h[8]&0x3f | 0x80
		x := hex.EncodeToString(h[:16])
		fl := strings.ToLower(f) + "-" + strings.ToLower(l)
		out[i] = task.Candidate{Seq: int64(i), Row: int64(i + 2), Candidate: payload.Candidate{
			ATSCandidateID: x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:],
			Email:          fmt.Sprintf("%s.%s%d@example-mail.com", strings.ToLower(f), strings.ToLower(l), i),
			Name:           f + " " + l,
			CVLink:         "https://files.example-ats.com/cv/" + hex.EncodeToString(h[16:24]) + "/" + fl + ".pdf"}}
	}
	return out
}
