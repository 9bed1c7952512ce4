package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// deadLetters imports n candidates as batchID and records each as a dead letter.
func deadLetters(t *testing.T, tb *testBundle, batchID string, n int) {
	t.Helper()
	cands := pipelinetest.Candidates(batchID, n)
	tb.Import(batchID, cands, nil)
	recs := make([]store.Record, n)
	for i, c := range cands {
		recs[i] = store.Record{Seq: int64(i), Candidate: c, Outcome: payload.OutcomeDeadLettered, DeadLetter: &store.DeadLetter{
			ID: store.DeadLetterID(batchID, int64(i)), BatchID: batchID, Reason: payload.ReasonValidation, Candidate: c, Target: pipelinetest.Target, Attempts: 1}}
	}
	if _, err := tb.Store.RecordOutcomes(context.Background(), batchID, pipelinetest.Target, recs); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLetterEmptyFlagIsNotEverything: --batch "" or --reason "" (a script's
// unset variable) is a usage error that touches nothing; before, `purge --batch
// "" --yes` purged every batch's dead letters. Leaving the flags out still
// takes every batch, as the contract says, and a purge of them asks for --yes
// and says it is every batch.
func TestDeadLetterEmptyFlagIsNotEverything(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	deadLetters(t, tb, "ef-a", 3)
	deadLetters(t, tb, "ef-b", 2)
	for _, args := range [][]string{
		{"purge", "--batch", "", "--yes"},
		{"purge", "--batch=", "--yes"},
		{"purge", "--batch", "ef-a", "--reason", "", "--yes"},
		{"replay", "--batch", ""},
		{"list", "--batch", ""},
	} {
		r := tb.run(t, "", append([]string{"deadletter"}, args...)...)
		flag := "--batch"
		if strings.Contains(strings.Join(args, " "), "--reason") {
			flag = "--reason"
		}
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, flag+" is empty") {
			t.Errorf("deadletter %q: exit %d, want %d saying %s is empty\nstdout %s\nstderr %s", args, r.code, cli.ExitUsage, flag, r.stdout, r.stderr)
		}
	}
	if n := len(tb.DeadLetters("ef-a")) + len(tb.DeadLetters("ef-b")); n != 5 {
		t.Fatalf("%d dead letters left of 5: a refused command took some", n)
	}
	if r := tb.run(t, "", "deadletter", "purge"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "would purge 5 dead letters of every batch") {
		t.Errorf("purge without filters or --yes: %d %s", r.code, r.stderr)
	}
	if r := tb.run(t, "", "deadletter", "purge", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "purged 5") {
		t.Errorf("purge --yes without filters: %d %s %s", r.code, r.stdout, r.stderr)
	}
}
