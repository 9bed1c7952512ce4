package main

import (
	"testing"

	"go.uber.org/goleak"
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
