package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/bench/internal/smoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs the program end to end at -short's sizes: the binary built,
// Redis and serve started, batches posted and found in Redis as posted.
func TestSmoke(t *testing.T) {
	smoke.Run(t, run)
}
