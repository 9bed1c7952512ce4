package benchproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Enqueue runs `bin enqueue args... --json` with env (stdin from in, when not
// nil) and checks that exactly want candidates were accepted.
func Enqueue(ctx context.Context, bin string, env map[string]string, in io.Reader, want int, args ...string) (*producer.Result, error) {
	cmd := Command(ctx, bin, env, append(append([]string{"enqueue"}, args...), "--json")...)
	cmd.Stdin = in
	out, err := Output(cmd)
	if err != nil {
		return nil, err
	}
	var res producer.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("bulkinvite enqueue --json: %w: %q", err, out)
	}
	if res.Accepted != int64(want) {
		first := ""
		if len(res.Rejects) > 0 {
			first = "; first: " + res.Rejects[0].Error()
		}
		return &res, fmt.Errorf("bulkinvite enqueue: %d of %d candidates accepted (%d rejected%s)", res.Accepted, want, res.Rejected, first)
	}
	return &res, nil
}

// Status runs `bin status batchID --json` with env.
func Status(ctx context.Context, bin string, env map[string]string, batchID string) (store.Status, error) {
	out, err := Output(Command(ctx, bin, env, "status", batchID, "--json"))
	if err != nil {
		return store.Status{}, err
	}
	var st store.Status
	if err := json.Unmarshal(out, &st); err != nil || st.BatchID != batchID {
		return st, fmt.Errorf("bulkinvite status --json: not the status of %s in %q (%v)", batchID, out, err)
	}
	return st, nil
}
