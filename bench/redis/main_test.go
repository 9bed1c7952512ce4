package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs every measurement end to end at -short's sizes: the imports,
// the drains (with a replica for WAIT), the dead letters and the repeated
// imports, against the current code only.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run)
}
