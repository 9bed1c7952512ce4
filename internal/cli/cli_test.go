package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/worker"
)

// testBundle runs the real command line against a private Redis and the sandbox.
type testBundle struct {
	*pipelinetest.Bundle
	env map[string]string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := pipelinetest.New(t, pipelinetest.Options{})
	return &testBundle{Bundle: b, env: map[string]string{
		"REDIS_URL":             b.Redis.URL(),
		"FLOWMINGO_API_URL":     b.API.URL,
		"FLOWMINGO_API_KEY":     sandbox.DefaultKey,
		"BULKINVITE_LOG_FORMAT": "json",
	}}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use. go-redis logs through one
// logger for the whole process, from its own goroutines, so a command's stderr may
// be written by a client that another command, running in parallel, left behind.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

func (tb *testBundle) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return tb.runFor(t, 60*time.Second, stdin, args...)
}

// runFor runs the command line with a deadline, as a user pressing Ctrl-C would.
func (tb *testBundle) runFor(t *testing.T, d time.Duration, stdin string, args ...string) result {
	t.Helper()
	var out, errb lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	code := cli.Run(ctx, args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return tb.env[k] }})
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.stdout+r.stderr, "test-secret-0001") {
		t.Errorf("the API key's secret was printed by %v:\n%s\n%s", args, r.stdout, r.stderr)
	}
	return r
}

const csvFile = `email,first name,cv url
ann@example.com,Ann,
bob@example.com,Bob,
BOB@example.com,Bob again,
dana+invitation_error@example.com,Dana,
,no email,
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnqueueWaitStatusAndDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 2}})
	file := writeFile(t, "cands.csv", csvFile)

	r := tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "b1", "--wait", "--json")
	if r.code != cli.ExitDeadLettered {
		t.Fatalf("exit %d, want 3 (dead-lettered)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "line 6: email:") {
		t.Errorf("the rejected row is not reported with its line and field:\n%s", r.stderr)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("--wait --json output is not JSON: %v\n%s", err, r.stdout)
	}
	for k, want := range map[string]float64{"total": 5, "accepted": 4, "rejected": 1, "invited": 2, "cv_queued": 0, "dead_lettered": 1, "skipped_duplicate": 1, "pending": 0} {
		if st[k] != want {
			t.Errorf("%s = %v, want %v", k, st[k], want)
		}
	}
	if st["batch_id"] != "b1" || st["state"] != "done" {
		t.Errorf("status %v", st)
	}

	// status --json has exactly the contract's fields (and may add more).
	r = tb.run(t, "", "status", "b1", "--json")
	if r.code != 0 {
		t.Fatalf("status: %d %s", r.code, r.stderr)
	}
	for _, k := range []string{"batch_id", "state", "total", "accepted", "rejected", "invited", "cv_queued", "dead_lettered", "skipped_duplicate", "pending"} {
		if !strings.Contains(r.stdout, `"`+k+`":`) {
			t.Errorf("status --json lacks %q: %s", k, r.stdout)
		}
	}

	r = tb.run(t, "", "deadletter", "list", "--batch", "b1", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 1 {
		t.Fatalf("deadletter list: %d %q", r.code, r.stdout)
	}
	var dl map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &dl); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "batch_id", "reason", "errors", "candidate", "target", "attempts", "first_failed_at", "last_failed_at", "last_http_status"} {
		if _, ok := dl[k]; !ok {
			t.Errorf("dead letter lacks %q: %s", k, lines[0])
		}
	}
	if dl["reason"] != "invitation_error" {
		t.Errorf("reason %v", dl["reason"])
	}
	if errs, _ := dl["errors"].(map[string]any); errs["invitation_error_message"] == nil {
		t.Errorf("errors %v lack invitation_error_message", dl["errors"])
	}

	r = tb.run(t, "", "deadletter", "list", "--csv")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "id,batch_id,reason,") || !strings.Contains(r.stdout, "dana+invitation_error@example.com") {
		t.Errorf("deadletter list --csv: %d %s", r.code, r.stdout)
	}

	// The same batch id again is the same batch.
	r = tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "b1")
	if r.code != 0 || !strings.Contains(r.stdout, "already fully enqueued") {
		t.Errorf("re-run: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// purge without --yes refuses; with it, deletes.
	if r = tb.run(t, "", "deadletter", "purge", "--batch", "b1"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "would purge 1") {
		t.Errorf("purge without --yes: %d %s", r.code, r.stderr)
	}
	r = tb.run(t, "", "deadletter", "replay", "--batch", "b1")
	if r.code != 0 || len(strings.Fields(r.stdout)) != 1 {
		t.Fatalf("replay: %d %q %s", r.code, r.stdout, r.stderr)
	}
	replayID := strings.TrimSpace(r.stdout)
	tb.WaitDone(replayID, 30*time.Second)
	if r = tb.run(t, "", "deadletter", "purge", "--batch", replayID, "--yes"); r.code != 0 || !strings.Contains(r.stdout, "purged 1") {
		t.Errorf("purge: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = tb.run(t, "", "deadletter", "list", "--json"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("dead letters left: %s", r.stdout)
	}
}

func TestEnqueueStdinAndSeedRequestBody(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.StartWorker(pipelinetest.WorkerOptions{})
	seed := string(configs.SampleRequestJSON)
	r := tb.run(t, seed, "enqueue", "-", "--format", "json", "--wait", "--batch-id", "seed")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := tb.API.InviteCount(pipelinetest.Target, "alex@example.com"); n != 1 {
		t.Errorf("alex invited %d times", n)
	}
	// The sample has invitation_message and send_invite after its candidates.
	b, err := tb.Store.Batch(context.Background(), "seed")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Job.InvitationMessage, "<p>Dear <b><span>{{candidate_name}}") || b.Job.SendInvite == nil || !*b.Job.SendInvite {
		t.Errorf("the batch's job is %+v, want the sample's message and send_invite", b.Job)
	}
	if b.Owner != "cli" {
		t.Errorf("the CLI's batch is owned by %q, want cli", b.Owner)
	}
	r = tb.run(t, "{\"email\":\"jo@example.com\"}\n{\"email\":5}\n", "enqueue", "-", "--format", "jsonl", "--interview-set", sandbox.DemoInterviewSetID, "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "line 2") {
		t.Errorf("jsonl: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := writeFile(t, "c.csv", csvFile)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"enqueue"}, "one FILE"},
		{"no target", []string{"enqueue", file}, "target"},
		{"bad uuid", []string{"enqueue", file, "--interview-set", "nope"}, "com_interview_set_id"},
		{"both targets", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--project", sandbox.DemoProjectID}, "not both"},
		{"stdin without format", []string{"enqueue", "-", "--interview-set", sandbox.DemoInterviewSetID}, "--format"},
		{"short message", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--message", "hi"}, "invitation_message"},
		{"bad batch id", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "a b"}, "batch id"},
		{"bad not-before", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--not-before", "tomorrow"}, "--not-before: \"tomorrow\" is neither an RFC 3339 time"},
		{"negative not-before", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--not-before", "-2h"}, "--not-before: \"-2h\" is a negative duration"},
		{"not-before years ahead", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--not-before", "20000h"}, "--not-before: "},
		{"bad send-window zone", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--send-window", "Mon-Fri 09:00-17:00 Europe/Berln"}, `--send-window: unknown time zone "Europe/Berln"`},
		{"bad send-window day", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--send-window", "Mon-Fry 09:00-17:00"}, `--send-window: unknown day "Fry"`},
		{"bad send-window time", []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--send-window", "9-17"}, "--send-window: no time range"},
		{"unknown flag", []string{"status", "x", "--nope"}, "unknown flag"},
		{"flag of a setting the command does not read", []string{"status", "x", "--concurrency", "3"}, "unknown flag: --concurrency"},
		{"bad reason", []string{"deadletter", "list", "--reason", "sad"}, "unknown reason"},
		{"bad env", []string{"status", "x"}, "BULKINVITE_RATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tb
			if tt.name == "bad env" {
				env = &testBundle{Bundle: tb.Bundle, env: map[string]string{"BULKINVITE_RATE": "-1"}}
			}
			r := env.run(t, "", tt.args...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
	if r := tb.run(t, "", "status", "no-such-batch"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown batch: %d %s", r.code, r.stderr)
	}
	// A batch id names one file: the same id with another file is refused.
	if r := tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "one-file"); r.code != cli.ExitOK {
		t.Fatalf("first import: %d %s", r.code, r.stderr)
	}
	other := writeFile(t, "other.csv", csvFile+"late@example.com,Late,\n")
	if r := tb.run(t, "", "enqueue", other, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "one-file"); r.code != cli.ExitUsage ||
		!strings.Contains(r.stderr, "batch one-file: batch id names a batch with other candidates") || !strings.Contains(r.stderr, "new --batch-id") {
		t.Errorf("the same batch id with another file: exit %d, stderr %q; want 2 saying it names other candidates and a new import needs a new --batch-id", r.code, r.stderr)
	}
}

func TestResumeAndLimits(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	if err := tb.Store.StopAuth(context.Background(), tb.Key.ID(), tb.Key.Masked(), 403, "key inactive"); err != nil {
		t.Fatal(err)
	}
	r := tb.run(t, "", "limits")
	if r.code != 0 || !strings.Contains(r.stdout, "SENDING STOPPED") || !strings.Contains(r.stdout, "fl_live_sandbox.****") {
		t.Errorf("limits: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = tb.run(t, "", "resume")
	if r.code != 0 || !strings.Contains(r.stdout, "resumed sending") {
		t.Errorf("resume: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if stop, _ := tb.Store.AuthStopped(context.Background(), tb.Key.ID()); stop != nil {
		t.Errorf("still stopped: %+v", stop)
	}
	if r = tb.run(t, "", "resume"); r.code != 0 || !strings.Contains(r.stdout, "nothing to resume") {
		t.Errorf("second resume: %d %s", r.code, r.stdout)
	}
	if r = tb.run(t, "", "limits", "--json"); r.code != 0 || !json.Valid([]byte(r.stdout)) {
		t.Errorf("limits --json: %d %s", r.code, r.stdout)
	}
}

// TestResumeRotatedKey: the key was rotated, as docs/cli.md says to do; resume run
// with the new key clears the old key's stop and unpauses the queues the stop
// paused, instead of answering "nothing to resume".
func TestResumeRotatedKey(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	old := flowmingo.NewAPIKey("fl_live_oldkey.deadbeef")
	if err := tb.Store.StopAuth(ctx, old.ID(), old.Masked(), 401, "key deleted"); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(tb.RDB)
	if _, err := tb.Store.PausedForAuth(ctx, old.ID(), "default"); err != nil {
		t.Fatal(err)
	}
	if err := insp.PauseQueue("default"); err != nil {
		t.Fatal(err)
	}
	r := tb.run(t, "", "resume")
	if r.code != 0 || !strings.Contains(r.stdout, "resumed sending for key fl_live_oldkey.****") || !strings.Contains(r.stdout, "restart them with "+tb.Key.Masked()) {
		t.Errorf("resume: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if stops, _ := tb.Store.AuthStops(ctx); len(stops) != 0 {
		t.Errorf("stops left: %+v", stops)
	}
	if n, err := tb.RDB.Exists(ctx, "asynq:{default}:paused").Result(); err != nil || n != 0 {
		t.Errorf("queue default still paused: %d %v", n, err)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	var out, errb lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Run(ctx, []string{"demo"}, cli.IO{Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"rejected: line", "invited", "dead letters", "replay", "0 duplicate invites", "Next, against a real Redis"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestWatchSaysWhenSendingStopped: a batch held by an auth stop does not just sit at
// 0%: the watcher says why and what to do.
func TestWatchSaysWhenSendingStopped(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	res := tb.Import("held", pipelinetest.Candidates("held", 3), nil)
	if err := tb.Store.StopAuth(context.Background(), tb.Key.ID(), tb.Key.Masked(), 401, "key deleted"); err != nil {
		t.Fatal(err)
	}
	r := tb.runFor(t, 1500*time.Millisecond, "", "status", res.BatchID, "--watch")
	if !strings.Contains(r.stderr, "SENDING STOPPED for key fl_live_sandbox.****") || !strings.Contains(r.stderr, "bulkinvite resume") {
		t.Errorf("stderr %q", r.stderr)
	}
}
