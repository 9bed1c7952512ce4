package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
)

// The ledger keeps, per target, one hash a week of the candidates whose success was
// recorded; each expires a ledger TTL after its week ends, so a success blocks a
// repeat invite for at least the TTL and at most a week more.
//
// A week's entries are packed in buckets: field 'b' and the first
// ledgerBucketLen bytes of the candidate's fingerprint, whose value is the
// bucket's entries one after the other, ledgerEntryLen bytes each: the
// fingerprint (8 bytes), the kind ('i' invited, 'c' cv_queued), the owner's
// fingerprint (8 bytes: ownerFP) and when it was recorded (unix ms by Redis's
// clock, 6 bytes, big-endian). A field a candidate would cost about 85 bytes of
// Redis memory (a hash table's entry, two allocations); 65,536 buckets cost
// that once each, so a large week costs little more than its 23 bytes an
// entry. Earlier builds wrote one field a candidate: its fingerprint -> kind,
// owner's fingerprint, when (unix ms in decimal). Those are still read (the
// packed entry first): they live out their week.
const ledgerWeek = 7 * 24 * time.Hour

// The packed ledger's layout (see ledgerWeek).
const (
	ledgerBucketLen = 2
	ledgerEntryLen  = fpLen + 1 + fpLen + 6
)

// ledgerBucket is the field of fp's bucket in a ledger week.
func ledgerBucket(fp string) string { return "b" + fp[:ledgerBucketLen] }

// ledgerEntry finds fp's entry in a bucket's value and returns it past the
// fingerprint (kind, owner, when), or "".
func ledgerEntry(bucket, fp string) string {
	for at := 0; at+ledgerEntryLen <= len(bucket); at += ledgerEntryLen {
		if bucket[at:at+fpLen] == fp {
			return bucket[at+fpLen : at+ledgerEntryLen]
		}
	}
	return ""
}

func weekOf(t time.Time) int64 { return t.UnixMilli() / ledgerWeek.Milliseconds() }

func (s *Store) weekKey(target payload.Target, week int64) string {
	return s.tkey(target, "L:"+strconv.FormatInt(week, 10))
}

// liveWeeks are the target's ledger hashes that may hold an entry: those its index
// lists as not yet expired, and the weeks around now, which a writer may be
// creating at this moment.
func (s *Store) liveWeeks(ctx context.Context, target payload.Target) ([]string, error) {
	now := s.now()
	ids, err := s.weeks.get(s.tkey(target, "Lidx"), now, func() ([]string, error) {
		return s.rdb.ZRangeByScore(ctx, s.tkey(target, "Lidx"), &redis.ZRangeBy{Min: nowMS(now), Max: "+inf"}).Result()
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger weeks of %s: %w", target, err)
	}
	w := weekOf(now)
	seen := map[int64]bool{w - 1: true, w: true, w + 1: true}
	keys := []string{s.weekKey(target, w-1), s.weekKey(target, w), s.weekKey(target, w+1)}
	for _, id := range ids {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || seen[n] {
			continue
		}
		seen[n] = true
		keys = append(keys, s.weekKey(target, n))
	}
	return keys, nil
}

// WeeksReread is how long a Store trusts a target's ledger index (the weeks that
// may hold entries) before it reads it again: every chunk's claim needs it, and it
// changes once a week. Trusting it is safe because the index only gains the
// week a writer is in, and liveWeeks adds the weeks around now itself; a week
// that expired meanwhile is an HMGET of a missing key.
const WeeksReread = 10 * time.Second

// weeksCache holds ledger indexes read less than WeeksReread ago (by the store's
// clock), by index key.
type weeksCache struct {
	mu sync.Mutex
	m  map[string]weeksRead
}

type weeksRead struct {
	at  time.Time
	ids []string
}

// weeksCacheMax bounds the targets remembered: past it, the cache starts over.
const weeksCacheMax = 1024

// get returns the index under key, from read when it is not fresh.
func (c *weeksCache) get(key string, now time.Time, read func() ([]string, error)) ([]string, error) {
	c.mu.Lock()
	r, ok := c.m[key]
	c.mu.Unlock()
	if ok && !now.Before(r.at) && now.Sub(r.at) < WeeksReread {
		return r.ids, nil
	}
	ids, err := read()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= weeksCacheMax {
		c.m = map[string]weeksRead{}
	}
	c.m[key] = weeksRead{at: now, ids: ids}
	c.mu.Unlock()
	return ids, nil
}

// LedgerRecord is a recorded success in the ledger.
type LedgerRecord struct {
	Outcome payload.Outcome // invited or cv_queued
	// At is when it was recorded, by Redis's clock.
	At    time.Time
	owner string
}

// OwnedBy reports whether the record is candidate seq of batchID's success.
func (r *LedgerRecord) OwnedBy(batchID string, seq int64) bool {
	return r.owner == ownerFP(batchID, seq)
}

// Ledger returns the ledger's record of c's success at target, or nil.
func (s *Store) Ledger(ctx context.Context, target payload.Target, c payload.Candidate) (*LedgerRecord, error) {
	recs, err := s.LedgerRecords(ctx, target, []payload.Candidate{c})
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// LedgerRecords returns the ledger's record of each candidate's success at
// target (nil where there is none): one HMGET per live ledger week.
func (s *Store) LedgerRecords(ctx context.Context, target payload.Target, cands []payload.Candidate) ([]*LedgerRecord, error) {
	out := make([]*LedgerRecord, len(cands))
	if len(cands) == 0 {
		return out, nil
	}
	weeks, err := s.liveWeeks(ctx, target)
	if err != nil {
		return nil, err
	}
	fps := make([]string, len(cands))
	for i, c := range cands {
		fps[i] = candidateFP(c)
	}
	fields := make([]string, 0, 2*len(fps))
	for _, fp := range fps {
		fields = append(fields, ledgerBucket(fp), fp)
	}
	for _, k := range weeks {
		vals, err := s.rdb.HMGet(ctx, k, fields...).Result()
		if err != nil {
			return nil, fmt.Errorf("read the ledger: %w", err)
		}
		for i, fp := range fps {
			if out[i] != nil {
				continue
			}
			bucket, _ := vals[2*i].(string)
			old, _ := vals[2*i+1].(string)
			if out[i], err = readLedger(bucket, old, fp); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readLedger reads fp's record from its bucket's value or, failing that, from
// its field of an earlier build (old); nil for neither.
func readLedger(bucket, old, fp string) (*LedgerRecord, error) {
	if e := ledgerEntry(bucket, fp); e != "" {
		var b [8]byte
		copy(b[2:], e[1+fpLen:])
		return newLedgerRecord(e[0], e[1:1+fpLen], int64(binary.BigEndian.Uint64(b[:]))), nil
	}
	if old == "" {
		return nil, nil
	}
	if len(old) < 10 {
		return nil, fmt.Errorf("ledger value of %d bytes, want at least 10", len(old))
	}
	ms, err := strconv.ParseInt(old[9:], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("ledger value: time: %w", err)
	}
	return newLedgerRecord(old[0], old[1:9], ms), nil
}

func newLedgerRecord(kind byte, owner string, ms int64) *LedgerRecord {
	r := &LedgerRecord{Outcome: payload.OutcomeInvited, owner: owner, At: time.UnixMilli(ms).UTC()}
	if kind == 'c' {
		r.Outcome = payload.OutcomeCVQueued
	}
	return r
}
