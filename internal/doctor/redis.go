package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// master is what one master of the deployment told us.
type master struct {
	addr string
	// From INFO; infoErr when it was refused.
	info    string
	infoErr error
	// From CONFIG GET maxmemory*; cfgErr when it was refused.
	maxmemory int64
	policy    string
	cfgErr    error
	// From TIME: Redis's clock less this host's at the midpoint of the round trip.
	skew, rtt time.Duration
	timeErr   error
}

// replicasOnline counts the replicas INFO replication lists as online.
func (m master) replicasOnline() int {
	n := 0
	for line := range strings.Lines(m.info) {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n
}

// field returns "name:value"'s value in INFO.
func (m master) field(name string) string { return redisconn.InfoField(m.info, name) }

// redis runs the checks of the deployment d.
func (r *run) redis(ctx context.Context, d Deployment) {
	var masters []master
	var err error
	r.bounded(ctx, func(ctx context.Context) { masters, err = r.readMasters(ctx, d.Redis) })
	if err != nil {
		r.add(Check{Name: "redis", Status: Fail, Detail: "connected, then could not reach every master: " + err.Error(),
			Fix: "check that every master of REDIS_URL's deployment answers from this host"})
		return
	}
	version := masters[0].field("redis_version")
	if version == "" {
		version = "version unknown (INFO refused)"
	} else {
		version = "Redis " + version
	}
	r.add(Check{Name: "redis", Status: OK, Detail: fmt.Sprintf("%s answers: %s", config.RedactURL(r.cfg.RedisURL), version)})
	r.topology(d.Redis, masters)
	var pers []store.Persistence
	r.bounded(ctx, func(ctx context.Context) { pers, err = d.Store.Persistence(ctx) })
	r.persistence(pers, err)
	r.memory(masters)
	r.bounded(ctx, func(ctx context.Context) { r.acl(ctx, d.Redis, masters) })
	replicasOK := r.replicas(masters)
	r.atMostOnce(pers, err, replicasOK)
	r.clock(masters)
	r.bounded(ctx, func(ctx context.Context) { r.running(ctx, d) })
}

// readMasters asks every master for its INFO, its maxmemory settings and its
// clock, in address order.
func (r *run) readMasters(ctx context.Context, rdb redis.UniversalClient) ([]master, error) {
	var (
		mu  sync.Mutex
		out []master
	)
	err := redisconn.ForEachMaster(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		m := master{addr: store.NodeAddr(ctx, c)}
		m.info, m.infoErr = c.Info(ctx).Result()
		if v, err := c.ConfigGet(ctx, "maxmemory*").Result(); err != nil {
			m.cfgErr = err
		} else if v["maxmemory-policy"] == "" {
			m.cfgErr = fmt.Errorf("CONFIG GET maxmemory* answered %v", v)
		} else {
			m.policy = v["maxmemory-policy"]
			m.maxmemory, _ = strconv.ParseInt(v["maxmemory"], 10, 64)
		}
		before := r.cfg.Now()
		t, err := c.Time(ctx).Result()
		after := r.cfg.Now()
		m.rtt, m.timeErr = after.Sub(before), err
		m.skew = t.Sub(before.Add(m.rtt / 2))
		mu.Lock()
		out = append(out, m)
		mu.Unlock()
		return nil
	})
	if err == nil && len(out) == 0 {
		err = errors.New("no master found")
	}
	slices.SortFunc(out, func(a, b master) int { return strings.Compare(a.addr, b.addr) })
	return out, err
}

func (r *run) topology(rdb redis.UniversalClient, masters []master) {
	kind := "a single node"
	if _, ok := rdb.(*redis.ClusterClient); ok {
		kind = fmt.Sprintf("a Redis Cluster of %d master(s)", len(masters))
	} else if t, err := config.ParseRedisURL(r.cfg.RedisURL); err == nil && t.Sentinel() {
		kind = "a master watched by Sentinel (" + t.MasterName + ")"
	}
	var reps []string
	for _, m := range masters {
		if m.infoErr != nil {
			reps = append(reps, m.addr+": replicas unknown (INFO refused)")
			continue
		}
		reps = append(reps, fmt.Sprintf("%s: %d replica(s) online", m.addr, m.replicasOnline()))
	}
	r.add(Check{Name: "topology", Status: OK, Detail: kind + "; " + strings.Join(reps, "; ")})
}

const (
	fixAOF = "on every master: CONFIG SET appendonly yes, CONFIG SET appendfsync always, CONFIG REWRITE " +
		"(or appendonly yes and appendfsync always in redis.conf; docs/reliability.md, \"What each mode needs from Redis\")"
	fixUnread = "let the user of REDIS_URL run CONFIG GET (or run doctor as one who may), or check the setting in your provider's console"
)

// persistence is docs/reliability.md's table: no AOF loses everything at a
// restart; an AOF that is not fsynced on each write loses its last writes.
func (r *run) persistence(pers []store.Persistence, err error) {
	if err != nil {
		r.add(Check{Name: "persistence", Status: Warn, Detail: err.Error(), Fix: fixUnread})
		return
	}
	var none, lagging, unread, always []string
	for _, p := range pers {
		switch {
		case p.Err != nil:
			unread = append(unread, p.Addr+": "+p.Err.Error())
		case !p.AppendOnly:
			none = append(none, p.Addr)
		case !p.FsyncsEachWrite():
			lagging = append(lagging, p.Addr+" (appendfsync "+p.AppendFsync+")")
		default:
			always = append(always, p.Addr)
		}
	}
	switch {
	case len(none) > 0:
		r.add(Check{Name: "persistence", Status: Fail,
			Detail: "appendonly no on " + strings.Join(none, ", ") + ": a restart loses the queue, the batches, the ledger and the dead letters",
			Fix:    fixAOF})
	case len(unread) > 0:
		r.add(Check{Name: "persistence", Status: Warn, Detail: "could not read appendonly: " + strings.Join(unread, "; "), Fix: fixUnread})
	case len(lagging) > 0:
		r.add(Check{Name: "persistence", Status: Warn,
			Detail: "AOF on, not fsynced on each write on " + strings.Join(lagging, ", ") +
				": a crash loses about the last second of writes, and a success recorded in them may be sent again",
			Fix: fixAOF})
	default:
		r.add(Check{Name: "persistence", Status: OK, Detail: "appendonly yes, appendfsync always on " + strings.Join(always, ", ")})
	}
}

// memory checks maxmemory-policy (anything but noeviction drops our keys) and
// that maxmemory is set (without it Redis grows until the system kills it).
func (r *run) memory(masters []master) {
	var evicting, unlimited, unread, fine []string
	for _, m := range masters {
		switch {
		case m.cfgErr != nil:
			unread = append(unread, m.addr+": "+m.cfgErr.Error())
		case m.policy != "noeviction":
			evicting = append(evicting, m.addr+" ("+m.policy+")")
		case m.maxmemory == 0:
			unlimited = append(unlimited, m.addr)
		default:
			fine = append(fine, fmt.Sprintf("%s (maxmemory %d bytes, %s used)", m.addr, m.maxmemory, m.field("used_memory_human")))
		}
	}
	switch {
	case len(evicting) > 0:
		r.add(Check{Name: "maxmemory", Status: Fail,
			Detail: "maxmemory-policy evicts keys on " + strings.Join(evicting, ", ") +
				": at maxmemory, queued tasks, batch records and the ledger could vanish",
			Fix: "on every master: CONFIG SET maxmemory-policy noeviction, CONFIG REWRITE (Redis then refuses writes instead, and bulkinvite waits or says so; docs/operations.md, \"When Redis is full\")"})
	case len(unread) > 0:
		r.add(Check{Name: "maxmemory", Status: Warn, Detail: "could not read maxmemory-policy: " + strings.Join(unread, "; "), Fix: fixUnread})
	case len(unlimited) > 0:
		r.add(Check{Name: "maxmemory", Status: Warn,
			Detail: "noeviction, but maxmemory 0 (no limit) on " + strings.Join(unlimited, ", ") + ": Redis grows until the system kills it",
			Fix:    "set maxmemory below the machine's memory (CONFIG SET maxmemory 4gb, CONFIG REWRITE)"})
	default:
		r.add(Check{Name: "maxmemory", Status: OK, Detail: "noeviction on " + strings.Join(fine, ", ")})
	}
}

// probeScript writes and deletes KEYS[1] with each kind of command our scripts
// and asynq's use, deleting first so that a refused write leaves nothing but a
// key that expires.
var probeScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', 60000)
redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
for _, w in ipairs({{'HSET', 'f', '1'}, {'ZADD', '1', 'm'}, {'RPUSH', 'v'}, {'SADD', 'm'}}) do
  redis.call(w[1], KEYS[1], unpack(w, 2))
  redis.call('PEXPIRE', KEYS[1], 60000)
  redis.call('DEL', KEYS[1])
end
return 1`)

// acl writes a key of ours and one of asynq's, in a script as our steps do, and
// needs INFO, which asynq's inspector runs.
func (r *run) acl(ctx context.Context, rdb redis.UniversalClient, masters []master) {
	user := "default"
	if t, err := config.ParseRedisURL(r.cfg.RedisURL); err == nil && t.Username != "" {
		user = t.Username
	}
	var refused []string
	for _, key := range []string{r.cfg.Prefix + "doctor:{probe}", "asynq:{default}:doctor-probe"} {
		if err := probeScript.Run(ctx, rdb, []string{key}).Err(); err != nil {
			refused = append(refused, key+": "+err.Error())
		}
	}
	for _, m := range masters {
		if m.infoErr != nil {
			refused = append(refused, "INFO on "+m.addr+": "+m.infoErr.Error())
		}
	}
	if len(refused) > 0 {
		r.add(Check{Name: "acl", Status: Fail, Detail: "user " + user + " is refused " + strings.Join(refused, "; "),
			Fix: fmt.Sprintf("ACL SETUSER %s on resetkeys ~%s* ~asynq:* resetchannels &asynq:* +@all -@admin -@dangerous +info "+
				"(on every master; docs/operations.md, \"Redis in production\")", user, r.cfg.Prefix)})
		return
	}
	r.add(Check{Name: "acl", Status: OK, Detail: fmt.Sprintf("user %s may run scripts on %s* and asynq:*, and INFO", user, r.cfg.Prefix)})
}

// replicas checks that every master has the replicas WAIT waits for, and
// reports whether it does.
func (r *run) replicas(masters []master) bool {
	want := r.cfg.WaitReplicas
	var short, unread, have []string
	total := 0
	for _, m := range masters {
		n := m.replicasOnline()
		total += n
		switch {
		case m.infoErr != nil:
			unread = append(unread, m.addr)
		case n < want:
			short = append(short, fmt.Sprintf("%s has %d", m.addr, n))
		default:
			have = append(have, fmt.Sprintf("%s has %d", m.addr, n))
		}
	}
	fixWait := fmt.Sprintf("give every master %d replica(s) online, or lower BULKINVITE_REDIS_WAIT_REPLICAS to what each has", want)
	switch {
	case want > 0 && len(short) > 0:
		r.add(Check{Name: "replicas", Status: Fail,
			Detail: fmt.Sprintf("BULKINVITE_REDIS_WAIT_REPLICAS=%d, but %s online: every claim, sent mark and outcome fails its WAIT and is retried, and nothing is sent", want, strings.Join(short, ", ")),
			Fix:    fixWait})
	case want > 0 && len(unread) > 0:
		r.add(Check{Name: "replicas", Status: Warn, Detail: "INFO refused on " + strings.Join(unread, ", ") + ": cannot count the replicas WAIT needs", Fix: fixWait})
	case want > 0:
		r.add(Check{Name: "replicas", Status: OK, Detail: fmt.Sprintf("BULKINVITE_REDIS_WAIT_REPLICAS=%d: %s online", want, strings.Join(have, ", "))})
		return true
	case total > 0:
		r.add(Check{Name: "replicas", Status: Warn,
			Detail: fmt.Sprintf("%d replica(s), and BULKINVITE_REDIS_WAIT_REPLICAS=0: a failover to a replica that lagged loses the last writes, and a success recorded in them may be sent again", total),
			Fix:    "set BULKINVITE_REDIS_WAIT_REPLICAS=1 (docs/reliability.md, \"What each mode needs from Redis\")"})
	default:
		r.add(Check{Name: "replicas", Status: OK, Detail: "no replica, and no WAIT (BULKINVITE_REDIS_WAIT_REPLICAS=0)"})
	}
	return false
}

// atMostOnce: BULKINVITE_ON_UNKNOWN=deadletter needs each sent mark on disk or
// on a replica before its request goes (docs/reliability.md), as the worker
// warns at start.
func (r *run) atMostOnce(pers []store.Persistence, err error, waited bool) {
	if !r.cfg.AtMostOnce {
		r.add(Check{Name: "at-most-once", Status: OK, Detail: "not asked for (BULKINVITE_ON_UNKNOWN=retry: at-least-once)"})
		return
	}
	if waited {
		r.add(Check{Name: "at-most-once", Status: OK, Detail: fmt.Sprintf("each sent mark is acknowledged by %d replica(s) before its request goes", r.cfg.WaitReplicas)})
		return
	}
	fsynced := err == nil && len(pers) > 0
	for _, p := range pers {
		fsynced = fsynced && p.Err == nil && p.FsyncsEachWrite()
	}
	if fsynced {
		r.add(Check{Name: "at-most-once", Status: OK, Detail: "every master fsyncs each write before it answers (appendfsync always)"})
		return
	}
	r.add(Check{Name: "at-most-once", Status: Fail,
		Detail: "BULKINVITE_ON_UNKNOWN=deadletter, but neither appendfsync always on every master nor the replicas online that BULKINVITE_REDIS_WAIT_REPLICAS >= 1 waits for: a restart or failover can lose the last sent marks, and their candidates are sent again",
		Fix:    "appendonly yes with appendfsync always on every master, and BULKINVITE_REDIS_WAIT_REPLICAS >= 1 wherever a replica can be promoted (docs/reliability.md)"})
}

// clock compares this host's clock with each master's TIME: schedules, send
// windows and retention are reckoned on both.
func (r *run) clock(masters []master) {
	var off, fine []string
	for _, m := range masters {
		tolerance := r.cfg.MaxClockSkew + m.rtt/2
		switch {
		case m.timeErr != nil:
			off = append(off, m.addr+": TIME: "+m.timeErr.Error())
		case m.skew > tolerance || -m.skew > tolerance:
			off = append(off, fmt.Sprintf("%s is %s %s", m.addr, m.skew.Abs().Round(time.Millisecond), aheadOrBehind(m.skew)))
		default:
			fine = append(fine, fmt.Sprintf("%s within %s", m.addr, m.skew.Abs().Round(100*time.Microsecond)))
		}
	}
	if len(off) > 0 {
		r.add(Check{Name: "clock", Status: Warn,
			Detail: strings.Join(off, "; ") + " of this host: the store and the rate limiter compare times from this host's clock with Redis's TIME (schedules, leases, expiries)",
			Fix:    "keep this host's and Redis's clocks in sync (NTP, chrony)"})
		return
	}
	r.add(Check{Name: "clock", Status: OK, Detail: "Redis's TIME and this host's clock agree: " + strings.Join(fine, ", ")})
}

func aheadOrBehind(d time.Duration) string {
	if d > 0 {
		return "ahead"
	}
	return "behind"
}
