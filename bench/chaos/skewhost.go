package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// skewedHost does to asynq's keys in Redis what the background parts of an
// asynq server (a `bulkinvite worker`) do on a host whose clock runs skew
// ahead of the others: its recoverer and its forwarder, the two that compare
// their own clock with times other servers wrote. Go reads the clock through
// the vDSO, so a real worker process cannot be given a skewed clock (faketime
// does not reach it); this replays what asynq v0.26.0 does, step by step, with
// the clock moved:
//
//   - recoverer.recoverLeaseExpiredTasks (recoverer.go), once when the server
//     starts and then every minute: rdb.ListLeaseExpired lists the tasks of
//     each queue whose lease (asynq:{q}:lease, a sorted set of task ids by
//     lease expiry in unix seconds, which the holder's heartbeater extends to
//     its now + 30 s every 5 s) ends at or before now - 30 s ("to accommodate
//     certain amount of clock skew"); each one is retried (rdb.Retry: out of
//     active and the lease set into the retry set at now + the retry delay,
//     its message annotated) or, once its retries are spent, archived. At
//     skew 55 s, now - 30 s is the others' now + 25 s: a live task whose lease
//     was last extended 4 to 5 s ago (whole seconds) is taken from its holder,
//     which goes on sending; from skew 60 s every live task is.
//   - forwarder (forwarder.go, rdb.ForwardIfReady), every
//     DelayedTaskCheckInterval (the worker's, 1 s): tasks of the scheduled and
//     retry sets whose time is at or before now go back to their queue. So
//     the task it re-queued runs again after the retry delay, not 55 s later.
//
// The retry delay and whether the error spends an attempt are the worker's own
// (worker.Config.RetryDelay, worker.IsFailure), as asynq's server calls them.
// The scripts are asynq's (internal/rdb/rdb.go, MIT licence), copied verbatim.
type skewedHost struct {
	rdb    redis.UniversalClient
	skew   time.Duration
	queues []string
	// retryDelay and isFailure are the server's RetryDelayFunc and IsFailure.
	retryDelay func(n int, err error, t *asynq.Task) time.Duration
	isFailure  func(error) bool
	// wallNow is the real clock; nil: time.Now.
	wallNow func() time.Time
}

// asynq's constants this replays (internal/rdb/rdb.go, recoverer.go).
const (
	asynqRecoverGrace    = 30 * time.Second // recoverLeaseExpiredTasks: cutoff is now - 30 s
	asynqRecoverInterval = time.Minute      // the recoverer's interval (server.go)
	asynqStatsTTL        = 90 * 24 * time.Hour
)

// requeued is a task the recoverer took from its lease.
type requeued struct {
	Queue, ID string
	// LeaseLeft is how long its lease had to run by the real clock when it was
	// taken: positive, its holder was alive and extending it.
	LeaseLeft time.Duration
	// Archived: its retries were spent, so asynq archived it instead. The
	// scenario's tasks have 65,536 retries; it is reported, not replayed.
	Archived bool
}

func (h *skewedHost) wall() time.Time {
	if h.wallNow != nil {
		return h.wallNow()
	}
	return time.Now()
}

// now is the skewed host's clock.
func (h *skewedHost) now() time.Time { return h.wall().Add(h.skew) }

// cutoff is the lease expiry at or before which the recoverer takes a task,
// in whole seconds as asynq passes it.
func (h *skewedHost) cutoff() int64 { return h.now().Add(-asynqRecoverGrace).Unix() }

// wouldTake reports whether a recoverer pass now would take a task from a
// live holder: one whose lease, by the real clock, has not ended.
func (h *skewedHost) wouldTake(ctx context.Context) (bool, error) {
	cutoff, wall := h.cutoff(), h.wall().Unix()
	for _, q := range h.queues {
		n, err := h.rdb.ZCount(ctx, asynqLeaseKey(q), fmt.Sprint(wall+1), fmt.Sprint(cutoff)).Result()
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// recoverPass is one recoverLeaseExpiredTasks on this host.
func (h *skewedHost) recoverPass(ctx context.Context) ([]requeued, error) {
	cutoff := h.cutoff()
	var out []requeued
	for _, q := range h.queues {
		leases, err := h.rdb.ZRangeByScoreWithScores(ctx, asynqLeaseKey(q), &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(cutoff)}).Result()
		if err != nil {
			return out, err
		}
		until := map[string]int64{}
		for _, z := range leases {
			until[fmt.Sprint(z.Member)] = int64(z.Score)
		}
		res, err := listLeaseExpiredCmd.Run(ctx, h.rdb, []string{asynqLeaseKey(q)}, cutoff, asynqTaskKeyPrefix(q)).StringSlice()
		if err != nil {
			return out, fmt.Errorf("list lease expired in %s: %w", q, err)
		}
		for _, raw := range res {
			m, err := decodeTaskMessage([]byte(raw))
			if err != nil {
				return out, err
			}
			rq := requeued{Queue: q, ID: m.ID, LeaseLeft: time.Unix(until[m.ID], 0).Sub(h.wall())}
			if m.Retried >= m.Retry {
				rq.Archived = true
			} else if err := h.retry(ctx, q, m, raw); err != nil {
				// asynq logs "could not retry lease expired task" and goes on.
				continue
			}
			out = append(out, rq)
		}
	}
	return out, nil
}

// retry is recoverer.retry followed by rdb.Retry.
func (h *skewedHost) retry(ctx context.Context, q string, m taskMessage, raw string) error {
	cause := asynq.ErrLeaseExpired
	delay := h.retryDelay(int(m.Retried), cause, asynq.NewTask(m.Type, m.Payload))
	now := h.now()
	retryAt := now.Add(delay)
	failure := h.isFailure(cause)
	retried := m.Retried
	if failure {
		retried++
	}
	encoded := annotate([]byte(raw), retried, cause.Error(), now.Unix())
	keys := []string{
		asynqTaskKeyPrefix(q) + m.ID, asynqQueuePrefix(q) + "active", asynqLeaseKey(q), asynqQueuePrefix(q) + "retry",
		asynqQueuePrefix(q) + "processed:" + now.UTC().Format("2006-01-02"),
		asynqQueuePrefix(q) + "failed:" + now.UTC().Format("2006-01-02"),
		asynqQueuePrefix(q) + "processed", asynqQueuePrefix(q) + "failed",
	}
	return retryCmd.Run(ctx, h.rdb, keys, m.ID, encoded, retryAt.Unix(), now.Add(asynqStatsTTL).Unix(), failure, int64(math.MaxInt64)).Err()
}

// forwardPass is one rdb.ForwardIfReady on this host: every scheduled or
// retry task whose time has come by this host's clock goes back to its queue.
// It returns how many moved.
func (h *skewedHost) forwardPass(ctx context.Context) (int, error) {
	moved := 0
	for _, q := range h.queues {
		for _, set := range []string{"scheduled", "retry"} {
			for {
				now := h.now()
				n, err := forwardCmd.Run(ctx, h.rdb, []string{asynqQueuePrefix(q) + set, asynqQueuePrefix(q) + "pending"},
					now.Unix(), asynqTaskKeyPrefix(q), now.UnixNano(), asynqQueuePrefix(q)+"g:").Int()
				if err != nil {
					return moved, fmt.Errorf("forward %s of %s: %w", set, q, err)
				}
				moved += n
				if n == 0 {
					break
				}
			}
		}
	}
	return moved, nil
}

func asynqQueuePrefix(q string) string   { return "asynq:{" + q + "}:" }
func asynqTaskKeyPrefix(q string) string { return asynqQueuePrefix(q) + "t:" }
func asynqLeaseKey(q string) string      { return asynqQueuePrefix(q) + "lease" }

// KEYS[1] -> asynq:{<qname>}:lease
// ARGV[1] -> cutoff in unix time
// ARGV[2] -> task key prefix
var listLeaseExpiredCmd = redis.NewScript(`
local res = {}
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
for _, id in ipairs(ids) do
	local key = ARGV[2] .. id
	local v = redis.call("HGET", key, "msg")
	if v then
		table.insert(res, v)
	end
end
return res
`)

// KEYS[1] -> asynq:{<qname>}:t:<task_id>
// KEYS[2] -> asynq:{<qname>}:active
// KEYS[3] -> asynq:{<qname>}:lease
// KEYS[4] -> asynq:{<qname>}:retry
// KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
// KEYS[6] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
// KEYS[7] -> asynq:{<qname>}:processed
// KEYS[8] -> asynq:{<qname>}:failed
// ARGV[1] -> task ID
// ARGV[2] -> updated base.TaskMessage value
// ARGV[3] -> retry_at UNIX timestamp
// ARGV[4] -> stats expiration timestamp
// ARGV[5] -> is_failure (bool)
// ARGV[6] -> max int64 value
var retryCmd = redis.NewScript(`
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if tonumber(ARGV[5]) == 1 then
	local n = redis.call("INCR", KEYS[5])
	if tonumber(n) == 1 then
		redis.call("EXPIREAT", KEYS[5], ARGV[4])
	end
	local m = redis.call("INCR", KEYS[6])
	if tonumber(m) == 1 then
		redis.call("EXPIREAT", KEYS[6], ARGV[4])
	end
    local total = redis.call("GET", KEYS[7])
    if tonumber(total) == tonumber(ARGV[6]) then
    	redis.call("SET", KEYS[7], 1)
    	redis.call("SET", KEYS[8], 1)
    else
    	redis.call("INCR", KEYS[7])
    	redis.call("INCR", KEYS[8])
    end
end
return redis.status_reply("OK")`)

// KEYS[1] -> source queue (e.g. asynq:{<qname>:scheduled or asynq:{<qname>}:retry})
// KEYS[2] -> asynq:{<qname>}:pending
// ARGV[1] -> current unix time in seconds
// ARGV[2] -> task key prefix
// ARGV[3] -> current unix time in nsec
// ARGV[4] -> group key prefix
var forwardCmd = redis.NewScript(`
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
for _, id in ipairs(ids) do
	local taskKey = ARGV[2] .. id
	local group = redis.call("HGET", taskKey, "group")
	if group and group ~= '' then
	    redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
		redis.call("ZREM", KEYS[1], id)
		redis.call("HSET", taskKey,
				   "state", "aggregating")
	else
		redis.call("LPUSH", KEYS[2], id)
		redis.call("ZREM", KEYS[1], id)
		redis.call("HSET", taskKey,
				   "state", "pending",
				   "pending_since", ARGV[3])
	end
end
return table.getn(ids)`)

// taskMessage holds the fields of asynq's TaskMessage (internal/proto/asynq.proto)
// that the recoverer reads.
type taskMessage struct {
	Type           string
	Payload        []byte
	ID             string
	Retry, Retried int64
}

// Field numbers of asynq's TaskMessage.
const (
	fieldType         = 1
	fieldPayload      = 2
	fieldID           = 3
	fieldRetry        = 5
	fieldRetried      = 6
	fieldErrorMsg     = 7
	fieldLastFailedAt = 11
)

// Protocol buffers wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var errBadMessage = errors.New("asynq task message: bad protocol buffers encoding")

// protoField is one field of an encoded message: its number, wire type, value
// (a varint's, or the bytes of a length-delimited field) and its whole encoding.
type protoField struct {
	num, wire int
	varint    uint64
	data, raw []byte
}

// protoFields splits an encoded message into its fields.
func protoFields(b []byte) ([]protoField, error) {
	var out []protoField
	for len(b) > 0 {
		start := b
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errBadMessage
		}
		b = b[n:]
		f := protoField{num: int(tag >> 3), wire: int(tag & 7)}
		switch f.wire {
		case wireVarint:
			f.varint, n = binary.Uvarint(b)
			if n <= 0 {
				return nil, errBadMessage
			}
			b = b[n:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errBadMessage
			}
			f.data, b = b[n:n+int(l)], b[n+int(l):]
		case wireFixed64, wireFixed32:
			size := 8
			if f.wire == wireFixed32 {
				size = 4
			}
			if len(b) < size {
				return nil, errBadMessage
			}
			b = b[size:]
		default:
			return nil, errBadMessage
		}
		f.raw = start[:len(start)-len(b)]
		out = append(out, f)
	}
	return out, nil
}

// decodeTaskMessage reads what the recoverer needs from an encoded TaskMessage.
func decodeTaskMessage(b []byte) (taskMessage, error) {
	fs, err := protoFields(b)
	if err != nil {
		return taskMessage{}, err
	}
	var m taskMessage
	for _, f := range fs {
		switch f.num {
		case fieldType:
			m.Type = string(f.data)
		case fieldPayload:
			m.Payload = f.data
		case fieldID:
			m.ID = string(f.data)
		case fieldRetry:
			m.Retry = int64(int32(f.varint))
		case fieldRetried:
			m.Retried = int64(int32(f.varint))
		}
	}
	if m.ID == "" {
		return m, errBadMessage
	}
	return m, nil
}

// annotate is rdb.Retry's change to the message: retried, error_msg and
// last_failed_at replaced, every other field kept as it was.
func annotate(b []byte, retried int64, errMsg string, lastFailedAt int64) []byte {
	fs, _ := protoFields(b) // b was decoded by decodeTaskMessage already
	var out []byte
	for _, f := range fs {
		if f.num != fieldRetried && f.num != fieldErrorMsg && f.num != fieldLastFailedAt {
			out = append(out, f.raw...)
		}
	}
	out = binary.AppendUvarint(out, fieldRetried<<3|wireVarint)
	out = binary.AppendUvarint(out, uint64(retried))
	out = binary.AppendUvarint(out, fieldErrorMsg<<3|wireBytes)
	out = binary.AppendUvarint(out, uint64(len(errMsg)))
	out = append(out, errMsg...)
	out = binary.AppendUvarint(out, fieldLastFailedAt<<3|wireVarint)
	return binary.AppendUvarint(out, uint64(lastFailedAt))
}
