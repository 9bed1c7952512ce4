package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// A replay batch is filled by one run of `deadletter replay` at a time: the run
// that opened it holds its lease and renews it while it works. Only a run holding
// the lease can move dead letters into the batch's staging area or close it, so a
// second run never seals a batch the first is still filling; when the holder dies,
// its lease runs out and the next run takes the batch over and finishes it from
// what was staged, which no one can add to any more.

// ErrReplayLeaseLost is returned when a replay batch's lease is held by another
// run, or was lost to one after this run's lease ran out.
var ErrReplayLeaseLost = errors.New("the replay batch's lease is held by another replay run")

// ReplayInfo is what a replay batch needs to be finished after a crash.
type ReplayInfo struct {
	Job      payload.Job `json:"job"`
	ReplayOf []string    `json:"replay_of"`
}

func (s *Store) stagingKey(batchID string) string { return s.batchSub(batchID, "replay") }
func (s *Store) leaseKey(batchID string) string   { return s.batchSub(batchID, "lease") }
func (s *Store) openReplaysKey() string           { return s.key("replays", "open") }

// OpenReplay records a replay batch as begun, with its lease held by owner for ttl,
// before any dead letter is moved into it, so that an interrupted replay can be
// found (OpenReplays) and finished by another run once the lease runs out.
func (s *Store) OpenReplay(ctx context.Context, replayBatchID string, info ReplayInfo, owner string, ttl time.Duration) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := s.TakeReplay(ctx, replayBatchID, owner, ttl); err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.openReplaysKey(), replayBatchID, b).Err(); err != nil {
		return fmt.Errorf("open replay %s: %w", replayBatchID, err)
	}
	return nil
}

// TakeReplay gives owner the replay batch's lease for ttl when nobody else holds it
// (its holder died, or it is owner's already: then it is renewed). Otherwise it
// returns ErrReplayLeaseLost.
func (s *Store) TakeReplay(ctx context.Context, replayBatchID, owner string, ttl time.Duration) error {
	ok, err := leaseScript.Run(ctx, s.rdb, []string{s.leaseKey(replayBatchID)}, owner, ttl.Milliseconds()).Bool()
	if err != nil {
		return fmt.Errorf("lease of replay %s: %w", replayBatchID, err)
	}
	if !ok {
		return fmt.Errorf("replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	return nil
}

// OpenReplays returns the replay batches begun but not yet fully enqueued, whether
// a live run holds them or not.
func (s *Store) OpenReplays(ctx context.Context) (map[string]ReplayInfo, error) {
	m, err := s.rdb.HGetAll(ctx, s.openReplaysKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read open replays: %w", err)
	}
	out := make(map[string]ReplayInfo, len(m))
	for id, v := range m {
		var info ReplayInfo
		if err := json.Unmarshal([]byte(v), &info); err != nil {
			return nil, fmt.Errorf("open replay %s: %w", id, err)
		}
		out[id] = info
	}
	return out, nil
}

// CloseReplay marks a replay batch as fully enqueued and removes its staging area
// and lease. Only the lease's owner may close it (ErrReplayLeaseLost otherwise).
func (s *Store) CloseReplay(ctx context.Context, replayBatchID, owner string) error {
	keys := []string{s.openReplaysKey(), s.stagingKey(replayBatchID), s.leaseKey(replayBatchID)}
	ok, err := closeReplayScript.Run(ctx, s.rdb, keys, replayBatchID, owner).Bool()
	if err != nil {
		return fmt.Errorf("close replay %s: %w", replayBatchID, err)
	}
	if !ok {
		return fmt.Errorf("close replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	return nil
}

// MoveToReplay moves the dead letters with the given ids out of the dead-letter list
// and into the replay batch's staging area, atomically per page: an entry is always
// in exactly one of the two. Each page moves only while owner holds the batch's
// lease (ErrReplayLeaseLost otherwise), so nothing is staged after another run took
// the batch over. It returns how many were moved (ids no longer present, already
// replayed or purged, are skipped).
func (s *Store) MoveToReplay(ctx context.Context, replayBatchID, owner string, ids []string) (int, error) {
	keys := []string{s.key("dl", "entries"), s.key("dl", "index"), s.stagingKey(replayBatchID), s.leaseKey(replayBatchID)}
	n, err := s.runInPages(ctx, moveScript, keys, []any{owner}, ids)
	if errors.Is(err, errRefused) {
		return n, fmt.Errorf("move dead letters to replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	if err != nil {
		return n, fmt.Errorf("move dead letters to replay %s: %w", replayBatchID, err)
	}
	return n, nil
}

// Staged returns the dead letters staged for a replay batch, ordered by batch and
// seq so that a re-run after a crash cuts the same segments.
func (s *Store) Staged(ctx context.Context, replayBatchID string) ([]*DeadLetter, error) {
	m, err := s.rdb.HGetAll(ctx, s.stagingKey(replayBatchID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read replay %s: %w", replayBatchID, err)
	}
	out := make([]*DeadLetter, 0, len(m))
	for id, v := range m {
		var d DeadLetter
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("replay %s: dead letter %s: %w", replayBatchID, id, err)
		}
		out = append(out, &d)
	}
	sortDeadLetters(out)
	return out, nil
}
