package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs the backfill end to end at -short's size: generate, import
// into a bounded Redis, drain, sample, and write the CSV and the SVG.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run, "-out", t.TempDir())
}

func TestMaxMemoryScalesWithRows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 1500},
		{[]string{"-rows", "200000"}, 30},
		{[]string{"-rows", "2000"}, minMaxMemMB},
		{[]string{"-rows", "2000", "-maxmemory-mb", "64"}, 64},
	} {
		o, err := parseFlags(c.args)
		if err != nil || o.maxMemMB != c.want {
			t.Errorf("%v: maxmemory %d MB, %v; want %d", c.args, o.maxMemMB, err, c.want)
		}
	}
}
