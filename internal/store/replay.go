package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
//
// The steps of a replay batch come in one order: take the lease (OpenReplay for a
// new batch, TakeReplay for one a dead run left), move dead letters in, then
// finish it: adopt the moves a dead run left half done, enqueue what is staged,
// take back the marks set since, close. The types keep that order: the steps
// that need the lease are methods of the *ReplayLease only taking it returns,
// and Finish runs the rest in its order, handing the staged entries to the
// caller's enqueue step (StagedPages) and nowhere else.

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

// ReplayLease is a replay run's hold on one replay batch, returned by the step
// that takes it (OpenReplay, TakeReplay): the steps that need the lease are its
// methods. Renew may be called from another goroutine than the others; Move and
// Finish are called from one.
type ReplayLease struct {
	s     *Store
	id    string
	owner string
	ttl   time.Duration
	info  ReplayInfo
	// finished is set by Finish: the batch is closed, nothing more moves in.
	finished bool
}

// ID returns the replay batch's id.
func (l *ReplayLease) ID() string { return l.id }

// OpenReplay records a replay batch as begun, with its lease held by owner for ttl,
// before any dead letter is marked for it, so that an interrupted replay can be
// found (OpenReplays) and finished by another run once the lease runs out. Called
// again for the same batch with more sources in info.ReplayOf (before moving any
// of their entries), it renews the lease and records them; use the lease it
// returns from then on.
func (s *Store) OpenReplay(ctx context.Context, replayBatchID string, info ReplayInfo, owner string, ttl time.Duration) (*ReplayLease, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	l, err := s.TakeReplay(ctx, replayBatchID, info, owner, ttl)
	if err != nil {
		return nil, err
	}
	if err := s.rdb.HSet(ctx, s.openReplaysKey(), replayBatchID, b).Err(); err != nil {
		return nil, fmt.Errorf("open replay %s: %w", replayBatchID, err)
	}
	return l, nil
}

// TakeReplay gives owner the lease of a replay batch begun already (info is its
// record, as OpenReplays returns it) for ttl when nobody else holds it: its holder
// died, or it is owner's already. Otherwise it returns ErrReplayLeaseLost.
func (s *Store) TakeReplay(ctx context.Context, replayBatchID string, info ReplayInfo, owner string, ttl time.Duration) (*ReplayLease, error) {
	l := &ReplayLease{s: s, id: replayBatchID, owner: owner, ttl: ttl, info: info}
	if err := l.Renew(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Renew extends the lease by its ttl, or returns ErrReplayLeaseLost when another
// run took it after it ran out.
func (l *ReplayLease) Renew(ctx context.Context) error {
	a := leaseArgs{lease: l.s.bkey(l.id, "lease"), owner: l.owner, ttlMS: l.ttl.Milliseconds()}
	ok, err := leaseScript.Run(ctx, l.s.rdb, a.keys(), a.argv()...).Bool()
	if err != nil {
		return fmt.Errorf("lease of replay %s: %w", l.id, err)
	}
	if !ok {
		return fmt.Errorf("replay %s: %w", l.id, ErrReplayLeaseLost)
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

// Finish finishes the replay batch and closes it. Unless the batch was enqueued
// already (sealed, or sealed, done and expired since: a replay batch's record
// expires only Config.Retention after it was done), the moves a dead run left
// half done are finished first (adoptMoves), then enqueue is given the staged
// entries to enqueue as the batch. Once the batch is enqueued its entries are
// settled, and marks set for it since (by a run that had lost its lease) are
// taken back; then the batch is closed. Run twice on the same staged entries,
// enqueue must enqueue nothing twice (the producer's re-run rules do that).
// Finish returns ErrReplayLeaseLost when the lease is lost before the close.
func (l *ReplayLease) Finish(ctx context.Context, pageSize int, enqueue func(*StagedPages) error) error {
	if l.finished {
		return fmt.Errorf("replay %s: finished already", l.id)
	}
	sealed, err := l.s.replaySealed(ctx, l.id)
	if err != nil {
		return err
	}
	if !sealed {
		if err := l.adoptMoves(ctx); err != nil {
			return err
		}
		if err := enqueue(&StagedPages{s: l.s, id: l.id, size: pageSize}); err != nil {
			return err
		}
	}
	if err := l.s.unmark(ctx, l.id, l.info.ReplayOf); err != nil {
		return err
	}
	l.finished = true
	return l.close(ctx)
}

// replaySealed reports whether the replay batch id was fully enqueued: sealed, or
// sealed, done and expired since.
func (s *Store) replaySealed(ctx context.Context, id string) (bool, error) {
	b, err := s.Batch(ctx, id)
	switch {
	case err == nil:
		return b.Sealed, nil
	case errors.Is(err, ErrBatchExpired):
		return true, nil
	case errors.Is(err, ErrBatchNotFound):
		return false, nil
	}
	return false, err
}

// close marks the replay batch as done with: its staging area and lease are
// removed, then its open record. Only the lease's owner may close it
// (ErrReplayLeaseLost otherwise). A crash between the two steps leaves an open
// record without a lease, which the next run takes over and closes again.
func (l *ReplayLease) close(ctx context.Context) error {
	s := l.s
	a := closeReplayArgs{staging: s.bkey(l.id, "replay"), lease: s.bkey(l.id, "lease"),
		order: s.bkey(l.id, "replay:ord"), owner: l.owner}
	ok, err := s.eval(ctx, closeReplayScript, a.keys(), a.argv()...).Bool()
	if err != nil {
		return fmt.Errorf("close replay %s: %w", l.id, err)
	}
	if !ok {
		return fmt.Errorf("close replay %s: %w", l.id, ErrReplayLeaseLost)
	}
	if err := s.rdb.HDel(ctx, s.openReplaysKey(), l.id).Err(); err != nil {
		return fmt.Errorf("close replay %s: %w", l.id, err)
	}
	return nil
}

// Move moves the dead letters with the given ids out of the dead-letter list and
// into the replay batch's staging area, in pages. Their batches must be among the
// sources the lease was opened with (ReplayInfo.ReplayOf), so that a run taking
// the replay over finds their marks. For each source batch it marks the entries
// as moving (in the source's slot; an entry marked for another replay is
// skipped), stages them (in the replay's slot, only while the lease is held:
// ErrReplayLeaseLost otherwise), and removes them from the source. An entry is
// listed in exactly one place throughout. It returns how many were moved (ids no
// longer present, already replayed or purged, are skipped).
func (l *ReplayLease) Move(ctx context.Context, ids []string) (int, error) {
	if l.finished {
		return 0, fmt.Errorf("replay %s: finished already", l.id)
	}
	groups := groupByBatch(ids)
	for batchID := range groups {
		if !slices.Contains(l.info.ReplayOf, batchID) {
			return 0, fmt.Errorf("replay %s: batch %s is not among its sources", l.id, batchID)
		}
	}
	s, n := l.s, 0
	for batchID, seqs := range groups {
		for len(seqs) > 0 {
			page := seqs[:min(len(seqs), dlPage)]
			seqs = seqs[len(page):]
			a := markMoveArgs{dl: s.bkey(batchID, "dl"), dlmv: s.bkey(batchID, "dlmv"), replay: l.id, seqs: page}
			res, err := s.eval(ctx, markMoveScript, a.keys(), a.argv()...).StringSlice()
			if err != nil {
				return n, fmt.Errorf("move dead letters to replay %s: %w", l.id, err)
			}
			k, err := l.stageAndRelease(ctx, batchID, res)
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
func (l *ReplayLease) stageAndRelease(ctx context.Context, batchID string, marked []string) (int, error) {
	if len(marked) == 0 {
		return 0, nil
	}
	s := l.s
	a := newStageArgs(s.bkey(l.id, "replay"), s.bkey(l.id, "lease"), s.bkey(l.id, "replay:ord"), l.owner)
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
		return 0, fmt.Errorf("stage dead letters in replay %s: %w", l.id, err)
	}
	if staged == stageLeaseLost {
		return 0, fmt.Errorf("stage dead letters in replay %s: %w", l.id, ErrReplayLeaseLost)
	}
	n, err := s.endMoves(ctx, batchID, l.id, seqs, movesStaged)
	if err != nil {
		return n, fmt.Errorf("remove dead letters moved to replay %s: %w", l.id, err)
	}
	return n, nil
}

// adoptMoves finishes the moves a run that died left half done: the entries of the
// source batches marked as moving to the replay batch are staged and removed from
// their source. Finish calls it before the replay batch is enqueued.
func (l *ReplayLease) adoptMoves(ctx context.Context) error {
	s := l.s
	for _, batchID := range l.info.ReplayOf {
		seqs, err := s.marksFor(ctx, batchID, l.id)
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
			return fmt.Errorf("adopt moves to replay %s: %w", l.id, err)
		}
		var marked []string
		for i, v := range vals {
			if str, ok := v.(string); ok {
				marked = append(marked, fields[i], str)
			}
		}
		if _, err := l.stageAndRelease(ctx, batchID, marked); err != nil {
			return err
		}
	}
	return nil
}

// unmark takes back the marks for a replay batch left in the source batches: marks a
// run set after the replay's entries were enqueued (it had lost its lease), which
// must go back to the dead-letter list.
func (s *Store) unmark(ctx context.Context, replayBatchID string, sources []string) error {
	for _, batchID := range sources {
		seqs, err := s.marksFor(ctx, batchID, replayBatchID)
		if err != nil {
			return err
		}
		if _, err := s.endMoves(ctx, batchID, replayBatchID, seqs, movesTakenBack); err != nil {
			return fmt.Errorf("take back moves to replay %s: %w", replayBatchID, err)
		}
	}
	return nil
}

// How endMoves ends a batch's marks for a replay: the entries were staged in the
// replay (they leave the batch), or they go back to its dead-letter list.
const (
	movesStaged    = "staged"
	movesTakenBack = "back"
)

// endMoves ends the marks of the given seqs of a source batch that still name
// replayBatchID, in pages of dlPage: with movesStaged the dead letters are removed
// with their marks, with movesTakenBack they stay, listed again. It returns how
// many marks it ended.
func (s *Store) endMoves(ctx context.Context, batchID, replayBatchID string, seqs []int64, how string) (int, error) {
	return s.inPages(ctx, endMovesScript, []string{s.bkey(batchID, "dl"), s.bkey(batchID, "dlmv")}, []any{replayBatchID, how}, seqs)
}

// endMovesScript ends a source batch's marks for a replay batch: of the seqs
// given, those still marked as moving to that replay lose their mark and, when
// they were staged in it, their dead letter. Returns how many.
var endMovesScript = newScript(`
local deadLetters, moving = KEYS[1], KEYS[2]
local replay, how = ARGV[1], ARGV[2]
local seqs = {}
for i = 3, #ARGV do seqs[#seqs + 1] = ARGV[i] end

local marks = hmget(moving, seqs)
local ended = {}
for i, seq in ipairs(seqs) do
  if marks[i] == replay then ended[#ended + 1] = seq end
end
if how == '` + movesStaged + `' then hdel(deadLetters, ended) end
hdel(moving, ended)
return #ended
`)

// UnmarkClosed takes back every mark for a replay batch that is no longer open:
// left by a run that lost its lease while marking, after another run closed the
// replay. It returns how many entries went back to the dead-letter list.
func (s *Store) UnmarkClosed(ctx context.Context) (int, error) {
	n := 0
	err := s.dlBatches(ctx, "", func(batchID string) error {
		if s.beforeMarks != nil {
			s.beforeMarks()
		}
		marks, err := s.rdb.HGetAll(ctx, s.bkey(batchID, "dlmv")).Result()
		if err != nil {
			return fmt.Errorf("read moves of batch %s: %w", batchID, err)
		}
		if len(marks) == 0 {
			return nil
		}
		// The open replays are read after the marks: a replay is open before it
		// marks anything, so every mark read belongs to a replay this read shows
		// open, unless it was closed since, when its marks are stale indeed.
		open, err := s.OpenReplays(ctx)
		if err != nil {
			return err
		}
		stale := map[string][]int64{}
		for field, replay := range marks {
			if _, isOpen := open[replay]; !isOpen {
				seq, _ := strconv.ParseInt(field, 10, 64)
				stale[replay] = append(stale[replay], seq)
			}
		}
		for replay, seqs := range stale {
			k, err := s.endMoves(ctx, batchID, replay, seqs, movesTakenBack)
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
// seq. It reads them all at once (to look at them: a replay reads them a page at a
// time through Finish).
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

// StagedPages reads the dead letters staged for a replay batch a page at a time,
// in the order of batch and seq: what Finish gives its enqueue step. Reading a
// replay batch's entries page by page keeps a replay's memory flat; a re-run
// after a crash reads them in the same order, so that it cuts the same segments.
type StagedPages struct {
	s      *Store
	id     string
	size   int
	cursor string // of the next page; "" before the first and after the last
	read   bool   // a page was read
}

// Next returns the next page of about the size Finish was given, nil after the
// last.
func (p *StagedPages) Next(ctx context.Context) ([]*DeadLetter, error) {
	for !p.read || p.cursor != "" {
		page, next, err := p.s.stagedPage(ctx, p.id, p.cursor, p.size)
		if err != nil {
			return nil, err
		}
		p.cursor, p.read = next, true
		if len(page) > 0 {
			return page, nil
		}
	}
	return nil, nil
}

// stagedPage returns up to limit dead letters staged for a replay batch, in the
// order of batch and seq, after the place cursor names ("" for the first page),
// and the cursor of the next page ("" after the last). Entries a replay of an
// older version staged without their place get it first (indexStaged).
func (s *Store) stagedPage(ctx context.Context, replayBatchID, cursor string, limit int) ([]*DeadLetter, string, error) {
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
