package task_test

import (
	"context"
	"encoding/json"
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
