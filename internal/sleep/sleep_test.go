package sleep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

func TestFor(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		d       time.Duration
		want    error
		atLeast time.Duration
	}{
		{name: "waits d", ctx: context.Background(), d: 20 * time.Millisecond, atLeast: 20 * time.Millisecond},
		{name: "zero does not wait", ctx: context.Background()},
		{name: "negative does not wait", ctx: context.Background(), d: -time.Second},
		{name: "ended context, zero", ctx: cancelled, want: context.Canceled},
		{name: "ended context, long", ctx: cancelled, d: time.Hour, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := sleep.For(tt.ctx, tt.d)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("For = %v, want %v", err, tt.want)
			}
			if took := time.Since(start); took < tt.atLeast || took > tt.atLeast+5*time.Second {
				t.Fatalf("For took %v, want about %v", took, tt.atLeast)
			}
		})
	}
}

func TestForEndsWithTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := sleep.For(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("For = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("For took %v after a 20ms deadline", took)
	}
}
