package redisconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// reply is an error reply as go-redis gives it.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string // "" = left as it is
	}{
		{"NOAUTH", reply("NOAUTH Authentication required."), fixNoAuth},
		{"WRONGPASS, wrapped", fmt.Errorf("failed to authenticate: %w", reply("WRONGPASS invalid username-password pair or user is disabled.")), fixWrongPass},
		{"NOPERM", reply("NOPERM User bulk has no permissions to access the 'x' key"), fixNoPerm},
		{"READONLY", reply("READONLY You can't write against a read only replica."), fixReadOnly},
		{"OOM", reply("OOM command not allowed when used memory > 'maxmemory'."), fixOOM},
		{"CROSSSLOT", redis.ErrCrossSlot, fixCrossSlot},
		{"MOVED", reply("MOVED 3999 127.0.0.1:6381"), fixMoved},
		{"ASK", reply("ASK 3999 127.0.0.1:6381"), fixMoved},
		{"LOADING", reply("LOADING Redis is loading the dataset in memory"), fixLoading},
		{"MASTERDOWN", reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), fixMasterDown},
		{"CLUSTERDOWN", reply("CLUSTERDOWN The cluster is down"), fixClusterDown},
		{"DB out of range", reply("ERR DB index is out of range"), fixDBRange},
		{"maxclients", reply("ERR max number of clients reached"), fixMaxClients},
		{"sentinels refuse the login", fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", errors.Join(reply("WRONGPASS invalid username-password pair"))), fixSentinelAuth},
		{"sentinels do not know the master", fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", errors.Join(redis.Nil)), fixSentinelMaster},
		{"sentinels down", fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", errors.Join(syscall.ECONNREFUSED)), fixSentinelDown},
		{"another reply", reply("ERR unknown command 'FOO'"), ""},
		{"nil reply", redis.Nil, ""},
		// Not from Redis for all Explain knows: a file's EOF, the API's refusal.
		{"EOF", fmt.Errorf("read candidates: %w", io.EOF), ""},
		{"refused", fmt.Errorf("POST https://apis.flowmingo.ai: %w", syscall.ECONNREFUSED), ""},
		{"timeout", context.DeadlineExceeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Explain(tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("Explain(%v) = %v, which does not wrap it", tt.err, got)
			}
			var e *Error
			if explained := errors.As(got, &e); explained != (tt.want != "") || explained && e.Fix != tt.want {
				t.Errorf("Explain(%v) = %v, want the fix %q", tt.err, got, tt.want)
			}
			if Explain(got) != got {
				t.Errorf("explaining twice changed the error: %v", Explain(got))
			}
		})
	}
	if Explain(nil) != nil {
		t.Error("Explain(nil) != nil")
	}
}

func TestExplainConnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		withTLS bool
		want    string
	}{
		{"refused", fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED), false, fixRefused},
		{"closed at once", io.EOF, false, fixClosed},
		{"reset", syscall.ECONNRESET, false, fixClosed},
		{"timeout", context.DeadlineExceeded, false, fixTimeout},
		{"timeout with TLS", context.DeadlineExceeded, true, fixTimeoutTLS},
		{"a reply still wins", reply("LOADING Redis is loading the dataset in memory"), true, fixLoading},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var e *Error
			if got := explainConnect(tt.err, tt.withTLS); !errors.As(got, &e) || e.Fix != tt.want {
				t.Errorf("explainConnect(%v, %v) = %v, want the fix %q", tt.err, tt.withTLS, got, tt.want)
			}
		})
	}
}

// TestFatal: the errors that stop a long-running command are those that retrying
// cannot cure on that kind of client.
func TestFatal(t *testing.T) {
	t.Parallel()
	moved := reply("MOVED 3999 127.0.0.1:6381")
	readonly := reply("READONLY You can't write against a read only replica.")
	tests := []struct {
		err  error
		kind topology
		want bool
	}{
		{reply("NOAUTH Authentication required."), sentinel, true},
		{fmt.Errorf("failed to authenticate: %w", reply("WRONGPASS invalid username-password pair")), cluster, true},
		{redis.ErrCrossSlot, cluster, true},
		{moved, single, true},
		{moved, sentinel, true},
		{moved, cluster, false},     // the cluster client follows it; more than MaxRedirects is a slot in migration
		{readonly, single, false},   // a DNS name that moved to the new master
		{readonly, sentinel, false}, // a failover under way
		{reply("OOM command not allowed when used memory > 'maxmemory'."), single, false},
		{reply("NOPERM this user has no permissions to run the 'config|get' command"), single, false},
		{reply("LOADING Redis is loading the dataset in memory"), single, false},
		{redis.Nil, single, false},
		{syscall.ECONNREFUSED, single, false},
		{nil, single, false},
	}
	for _, tt := range tests {
		if got := fatal(tt.err, tt.kind); got != tt.want {
			t.Errorf("fatal(%v, %v) = %v, want %v", tt.err, tt.kind, got, tt.want)
		}
	}
	if !strings.Contains((&Error{Err: reply("NOAUTH Authentication required."), Fix: "fix"}).Error(), "Authentication required; fix") {
		t.Error("Error does not join the reply and the fix")
	}
}
