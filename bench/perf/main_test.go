package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPickSections(t *testing.T) {
	t.Parallel()
	got, err := pickSections(" held, import ,held,,")
	if err != nil || len(got) != 2 || got[0] != "import" || got[1] != "held" {
		t.Errorf("pickSections = %v, %v; want [import held] in run order", got, err)
	}
	for _, bad := range []string{"", " , ", "import,nope"} {
		if _, err := pickSections(bad); err == nil {
			t.Errorf("pickSections(%q): want an error", bad)
		}
	}
}

// TestSmoke runs every section end to end at -short's sizes: the import, the
// drain beside the raw poster, pickup, the held rate and both adaptive
// scenarios, against the current code.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run)
}
