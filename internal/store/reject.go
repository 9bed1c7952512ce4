package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A batch's rejects are a hash, row -> the reject as compact JSON
// (storedReject), and a sorted set of the same rows by row, which the pages
// read in order. Rejects recorded before the sorted set and the JSON were
// (the hash held the import's message, `line 17: email: ...`) are read by a
// scan of the whole hash instead, and have no Field.

// storedReject is a reject as the hash keeps it; the row is its field.
type storedReject struct {
	Where  string `json:"w"`
	Field  string `json:"f,omitempty"`
	Reason string `json:"m"`
}

func encodeReject(r Reject) string {
	b, _ := json.Marshal(storedReject{Where: r.Where, Field: r.Field, Reason: r.Reason})
	return string(b)
}

// decodeReject reads the hash's value v of row: JSON, or the message of a
// reject recorded before, `<where> <row>: <the rest>`.
func decodeReject(row int64, v string) Reject {
	var sr storedReject
	if strings.HasPrefix(v, "{") && json.Unmarshal([]byte(v), &sr) == nil {
		return Reject{Row: row, Where: sr.Where, Field: sr.Field, Reason: sr.Reason}
	}
	r := Reject{Row: row, Reason: v}
	if where, rest, ok := strings.Cut(v, " "+strconv.FormatInt(row, 10)+": "); ok && !strings.Contains(where, " ") {
		r.Where, r.Reason = where, rest
	}
	return r
}

// rejectCursor is the place a page of rejects ends: the last row it holds.
type rejectCursor struct {
	Row int64 `json:"r"`
}

// RejectPage returns up to limit of a batch's rejected source rows after the
// place cursor names ("" for the first page), by row, and the cursor of the
// next page ("" after the last). A batch without rejects, expired or unknown,
// has none. A cursor no page gave out is ErrBadCursor. A limit under 1 is 1.
func (s *Store) RejectPage(ctx context.Context, batchID, cursor string, limit int) ([]Reject, string, error) {
	limit = max(limit, 1)
	var after *rejectCursor
	if cursor != "" {
		after = new(rejectCursor)
		if err := decodeCursor(cursor, after); err != nil {
			return nil, "", err
		}
	}
	rej, ord := s.bkey(batchID, "rej"), s.bkey(batchID, "rejord")
	var hlen, zcard *redis.IntCmd
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		hlen, zcard = p.HLen(ctx, rej), p.ZCard(ctx, ord)
		return nil
	}); err != nil {
		return nil, "", fmt.Errorf("read the rejects of batch %s: %w", batchID, err)
	}
	var page []Reject
	var err error
	if hlen.Val() == zcard.Val() {
		page, err = s.rejectsByIndex(ctx, rej, ord, after, limit+1)
	} else {
		page, err = s.rejectsByScan(ctx, rej, after, limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the rejects of batch %s: %w", batchID, err)
	}
	if len(page) <= limit {
		return page, "", nil
	}
	page = page[:limit]
	return page, encodeCursor(rejectCursor{Row: page[limit-1].Row}), nil
}

// rejectsByIndex reads up to n rejects after a place through the sorted set.
func (s *Store) rejectsByIndex(ctx context.Context, rej, ord string, after *rejectCursor, n int) ([]Reject, error) {
	lo := "-inf"
	if after != nil {
		lo = "(" + strconv.FormatInt(after.Row, 10)
	}
	rows, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: ord, Start: lo, Stop: "+inf", ByScore: true, Count: int64(n)}).Result()
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	vals, err := s.rdb.HMGet(ctx, rej, rows...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Reject, 0, len(rows))
	for i, r := range rows {
		row, err := strconv.ParseInt(r, 10, 64)
		v, ok := vals[i].(string)
		if err != nil || !ok {
			continue
		}
		out = append(out, decodeReject(row, v))
	}
	return out, nil
}

// rejectsByScan reads up to n rejects after a place from the whole hash, for a
// batch whose rejects have no sorted set (recorded before it was).
func (s *Store) rejectsByScan(ctx context.Context, rej string, after *rejectCursor, n int) ([]Reject, error) {
	var out []Reject
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, rej, cursor, "", 1000).Result()
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			row, err := strconv.ParseInt(kv[i], 10, 64)
			if err != nil || after != nil && row <= after.Row {
				continue
			}
			out = append(out, decodeReject(row, kv[i+1]))
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	slices.SortFunc(out, func(a, b Reject) int { return cmp.Compare(a.Row, b.Row) })
	return out[:min(len(out), n)], nil
}

// Rejects returns the first limit of a batch's rejected source rows, by row.
// The batch's Rejected counter tells how many there are.
func (s *Store) Rejects(ctx context.Context, batchID string, limit int) ([]Reject, error) {
	page, _, err := s.RejectPage(ctx, batchID, "", limit)
	return page, err
}
