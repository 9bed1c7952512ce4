// Package smoke runs a bench program's main logic from its test, at its
// -short sizes, so that a program that no longer works fails the tests instead
// of waiting for its next measurement to find out.
package smoke

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Run calls run (the program's main logic, given its command-line arguments)
// with -short and args, and fails t unless it returns exit status 0. Without
// redis-server or go on PATH the test is skipped, or fails when
// BULKINVITE_REQUIRE_REDIS is set (as CI sets it).
func Run(t *testing.T, run func(args []string) int, args ...string) {
	t.Helper()
	for _, bin := range []string{"redis-server", "go", "git"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("BULKINVITE_REQUIRE_REDIS") != "" {
				t.Fatalf("%s not on PATH (BULKINVITE_REQUIRE_REDIS is set)", bin)
			}
			t.Skipf("%s not on PATH", bin)
		}
	}
	args = append([]string{"-short"}, args...)
	start := time.Now()
	code := run(args)
	t.Logf("%v: exit status %d after %v", args, code, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("%v: exit status %d, want 0 (its output above says why)", args, code)
	}
}
