package benchproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BuildRev builds ./cmd/bulkinvite of git revision rev (of the repository
// holding the working directory) into tmp/rev, for a measurement of an older
// revision beside this one: the revision is checked out in a temporary detached
// worktree, removed once built whatever happened (after a kill -9 of this
// program, `git worktree prune` forgets it). It returns rev's short hash and the
// binary.
func BuildRev(ctx context.Context, rev, tmp string) (short, bin string, err error) {
	root, err := git(ctx, "", "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", err
	}
	if short, err = git(ctx, root, "rev-parse", "--short", "--verify", rev+"^{commit}"); err != nil {
		return "", "", fmt.Errorf("revision %q: %w", rev, err)
	}
	src := filepath.Join(tmp, "rev-src")
	if _, err := git(ctx, root, "worktree", "add", "--detach", src, short); err != nil {
		return "", "", err
	}
	defer removeWorktree(root, src)
	dir := filepath.Join(tmp, "rev")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	bin, err = BuildAt(ctx, src, dir)
	return short, bin, err
}

// removeWorktree removes the worktree src of the repository root, even after
// a Ctrl-C (not the run's context).
func removeWorktree(root, src string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := git(ctx, root, "worktree", "remove", "--force", src); err != nil {
		fmt.Fprintf(os.Stderr, "removing the worktree %s: %v (run `git worktree prune`)\n", src, err)
	}
}

// git runs git args in dir ("" for the working directory) and returns its
// trimmed standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
