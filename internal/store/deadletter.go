package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
)

// DeadLetter is a candidate that could not be invited, with everything needed to see
// why and to replay it. The JSON fields up to LastHTTPStatus are contract
// (docs/architecture.md, "The contract"); the rest extend it.
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

// parseDeadLetterID splits an id made by DeadLetterID.
func parseDeadLetterID(id string) (batchID string, seq int64, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(id[i+1:], 10, 64)
	return id[:i], seq, err == nil
}

// dlRecord is a dead letter as stored under its batch: short names, times in unix
// ms, and the target and message (the same for the whole job) stored once in
// P dljobs under the job's fingerprint.
type dlRecord struct {
	Reason payload.Reason             `json:"r"`
	Errors map[string]json.RawMessage `json:"e,omitempty"`
	// ErrorsRef names errors stored once per batch in P{b:id}:dlerr instead of
	// Errors, when they are long: the error of a whole chunk (a 404, retries
	// exhausted) is the same for its every candidate.
	ErrorsRef string            `json:"x,omitempty"`
	Candidate payload.Candidate `json:"c"`
	Attempts  int               `json:"a,omitempty"`
	First     int64             `json:"f,omitempty"`
	Last      int64             `json:"l,omitempty"`
	Status    int               `json:"h,omitempty"`
	Row       int64             `json:"w,omitempty"`
	Detail    string            `json:"d,omitempty"`
	From      string            `json:"p,omitempty"`
	Job       string            `json:"j"`
}

// dlJob is what the dead letters of a job share.
type dlJob struct {
	Target            payload.Target `json:"target"`
	InvitationMessage string         `json:"invitation_message,omitempty"`
	SendInvite        *bool          `json:"send_invite,omitempty"`
}

// sharedErrorsMin is the length of a dead letter's errors (as JSON) from which they
// are stored once per batch rather than in every entry.
const sharedErrorsMin = 64

// compactDeadLetter returns d as stored, after making sure its job is in P dljobs,
// and, when its errors are stored apart (see dlRecord.ErrorsRef), their reference
// and JSON.
func (s *Store) compactDeadLetter(ctx context.Context, d *DeadLetter) (entry []byte, errRef string, errJSON []byte, err error) {
	job, err := json.Marshal(dlJob{Target: d.Target, InvitationMessage: d.InvitationMessage, SendInvite: d.SendInvite})
	if err != nil {
		return nil, "", nil, err
	}
	fp := hex.EncodeToString([]byte(fingerprint(string(job))))
	if _, known := s.jobs.get(fp); !known {
		k := s.key("dljobs")
		if err := s.write(ctx, k, func(pipe redis.Pipeliner) { pipe.HSetNX(ctx, k, fp, job) }); err != nil {
			return nil, "", nil, fmt.Errorf("store the job of dead letter %s: %w", d.ID, err)
		}
		s.jobs.put(fp, dlJob{Target: d.Target, InvitationMessage: d.InvitationMessage, SendInvite: d.SendInvite})
	}
	rec := dlRecord{
		Reason: d.Reason, Errors: d.Errors, Candidate: d.Candidate, Attempts: d.Attempts,
		First: msOf(d.FirstFailedAt), Last: msOf(d.LastFailedAt), Status: d.LastHTTPStatus,
		Row: d.Row, Detail: d.Detail, From: d.ReplayedFrom, Job: fp,
	}
	if errJSON, err = json.Marshal(d.Errors); err != nil {
		return nil, "", nil, err
	}
	if len(errJSON) >= sharedErrorsMin {
		errRef = hex.EncodeToString([]byte(fingerprint(string(errJSON))))
		rec.Errors, rec.ErrorsRef = nil, errRef
	} else {
		errJSON = nil
	}
	entry, err = json.Marshal(rec)
	return entry, errRef, errJSON, err
}

// errorsCache holds a batch's shared dead-letter errors read so far, by reference.
type errorsCache map[string]map[string]json.RawMessage

// sharedErrors reads a batch's errors stored apart under ref.
func (s *Store) sharedErrors(ctx context.Context, batchID, ref string, cache errorsCache) (map[string]json.RawMessage, error) {
	if e, ok := cache[ref]; ok {
		return e, nil
	}
	v, err := s.rdb.HGet(ctx, s.bkey(batchID, "dlerr"), ref).Result()
	if err != nil {
		return nil, fmt.Errorf("read the errors %s of batch %s's dead letters: %w", ref, batchID, err)
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return nil, fmt.Errorf("errors %s of batch %s's dead letters: %w", ref, batchID, err)
	}
	cache[ref] = e
	return e, nil
}

// expandDeadLetter reads a stored dead letter of batchID back; cache keeps the
// batch's shared errors between calls.
func (s *Store) expandDeadLetter(ctx context.Context, batchID string, seq int64, v string, cache errorsCache) (*DeadLetter, error) {
	var r dlRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, fmt.Errorf("dead letter %s: %w", DeadLetterID(batchID, seq), err)
	}
	job, err := s.job(ctx, r.Job)
	if err != nil {
		return nil, err
	}
	if r.ErrorsRef != "" {
		if r.Errors, err = s.sharedErrors(ctx, batchID, r.ErrorsRef, cache); err != nil {
			return nil, err
		}
	}
	d := &DeadLetter{
		ID: DeadLetterID(batchID, seq), BatchID: batchID, Reason: r.Reason, Errors: r.Errors,
		Candidate: r.Candidate, Target: job.Target, Attempts: r.Attempts,
		LastHTTPStatus: r.Status, Seq: seq, Row: r.Row, Detail: r.Detail,
		InvitationMessage: job.InvitationMessage, SendInvite: job.SendInvite, ReplayedFrom: r.From,
	}
	if r.First != 0 {
		d.FirstFailedAt = time.UnixMilli(r.First).UTC()
	}
	if r.Last != 0 {
		d.LastFailedAt = time.UnixMilli(r.Last).UTC()
	}
	if d.Errors == nil {
		d.Errors = map[string]json.RawMessage{}
	}
	return d, nil
}

func (s *Store) job(ctx context.Context, fp string) (dlJob, error) {
	if j, ok := s.jobs.get(fp); ok {
		return j, nil
	}
	v, err := s.rdb.HGet(ctx, s.key("dljobs"), fp).Result()
	if err != nil {
		return dlJob{}, fmt.Errorf("read the job %s of a dead letter: %w", fp, err)
	}
	var j dlJob
	if err := json.Unmarshal([]byte(v), &j); err != nil {
		return dlJob{}, fmt.Errorf("job %s of a dead letter: %w", fp, err)
	}
	s.jobs.put(fp, j)
	return j, nil
}

// maxCachedJobs bounds the dead-letter jobs a Store keeps in memory. A job is
// what the dead letters of one batch (or one replay group) share: a store
// reading dead letters of more batches than this reads some jobs again.
const maxCachedJobs = 1024

// jobCache holds jobs (dead letters' or batches') by fingerprint, at most
// maxCachedJobs of them: when it is full, an arbitrary one makes room. Its zero
// value is ready. A fingerprint names one content, so an entry is never stale.
type jobCache[J any] struct {
	mu   sync.Mutex
	jobs map[string]J
}

func (c *jobCache[J]) get(fp string) (J, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[fp]
	return j, ok
}

func (c *jobCache[J]) put(fp string, j J) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jobs == nil {
		c.jobs = make(map[string]J)
	}
	if _, ok := c.jobs[fp]; !ok && len(c.jobs) >= maxCachedJobs {
		for k := range c.jobs {
			delete(c.jobs, k)
			break
		}
	}
	c.jobs[fp] = j
}

func (c *jobCache[J]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.jobs)
}

// Filter selects dead letters; empty fields match everything.
type Filter struct {
	BatchID string
	Reason  payload.Reason
	// Owner, when set, keeps only the dead letters of batches whose record
	// names this owner (Meta.Owner): a batch of another owner, one created
	// before batches had owners, or one whose record has expired is left out.
	Owner string
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

// dlBatches calls fn for each batch holding dead letters, oldest first (or just
// only, when set). It goes on after the last batch it passed, so that a batch
// leaving the index meanwhile (drained by a replay, say) skips none.
func (s *Store) dlBatches(ctx context.Context, only string, fn func(batchID string) error) error {
	if only != "" {
		return fn(only)
	}
	var pos *zpos
	for {
		zs, err := s.zafter(ctx, s.key("dlbatches"), pos, false, dlPage)
		if err != nil {
			return fmt.Errorf("list the batches with dead letters: %w", err)
		}
		for _, z := range zs {
			id := z.Member.(string)
			if err := fn(id); err != nil {
				return err
			}
			pos = &zpos{Score: int64(z.Score), Member: id}
		}
		if len(zs) < dlPage {
			return nil
		}
	}
}

// DeadLetters calls fn for each dead letter matching f, batch by batch in the order
// they first had one, by seq within a batch, reading in pages so that memory does
// not grow with the list but for the ids of one batch, kept to list each once.
// Entries moving into a replay batch are left out; entries added while it runs
// may or may not be seen.
func (s *Store) DeadLetters(ctx context.Context, f Filter, fn func(*DeadLetter) error) error {
	var batch string
	var seen map[int64]bool
	return s.DeadLetterPages(ctx, f, dlPage, func(page []*DeadLetter) error {
		for _, d := range page {
			if d.BatchID != batch {
				batch, seen = d.BatchID, map[int64]bool{}
			}
			if seen[d.Seq] {
				continue
			}
			seen[d.Seq] = true
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeadLetterPages calls fn with the dead letters matching f a page at a time:
// those of one HSCAN step of about size entries of one batch, by seq, batch by
// batch in the order they first had one. Nothing is kept between pages but the
// place, so memory stays flat however many there are. Entries moving into a
// replay batch are left out; entries added or removed meanwhile (moved by fn,
// say) may or may not be seen, and, as with any Redis SCAN, an entry may be
// passed twice when its batch's hash shrinks meanwhile.
func (s *Store) DeadLetterPages(ctx context.Context, f Filter, size int, fn func([]*DeadLetter) error) error {
	return s.dlBatches(ctx, f.BatchID, func(batchID string) error {
		if ok, err := s.ownedBy(ctx, f.Owner, batchID); err != nil || !ok {
			return err
		}
		return s.batchDeadLetters(ctx, batchID, size, func(page []*DeadLetter) error {
			matched := page[:0]
			for _, d := range page {
				if f.match(d) {
					matched = append(matched, d)
				}
			}
			if len(matched) == 0 {
				return nil
			}
			return fn(matched)
		})
	})
}

// batchDeadLetters calls fn with the dead letters of the batch not moving to a
// replay, one HSCAN step of about size entries at a time, by seq.
func (s *Store) batchDeadLetters(ctx context.Context, batchID string, size int, fn func([]*DeadLetter) error) error {
	moving, err := s.rdb.HGetAll(ctx, s.bkey(batchID, "dlmv")).Result()
	if err != nil {
		return fmt.Errorf("list the dead letters of batch %s: %w", batchID, err)
	}
	cache := errorsCache{}
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, s.bkey(batchID, "dl"), cursor, "", int64(size)).Result()
		if err != nil {
			return fmt.Errorf("list the dead letters of batch %s: %w", batchID, err)
		}
		page := make([]*DeadLetter, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			field := kv[i]
			if moving[field] != "" {
				continue
			}
			seq, _ := strconv.ParseInt(field, 10, 64)
			d, err := s.expandDeadLetter(ctx, batchID, seq, kv[i+1], cache)
			if err != nil {
				return err
			}
			page = append(page, d)
		}
		slices.SortFunc(page, func(a, b *DeadLetter) int { return int(a.Seq - b.Seq) })
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// CountDeadLetters returns how many dead letters are stored in all, not counting
// those moving into a replay batch.
func (s *Store) CountDeadLetters(ctx context.Context) (int64, error) {
	var n int64
	err := s.dlBatches(ctx, "", func(batchID string) error {
		pipe := s.rdb.Pipeline()
		all := pipe.HLen(ctx, s.bkey(batchID, "dl"))
		moving := pipe.HLen(ctx, s.bkey(batchID, "dlmv"))
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("count dead letters: %w", err)
		}
		n += all.Val() - moving.Val()
		return nil
	})
	return n, err
}

// PurgeDeadLetters deletes the dead letters with the given ids and returns how many
// there were. Entries moving into a replay batch are not deleted. Each batch
// that lost some records a purged event by by (Event.By) in its log, while its
// record is kept.
func (s *Store) PurgeDeadLetters(ctx context.Context, ids []string, by string) (int, error) {
	n := 0
	for batchID, seqs := range groupByBatch(ids) {
		a := purgeArgs{dl: s.bkey(batchID, "dl"), dlmv: s.bkey(batchID, "dlmv")}
		k, err := s.inPages(ctx, purgeScript, a.keys(), nil, seqs)
		n += k
		if k > 0 {
			err = errors.Join(err, s.RecordEvent(ctx, batchID, Event{What: EventPurged, By: by, Detail: "purged " + deadLetterCount(k)}))
		}
		if err != nil {
			return n, fmt.Errorf("purge dead letters: %w", err)
		}
		if err := s.dropDrained(ctx, batchID); err != nil {
			return n, err
		}
	}
	return n, nil
}

// dropDrained removes a batch from the dead-letter index once it holds none and
// will hold no more.
func (s *Store) dropDrained(ctx context.Context, batchID string) error {
	a := drainedArgs{batch: s.bkey(batchID, ""), dl: s.bkey(batchID, "dl"), dlerr: s.bkey(batchID, "dlerr"), dlmv: s.bkey(batchID, "dlmv")}
	drained, err := drainedScript.Run(ctx, s.rdb, a.keys()).Bool()
	if err != nil || !drained {
		return err
	}
	return s.rdb.ZRem(ctx, s.key("dlbatches"), batchID).Err()
}

// groupByBatch groups dead-letter ids by batch, as seqs.
func groupByBatch(ids []string) map[string][]int64 {
	out := map[string][]int64{}
	for _, id := range ids {
		if b, seq, ok := parseDeadLetterID(id); ok {
			out[b] = append(out[b], seq)
		}
	}
	return out
}

// inPages runs a script that takes head then seqs as ARGV and answers how many it
// acted on, over the seqs in pages of dlPage, and adds up the answers.
func (s *Store) inPages(ctx context.Context, script *redis.Script, keys []string, head []any, seqs []int64) (int, error) {
	n := 0
	for len(seqs) > 0 {
		page := seqs[:min(len(seqs), dlPage)]
		seqs = seqs[len(page):]
		args := append(append([]any{}, head...), seqArgs(page)...)
		k, err := s.eval(ctx, script, keys, args...).Int()
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}
