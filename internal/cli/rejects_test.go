package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// TestStatusRejects: status --rejects lists every row the import rejected, by
// row, as enqueue said it (plain) or in the HTTP API's shape (--json): lines of
// a CSV file, over more than one page of the store, and 0-based indexes of a
// JSON array.
func TestStatusRejects(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var csv strings.Builder
	csv.WriteString("email,first name\nann@example.com,Ann\n")
	const bad = 1203 // more than one page of the store's reads
	for i := range bad {
		fmt.Fprintf(&csv, "not-an-email-%d,Bad\n", i)
	}
	r := tb.run(t, "", "enqueue", writeFile(t, "c.csv", csv.String()), "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "rj-csv")
	if r.code != cli.ExitOK {
		t.Fatalf("enqueue: %d %s", r.code, r.stderr)
	}
	var said []string // what enqueue printed, without its prefix
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if rest, ok := strings.CutPrefix(l, "rejected: "); ok {
			said = append(said, rest)
		}
	}
	if len(said) != bad {
		t.Fatalf("enqueue reported %d rejects, want %d:\n%s", len(said), bad, r.stderr)
	}

	r = tb.run(t, "", "status", "rj-csv", "--rejects")
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != cli.ExitOK || strings.Join(got, "\n") != strings.Join(said, "\n") {
		t.Errorf("status --rejects: exit %d, %d lines, want the %d enqueue printed; first %q", r.code, len(got), len(said), got[0])
	}
	r = tb.run(t, "", "status", "rj-csv", "--rejects", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != cli.ExitOK || len(lines) != bad {
		t.Fatalf("status --rejects --json: exit %d, %d lines, want %d\n%s", r.code, len(lines), bad, r.stderr)
	}
	for i, l := range lines {
		var rj httpapi.Reject
		if err := json.Unmarshal([]byte(l), &rj); err != nil || rj.Line == nil || *rj.Line != int64(i+3) || rj.Index != nil || rj.Field != "email" ||
			!strings.Contains(rj.Reason, fmt.Sprintf("not-an-email-%d", i)) {
			t.Fatalf("line %d: %s (%v), want line %d of the file, field email", i, l, err, i+3)
		}
	}

	arr := `[{"email":"a@example.com"},{"email":"x@"},{"email":"b@example.com"},{"email":"c@example.com","cv_link":"http://insecure.example.com/cv.pdf"}]`
	if r := tb.run(t, "", "enqueue", writeFile(t, "c.json", arr), "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "rj-json"); r.code != cli.ExitOK {
		t.Fatalf("enqueue json: %d %s", r.code, r.stderr)
	}
	r = tb.run(t, "", "status", "rj-json", "--rejects", "--json")
	want := `{"index":1,"field":"email","reason":"not a valid email address: \"x@\""}` + "\n" +
		`{"index":3,"field":"cv_link","reason":"must be an https URL: \"http://insecure.example.com/cv.pdf\""}` + "\n"
	if r.code != cli.ExitOK || r.stdout != want {
		t.Errorf("status --rejects --json of a JSON array: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	r = tb.run(t, "", "status", "rj-json", "--rejects")
	if want := "candidate 2: email: not a valid email address: \"x@\"\ncandidate 4: cv_link: must be an https URL: \"http://insecure.example.com/cv.pdf\"\n"; r.code != cli.ExitOK || r.stdout != want {
		t.Errorf("status --rejects of a JSON array: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}

	if r := tb.run(t, "", "enqueue", writeFile(t, "ok.csv", "email\nok@example.com\n"), "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "rj-none"); r.code != cli.ExitOK {
		t.Fatalf("enqueue: %d %s", r.code, r.stderr)
	}
	if r := tb.run(t, "", "status", "rj-none", "--rejects"); r.code != cli.ExitOK || r.stdout != "" || !strings.Contains(r.stderr, "no row was rejected") {
		t.Errorf("a batch without rejects: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := tb.run(t, "", "status", "rj-none", "--rejects", "--json"); r.code != cli.ExitOK || r.stdout != "" {
		t.Errorf("a batch without rejects, --json: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := tb.run(t, "", "status", "no-such-batch", "--rejects"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown batch: %d %s", r.code, r.stderr)
	}
	if r := tb.run(t, "", "status", "rj-csv", "--rejects", "--watch"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "only one") {
		t.Errorf("--rejects --watch: %d %s", r.code, r.stderr)
	}
}
