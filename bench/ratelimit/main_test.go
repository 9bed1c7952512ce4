package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs every scenario end to end at -short's sizes: Redis, the
// sandbox and the workers started, requests counted at the sandbox.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run)
}
