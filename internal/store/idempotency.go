package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// What ReserveIdempotency found under a key.
const (
	// IdemNew: the key was free; the caller now holds it and imports the batch.
	IdemNew = "new"
	// IdemTakeOver: the key was held for the same body by a run whose lease ran
	// out (it failed, or its process died); the caller now holds it and imports the
	// same batch again, which completes it (producer re-runs are idempotent).
	IdemTakeOver = "takeover"
	// IdemDone: the same body was imported under the key; Response is the answer
	// that was given.
	IdemDone = "done"
	// IdemBusy: another run holds the key for the same body right now.
	IdemBusy = "busy"
	// IdemConflict: the key was used for another body.
	IdemConflict = "conflict"
)

// Idempotency is what a key holds, as ReserveIdempotency found it.
type Idempotency struct {
	// State is one of IdemNew, IdemTakeOver, IdemDone, IdemBusy, IdemConflict.
	State string
	// BatchID is the batch the key stands for (for IdemNew, the one passed in).
	BatchID string
	// Response is the answer stored by FinishIdempotency, for IdemDone.
	Response []byte
	// LeaseUntil is when the holder's lease runs out, for IdemBusy.
	LeaseUntil time.Time
}

// idemKey is the key of one client's idempotency key: P{idem:h}, h a hash of the
// scope (the client) and the key, so that any text can be a key and the keys of
// many clients spread over a cluster's slots.
func (s *Store) idemKey(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return s.cfg.Prefix + "{idem:" + hex.EncodeToString(sum[:16]) + "}"
}

// ReserveIdempotency checks and sets, in one step, a client's idempotency key
// (scope names the client): a free key is taken for bodyHash and batchID under a
// lease of owner's that lasts lease, the record kept for ttl; a key already taken
// answers what it holds (see the Idem* states). Times are Redis's clock.
func (s *Store) ReserveIdempotency(ctx context.Context, scope, key, bodyHash, batchID, owner string, lease, ttl time.Duration) (*Idempotency, error) {
	res, err := s.eval(ctx, idemReserveScript, []string{s.idemKey(scope, key)},
		bodyHash, batchID, lease.Milliseconds(), ttl.Milliseconds(), owner).StringSlice()
	if err != nil || len(res) < 2 {
		return nil, fmt.Errorf("reserve idempotency key: %w", err)
	}
	out := &Idempotency{State: res[0], BatchID: res[1]}
	switch {
	case out.State == IdemDone && len(res) > 2:
		out.Response = []byte(res[2])
	case out.State == IdemBusy && len(res) > 2:
		out.LeaseUntil = msTime(res[2])
	}
	return out, nil
}

// FinishIdempotency stores the answer given for a key that owner holds, so that a
// retry gets it back, and keeps the record ttl from now. A key another run took
// over meanwhile is left to that run.
func (s *Store) FinishIdempotency(ctx context.Context, scope, key, owner string, response []byte, ttl time.Duration) error {
	if err := s.eval(ctx, idemFinishScript, []string{s.idemKey(scope, key)}, owner, response, ttl.Milliseconds()).Err(); err != nil && !isNil(err) {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// ReleaseIdempotency ends owner's lease on a key whose import failed, so that the
// client's retry takes it over at once (and completes the same batch).
func (s *Store) ReleaseIdempotency(ctx context.Context, scope, key, owner string) error {
	if err := s.eval(ctx, idemReleaseScript, []string{s.idemKey(scope, key)}, owner).Err(); err != nil && !isNil(err) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// The record is a hash: body (hash of the request), batch, state (pending or
// done), lease (unix ms, Redis's clock), owner, resp (the answer, once done).
var idemReserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HMGET', KEYS[1], 'body', 'batch', 'state', 'lease', 'resp')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'body', ARGV[1], 'batch', ARGV[2], 'state', 'pending',
    'lease', tostring(now + tonumber(ARGV[3])), 'owner', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'new', ARGV[2]}
end
if cur[1] ~= ARGV[1] then return {'conflict', cur[2]} end
if cur[3] == 'done' then return {'done', cur[2], cur[5] or ''} end
if tonumber(cur[4]) > now then return {'busy', cur[2], cur[4]} end
redis.call('HSET', KEYS[1], 'lease', tostring(now + tonumber(ARGV[3])), 'owner', ARGV[5])
return {'takeover', cur[2]}
`)

var idemFinishScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'resp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

var idemReleaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'lease', '0')
return 1
`)
