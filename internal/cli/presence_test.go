package cli_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/presence"
)

// TestWorkerPublishesItsVersion: `worker` publishes this build's version for
// doctor while it runs, and deletes it when it stops.
func TestWorkerPublishesItsVersion(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, []string{"worker"},
			cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: &stderr, Getenv: func(k string) string { return tb.env[k] }})
	}()
	self := []presence.Proc{presence.Self()}
	lookup := func() (presence.Entry, bool) {
		got, err := presence.Lookup(t.Context(), tb.RDB, pipelinetest.Prefix, self)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := got[self[0]]
		return e, ok
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if e, ok := lookup(); ok {
			if want := presence.BuildVersion(); e.Version != want {
				t.Errorf("published version %q, want %q", e.Version, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no version published after 20s\n%s", stderr.String())
		}
	}
	cancel()
	if code := <-exit; code != cli.ExitOK {
		t.Errorf("worker exit %d, want 0\n%s", code, stderr.String())
	}
	if e, ok := lookup(); ok {
		t.Errorf("the version %+v is still published after the worker stopped", e)
	}
}
