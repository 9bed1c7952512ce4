// Package idempotency keeps the records of the Idempotency-Key that a client may
// send with POST /v1/batches, in Redis beside the store's keys and under the same
// prefix: one hash per client and key, P{idem:h} (see the key list in package
// store's doc). A record holds the request body's hash, the batch it stands for,
// the lease of the run importing it and, once done, the answer given.
//
// It owns those records only: what a request may do with them is httpapi's, the
// import the producer's. A record shares no key and no step with the batches, so
// it is a Store of its own, built from the store's prefix and write path (whose
// writes wait for the replicas with store.Config.WaitReplicas).
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What Reserve found under a key.
const (
	// StateNew: the key was free; the caller now holds it and imports the batch.
	StateNew = "new"
	// StateTakeOver: the key was held for the same body by a run whose lease ran
	// out (it failed, or its process died); the caller now holds it and imports
	// the same batch again, which completes it (producer re-runs are idempotent).
	StateTakeOver = "takeover"
	// StateDone: the same body was imported under the key; Response is the
	// answer that was given.
	StateDone = "done"
	// StateBusy: another run holds the key for the same body right now.
	StateBusy = "busy"
	// StateConflict: the key was used for another body.
	StateConflict = "conflict"
)

// Record is what a key holds, as Reserve found it.
type Record struct {
	// State is one of StateNew, StateTakeOver, StateDone, StateBusy, StateConflict.
	State string
	// BatchID is the batch the key stands for (for StateNew, the one passed in).
	BatchID string
	// Response is the answer stored by Finish, for StateDone.
	Response []byte
	// LeaseUntil is when the holder's lease runs out, for StateBusy.
	LeaseUntil time.Time
}

// Redis is what a Store needs of the store's: its key prefix, and its write
// path (store.Store's Prefix and Eval).
type Redis interface {
	Prefix() string
	Eval(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd
}

// Store reads and writes idempotency records. It is safe for concurrent use.
type Store struct {
	rdb Redis
}

// New returns a Store whose keys sit beside rdb's, under its prefix.
func New(rdb Redis) *Store { return &Store{rdb: rdb} }

// key is the key of one client's idempotency key: P{idem:h}, h a hash of the
// scope (the client) and the key, so that any text can be a key and the keys of
// many clients spread over a cluster's slots.
func (s *Store) key(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return s.rdb.Prefix() + "{idem:" + hex.EncodeToString(sum[:16]) + "}"
}

// Reserve checks and sets, in one step, a client's idempotency key (scope names
// the client): a free key is taken for bodyHash and batchID under a lease of
// owner's that lasts lease, the record kept for ttl; a key already taken answers
// what it holds (see the State* values). Times are Redis's clock.
func (s *Store) Reserve(ctx context.Context, scope, key, bodyHash, batchID, owner string, lease, ttl time.Duration) (*Record, error) {
	res, err := s.rdb.Eval(ctx, reserveScript, []string{s.key(scope, key)},
		bodyHash, batchID, lease.Milliseconds(), ttl.Milliseconds(), owner).StringSlice()
	if err != nil || len(res) < 2 {
		return nil, fmt.Errorf("reserve idempotency key: %w", err)
	}
	out := &Record{State: res[0], BatchID: res[1]}
	switch {
	case out.State == StateDone && len(res) > 2:
		out.Response = []byte(res[2])
	case out.State == StateBusy && len(res) > 2:
		out.LeaseUntil = msTime(res[2])
	}
	return out, nil
}

// Finish stores the answer given for a key that owner holds, so that a retry
// gets it back, and keeps the record ttl from now. A key another run took over
// meanwhile is left to that run.
func (s *Store) Finish(ctx context.Context, scope, key, owner string, response []byte, ttl time.Duration) error {
	err := s.rdb.Eval(ctx, finishScript, []string{s.key(scope, key)}, owner, response, ttl.Milliseconds()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// Release ends owner's lease on a key whose import failed, so that the client's
// retry takes it over at once (and completes the same batch).
func (s *Store) Release(ctx context.Context, scope, key, owner string) error {
	err := s.rdb.Eval(ctx, releaseScript, []string{s.key(scope, key)}, owner).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// msTime is a time in unix milliseconds, "" the zero time.
func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(n).UTC()
}

// The record is a hash: body (hash of the request), batch, state (pending or
// done), lease (unix ms, Redis's clock), owner, resp (the answer, once done).

// reserveScript takes a free key, or a key whose lease ran out for the same
// body, or answers what the key holds: {state, batch[, answer or lease]}.
var reserveScript = redis.NewScript(`
local record = KEYS[1]
local body, batch, leaseMS, ttlMS, owner = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HMGET', record, 'body', 'batch', 'state', 'lease', 'resp')
if not cur[1] then
  redis.call('HSET', record, 'body', body, 'batch', batch, 'state', 'pending',
    'lease', tostring(now + leaseMS), 'owner', owner)
  redis.call('PEXPIRE', record, ttlMS)
  return {'new', batch}
end
if cur[1] ~= body then return {'conflict', cur[2]} end
if cur[3] == 'done' then return {'done', cur[2], cur[5] or ''} end
if tonumber(cur[4]) > now then return {'busy', cur[2], cur[4]} end
redis.call('HSET', record, 'lease', tostring(now + leaseMS), 'owner', owner)
return {'takeover', cur[2]}
`)

// finishScript stores the answer if owner still holds the key. Returns 1 when
// stored, 0 when another run holds it.
var finishScript = redis.NewScript(`
local record = KEYS[1]
local owner, answer, ttlMS = ARGV[1], ARGV[2], ARGV[3]

if redis.call('HGET', record, 'owner') ~= owner then return 0 end
redis.call('HSET', record, 'state', 'done', 'resp', answer)
redis.call('PEXPIRE', record, ttlMS)
return 1
`)

// releaseScript ends owner's lease on a key still pending. Returns 1 when
// ended, 0 when another run holds it or it is done.
var releaseScript = redis.NewScript(`
local record = KEYS[1]
local owner = ARGV[1]

if redis.call('HGET', record, 'owner') ~= owner or redis.call('HGET', record, 'state') ~= 'pending' then return 0 end
redis.call('HSET', record, 'lease', '0')
return 1
`)
