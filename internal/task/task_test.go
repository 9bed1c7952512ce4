package task_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Valid UUIDs for targets and ATS ids.
const (
	uuidA = "019c5ea9-a792-7f0d-b671-4c3c1602094e"
	uuidB = "019c5eb3-fb50-707b-9833-0862efa4b275"
)

func sampleChunk() *task.Chunk {
	yes := true
	return &task.Chunk{
		V: task.VersionInline, BatchID: "b1", Segment: 2, Chunk: 3,
		Job: task.Job{Target: payload.Target{ProjectID: uuidA, JobPostID: uuidB}, InvitationMessage: "Hello {{candidate_name}}", SendInvite: &yes, Reinvite: true},
		Candidates: []task.Candidate{
			{Seq: 0, Row: 2, Candidate: payload.Candidate{Email: "a@example.com", Name: "A"}},
			{Seq: 7, Row: 9, Candidate: payload.Candidate{CVLink: "https://x.example/cv"}, History: &task.History{
				DeadLetterID: "dl1", BatchID: "b0", Attempts: 4, FirstFailedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			}},
		},
	}
}

func TestChunkTaskRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleChunk()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.DecodeChunk(b)
	if err != nil {
		t.Fatalf("DecodeChunkTask = %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	// The candidate's fields are inline, as the vendor spells them.
	if !strings.Contains(string(b), `"email":"a@example.com"`) {
		t.Errorf("payload %s does not inline the candidate", b)
	}
}

func TestSegmentTaskRoundTrip(t *testing.T) {
	t.Parallel()
	c := sampleChunk()
	want := &task.Segment{V: task.SegmentVersion, BatchID: c.BatchID, Segment: c.Segment, Job: c.Job, Candidates: c.Candidates}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.DecodeSegment(b)
	if err != nil {
		t.Fatalf("DecodeSegmentTask = %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// taskDecodeCases are shared by the segment and chunk decoders: body, whether the
// error must be ErrTaskVersion, and a fragment of the error ("" = no error).
var taskDecodeCases = []struct {
	name        string
	body        string
	wantVersion bool
	wantErr     string
}{
	{name: "version 1", body: `{"v":1,"batch_id":"b","candidates":[{"seq":0,"email":"a@example.com"}]}`},
	{name: "unknown fields tolerated", body: `{"v":1,"batch_id":"b","later":"x","candidates":[{"seq":0,"email":"a@example.com","extra":1}]}`},
	{name: "version missing", body: `{"batch_id":"b","candidates":[{"seq":0}]}`, wantVersion: true, wantErr: "v=0"},
	{name: "version 0", body: `{"v":0,"batch_id":"b","candidates":[{"seq":0}]}`, wantVersion: true, wantErr: "v=0"},
	{name: "negative version", body: `{"v":-1,"batch_id":"b","candidates":[{"seq":0}]}`, wantVersion: true},
	{name: "future version", body: `{"v":4,"batch_id":"b","candidates":[{"seq":0}]}`, wantVersion: true, wantErr: "v=4, this build reads 1.."},
	{name: "future version with a new shape", body: `{"v":4,"batch_id":{"id":"b"},"job":[1],"candidates":{"inline":true}}`, wantVersion: true, wantErr: "v=4"},
	{name: "null", body: `null`, wantVersion: true},
	{name: "version as string", body: `{"v":"1","batch_id":"b","candidates":[{"seq":0}]}`, wantErr: "decode task payload"},
	{name: "garbage", body: `\x00garbage`, wantErr: "decode task payload"},
	{name: "empty", body: ``, wantErr: "decode task payload"},
	{name: "array", body: `[1,2]`, wantErr: "decode task payload"},
	{name: "truncated", body: `{"v":1,"batch_id":"b","candidates":[`, wantErr: "decode task payload"},
	{name: "wrong type in version 1", body: `{"v":1,"batch_id":"b","candidates":[{"seq":"zero"}]}`, wantErr: "decode task payload"},
	{name: "no batch id", body: `{"v":1,"candidates":[{"seq":0}]}`, wantErr: "batch_id is empty"},
}

func TestDecodeSegmentTask(t *testing.T) {
	t.Parallel()
	for _, tt := range taskDecodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := task.DecodeSegment([]byte(tt.body))
			checkTaskErr(t, err, tt.wantVersion, tt.wantErr)
			if err == nil && (got.V != 1 || got.BatchID != "b") {
				t.Errorf("DecodeSegmentTask = %+v", got)
			}
		})
	}
	t.Run("segment without candidates is fine", func(t *testing.T) {
		t.Parallel()
		if _, err := task.DecodeSegment([]byte(`{"v":1,"batch_id":"b"}`)); err != nil {
			t.Errorf("DecodeSegmentTask = %v", err)
		}
	})
}

func TestDecodeChunkTask(t *testing.T) {
	t.Parallel()
	for _, tt := range taskDecodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := task.DecodeChunk([]byte(tt.body))
			checkTaskErr(t, err, tt.wantVersion, tt.wantErr)
			if err == nil && (got.V != 1 || got.BatchID != "b" || len(got.Candidates) != 1) {
				t.Errorf("DecodeChunkTask = %+v", got)
			}
		})
	}
	t.Run("chunk without candidates", func(t *testing.T) {
		t.Parallel()
		_, err := task.DecodeChunk([]byte(`{"v":1,"batch_id":"b","segment":1,"chunk":2,"candidates":[]}`))
		checkTaskErr(t, err, false, "chunk task b/1/2: no candidates")
	})
}

func checkTaskErr(tb testing.TB, err error, wantVersion bool, wantErr string) {
	tb.Helper()
	if wantErr == "" && !wantVersion {
		if err != nil {
			tb.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("err = nil, want an error")
	}
	if got := errors.Is(err, task.ErrVersion); got != wantVersion {
		tb.Errorf("errors.Is(%v, ErrTaskVersion) = %v, want %v", err, got, wantVersion)
	}
	if !strings.Contains(err.Error(), wantErr) {
		tb.Errorf("err = %q, want it to contain %q", err, wantErr)
	}
}

func TestTaskIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "segment", got: task.SegmentID("b1", 0), want: "bi:b1:s0"},
		{name: "segment 12", got: task.SegmentID("b1", 12), want: "bi:b1:s12"},
		{name: "chunk", got: task.ChunkID("b1", 0, 0), want: "bi:b1:s0:c0"},
		{name: "chunk 3 of segment 12", got: task.ChunkID("b1", 12, 3), want: "bi:b1:s12:c3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("id = %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestTaskIDsDeterministicAndDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	add := func(id, what string) {
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s share task id %q", prev, what, id)
		}
		seen[id] = what
	}
	for _, batch := range []string{"b1", "b2", "b1:s1"} {
		for s := range 12 {
			id := task.SegmentID(batch, s)
			if again := task.SegmentID(batch, s); again != id {
				t.Fatalf("SegmentTaskID not deterministic: %q then %q", id, again)
			}
			add(id, "segment "+batch+"/"+strconv.Itoa(s))
			for c := range 12 {
				id := task.ChunkID(batch, s, c)
				if again := task.ChunkID(batch, s, c); again != id {
					t.Fatalf("ChunkTaskID not deterministic: %q then %q", id, again)
				}
				add(id, "chunk "+batch+"/"+strconv.Itoa(s)+"/"+strconv.Itoa(c))
			}
		}
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	got := task.Candidates(sampleChunk().Candidates)
	want := []payload.Candidate{{Email: "a@example.com", Name: "A"}, {CVLink: "https://x.example/cv"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Candidates = %+v, want %+v", got, want)
	}
	if got := task.Candidates(nil); got == nil || len(got) != 0 {
		t.Errorf("Candidates(nil) = %#v, want empty", got)
	}
}
