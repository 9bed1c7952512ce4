package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrBadCursor is returned for a page cursor that no page gave out.
var ErrBadCursor = errors.New("not a cursor this listing gave out")

// zpos is a place in a sorted set: a member and its score. Pages resume after
// their last (score, member), not at an offset, so that entries added or removed
// meanwhile neither shift nor repeat what follows.
type zpos struct {
	Score  int64  `json:"s"`
	Member string `json:"m"`
}

// maxTies bounds the members of one score read to resume after a place; scores
// are creation times in ms, shared by a handful of members at most.
const maxTies = 1000

// zafter returns up to limit members of key after pos (from the start when nil),
// by score then member, descending when rev.
func (s *Store) zafter(ctx context.Context, key string, pos *zpos, rev bool, limit int64) ([]redis.Z, error) {
	lo, hi := "-inf", "+inf"
	var out []redis.Z
	if pos != nil {
		score := strconv.FormatInt(pos.Score, 10)
		ties, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: key, Start: score, Stop: score, ByScore: true, Count: maxTies}).Result()
		if err != nil {
			return nil, err
		}
		if rev {
			slices.Reverse(ties)
		}
		for _, z := range ties {
			if m, _ := z.Member.(string); rev && m < pos.Member || !rev && m > pos.Member {
				out = append(out, z)
			}
		}
		if int64(len(out)) >= limit {
			return out[:limit], nil
		}
		if rev {
			hi = "(" + score
		} else {
			lo = "(" + score
		}
	}
	args := redis.ZRangeArgs{Key: key, Start: lo, Stop: hi, ByScore: true, Rev: rev, Count: limit - int64(len(out))}
	if rev {
		args.Start, args.Stop = hi, lo
	}
	more, err := s.rdb.ZRangeArgsWithScores(ctx, args).Result()
	if err != nil {
		return nil, err
	}
	return append(out, more...), nil
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || json.Unmarshal(b, v) != nil {
		return fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return nil
}

// BatchPage returns the ids of up to limit batches, newest first, after the place
// cursor names ("" for the first page), and the cursor of the next page ("" after
// the last). Batches created while paging are not seen; none is seen twice. A
// batch whose record expired may be listed (Batch says ErrBatchExpired).
func (s *Store) BatchPage(ctx context.Context, cursor string, limit int) (ids []string, next string, err error) {
	var pos *zpos
	if cursor != "" {
		pos = new(zpos)
		if err := decodeCursor(cursor, pos); err != nil {
			return nil, "", err
		}
	}
	zs, err := s.zafter(ctx, s.key("batches"), pos, true, int64(limit)+1)
	if err != nil {
		return nil, "", fmt.Errorf("list batches: %w", err)
	}
	for _, z := range zs[:min(len(zs), limit)] {
		ids = append(ids, z.Member.(string))
	}
	if len(zs) > limit {
		last := zs[limit-1]
		next = encodeCursor(zpos{Score: int64(last.Score), Member: last.Member.(string)})
	}
	return ids, next, nil
}

// dlCursor is a place in the dead-letter listing: a batch (and its place in P
// dlbatches), the HSCAN cursor of its dead letters, and the last seq already
// listed from that scan step (-1: none).
type dlCursor struct {
	zpos
	Scan uint64 `json:"c"`
	Seq  int64  `json:"q"`
}

// dlPageSteps bounds the HSCAN steps one page takes, so that a filter that
// matches little cannot make one call read every dead letter: such a page comes
// back short, with a cursor to go on.
const dlPageSteps = 20

// DeadLetterPage returns up to limit dead letters matching f, in DeadLetters'
// order of batches, after the place cursor names ("" for the first page), and the
// cursor of the next page ("" after the last). A page may hold fewer than limit
// entries, even none, while more follow: go on while the cursor is not "".
// Entries moving into a replay batch are left out; entries added or removed
// while paging may or may not be seen, and, as with any Redis SCAN, an entry may
// be listed twice when its batch's hash is resized meanwhile (ids are unique).
func (s *Store) DeadLetterPage(ctx context.Context, f Filter, cursor string, limit int) ([]*DeadLetter, string, error) {
	c := dlCursor{Seq: -1}
	if cursor != "" {
		if err := decodeCursor(cursor, &c); err != nil {
			return nil, "", err
		}
	} else if err := s.nextDLBatch(ctx, f, &c, true); err != nil {
		return nil, "", err
	}
	var page []*DeadLetter
	for steps := 0; c.Member != "" && steps < dlPageSteps; steps++ {
		full, err := s.dlPageStep(ctx, f, &c, limit, &page)
		if err != nil {
			return nil, "", err
		}
		if full {
			break
		}
	}
	if c.Member == "" {
		return page, "", nil
	}
	return page, encodeCursor(c), nil
}

// nextDLBatch moves c to the batch after c's in P dlbatches (the first when
// first), or to the filter's one batch, skipping the batches of owners other
// than the filter's; Member "" means the listing is over.
func (s *Store) nextDLBatch(ctx context.Context, f Filter, c *dlCursor, first bool) error {
	for {
		if err := s.nextAnyDLBatch(ctx, f, c, first); err != nil || c.Member == "" {
			return err
		}
		ok, err := s.ownedBy(ctx, f.Owner, c.Member)
		if err != nil || ok {
			return err
		}
		if f.BatchID != "" {
			c.Member = ""
			return nil
		}
		first = false
	}
}

// nextAnyDLBatch is nextDLBatch whoever owns the batch.
func (s *Store) nextAnyDLBatch(ctx context.Context, f Filter, c *dlCursor, first bool) error {
	c.Scan, c.Seq = 0, -1
	if f.BatchID != "" {
		if first {
			c.Member = f.BatchID
		} else {
			c.Member = ""
		}
		return nil
	}
	var pos *zpos
	if !first {
		pos = &c.zpos
	}
	zs, err := s.zafter(ctx, s.key("dlbatches"), pos, false, 1)
	if err != nil {
		return fmt.Errorf("list the batches with dead letters: %w", err)
	}
	c.zpos = zpos{}
	if len(zs) == 1 {
		c.zpos = zpos{Score: int64(zs[0].Score), Member: zs[0].Member.(string)}
	}
	return nil
}

// dlPageStep lists one HSCAN step of c's batch into page, resuming after c.Seq,
// and moves c on. It reports whether page is full (c then names the place after
// its last entry).
func (s *Store) dlPageStep(ctx context.Context, f Filter, c *dlCursor, limit int, page *[]*DeadLetter) (bool, error) {
	batchID := c.Member
	kv, nextScan, err := s.rdb.HScan(ctx, s.bkey(batchID, "dl"), c.Scan, "", dlPage).Result()
	if err != nil {
		return false, fmt.Errorf("list the dead letters of batch %s: %w", batchID, err)
	}
	moving, err := s.rdb.HGetAll(ctx, s.bkey(batchID, "dlmv")).Result()
	if err != nil {
		return false, fmt.Errorf("list the dead letters of batch %s: %w", batchID, err)
	}
	type entry struct {
		seq int64
		v   string
	}
	var step []entry
	for i := 0; i+1 < len(kv); i += 2 {
		seq, err := strconv.ParseInt(kv[i], 10, 64)
		if err != nil || seq <= c.Seq || moving[kv[i]] != "" {
			continue
		}
		step = append(step, entry{seq, kv[i+1]})
	}
	slices.SortFunc(step, func(a, b entry) int { return int(a.seq - b.seq) })
	cache := errorsCache{}
	for i, e := range step {
		d, err := s.expandDeadLetter(ctx, batchID, e.seq, e.v, cache)
		if err != nil {
			return false, err
		}
		if f.match(d) {
			*page = append(*page, d)
		}
		if len(*page) >= limit && i < len(step)-1 {
			c.Seq = e.seq // more of this step to come
			return true, nil
		}
	}
	if nextScan == 0 {
		if err := s.nextDLBatch(ctx, f, c, false); err != nil {
			return false, err
		}
	} else {
		c.Scan, c.Seq = nextScan, -1
	}
	return len(*page) >= limit, nil
}
