package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// unavailableReplies are the error replies of a Redis that cannot serve now but
// may soon: loading its data set, a replica during a failover or cut off from
// its master, a cluster with slots unserved or migrating.
var unavailableReplies = []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"}

// Unavailable reports whether err, from the store or any other Redis client,
// says that Redis cannot be reached or cannot serve for now, so that the same
// request later may succeed: the network's
// errors (refused, reset, closed, timed out, a name that does not resolve), a
// deadline passed, go-redis's pool timeout or closed client, no sentinel
// answering, and the replies in unavailableReplies. An error that retrying
// cannot cure (a wrong type, a script error, a refused login, a bug) and a
// cancelled context are not.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range unavailableReplies {
			if redis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted), errors.Is(err, redis.ErrClosed):
		return true
	}
	return strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable")
}
