package task_test

import (
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
	})
}
