package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// RedisTarget is what a REDIS_URL names: where Redis is and how to log in to it.
// internal/redisconn connects to it.
type RedisTarget struct {
	// Network is "tcp", or "unix" for a redis-socket:// URL.
	Network string
	// Addrs are where to connect: the URL's host:port, then every ?addr= seed (more
	// than one means Redis Cluster); the sentinels for redis-sentinel://; the
	// socket's path for redis-socket://.
	Addrs []string
	// Username and Password log in to the data nodes: the single node, every
	// cluster node, or Sentinel's master and replicas. Username "" is Redis's
	// default user. User info without a colon is a password, as redis-cli reads it.
	Username, Password string
	// DB is the database number (/N). Redis Cluster has only database 0.
	DB int
	// TLS is set by rediss://.
	TLS bool
	// MasterName (?master=) is the name Sentinel knows the master by; set only
	// for redis-sentinel://.
	MasterName string
	// SentinelUsername and SentinelPassword (?sentinel_username=,
	// ?sentinel_password=) log in to the sentinels; "" for sentinels without one.
	SentinelUsername, SentinelPassword string
}

// Sentinel reports whether t names a master that Sentinel watches.
func (t RedisTarget) Sentinel() bool { return t.MasterName != "" }

// redisURLForms is written so that RedactURLs leaves it alone.
const redisURLForms = "redis://HOST:PORT/DB (USER:PASSWORD@ before HOST when Redis wants one; " +
	"?addr=HOST:PORT, repeated, for more Redis Cluster nodes), rediss://... for TLS, " +
	"or redis-sentinel://HOST:PORT[,HOST:PORT]/DB?master=NAME[&sentinel_password=...]"

// Default ports.
const (
	redisPort    = "6379"
	sentinelPort = "26379"
)

// ParseRedisURL reads a REDIS_URL in any of the forms docs/operations.md ("Redis
// topologies") lists: redis://[user:pass@]host:port/db (?addr=host:port may repeat
// to list more cluster nodes), rediss:// for TLS,
// redis-sentinel://[user:pass@]host:port[,host:port]/db?master=NAME[&sentinel_password=...]
// and, as asynq reads it, redis-socket://[:pass@]/path?db=N. It refuses what would
// only fail later: a Sentinel URL without ?master=, a database other than 0 with
// cluster seeds, an unknown query parameter. Its errors show the URL redacted and
// never quote a secret.
func ParseRedisURL(s string) (RedisTarget, error) {
	t, err := parseRedisURL(s)
	if err == nil {
		return t, nil
	}
	parse := func(s string) error { _, err := parseRedisURL(s); return err }
	msg := fmt.Sprintf("%q is not a valid Redis URL: %s", RedactURL(s), urlProblem(s, parse))
	var ue *url.Error
	if errors.As(err, &ue) {
		msg += "; want " + redisURLForms
	}
	return RedisTarget{}, errors.New(msg)
}

// parseRedisURL may quote any part of s in its errors: ParseRedisURL shows only
// those it gets for the redacted URL.
func parseRedisURL(s string) (RedisTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return RedisTarget{}, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return RedisTarget{}, fmt.Errorf("query: %w", err)
	}
	t := RedisTarget{Network: "tcp"}
	if u.User != nil {
		t.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			t.Password = pw
		} else {
			t.Username, t.Password = "", t.Username
		}
	}
	var known []string
	switch u.Scheme {
	case "redis", "rediss":
		known = []string{"addr"}
		t.TLS = u.Scheme == "rediss"
		host := u.Host
		if host == "" {
			host = "localhost"
		}
		seeds := append([]string{host}, q["addr"]...)
		for _, hp := range seeds {
			addr, err := hostPort(hp, redisPort)
			if err != nil {
				return RedisTarget{}, err
			}
			t.Addrs = append(t.Addrs, addr)
		}
		if t.DB, err = database(u.Path); err != nil {
			return RedisTarget{}, err
		}
		if len(t.Addrs) > 1 && t.DB != 0 {
			return RedisTarget{}, fmt.Errorf("?addr= lists more Redis Cluster nodes, and Redis Cluster has only database 0: drop /%d", t.DB)
		}
	case "redis-sentinel":
		known = []string{"master", "sentinel_username", "sentinel_password"}
		for _, hp := range strings.Split(u.Host, ",") {
			addr, err := hostPort(hp, sentinelPort)
			if err != nil {
				return RedisTarget{}, err
			}
			t.Addrs = append(t.Addrs, addr)
		}
		if t.DB, err = database(u.Path); err != nil {
			return RedisTarget{}, err
		}
		t.MasterName = q.Get("master")
		t.SentinelUsername, t.SentinelPassword = q.Get("sentinel_username"), q.Get("sentinel_password")
		if t.MasterName == "" {
			return RedisTarget{}, errors.New("a redis-sentinel:// URL names the master Sentinel watches with ?master=NAME " +
				"(its name in sentinel.conf's \"sentinel monitor NAME ...\"; SENTINEL MASTERS lists them)")
		}
	case "redis-socket":
		known = []string{"db"}
		t.Network = "unix"
		if u.Path == "" {
			return RedisTarget{}, errors.New("a redis-socket:// URL needs the socket's path, e.g. redis-socket:///run/redis/redis.sock")
		}
		t.Addrs = []string{u.Path}
		if v := q.Get("db"); v != "" {
			if t.DB, err = database("/" + v); err != nil {
				return RedisTarget{}, err
			}
		}
	default:
		return RedisTarget{}, fmt.Errorf("unsupported scheme %q; want %s", u.Scheme, redisURLForms)
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, name) {
			return RedisTarget{}, fmt.Errorf("unknown parameter ?%s= for %s://; it takes %s", name, u.Scheme, strings.Join(known, "=, ")+"=")
		}
	}
	if u.Fragment != "" {
		return RedisTarget{}, errors.New("a Redis URL has no fragment (#...)")
	}
	return t, nil
}

// hostPort reads "host", "host:port", "[v6]" or "[v6]:port" into host:port.
func hostPort(hp, defaultPort string) (string, error) {
	host, port := hp, defaultPort
	if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
		host = hp[1 : len(hp)-1]
	} else if strings.Contains(hp, ":") {
		var err error
		if host, port, err = net.SplitHostPort(hp); err != nil {
			return "", fmt.Errorf("%q is not HOST:PORT", hp)
		}
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port %q in %q: want 1..65535", port, hp)
	}
	return net.JoinHostPort(host, port), nil
}

// database reads the URL path "", "/" or "/N".
func database(path string) (int, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("the database number goes after the host as /N with N = 0, 1, ...; got %q", path)
	}
	return n, nil
}
