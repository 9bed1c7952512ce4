package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// maxRejectsRead bounds the rejects Rejects reads of one batch.
const maxRejectsRead = 10000

// Rejects returns up to limit of a batch's rejected source rows, by row: the
// first rows of a batch with at most 10,000 rejects, and the first of 10,000 of
// them read in no particular order for a larger one. The batch's Rejected
// counter tells how many there are.
func (s *Store) Rejects(ctx context.Context, batchID string, limit int) ([]Reject, error) {
	k := s.bkey(batchID, "rej")
	var out []Reject
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, k, cursor, "", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("read the rejects of batch %s: %w", batchID, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			row, err := strconv.ParseInt(kv[i], 10, 64)
			if err != nil {
				continue
			}
			out = append(out, Reject{Row: row, Reason: kv[i+1]})
		}
		if next == 0 || len(out) >= maxRejectsRead {
			break
		}
		cursor = next
	}
	slices.SortFunc(out, func(a, b Reject) int { return int(a.Row - b.Row) })
	return out[:min(len(out), limit)], nil
}
