package worker_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestKeyNeverLogged drives the worker through every path that logs — success,
// per-candidate errors, 5xx retries, lost replies, 422 splits, 429s, a 404 and an
// auth stop — with debug logging on, and checks the key's secret appears nowhere
// in the logs or the dead letters.
func TestKeyNeverLogged(t *testing.T) {
	t.Parallel()
	const secret = "test-secret-0001"
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Seed: 11, Faults: sandbox.Faults{FailRate: 0.3, LostReplyRate: 0.1, Rate: 50, Burst: 2}}})
	var logs syncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 3, MaxAttempts: 2}, Log: log})

	cands := pipelinetest.Candidates("leak", 20)
	cands = append(cands, payload.Candidate{Email: "x+invitation_error@example.com"}, payload.Candidate{Email: "y@vendor.invalid"})
	res := b.Import("leak", cands, nil)
	b.WaitDone(res.BatchID, wait)
	nf := task.Job{Target: payload.Target{InterviewSetID: "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"}}
	b.WaitDone(b.Import("leak-404", pipelinetest.Candidates("nf", 2), &nf).BatchID, wait)

	if err := b.API.SetKeyState(sandbox.DefaultKey, sandbox.KeyMissingScope); err != nil {
		t.Fatal(err)
	}
	b.Import("leak-auth", pipelinetest.Candidates("auth", 3), nil)
	deadline := time.Now().Add(wait)
	for !strings.Contains(logs.String(), "ALL SENDING STOPPED") {
		if time.Now().After(deadline) {
			t.Fatal("the auth stop was never logged")
		}
		time.Sleep(20 * time.Millisecond)
	}

	out := logs.String()
	for _, want := range []string{"fl_live_sandbox.****", "rate limited", "will retry"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q; the test did not cover that path", want)
		}
	}
	if strings.Contains(out, secret) {
		t.Errorf("the key's secret is in the logs:\n%s", out)
	}
	for _, batch := range []string{"leak", "leak-404"} {
		for who, d := range b.DeadLetters(batch) {
			if strings.Contains(string(d.Errors[payload.FieldErrorMessage]), secret) || strings.Contains(d.Detail, secret) {
				t.Errorf("dead letter of %s holds the secret: %+v", who, d)
			}
		}
	}
}
