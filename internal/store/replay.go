package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// A replay batch is filled by one run of `deadletter replay` at a time: the run
// that opened it holds its lease and renews it while it works. Only a run holding
// the lease can stage dead letters in the batch or close it, so a second run never
// seals a batch the first is still filling; when the holder dies, its lease runs
// out and the next run takes the batch over and finishes it (see the package doc
// for the steps of a move and what a crash between them leaves).

// ErrReplayLeaseLost is returned when a replay batch's lease is held by another
// run, or was lost to one after this run's lease ran out.
var ErrReplayLeaseLost = errors.New("the replay batch's lease is held by another replay run")

// ReplayInfo is what a replay batch needs to be finished after a crash.
type ReplayInfo struct {
	Job task.Job `json:"job"`
	// ReplayOf lists the batches the dead letters come from: where a run taking the
	// replay over looks for entries marked as moving to it.
	ReplayOf []string `json:"replay_of"`
}

func (s *Store) openReplaysKey() string { return s.key("replays", "open") }

// OpenReplay records a replay batch as begun, with its lease held by owner for ttl,
// before any dead letter is marked for it, so that an interrupted replay can be
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
	a := leaseArgs{lease: s.bkey(replayBatchID, "lease"), owner: owner, ttlMS: ttl.Milliseconds()}
	ok, err := leaseScript.Run(ctx, s.rdb, a.keys(), a.argv()...).Bool()
	if err != nil {
		return fmt.Errorf("lease of replay %s: %w", replayBatchID, err)
	}
	if !ok {
		return fmt.Errorf("replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	return nil
}

// OpenReplays returns the replay batches begun but not yet closed, whether a live
// run holds them or not.
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

// CloseReplay marks a replay batch as done with: its staging area and lease are
// removed, then its open record. Only the lease's owner may close it
// (ErrReplayLeaseLost otherwise). A crash between the two steps leaves an open
// record without a lease, which the next run takes over and closes again.
func (s *Store) CloseReplay(ctx context.Context, replayBatchID, owner string) error {
	a := closeReplayArgs{staging: s.bkey(replayBatchID, "replay"), lease: s.bkey(replayBatchID, "lease"),
		order: s.bkey(replayBatchID, "replay:ord"), owner: owner}
	ok, err := s.eval(ctx, closeReplayScript, a.keys(), a.argv()...).Bool()
	if err != nil {
		return fmt.Errorf("close replay %s: %w", replayBatchID, err)
	}
	if !ok {
		return fmt.Errorf("close replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	if err := s.rdb.HDel(ctx, s.openReplaysKey(), replayBatchID).Err(); err != nil {
		return fmt.Errorf("close replay %s: %w", replayBatchID, err)
	}
	return nil
}

// MoveToReplay moves the dead letters with the given ids out of the dead-letter list
// and into the replay batch's staging area, in pages. For each source batch it
// marks the entries as moving (in the source's slot; an entry marked for another
// replay is skipped), stages them (in the replay's slot, only while owner holds the
// lease: ErrReplayLeaseLost otherwise), and removes them from the source. An entry
// is listed in exactly one place throughout. It returns how many were moved (ids
// no longer present, already replayed or purged, are skipped).
func (s *Store) MoveToReplay(ctx context.Context, replayBatchID, owner string, ids []string) (int, error) {
	n := 0
	for batchID, seqs := range groupByBatch(ids) {
		for len(seqs) > 0 {
			page := seqs[:min(len(seqs), dlPage)]
			seqs = seqs[len(page):]
			a := markMoveArgs{dl: s.bkey(batchID, "dl"), dlmv: s.bkey(batchID, "dlmv"), replay: replayBatchID, seqs: page}
			res, err := s.eval(ctx, markMoveScript, a.keys(), a.argv()...).StringSlice()
			if err != nil {
				return n, fmt.Errorf("move dead letters to replay %s: %w", replayBatchID, err)
			}
			k, err := s.stageAndRelease(ctx, replayBatchID, owner, batchID, res)
			n += k
			if err != nil {
				return n, err
			}
		}
		if err := s.dropDrained(ctx, batchID); err != nil {
			return n, err
		}
	}
	return n, nil
}

// stageAndRelease stages marked entries of a source batch (pairs of seq and stored
// entry) in the replay batch, then removes them from the source.
func (s *Store) stageAndRelease(ctx context.Context, replayBatchID, owner, batchID string, marked []string) (int, error) {
	if len(marked) == 0 {
		return 0, nil
	}
	a := newStageArgs(s.bkey(replayBatchID, "replay"), s.bkey(replayBatchID, "lease"), s.bkey(replayBatchID, "replay:ord"), owner)
	seqs := make([]int64, 0, len(marked)/2)
	cache := errorsCache{}
	for i := 0; i+1 < len(marked); i += 2 {
		seq, _ := strconv.ParseInt(marked[i], 10, 64)
		d, err := s.expandDeadLetter(ctx, batchID, seq, marked[i+1], cache)
		if err != nil {
			return 0, err
		}
		b, err := json.Marshal(d)
		if err != nil {
			return 0, err
		}
		a.add(d.ID, b, stagePlace(batchID, seq))
		seqs = append(seqs, seq)
	}
	staged, err := s.eval(ctx, stageScript, a.keys, a.argv...).Int()
	if err != nil {
		return 0, fmt.Errorf("stage dead letters in replay %s: %w", replayBatchID, err)
	}
	if staged == stageLeaseLost {
		return 0, fmt.Errorf("stage dead letters in replay %s: %w", replayBatchID, ErrReplayLeaseLost)
	}
	n, err := s.inPages(ctx, releaseMoveScript, []string{s.bkey(batchID, "dl"), s.bkey(batchID, "dlmv")}, []any{replayBatchID}, seqs)
	if err != nil {
		return n, fmt.Errorf("remove dead letters moved to replay %s: %w", replayBatchID, err)
	}
	return n, nil
}

// AdoptMoves finishes the moves a run that died left half done: the entries of the
// source batches marked as moving to the replay batch are staged and removed from
// their source. The caller holds the replay's lease and has not enqueued the replay
// batch yet.
func (s *Store) AdoptMoves(ctx context.Context, replayBatchID, owner string, sources []string) error {
	for _, batchID := range sources {
		seqs, err := s.marksFor(ctx, batchID, replayBatchID)
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			continue
		}
		fields := make([]string, len(seqs))
		for i, seq := range seqs {
			fields[i] = strconv.FormatInt(seq, 10)
		}
		vals, err := s.rdb.HMGet(ctx, s.bkey(batchID, "dl"), fields...).Result()
		if err != nil {
			return fmt.Errorf("adopt moves to replay %s: %w", replayBatchID, err)
		}
		var marked []string
		for i, v := range vals {
			if str, ok := v.(string); ok {
				marked = append(marked, fields[i], str)
			}
		}
		if _, err := s.stageAndRelease(ctx, replayBatchID, owner, batchID, marked); err != nil {
			return err
		}
	}
	return nil
}

// Unmark takes back the marks for a replay batch left in the source batches: marks a
// run set after the replay's entries were enqueued (it had lost its lease), which
// must go back to the dead-letter list.
func (s *Store) Unmark(ctx context.Context, replayBatchID string, sources []string) error {
	for _, batchID := range sources {
		seqs, err := s.marksFor(ctx, batchID, replayBatchID)
		if err != nil {
			return err
		}
		if _, err := s.inPages(ctx, unmarkScript, []string{s.bkey(batchID, "dlmv")}, []any{replayBatchID}, seqs); err != nil {
			return fmt.Errorf("take back moves to replay %s: %w", replayBatchID, err)
		}
	}
	return nil
}

// UnmarkClosed takes back every mark for a replay batch that is no longer open:
// left by a run that lost its lease while marking, after another run closed the
// replay. It returns how many entries went back to the dead-letter list.
func (s *Store) UnmarkClosed(ctx context.Context) (int, error) {
	open, err := s.OpenReplays(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.dlBatches(ctx, "", func(batchID string) error {
		marks, err := s.rdb.HGetAll(ctx, s.bkey(batchID, "dlmv")).Result()
		if err != nil {
			return fmt.Errorf("read moves of batch %s: %w", batchID, err)
		}
		stale := map[string][]int64{}
		for field, replay := range marks {
			if _, isOpen := open[replay]; !isOpen {
				seq, _ := strconv.ParseInt(field, 10, 64)
				stale[replay] = append(stale[replay], seq)
			}
		}
		for replay, seqs := range stale {
			k, err := s.inPages(ctx, unmarkScript, []string{s.bkey(batchID, "dlmv")}, []any{replay}, seqs)
			n += k
			if err != nil {
				return fmt.Errorf("take back moves to replay %s: %w", replay, err)
			}
		}
		return nil
	})
	return n, err
}

// marksFor returns the seqs of a batch's dead letters marked as moving to replay.
func (s *Store) marksFor(ctx context.Context, batchID, replayBatchID string) ([]int64, error) {
	marks, err := s.rdb.HGetAll(ctx, s.bkey(batchID, "dlmv")).Result()
	if err != nil {
		return nil, fmt.Errorf("read moves of batch %s: %w", batchID, err)
	}
	var seqs []int64
	for field, replay := range marks {
		if replay == replayBatchID {
			seq, _ := strconv.ParseInt(field, 10, 64)
			seqs = append(seqs, seq)
		}
	}
	return seqs, nil
}

// Staged returns the dead letters staged for a replay batch, ordered by batch and
// seq. It reads them all at once: StagedPage reads them a page at a time.
func (s *Store) Staged(ctx context.Context, replayBatchID string) ([]*DeadLetter, error) {
	m, err := s.rdb.HGetAll(ctx, s.bkey(replayBatchID, "replay")).Result()
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

// stagePlace is a staged dead letter's member in its replay batch's order
// (P{b:id}:replay:ord, a sorted set of equal scores read by lexical range): its
// batch, a NUL (below any byte a batch id holds) and its seq in 20 digits, so
// that the lexical order is the order of batch and seq, sortDeadLetters'.
func stagePlace(batchID string, seq int64) string {
	return fmt.Sprintf("%s\x00%020d", batchID, seq)
}

// parsePlace is stagePlace's inverse: the dead letter's id.
func parsePlace(place string) (string, bool) {
	i := strings.LastIndexByte(place, 0)
	if i <= 0 {
		return "", false
	}
	seq, err := strconv.ParseInt(place[i+1:], 10, 64)
	return DeadLetterID(place[:i], seq), err == nil
}

// StagedPage returns up to limit dead letters staged for a replay batch, in the
// order of batch and seq, after the place cursor names ("" for the first page),
// and the cursor of the next page ("" after the last). Reading a replay batch's
// entries page by page keeps a replay's memory flat; a re-run after a crash
// reads them in the same order, so that it cuts the same segments. Entries a
// replay of an older version staged without their place get it first
// (indexStaged).
func (s *Store) StagedPage(ctx context.Context, replayBatchID, cursor string, limit int) ([]*DeadLetter, string, error) {
	if cursor == "" {
		if err := s.indexStaged(ctx, replayBatchID, limit); err != nil {
			return nil, "", err
		}
	}
	from := "-"
	if cursor != "" {
		from = "(" + cursor
	}
	places, err := s.rdb.ZRangeByLex(ctx, s.bkey(replayBatchID, "replay:ord"), &redis.ZRangeBy{Min: from, Max: "+", Count: int64(limit)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read replay %s: %w", replayBatchID, err)
	}
	if len(places) == 0 {
		return nil, "", nil
	}
	ids := make([]string, 0, len(places))
	for _, p := range places {
		id, ok := parsePlace(p)
		if !ok {
			return nil, "", fmt.Errorf("read replay %s: a place %q no replay staged", replayBatchID, p)
		}
		ids = append(ids, id)
	}
	vals, err := s.rdb.HMGet(ctx, s.bkey(replayBatchID, "replay"), ids...).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read replay %s: %w", replayBatchID, err)
	}
	out := make([]*DeadLetter, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // a place without its entry: the replay was closed meanwhile
		}
		var d DeadLetter
		if err := json.Unmarshal([]byte(str), &d); err != nil {
			return nil, "", fmt.Errorf("replay %s: dead letter %s: %w", replayBatchID, ids[i], err)
		}
		out = append(out, &d)
	}
	next := ""
	if len(places) == limit {
		next = places[len(places)-1]
	}
	return out, next, nil
}

// indexStaged gives every entry staged for a replay batch its place in the
// batch's order, when some lack one (staged by an older version, which kept no
// order), reading the staging hash in pages of about size.
func (s *Store) indexStaged(ctx context.Context, replayBatchID string, size int) error {
	staging, order := s.bkey(replayBatchID, "replay"), s.bkey(replayBatchID, "replay:ord")
	pipe := s.rdb.Pipeline()
	staged, placed := pipe.HLen(ctx, staging), pipe.ZCard(ctx, order)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read replay %s: %w", replayBatchID, err)
	}
	if staged.Val() == placed.Val() {
		return nil
	}
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, staging, cursor, "", int64(size)).Result()
		if err != nil {
			return fmt.Errorf("read replay %s: %w", replayBatchID, err)
		}
		zs := make([]redis.Z, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			if batchID, seq, ok := parseDeadLetterID(kv[i]); ok {
				zs = append(zs, redis.Z{Member: stagePlace(batchID, seq)})
			}
		}
		if len(zs) > 0 {
			if err := s.rdb.ZAdd(ctx, order, zs...).Err(); err != nil {
				return fmt.Errorf("order replay %s: %w", replayBatchID, err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
