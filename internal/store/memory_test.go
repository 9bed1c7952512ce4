package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOutOfMemory(t *testing.T) {
	t.Parallel()
	const oom = "OOM command not allowed when used memory > 'maxmemory'."
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"reply", replyError(oom), true},
		{"wrapped reply", fmt.Errorf("admit segment 1 of batch b: %w", replyError(oom+" script: 98d2, on @user_script:5.")), true},
		// asynq's client passes Redis's reply on as text.
		{"asynq's text", fmt.Errorf("enqueue chunk c: %w", errors.New("UNKNOWN: redis eval error: "+oom)), true},
		{"loading", replyError("LOADING Redis is loading the dataset in memory"), false},
		{"other", errors.New("index out of range"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := OutOfMemory(tt.err); got != tt.want {
			t.Errorf("%s: OutOfMemory(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestMemory: Memory reads used_memory and maxmemory, of the fullest master on a
// Cluster.
func TestMemory(t *testing.T) {
	t.Parallel()
	s := setup(t)
	m, err := s.Memory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Used <= 0 || m.Max < 0 || m.Addr == "" {
		t.Errorf("Memory = %+v, want the node's used_memory and its address", m)
	}
	if parseMemory("used_memory:1234\r\nused_memory_human:1.21K\r\nmaxmemory:4096\r\n") != (Memory{Used: 1234, Max: 4096}) {
		t.Error("parseMemory misread INFO memory")
	}
}
