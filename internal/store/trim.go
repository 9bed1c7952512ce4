package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The batches index is trimmed by CreateBatch at most once per trimEvery in a
// process, by one walk of at most trimMax of its oldest entries, trimPage at a
// time; the next walk goes on where the last one stopped.
const (
	trimEvery = time.Hour
	trimMax   = 1000
	trimPage  = 100
)

// trimState is where the next trim of the batches index starts, and when.
type trimState struct {
	mu  sync.Mutex
	due time.Time
	pos *zpos // the last entry the last walk looked at; nil: the oldest
}

// maybeTrim trims the batches index when it is due. It is a chore done on the
// way: a failure leaves the entries for the next time and is not the caller's.
func (s *Store) maybeTrim(ctx context.Context) {
	s.trim.mu.Lock()
	now := s.now()
	due := !now.Before(s.trim.due)
	if due {
		s.trim.due = now.Add(trimEvery)
	}
	s.trim.mu.Unlock()
	if due {
		_, _ = s.trimBatches(ctx)
	}
}

// trimBatches removes from the batches index the ids of batches nothing is left
// of — the record gone, no dead letter, none moving, nothing staged — and that
// were created more than Config.Retention + Config.LedgerTTL ago, with what late
// writes left of them (see forgetScript). It looks at up to trimMax of the
// entries older than that, going on from where the last call stopped, and
// returns how many ids it forgot.
func (s *Store) trimBatches(ctx context.Context) (int, error) {
	s.trim.mu.Lock()
	defer s.trim.mu.Unlock()
	idx := s.key("batches")
	cutoff := s.now().Add(-(s.cfg.Retention + s.cfg.LedgerTTL)).UnixMilli()
	forgotten := 0
	for looked := 0; looked < trimMax; {
		zs, err := s.zafter(ctx, idx, s.trim.pos, false, trimPage)
		if err != nil {
			return forgotten, fmt.Errorf("trim the batches index: %w", err)
		}
		var old []string
		for _, z := range zs {
			if int64(z.Score) >= cutoff {
				break
			}
			old = append(old, z.Member.(string))
			s.trim.pos = &zpos{Score: int64(z.Score), Member: z.Member.(string)}
		}
		looked += len(old)
		n, err := s.forget(ctx, idx, old)
		forgotten += n
		if err != nil {
			return forgotten, err
		}
		if len(old) < trimPage {
			s.trim.pos = nil // the walk reached the young entries: the next starts over
			break
		}
	}
	return forgotten, nil
}

// forget removes from the index the ids of ids nothing is left of.
func (s *Store) forget(ctx context.Context, idx string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.Cmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			a := forgetArgs{batch: s.bkey(id, ""), dl: s.bkey(id, "dl"), dlmv: s.bkey(id, "dlmv"), staging: s.bkey(id, "replay"),
				rest: append(s.retainedKeys(id), s.bkey(id, "seen"), s.bkey(id, "dlerr"), s.bkey(id, "replay:ord"))}
			cmds[i] = forgetScript.Eval(ctx, pipe, a.keys())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim the batches index: %w", err)
	}
	var gone []any
	for i, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			gone = append(gone, ids[i])
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if err := s.rdb.ZRem(ctx, idx, gone...).Err(); err != nil {
		return 0, fmt.Errorf("trim the batches index: %w", err)
	}
	return len(gone), nil
}
