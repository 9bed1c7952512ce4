package cli_test

import (
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestEnqueueWaitsForRedisMemoryThenFails: enqueue into a Redis at its
// maxmemory says it is waiting for memory, with how full Redis is, and after
// BULKINVITE_REDIS_MEMORY_WAIT fails as it would at once: Redis's OOM, exit 1. Once there is room, the same command
// completes the batch.
func TestEnqueueWaitsForRedisMemoryThenFails(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.env["BULKINVITE_REDIS_MEMORY_WAIT"] = "2s"
	var rows strings.Builder
	rows.WriteString("email,name\n")
	for _, c := range pipelinetest.Candidates("full", 300) {
		rows.WriteString(c.Email + "," + c.Name + "\n")
	}
	file := writeFile(t, "full.csv", rows.String())
	args := []string{"enqueue", file, "--interview-set", pipelinetest.Target.InterviewSetID, "--batch-id", "full"}
	redistest.FillMemory(t, tb.RDB)
	r := tb.run(t, "", args...)
	t.Logf("exit %d, stderr:\n%s", r.code, r.stderr)
	for _, want := range []string{"waiting for Redis memory (used ", " of maxmemory ", "of 2s", "redis had no memory for",
		"bulkinvite: ", "OOM command not allowed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	redistest.RaiseMaxmemory(t, tb.RDB)
	if r := tb.run(t, "", append(args, "--json")...); r.code != 0 || !strings.Contains(r.stdout, `"accepted":300`) {
		t.Errorf("the same command with room: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
