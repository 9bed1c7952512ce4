package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
)

// DeadLetter is a candidate that could not be invited, with everything needed to see
// why and to replay it. The JSON fields up to LastHTTPStatus are DESIGN.md's contract;
// the rest extend it.
type DeadLetter struct {
	ID             string                     `json:"id"`
	BatchID        string                     `json:"batch_id"`
	Reason         payload.Reason             `json:"reason"`
	Errors         map[string]json.RawMessage `json:"errors"`
	Candidate      payload.Candidate          `json:"candidate"`
	Target         payload.Target             `json:"target"`
	Attempts       int                        `json:"attempts"`
	FirstFailedAt  time.Time                  `json:"first_failed_at"`
	LastFailedAt   time.Time                  `json:"last_failed_at"`
	LastHTTPStatus int                        `json:"last_http_status"`

	Seq               int64  `json:"seq"`
	Row               int64  `json:"row,omitempty"`
	Detail            string `json:"detail,omitempty"`
	InvitationMessage string `json:"invitation_message,omitempty"`
	SendInvite        *bool  `json:"send_invite,omitempty"`
	// ReplayedFrom is the dead letter this candidate was replayed from, if any.
	ReplayedFrom string `json:"replayed_from,omitempty"`
}

// DeadLetterID is the id of a candidate's dead letter: one per candidate per batch.
func DeadLetterID(batchID string, seq int64) string {
	return batchID + ":" + strconv.FormatInt(seq, 10)
}

// Filter selects dead letters; empty fields match everything.
type Filter struct {
	BatchID string
	Reason  payload.Reason
}

func (f Filter) match(d *DeadLetter) bool {
	return (f.BatchID == "" || d.BatchID == f.BatchID) && (f.Reason == "" || d.Reason == f.Reason)
}

// Validate checks the reason filter.
func (f Filter) Validate() error {
	if f.Reason != "" && !f.Reason.Valid() {
		return fmt.Errorf("--reason: unknown reason %q (one of %v)", f.Reason, payload.Reasons)
	}
	return nil
}

const dlPage = 500

// DeadLetters calls fn for each dead letter matching f, oldest failure first, reading
// the list in pages so that memory does not grow with it. Entries added while it
// runs may or may not be seen.
func (s *Store) DeadLetters(ctx context.Context, f Filter, fn func(*DeadLetter) error) error {
	for start := int64(0); ; start += dlPage {
		ids, err := s.rdb.ZRange(ctx, s.key("dl", "index"), start, start+dlPage-1).Result()
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		vals, err := s.rdb.HMGet(ctx, s.key("dl", "entries"), ids...).Result()
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // purged or replayed between the two reads
			}
			var d DeadLetter
			if err := json.Unmarshal([]byte(str), &d); err != nil {
				return fmt.Errorf("dead letter %s: %w", ids[i], err)
			}
			if !f.match(&d) {
				continue
			}
			if err := fn(&d); err != nil {
				return err
			}
		}
		if len(ids) < dlPage {
			return nil
		}
	}
}

// CountDeadLetters returns how many dead letters are stored in all.
func (s *Store) CountDeadLetters(ctx context.Context) (int64, error) {
	return s.rdb.HLen(ctx, s.key("dl", "entries")).Result()
}

// PurgeDeadLetters deletes the dead letters with the given ids and returns how many
// there were.
func (s *Store) PurgeDeadLetters(ctx context.Context, ids []string) (int, error) {
	n, err := s.runInPages(ctx, purgeScript, []string{s.key("dl", "entries"), s.key("dl", "index")}, ids)
	if err != nil {
		return n, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
}

// runInPages runs a script that takes dead-letter ids as ARGV and answers how many
// it acted on, over the ids in pages of dlPage, and adds up the answers.
func (s *Store) runInPages(ctx context.Context, script *redis.Script, keys, ids []string) (int, error) {
	n := 0
	for len(ids) > 0 {
		page := ids[:min(len(ids), dlPage)]
		ids = ids[len(page):]
		args := make([]any, len(page))
		for i, id := range page {
			args[i] = id
		}
		k, err := script.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

func (s *Store) stagingKey(batchID string) string { return s.batchSub(batchID, "replay") }

// ReplayInfo is what a replay batch needs to be finished after a crash.
type ReplayInfo struct {
	Job      payload.Job `json:"job"`
	ReplayOf []string    `json:"replay_of"`
}

// OpenReplay records a replay batch as begun, before any dead letter is moved into
// it, so that an interrupted replay can be found and finished (OpenReplays).
func (s *Store) OpenReplay(ctx context.Context, replayBatchID string, info ReplayInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return s.rdb.HSet(ctx, s.key("replays", "open"), replayBatchID, b).Err()
}

// OpenReplays returns the replay batches begun but not yet fully enqueued.
func (s *Store) OpenReplays(ctx context.Context) (map[string]ReplayInfo, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("replays", "open")).Result()
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

// CloseReplay marks a replay batch as fully enqueued.
func (s *Store) CloseReplay(ctx context.Context, replayBatchID string) error {
	return s.rdb.HDel(ctx, s.key("replays", "open"), replayBatchID).Err()
}

// MoveToReplay moves the dead letters with the given ids out of the dead-letter list
// and into the replay batch's staging area, atomically per page: an entry is always
// in exactly one of the two. It returns how many were moved (ids no longer present,
// already replayed or purged, are skipped).
func (s *Store) MoveToReplay(ctx context.Context, replayBatchID string, ids []string) (int, error) {
	keys := []string{s.key("dl", "entries"), s.key("dl", "index"), s.stagingKey(replayBatchID)}
	n, err := s.runInPages(ctx, moveScript, keys, ids)
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
