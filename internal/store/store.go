package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Defaults of Config.
const (
	DefaultPrefix      = "bulkinvite:"
	DefaultRetention   = 720 * time.Hour
	DefaultLedgerTTL   = 90 * 24 * time.Hour
	DefaultUnsealedTTL = 7 * 24 * time.Hour
	DefaultWaitTimeout = time.Second
)

// Config tunes a Store. Zero fields take the documented defaults.
type Config struct {
	// Prefix starts every key of ours. Default "bulkinvite:". It should hold no
	// hash tag ({...}): the store tags its keys per batch and per target so that a
	// Redis Cluster spreads them, and a tag in the prefix would win.
	Prefix string
	// Retention is how long a done batch's keys live after it finished; its dead
	// letters stay until replayed or purged. Default 720h.
	Retention time.Duration
	// LedgerTTL is how long a recorded success blocks a repeat invite to the same
	// target: at least this long, and at most a week more (the ledger keeps one
	// hash per target and week). Default 90 days.
	LedgerTTL time.Duration
	// UnsealedTTL is how long the keys of a batch whose import has not sealed it
	// yet (de-duplication data included) live after its last import or worker
	// step: an import that died and was never run again is cleaned up this long
	// after. A sealed batch's keys do not expire before it is done, nor do a
	// replay batch's (the next replay finishes it). Default 168h (7 days).
	UnsealedTTL time.Duration
	// WaitReplicas is how many replicas must acknowledge each write of a claim, a
	// sent mark, an outcome or a ledger entry (Redis WAIT) before the caller goes
	// on. Default 0: no WAIT.
	WaitReplicas int
	// WaitTimeout bounds each WAIT; too few acknowledgements by then is an error
	// (ErrNotReplicated), and the write is retried like any other failure.
	// Default 1s.
	WaitTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.LedgerTTL <= 0 {
		c.LedgerTTL = DefaultLedgerTTL
	}
	if c.UnsealedTTL <= 0 {
		c.UnsealedTTL = DefaultUnsealedTTL
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	return c
}

// ErrNotReplicated is returned when fewer replicas than Config.WaitReplicas
// acknowledged a write within Config.WaitTimeout. The write is on the master;
// retrying it is safe.
var ErrNotReplicated = errors.New("write not acknowledged by enough replicas")

// Store reads and writes bulkinvite's own Redis keys. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	// scripts runs the store's scripts: rdb, or its autopipeliner once
	// CoalesceScripts chose it.
	scripts redis.Scripter
	cfg     Config
	now     func() time.Time
	// jobs caches dead-letter jobs by fingerprint, written or read.
	jobs jobCache[dlJob]
	// batchJobs caches the batches' shared jobs (P{j:ref}) by ref.
	batchJobs jobCache[task.Job]
	// weeks caches the targets' ledger indexes (liveWeeks).
	weeks weeksCache
	// lastTarget is the last target tkey hashed, and its hash: a chunk names
	// its target's keys several times, and a worker sends to few targets.
	lastTarget atomic.Pointer[hashedTarget]
	// trim is where the batches index is trimmed next (trimBatches).
	trim trimState
	// beforeMarks, when set (by tests), runs as UnmarkClosed is about to read a
	// batch's marks.
	beforeMarks func()
}

// New returns a Store over rdb: a single node's, a Sentinel failover or a Cluster
// client.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	return &Store{rdb: rdb, scripts: rdb, cfg: cfg.withDefaults(), now: time.Now}
}

// CoalesceScripts makes the store send the scripts of callers running at once
// together, in pipelines of go-redis's autopipelining, on a single node or a
// Sentinel's master: where many callers run at once (the HTTP service's
// requests), a script costs a share of one round trip's system calls, in the
// client and in Redis, rather than one of its own. On a Cluster, or with
// Config.WaitReplicas (each write followed by WAIT on its own connection), it
// does nothing. A script already queued is bounded by the client's read and
// write timeouts, not by its caller's context. Call it before the store is in
// use.
func (s *Store) CoalesceScripts() error {
	c, ok := s.rdb.(*redis.Client)
	if !ok || s.cfg.WaitReplicas > 0 {
		return nil
	}
	ap, err := c.AutoPipeline()
	if err != nil {
		return fmt.Errorf("coalesce the store's scripts: %w", err)
	}
	s.scripts = ap
	return nil
}

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Prefix returns the prefix of the store's keys.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// key is a global key: P a:b.
func (s *Store) key(parts ...string) string { return s.cfg.Prefix + strings.Join(parts, ":") }

// bkey is one of a batch's keys, all in the batch's slot: P{b:id}[:sub].
func (s *Store) bkey(id, sub string) string {
	if sub == "" {
		return s.cfg.Prefix + "{b:" + id + "}"
	}
	return s.cfg.Prefix + "{b:" + id + "}:" + sub
}

// tkey is one of a target's keys, all in the target's slot: P{t:h}:sub.
func (s *Store) tkey(target payload.Target, sub string) string {
	h := s.lastTarget.Load()
	if h == nil || h.target != target {
		h = &hashedTarget{target: target, hash: targetHash(target)}
		s.lastTarget.Store(h)
	}
	return s.cfg.Prefix + "{t:" + h.hash + "}:" + sub
}

// hashedTarget is a target and its targetHash.
type hashedTarget struct {
	target payload.Target
	hash   string
}

func targetHash(t payload.Target) string {
	sum := sha256.Sum256([]byte(t.Key()))
	return hex.EncodeToString(sum[:8])
}

// fingerprint is the first 8 bytes of the SHA-256 of v.
func fingerprint(v string) string { return fingerprintOf([]byte(v)) }

// fingerprintOf is fingerprint of the bytes of b: the fingerprints of a
// candidate are spelt into a buffer on the stack, not into a string each.
func fingerprintOf(b []byte) string {
	sum := sha256.Sum256(b)
	return string(sum[:8])
}

// fpBuf is room on the stack for what a candidate's fingerprint is taken of;
// a longer email or batch id spills to the heap.
const fpBuf = 128

// candidateFP identifies a candidate in the ledger and the claims: the email,
// ignoring case (strings.ToLower), or for a CV-only candidate its CV link.
func candidateFP(c payload.Candidate) string {
	var buf [fpBuf]byte
	if c.Email == "" {
		return fingerprintOf(append(append(buf[:0], "c:"...), c.CVLink...))
	}
	return fingerprintOf(appendLower(append(buf[:0], "e:"...), c.Email))
}

// ownerFP identifies a candidate of a batch as the owner of a claim or a ledger entry.
func ownerFP(batchID string, seq int64) string {
	var buf [fpBuf]byte
	b := append(append(append(buf[:0], "o:"...), batchID...), ':')
	return fingerprintOf(strconv.AppendInt(b, seq, 10))
}

func nowMS(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// eval runs script over keys, which must share a slot. With Config.WaitReplicas
// it is followed, on the same connection, by WAIT (see write).
func (s *Store) eval(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.cfg.WaitReplicas <= 0 {
		return script.Run(ctx, s.scripts, keys, args...)
	}
	var cmd *redis.Cmd
	err := s.write(ctx, keys[0], func(pipe redis.Pipeliner) {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
		cmd = script.Eval(ctx, pipe, keys, args...)
	})
	if err != nil && cmd.Err() == nil {
		cmd.SetErr(err)
	}
	return cmd
}

// Eval runs script over keys of one slot as the store runs its own steps: with
// Config.WaitReplicas it is followed, on the same connection, by WAIT. It is the
// write path of the keys other packages keep beside the store's (idempotency).
func (s *Store) Eval(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, script, keys, args...)
}

// write runs the commands fn queues, all on keys of key's slot. With
// Config.WaitReplicas they are sent in one pipeline to the master serving that
// slot and followed by WAIT on the same connection: fewer acknowledgements than
// asked within Config.WaitTimeout is ErrNotReplicated.
func (s *Store) write(ctx context.Context, key string, fn func(redis.Pipeliner)) error {
	if s.cfg.WaitReplicas <= 0 {
		_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error { fn(pipe); return nil })
		return err
	}
	node, err := s.master(ctx, key)
	if err != nil {
		return err
	}
	pipe := node.Pipeline()
	fn(pipe)
	wait := pipe.Do(ctx, "WAIT", s.cfg.WaitReplicas, s.cfg.WaitTimeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	acked, err := wait.Int()
	switch {
	case err != nil:
		return fmt.Errorf("WAIT: %w", err)
	case acked < s.cfg.WaitReplicas:
		return fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, acked, s.cfg.WaitReplicas, s.cfg.WaitTimeout)
	}
	return nil
}

// SyncQueue waits, with Config.WaitReplicas, until the writes made so far to
// queue's asynq keys have reached the replicas: a write of ours in the same slot
// (asynq tags a queue's keys {queue}), then WAIT. The producer calls it before it
// seals a batch, so that a failover cannot keep the seal and lose the tasks.
func (s *Store) SyncQueue(ctx context.Context, queue string) error {
	if s.cfg.WaitReplicas <= 0 {
		return nil
	}
	k := s.cfg.Prefix + "{" + queue + "}:sync"
	if err := s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.Set(ctx, k, nowMS(s.now()), time.Minute) }); err != nil {
		return fmt.Errorf("sync queue %s to the replicas: %w", queue, err)
	}
	return nil
}

// oneNode reports whether one node holds every key (a single node, or a
// Sentinel's master): a script may then use keys of different slots.
func (s *Store) oneNode() bool {
	_, cluster := s.rdb.(*redis.ClusterClient)
	return !cluster
}

// master returns the client of the node that serves key: the cluster's master for
// its slot, or the one node (or Sentinel's current master).
func (s *Store) master(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("store: WAIT needs a single-node, Sentinel or Cluster client, not %T", s.rdb)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return time.UnixMilli(atoi64(s)).UTC()
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func seqArgs(seqs []int64) []any {
	out := make([]any, len(seqs))
	for i, s := range seqs {
		out[i] = s
	}
	return out
}

func isNil(err error) bool { return errors.Is(err, redis.Nil) }

func redisZ(t time.Time, member string) redis.Z {
	return redis.Z{Score: float64(t.UnixMilli()), Member: member}
}
