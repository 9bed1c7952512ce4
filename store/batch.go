package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Batch states, as status shows them.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
)

// Batch is a batch record with its counters.
type Batch struct {
	ID               string
	Job              payload.Job
	SegmentSize      int
	Segments         int
	Source           string
	ReplayOf         []string
	Sealed           bool
	CreatedAt        time.Time
	StartedAt        time.Time // zero until the first outcome is recorded
	FinishedAt       time.Time // zero until sealed with nothing pending
	Accepted         int64
	Rejected         int64
	Invited          int64
	CVQueued         int64
	DeadLettered     int64
	SkippedDuplicate int64
}

// Pending is the accepted candidates without a final outcome yet.
func (b *Batch) Pending() int64 {
	return b.Accepted - b.Invited - b.CVQueued - b.DeadLettered - b.SkippedDuplicate
}

// State is queued before any outcome, done when the batch is sealed and nothing is
// pending, running otherwise.
func (b *Batch) State() string {
	switch {
	case b.Sealed && b.Pending() == 0:
		return StateDone
	case b.Invited+b.CVQueued+b.DeadLettered+b.SkippedDuplicate > 0:
		return StateRunning
	default:
		return StateQueued
	}
}

// Status is the batch as `status --json` prints it. The fields up to Pending are the
// contract of DESIGN.md; the rest extend it.
type Status struct {
	BatchID          string `json:"batch_id"`
	State            string `json:"state"`
	Total            int64  `json:"total"`
	Accepted         int64  `json:"accepted"`
	Rejected         int64  `json:"rejected"`
	Invited          int64  `json:"invited"`
	CVQueued         int64  `json:"cv_queued"`
	DeadLettered     int64  `json:"dead_lettered"`
	SkippedDuplicate int64  `json:"skipped_duplicate"`
	Pending          int64  `json:"pending"`

	Sealed     bool           `json:"sealed"`
	Target     payload.Target `json:"target"`
	ReplayOf   []string       `json:"replay_of,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	// AuthStop is set while sending is stopped by a 401/403 (see `bulkinvite resume`).
	AuthStop *AuthStop `json:"auth_stop,omitempty"`
}

// Status returns the batch's status.
func (b *Batch) Status() Status {
	st := Status{
		BatchID: b.ID, State: b.State(),
		Total: b.Accepted + b.Rejected, Accepted: b.Accepted, Rejected: b.Rejected,
		Invited: b.Invited, CVQueued: b.CVQueued, DeadLettered: b.DeadLettered,
		SkippedDuplicate: b.SkippedDuplicate, Pending: b.Pending(),
		Sealed: b.Sealed, Target: b.Job.Target, ReplayOf: b.ReplayOf, CreatedAt: b.CreatedAt,
	}
	if !b.FinishedAt.IsZero() {
		t := b.FinishedAt
		st.FinishedAt = &t
	}
	return st
}

// Batch reads a batch record.
func (s *Store) Batch(ctx context.Context, id string) (*Batch, error) {
	m, err := s.rdb.HGetAll(ctx, s.batchKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read batch %s: %w", id, err)
	}
	if m["id"] == "" {
		return nil, fmt.Errorf("%w: %s", ErrBatchNotFound, id)
	}
	b := &Batch{
		ID:               id,
		Source:           m["source"],
		Sealed:           m["sealed"] == "1",
		SegmentSize:      atoi(m["segment_size"]),
		Segments:         atoi(m["segments"]),
		CreatedAt:        msTime(m["created_at"]),
		StartedAt:        msTime(m["started_at"]),
		FinishedAt:       msTime(m["finished_at"]),
		Accepted:         atoi64(m["accepted"]),
		Rejected:         atoi64(m["rejected"]),
		Invited:          atoi64(m["invited"]),
		CVQueued:         atoi64(m["cv_queued"]),
		DeadLettered:     atoi64(m["dead_lettered"]),
		SkippedDuplicate: atoi64(m["skipped_duplicate"]),
	}
	if r := m["replay_of"]; r != "" {
		b.ReplayOf = strings.Split(r, ",")
	}
	if j := m["job"]; j != "" {
		if err := json.Unmarshal([]byte(j), &b.Job); err != nil {
			return nil, fmt.Errorf("read batch %s: job: %w", id, err)
		}
	}
	return b, nil
}

// BatchIDs returns the most recent batch ids, newest first, at most limit.
func (s *Store) BatchIDs(ctx context.Context, limit int64) ([]string, error) {
	return s.rdb.ZRevRange(ctx, s.key("batches"), 0, limit-1).Result()
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return time.UnixMilli(atoi64(s)).UTC()
}

func sortRejects(r []Reject) { sort.Slice(r, func(i, j int) bool { return r[i].Row < r[j].Row }) }

func sortDeadLetters(d []*DeadLetter) {
	sort.Slice(d, func(i, j int) bool {
		if d[i].BatchID != d[j].BatchID {
			return d[i].BatchID < d[j].BatchID
		}
		return d[i].Seq < d[j].Seq
	})
}
