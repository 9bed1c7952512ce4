package task_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

func FuzzDecodeChunk(f *testing.F) {
	good, err := json.Marshal(sampleChunk())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	traced := sampleChunk()
	traced.Trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if good, err = json.Marshal(traced); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, tt := range taskDecodeCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := task.DecodeChunk(b)
		if err != nil {
			if c != nil {
				t.Fatalf("DecodeChunk returned a task and an error %v", err)
			}
			return
		}
		if c.V < 1 || c.V > task.Version || c.BatchID == "" || len(c.Candidates) == 0 {
			t.Fatalf("DecodeChunk accepted %+v", c)
		}
		// A traceparent from the queue is outside input too: any is read or ignored.
		c.TraceContext(context.Background())
	})
}

// FuzzDecodeCandidates: a blob read from Redis (a format of this build or an
// older one, or corrupt) never panics or allocates without bound, and a blob
// this build wrote reads back as what it encoded.
func FuzzDecodeCandidates(f *testing.F) {
	for _, cands := range [][]task.Candidate{sampleChunk().Candidates, backfillRows(60)} {
		blob, err := task.EncodeCandidates(cands)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob, 0, len(cands))
	}
	old, err := hex.DecodeString(format1Blob)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old, 1, 2)
	f.Fuzz(func(t *testing.T, blob []byte, from, to int) {
		all, err := task.DecodeCandidates(blob)
		c := &task.Chunk{Ref: &task.Ref{From: from, To: to}}
		if err != nil {
			return
		}
		if from < 0 || to > len(all) || from >= to {
			if _, _, _, err := c.Load(blob); err == nil {
				t.Fatalf("Load of [%d, %d) of a blob of %d: nil error", from, to, len(all))
			}
			return
		}
		c.Ref.Lo, c.Ref.Hi = all[from].Seq, all[to-1].Seq
		part, first, last, err := c.Load(blob)
		if err != nil || !reflect.DeepEqual(part, all[from:to]) || first != all[0].Seq || last != all[len(all)-1].Seq {
			t.Fatalf("Load of [%d, %d) = %+v, %d..%d, %v; want %+v", from, to, part, first, last, err, all[from:to])
		}
		again, err := task.EncodeCandidates(all)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := task.DecodeCandidates(again); err != nil || !reflect.DeepEqual(back, all) {
			t.Fatalf("re-encoded blob reads %+v, %v; want %+v", back, err, all)
		}
	})
}
