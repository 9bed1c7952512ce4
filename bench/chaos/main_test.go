package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs the fault script end to end at -short's sizes in one mode:
// the processes, the faults (but the kill -9 of a worker), the drain and the
// checks of what was lost or sent twice, which fail it.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run)
}
