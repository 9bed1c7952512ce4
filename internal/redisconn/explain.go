package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Error is an error that a Redis deployment's configuration causes, with what to
// change. errors.Is and errors.As see the error Redis or the network gave.
type Error struct {
	Err error  // what Redis or the network said
	Fix string // what to change, naming the setting
}

func (e *Error) Error() string { return strings.TrimSuffix(e.Err.Error(), ".") + "; " + e.Fix }
func (e *Error) Unwrap() error { return e.Err }

const (
	fixNoAuth    = "Redis wants a password: put :PASSWORD@ before the host in REDIS_URL, or USER:PASSWORD@ for an ACL user"
	fixWrongPass = "Redis refused the user name or password in REDIS_URL: check both (USER:PASSWORD@ before the host; " +
		"no USER is the default user; percent-encode @ : / ? # % in them); " +
		"redis-cli --user USER --pass PASSWORD PING tells whether they work"
	fixNoPerm = "the ACL user in REDIS_URL may not run this command or touch these keys: " +
		"grant it asynq's and bulkinvite's keys and commands, e.g. ACL SETUSER USER on ~* &* +@all"
	fixReadOnly = "REDIS_URL points at a replica, which refuses writes: point it at the master, " +
		"or use redis-sentinel://HOST:26379/DB?master=NAME so that the client follows failovers"
	fixOOM = "Redis reached its maxmemory and refuses writes: give it more memory (maxmemory) " +
		"or make room (replay or purge dead letters, let done batches expire); keep maxmemory-policy noeviction, " +
		"so that Redis refuses writes rather than evicting queued work"
	fixCrossSlot = "Redis Cluster refused a command whose keys live in different hash slots: " +
		"bulkinvite tags its keys so that every step stays in one slot, so this is a bug; please report it with the command that failed"
	fixMoved = "REDIS_URL reached a Redis Cluster node, but the client is a single-node one: " +
		"restart so that the cluster is detected (the URL's user needs INFO for that), or list more nodes with ?addr=HOST:PORT"
	fixLoading    = "Redis is loading its data set after a restart: wait until it has finished, then try again"
	fixMasterDown = "the replica lost its master and serves no data: wait for the master or a failover, " +
		"and point REDIS_URL at the master (or Sentinel) rather than a replica"
	fixClusterDown = "the Redis Cluster does not serve every hash slot: check cluster_state in CLUSTER INFO " +
		"and that every master (or its replica) runs"
	fixDBRange    = "the database number in REDIS_URL (/N) is not below the server's databases setting (16 unless changed): use a smaller one"
	fixMaxClients = "Redis serves as many clients as its maxclients allows: raise maxclients, or run fewer processes"

	fixSentinelAuth = "the sentinels refused the login: give their password with ?sentinel_password= " +
		"(and ?sentinel_username= for an ACL user) in REDIS_URL; the URL's own user and password are the master's and replicas'"
	fixSentinelMaster = "no sentinel watches a master by the ?master= name in REDIS_URL: " +
		"use the name of sentinel.conf's \"sentinel monitor NAME ...\" (SENTINEL MASTERS lists them)"
	fixSentinelDown = "no sentinel answered: check the sentinels' hosts and ports in REDIS_URL " +
		"(redis-sentinel://HOST:26379[,HOST:26379]/DB?master=NAME), and that they run and can be reached from here"

	fixNotTLS     = "the server does not speak TLS: use redis:// instead of rediss://"
	fixTLSTrust   = "the server's TLS certificate is not trusted here: add its CA to the system's trust store or point SSL_CERT_FILE at it, and use the host name the certificate names in REDIS_URL"
	fixClosed     = "Redis closed the connection at once: if it wants TLS use rediss://, else see its log (maxclients, protected-mode)"
	fixRefused    = "nothing accepts connections there: check the host and port in REDIS_URL, and that Redis runs and can be reached from here"
	fixTimeout    = "Redis did not answer in time: check the host and port in REDIS_URL, and firewalls on the way"
	fixTimeoutTLS = "Redis did not answer the TLS handshake in time: if the server does not speak TLS, use redis:// instead of rediss://; " +
		"else check the host and port in REDIS_URL, and firewalls on the way"
	fixUnresolved = "the host name in REDIS_URL does not resolve here: check it"
)

// redisErrors are the Redis error replies Explain knows, by prefix ("ERR " aside).
var redisErrors = []struct{ prefix, fix string }{
	{"NOAUTH", fixNoAuth},
	{"WRONGPASS", fixWrongPass},
	{"NOPERM", fixNoPerm},
	{"READONLY", fixReadOnly},
	{"OOM", fixOOM},
	{"CROSSSLOT", fixCrossSlot},
	{"MOVED", fixMoved},
	{"ASK", fixMoved},
	{"LOADING", fixLoading},
	{"MASTERDOWN", fixMasterDown},
	{"CLUSTERDOWN", fixClusterDown},
	{"DB index is out of range", fixDBRange},
	{"max number of clients reached", fixMaxClients},
}

// Explain returns err as an *Error naming the fix when it is an error reply that
// a Redis deployment's configuration causes: a refused login (NOAUTH, WRONGPASS,
// NOPERM), a replica or a cluster reached the wrong way (READONLY, MASTERDOWN,
// MOVED, ASK, CROSSSLOT, CLUSTERDOWN), maxmemory reached (OOM), a server still
// loading, a database number out of range, maxclients reached, or sentinels that
// refuse the login or do not know the master. Other errors, nil and errors already
// explained come back as they are. It looks only at what Redis (or go-redis)
// said, so it is safe on any error; Open explains the network's errors of
// connecting too.
func Explain(err error) error {
	return explain(err, replyFix)
}

// explainConnect is Explain for an error of connecting to Redis, which may also
// be the network's: refused, timed out, TLS on one side only, an unknown host.
// withTLS says whether the URL was rediss://.
func explainConnect(err error, withTLS bool) error {
	return explain(err, func(err error) string {
		if fix := replyFix(err); fix != "" {
			return fix
		}
		return networkFix(err, withTLS)
	})
}

func explain(err error, fixFor func(error) string) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	if fix := fixFor(err); fix != "" {
		return &Error{Err: err, Fix: fix}
	}
	return err
}

// sentinelError explains err, which the sentinel at addr gave when asked for the
// master named master.
func sentinelError(addr, master string, err error) error {
	err = fmt.Errorf("sentinel %s: %w", addr, err)
	if errors.Is(err, redis.Nil) {
		err = fmt.Errorf("%w: it watches no master named %q", err, master)
	}
	return &Error{Err: err, Fix: sentinelFix(err)}
}

func sentinelFix(err error) string {
	switch {
	case refusedLogin(err):
		return fixSentinelAuth
	case errors.Is(err, redis.Nil):
		return fixSentinelMaster
	}
	return fixSentinelDown
}

func replyFix(err error) string {
	if strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable") {
		return sentinelFix(err)
	}
	for _, r := range redisErrors {
		if redis.HasErrorPrefix(err, r.prefix) {
			return r.fix
		}
	}
	return ""
}

func networkFix(err error, withTLS bool) string {
	var (
		record tls.RecordHeaderError
		verify *tls.CertificateVerificationError
		dns    *net.DNSError
		ne     net.Error
	)
	switch {
	case errors.As(err, &record):
		return fixNotTLS
	case errors.As(err, &verify):
		return fixTLSTrust
	case errors.As(err, &dns):
		return fixUnresolved
	case errors.Is(err, syscall.ECONNREFUSED):
		return fixRefused
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return fixClosed
	case (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) && withTLS:
		// A server without TLS waits for the end of a command that a TLS hello never ends.
		return fixTimeoutTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fixTimeout
	}
	return ""
}

func refusedLogin(err error) bool {
	return redis.HasErrorPrefix(err, "NOAUTH") || redis.HasErrorPrefix(err, "WRONGPASS")
}

// fatal reports whether err says that the deployment or REDIS_URL is wrong in a
// way that retrying on a client of kind cannot cure.
func fatal(err error, kind topology) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	_, moved := redis.IsMovedError(err)
	_, ask := redis.IsAskError(err)
	switch {
	case refusedLogin(err), redis.HasErrorPrefix(err, "CROSSSLOT"):
		return true
	case moved || ask:
		return kind != cluster
	}
	// Not READONLY: behind a DNS name that moves to the new master on a failover
	// (managed Redis does this), it is what connections still open to the old one
	// get until go-redis replaces them. Open refuses a replica at start.
	return false
}

// fatalHook reports the first fatal error of any command once.
type fatalHook struct {
	kind   topology
	report func(error)
	once   sync.Once
}

func (h *fatalHook) notice(err error) {
	if fatal(err, h.kind) {
		h.once.Do(func() { h.report(Explain(err)) })
	}
}

func (h *fatalHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *fatalHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.notice(err)
		return err
	}
}

func (h *fatalHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.notice(c.Err())
		}
		return err
	}
}
