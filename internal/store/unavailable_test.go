package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyError is an error reply as go-redis gives it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

func TestUnavailable(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("read batch x: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), true},
		{"eof", wrap(io.EOF), true},
		{"i/o timeout", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), true},
		{"deadline", wrap(context.DeadlineExceeded), true},
		{"pool timeout", wrap(redis.ErrPoolTimeout), true},
		{"closed client", wrap(redis.ErrClosed), true},
		{"unknown host", wrap(&net.DNSError{Err: "no such host", Name: "redis.internal", IsNotFound: true}), true},
		{"loading", wrap(replyError("LOADING Redis is loading the dataset in memory")), true},
		{"readonly", wrap(replyError("READONLY You can't write against a read only replica.")), true},
		{"masterdown", wrap(replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")), true},
		{"clusterdown", wrap(replyError("CLUSTERDOWN The cluster is down")), true},
		{"tryagain", wrap(replyError("TRYAGAIN Multiple keys request during rehashing of slot")), true},
		{"sentinels", wrap(errors.New("redis: all sentinels specified in configuration are unreachable")), true},
		{"wrongtype", wrap(replyError("WRONGTYPE Operation against a key holding the wrong kind of value")), false},
		{"script error", wrap(replyError("ERR user_script:1: Script attempted to access nonexistent global variable")), false},
		{"noauth", wrap(replyError("NOAUTH Authentication required.")), false},
		{"nil", nil, false},
		{"redis.Nil", wrap(redis.Nil), false},
		{"cancelled", wrap(context.Canceled), false},
		{"a bug", errors.New("index out of range"), false},
	}
	for _, tt := range tests {
		if got := Unavailable(tt.err); got != tt.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
