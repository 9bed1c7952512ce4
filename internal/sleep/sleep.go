// Package sleep holds the one wait that every package here needs: a duration,
// cut short when a context ends. It owns nothing else; a wait on something other
// than time (a channel, a lock) stays with its owner.
package sleep

import (
	"context"
	"time"
)

// For waits d or until ctx ends, whichever is first, and returns ctx's error if
// ctx ended (nil if d passed). For d <= 0 it does not wait and returns ctx.Err().
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
