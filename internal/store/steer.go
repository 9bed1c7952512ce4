package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Hold is what an operator put a batch on: nothing, a pause, or a cancel. It is
// kept in the batch record's field fieldHold.
type Hold string

// The holds. A cancel is for good; a pause lasts until ResumeBatch.
const (
	HoldNone      Hold = ""
	HoldPaused    Hold = "paused"
	HoldCancelled Hold = "cancelled"
)

// fieldHold is the batch record's field that holds its Hold.
const fieldHold = "hold"

// ErrBatchPaused is MarkSending's answer for a paused batch: nothing was marked.
var ErrBatchPaused = errors.New("batch paused")

// ErrBatchCancelled is MarkSending's answer for a cancelled batch: nothing was
// marked.
var ErrBatchCancelled = errors.New("batch cancelled")

// ErrBatchDone is CancelBatch's answer for a batch that is done: every
// candidate has its outcome, there is nothing left to cancel.
var ErrBatchDone = errors.New("batch done")

// errHeld turns markScript's heldReply into ErrBatchPaused or ErrBatchCancelled.
func errHeld(err error) error {
	switch {
	case !isReply(err, heldReply):
		return err
	case isReply(err, string(HoldCancelled)):
		return ErrBatchCancelled
	default:
		return ErrBatchPaused
	}
}

// PauseBatch pauses a batch: from its return on, no worker marks a candidate of
// the batch as sent, so no new request for it starts (one in flight finishes
// and is recorded). Pausing a paused, cancelled or done batch changes nothing.
// It returns the batch as it is afterwards. by (a token's name, or
// cli@<host>) is who paused it, for the batch's event log.
func (s *Store) PauseBatch(ctx context.Context, id, by string) (*Batch, error) {
	return s.steer(ctx, id, steerPause, Event{What: EventPaused, By: by})
}

// ResumeBatch lifts a pause. Resuming a batch that is not paused (running,
// cancelled, done) changes nothing. It returns the batch as it is afterwards;
// the chunks waiting for the pause to end come back within
// worker.Config.PausePoll, or at once through worker.ResumeBatch.
func (s *Store) ResumeBatch(ctx context.Context, id, by string) (*Batch, error) {
	return s.steer(ctx, id, steerResume, Event{What: EventResumed, By: by})
}

// CancelBatch cancels a batch for good: every candidate not marked as sent ends
// cancelled, counted in Batch.Cancelled, in one step with the hold, so that no
// worker sends one afterwards; those marked as sent (a request in flight, or an
// attempt that stopped before recording what came of it) end as their chunk
// records them, and the batch is done once they are. Candidates admitted
// later (an import still running) are admitted as cancelled. Cancelling a
// cancelled batch changes nothing; a done one is ErrBatchDone. It returns the
// batch as it is afterwards and how many candidates this call cancelled.
func (s *Store) CancelBatch(ctx context.Context, id, by string) (*Batch, int64, error) {
	a := s.steerArgs(id, steerCancel, Event{What: EventCancelled, By: by})
	n, err := s.eval(ctx, steerScript, a.keys(), a.argv()...).Int64()
	if err != nil {
		return nil, 0, s.steerErr(ctx, id, err)
	}
	if err := s.unindexPaused(ctx, id); err != nil {
		return nil, 0, err
	}
	b, err := s.Batch(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	return b, n, s.keepJobOf(ctx, b)
}

// steer runs steerScript's pause or resume and keeps the paused index (P
// paused) in step with the hold the batch has afterwards. The index is written
// after the record (another slot): a crash between leaves it behind the
// record, and the same call again sets it right.
func (s *Store) steer(ctx context.Context, id, op string, e Event) (*Batch, error) {
	a := s.steerArgs(id, op, e)
	if err := s.eval(ctx, steerScript, a.keys(), a.argv()...).Err(); err != nil {
		return nil, s.steerErr(ctx, id, err)
	}
	b, err := s.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.keepJobOf(ctx, b); err != nil {
		return nil, err
	}
	k := s.key("paused")
	if b.Hold == HoldPaused && !b.Done() {
		err = s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.SAdd(ctx, k, id) })
	} else {
		err = s.unindexPaused(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("index the paused batch %s: %w", id, err)
	}
	return b, nil
}

// steerArgs are the arguments of steerScript's op on batch id, e its event.
func (s *Store) steerArgs(id, op string, e Event) steerArgs {
	return steerArgs{batch: s.bkey(id, ""), ev: s.bkey(id, "ev"), retained: s.retainedKeys(id), op: op,
		now: nowMS(s.now()), retentionMS: s.cfg.Retention.Milliseconds(), event: s.encodeEvent(e), maxEvents: MaxEvents}
}

// unindexPaused removes a batch from the paused index.
func (s *Store) unindexPaused(ctx context.Context, id string) error {
	k := s.key("paused")
	return s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.SRem(ctx, k, id) })
}

// steerErr names what a steering step's error means: a batch never created or
// gone, or done.
func (s *Store) steerErr(ctx context.Context, id string, err error) error {
	switch {
	case isReply(err, goneReply):
		return s.missing(ctx, id)
	case isReply(err, doneReply):
		return fmt.Errorf("batch %s: %w: every candidate has its outcome", id, ErrBatchDone)
	}
	return fmt.Errorf("steer batch %s: %w", id, err)
}

// missing is the error for a batch id without a record: ErrBatchExpired when
// the batches index knows it, else ErrBatchNotFound.
func (s *Store) missing(ctx context.Context, id string) error {
	if _, err := s.rdb.ZScore(ctx, s.key("batches"), id).Result(); err == nil {
		return fmt.Errorf("%w: %s was done more than %s ago", ErrBatchExpired, id, s.cfg.Retention)
	}
	return fmt.Errorf("%w: %s", ErrBatchNotFound, id)
}

// PausedBatches counts the batches on pause that are not done, for the gauge
// bulkinvite_batches_held{state="paused"}: the members of the paused index,
// each read back from its record. A member whose batch is no longer paused (it
// became done while paused, or the index lagged a crash) is removed.
func (s *Store) PausedBatches(ctx context.Context) (int, error) {
	k := s.key("paused")
	ids, err := s.rdb.SMembers(ctx, k).Result()
	if err != nil {
		return 0, fmt.Errorf("read the paused batches: %w", err)
	}
	holds, err := s.readHolds(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("read the paused batches: %w", err)
	}
	n := 0
	var stale []any
	for i, h := range holds {
		if h.exists && h.hold == HoldPaused && !h.done {
			n++
		} else {
			stale = append(stale, ids[i])
		}
	}
	if len(stale) > 0 {
		if err := s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.SRem(ctx, k, stale...) }); err != nil {
			return 0, fmt.Errorf("drop batches no longer paused from the index: %w", err)
		}
	}
	return n, nil
}

// batchHold is what the held batches' gauges read of a batch's record.
type batchHold struct {
	exists, done bool
	hold         Hold
}

// readHolds reads the hold of each batch of ids and whether it is there and
// done, in one pipeline.
func (s *Store) readHolds(ctx context.Context, ids []string) ([]batchHold, error) {
	cmds := make([]*redis.SliceCmd, len(ids))
	fields := []string{"id", fieldHold, "finished_at"}
	if _, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, s.bkey(id, ""), recordFields(fields...)...)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]batchHold, len(ids))
	for i, c := range cmds {
		v, err := recordValues(fields, c.Val())
		if err != nil {
			return nil, fmt.Errorf("read the hold of batch %s: %w", ids[i], err)
		}
		if v[0] == nil {
			continue
		}
		hold, _ := v[1].(string)
		out[i] = batchHold{exists: true, done: v[2] != nil, hold: Hold(hold)}
	}
	return out, nil
}

// Unsent counts the candidates of b that a cancel would cancel now: accepted,
// with no outcome, and not marked as sent. It reads the batch's state bytes (one
// per candidate).
func (s *Store) Unsent(ctx context.Context, b *Batch) (int64, error) {
	if b.Hold == HoldCancelled || b.Accepted == 0 {
		return 0, nil
	}
	st, err := s.stateBytes(ctx, b.ID, 0, b.Accepted-1)
	if err != nil {
		return 0, fmt.Errorf("read candidate states of batch %s: %w", b.ID, err)
	}
	return int64(bytes.Count(st, []byte{codeOpen})) + b.Accepted - int64(len(st)), nil
}

// steerScript's operations.
const (
	steerPause  = "pause"
	steerResume = "resume"
	steerCancel = "cancel"
)

// steerScript pauses, resumes or cancels a batch (ARGV op), in one step in the
// batch's slot. A cancel sets the hold, then turns every candidate still open
// (state OPEN, among the accepted ones: seqs 0 to accepted-1, the state string
// padded to that length) into CANCELLED, counts them, and finishes the batch as
// recording its last outcome would (finish). Returns how many candidates it
// cancelled (0 for the other operations and for a batch cancelled before); an
// error holding goneReply for a batch without a record, doneReply for a cancel
// of a batch that is done (and not cancelled). A step that changes the batch
// writes its event (ARGV event) to the batch's log; a cancel's detail says how
// many candidates it cancelled.
var steerScript = newScript(`
local batch = KEYS[1]
local ev = KEYS[2]
local retainedFrom = 3 -- KEYS[3..]: retainedKeys, the candidate states first
local st = KEYS[retainedFrom]
local op, now, retention, event, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not alive(batch) then return redis.error_reply('` + goneReply + `') end
local v = rmget(batch, {HOLD, 'finished_at', 'accepted'})
local hold, done, accepted = v[1], v[2], tonumber(v[3]) or 0
if hold == CANCEL then return 0 end
if op == '` + steerPause + `' then
  if not done and hold ~= PAUSED then
    redis.call('HSET', batch, HOLD, PAUSED)
    pushEvent(batch, ev, event, maxEvents)
  end
  return 0
end
if op == '` + steerResume + `' then
  if hold == PAUSED then
    redis.call('HDEL', batch, HOLD)
    pushEvent(batch, ev, event, maxEvents)
  end
  return 0
end
if done then return redis.error_reply('` + doneReply + `') end
redis.call('HSET', batch, HOLD, CANCEL)
local n = 0
if accepted > 0 then
  local cur = redis.call('GETRANGE', st, 0, accepted - 1)
  if #cur < accepted then cur = cur .. string.rep(string.char(OPEN), accepted - #cur) end
  local turned
  turned, n = string.gsub(cur, '%z', string.char(CANCELLED))
  if n > 0 then
    redis.call('SETRANGE', st, 0, turned)
    rincr(batch, 'cancelled', n)
    follow(batch, st)
  end
end
pushEvent(batch, ev, withNote(event, n .. ' candidates not sent'), maxEvents)
finish(batch, now, retention, retainedFrom, #KEYS)
return n
`)

// steerArgs are steerScript's KEYS and ARGV.
type steerArgs struct {
	batch, ev   string
	retained    []string // retainedKeys
	op          string   // steerPause, steerResume or steerCancel
	now         string   // unix ms
	retentionMS int64
	event       string // encodeEvent: the entry written when the step changes the batch
	maxEvents   int
}

func (a steerArgs) keys() []string { return append([]string{a.batch, a.ev}, a.retained...) }
func (a steerArgs) argv() []any {
	return []any{a.op, a.now, a.retentionMS, a.event, a.maxEvents}
}
