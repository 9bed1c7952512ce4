package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// owners returns the owner of each batch of ids, in order: "" for a batch whose
// record has none (created before batches had owners) or is gone.
func (s *Store) owners(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	fields := []string{"owner"}
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, s.bkey(id, ""), recordFields(fields...)...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the owners of %d batches: %w", len(ids), err)
	}
	out := make([]string, len(ids))
	for i, c := range cmds {
		v, err := recordValues(fields, c.Val())
		if err != nil {
			return nil, fmt.Errorf("read the owner of batch %s: %w", ids[i], err)
		}
		out[i], _ = v[0].(string)
	}
	return out, nil
}

// ownedPageChunk is how many index entries OwnedBatchPage reads at once, and
// ownedPageSteps how many such reads one page takes at most: a page of an owner
// with few batches among many comes back short, with a cursor to go on.
const (
	ownedPageChunk = 200
	ownedPageSteps = 10
)

// OwnedBatchPage is BatchPage for the batches owner created: it pages the one
// batches index, leaving out the batches of other owners (and those whose
// record has expired, whose owner is unknown). A page may hold fewer than limit
// ids, even none, while more follow: go on while the cursor is not "". Its
// cursors are BatchPage's.
func (s *Store) OwnedBatchPage(ctx context.Context, owner, cursor string, limit int) (ids []string, next string, err error) {
	limit = max(limit, 1)
	var pos *zpos
	if cursor != "" {
		pos = new(zpos)
		if err := decodeCursor(cursor, pos); err != nil {
			return nil, "", err
		}
	}
	for step := 0; step < ownedPageSteps; step++ {
		zs, err := s.zafter(ctx, s.key("batches"), pos, true, ownedPageChunk)
		if err != nil {
			return nil, "", fmt.Errorf("list batches: %w", err)
		}
		members := make([]string, len(zs))
		for i, z := range zs {
			members[i] = z.Member.(string)
		}
		owners, err := s.owners(ctx, members)
		if err != nil {
			return nil, "", err
		}
		for i, z := range zs {
			if owners[i] == owner {
				if len(ids) == limit {
					return ids, encodeCursor(*pos), nil
				}
				ids = append(ids, members[i])
			}
			pos = &zpos{Score: int64(z.Score), Member: members[i]}
		}
		if len(zs) < ownedPageChunk {
			return ids, "", nil
		}
	}
	return ids, encodeCursor(*pos), nil
}

// ownedBy reports whether the batch's record names owner; any batch is when
// owner is "".
func (s *Store) ownedBy(ctx context.Context, owner, batchID string) (bool, error) {
	if owner == "" {
		return true, nil
	}
	got, err := s.owners(ctx, []string{batchID})
	if err != nil {
		return false, err
	}
	return got[0] == owner, nil
}
