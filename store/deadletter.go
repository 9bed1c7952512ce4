package store

import (
	"context"
	"encoding/json"
	"errors"
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
	n, err := s.runInPages(ctx, purgeScript, []string{s.key("dl", "entries"), s.key("dl", "index")}, nil, ids)
	if err != nil {
		return n, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
}

// errRefused is returned by runInPages when the script answers a negative count:
// it refused to act (see moveScript).
var errRefused = errors.New("refused")

// runInPages runs a script that takes head then dead-letter ids as ARGV and answers
// how many it acted on, over the ids in pages of dlPage, and adds up the answers.
func (s *Store) runInPages(ctx context.Context, script *redis.Script, keys []string, head []any, ids []string) (int, error) {
	n := 0
	for len(ids) > 0 {
		page := ids[:min(len(ids), dlPage)]
		ids = ids[len(page):]
		args := make([]any, 0, len(head)+len(page))
		args = append(args, head...)
		for _, id := range page {
			args = append(args, id)
		}
		k, err := script.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return n, err
		}
		if k < 0 {
			return n, errRefused
		}
		n += k
	}
	return n, nil
}
