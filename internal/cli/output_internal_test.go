package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/producer"
)

// TestPrintImportCountsSegments: the import summary says "1 segment", not
// "1 segments", as demo and enqueue print it.
func TestPrintImportCountsSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		segments int
		want     string
	}{
		{"none", 0, "; 0 segments enqueued\n"},
		{"one", 1, "; 1 segment enqueued\n"},
		{"several", 3, "; 3 segments enqueued\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			printImport(&b, &producer.Result{BatchID: "b1", Rows: 2, Accepted: 2, Segments: tt.segments})
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("printImport wrote %q, want it to contain %q", b.String(), tt.want)
			}
		})
	}
}
