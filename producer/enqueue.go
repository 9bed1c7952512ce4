package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Enqueuer is the part of asynq.Client the producer uses.
type Enqueuer = task.Enqueuer

// Defaults of Config.
const (
	DefaultSegmentSize   = 1000
	DefaultBulkThreshold = 5000
)

// Config tunes a Producer. Zero fields take the documented defaults.
type Config struct {
	// Prefix is the workers' key prefix (BULKINVITE_PREFIX), for FromRedis. Default
	// "bulkinvite:".
	Prefix string
	// SegmentSize is how many candidates are admitted (counted and de-duplicated
	// within the batch) in one step before their chunk tasks are enqueued. Default
	// 1000.
	SegmentSize int
	// BulkThreshold: segments that start at or past this many candidates go to
	// (the shards of) task.QueueBulk. Default 5000.
	BulkThreshold int
	// ChunkSize is the most candidates in one chunk task. Each admitted segment
	// is cut into chunk tasks here (task.Split), so that the workers pick them up
	// at once, without a segment task's hop in between. Default
	// task.DefaultChunkSize (50); a worker re-cuts a larger chunk to its own size.
	ChunkSize int
	// ChunkTimeout is the asynq timeout of the chunk tasks enqueued here: the
	// worker's (worker.Config.ChunkTimeout). Default task.DefaultChunkTimeout.
	ChunkTimeout time.Duration
	// MemoryWait is how long an import waits while Redis refuses its writes for
	// want of memory (BULKINVITE_REDIS_MEMORY_WAIT), retrying each, before it fails
	// with Redis's refusal; Options.MemoryWait overrides it for one import.
	// Default DefaultMemoryWait; negative: fail at once.
	MemoryWait time.Duration
	// Tracer starts the span of each import (SpanEnqueue), which the chunk
	// tasks carry to the workers (task.Chunk.Trace). Default: a no-op one.
	Tracer trace.TracerProvider
}

func (c Config) withDefaults() Config {
	if c.SegmentSize <= 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.BulkThreshold <= 0 {
		c.BulkThreshold = DefaultBulkThreshold
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = task.DefaultChunkSize
	}
	if c.ChunkTimeout <= 0 {
		c.ChunkTimeout = task.DefaultChunkTimeout
	}
	if c.MemoryWait == 0 {
		c.MemoryWait = DefaultMemoryWait
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider()
	}
	return c
}

// Producer validates candidates, records batches and enqueues their segments.
type Producer struct {
	store  *store.Store
	q      Enqueuer
	cfg    Config
	tracer trace.Tracer
	room   roomCheck // shared by its imports
	// sharded: the chunks go round their queue's shards, on a Redis Cluster
	// only (task.Sharded).
	sharded bool
}

// Job is a batch's target and message: the vendor's request without its
// candidates.
type Job = task.Job

// Status is a batch's progress, the fields `bulkinvite status --json` prints;
// the batch is done when Pending is 0.
type Status = store.Status

// Errors of Producer.Status.
var (
	ErrBatchNotFound = store.ErrBatchNotFound // no batch has the id
	ErrBatchExpired  = store.ErrBatchExpired  // done, and its record expired since
)

// FromRedis returns a Producer for a Go service: batches go to rdb, the Redis the
// workers use (a single node, Sentinel or a Cluster), under cfg.Prefix, and
// their tasks to asynq's queue over the same connection.
func FromRedis(rdb redis.UniversalClient, cfg Config) *Producer {
	return New(store.New(rdb, store.Config{Prefix: cfg.Prefix}), asynq.NewClientFromRedisClient(rdb), cfg)
}

// New returns a Producer writing batch records to st and tasks to q.
func New(st *store.Store, q Enqueuer, cfg Config) *Producer {
	cfg = cfg.withDefaults()
	return &Producer{store: st, q: q, cfg: cfg, tracer: cfg.Tracer.Tracer(tracerName), sharded: task.Sharded(st.Redis())}
}

// Status reads the progress of a batch: ErrBatchNotFound for an id never
// used, ErrBatchExpired for a batch done more than the workers'
// BULKINVITE_BATCH_RETENTION ago.
func (p *Producer) Status(ctx context.Context, batchID string) (*Status, error) {
	b, err := p.store.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	st := b.Status()
	return &st, nil
}

// Options describe one import.
type Options struct {
	// BatchID names the batch; the same id twice is one batch. Empty: a new UUID.
	BatchID string
	// Job is the target and message. For a JSON source that carries the vendor's
	// request body, fields left empty here are taken from the file.
	Job Job
	// Source names the input for status, e.g. the file name.
	Source string
	// Queue forces every segment onto one logical queue (task.Queues), on a
	// Redis Cluster the shards its chunks go round (task.ChunkQueue); empty
	// chooses by size.
	Queue string
	// ReplayOf lists the batches a replay batch replays.
	ReplayOf []string
	// CallbackURL, when set, is told when the batch is done. The caller checks it
	// (callback.ValidateURL). A re-run keeps the first run's.
	CallbackURL string
	// CallbackKey names the key that signs the callback (store.Meta.CallbackKey):
	// the creating token's name, "" for BULKINVITE_CALLBACK_SECRET. A re-run keeps
	// the first run's.
	CallbackKey string
	// OnReject is called for each rejected row, in order. May be nil.
	OnReject func(*RowError)
	// Owner names who creates the batch (a token's name, "cli" for the CLI);
	// a batch keeps its first run's owner.
	Owner string
	// AnyOwner lets the import go on in a batch of another owner (an admin
	// token, the CLI); without it such a batch id is refused with ErrOwned.
	AnyOwner bool
	// By and From name who creates the batch and from where, for its created
	// event (store.Meta.By and From): "cli@<host>" for the CLI, an HTTP
	// client's address. By defaults to Owner.
	By, From string
	// MemoryWait, when not 0, replaces Config.MemoryWait for this import:
	// negative fails at once when Redis is out of memory.
	MemoryWait time.Duration
	// OnMemoryWait, when set, is called while the import waits for Redis memory
	// (see Config.MemoryWait), about once a second. It may be called from
	// several goroutines, one at a time.
	OnMemoryWait func(MemoryWait)
}

// Result is what an import did.
type Result struct {
	BatchID string `json:"batch_id"`
	// Existing is true when the batch id was already known (a re-run).
	Existing bool `json:"existing"`
	// AlreadyComplete is true when the batch had been fully enqueued before: nothing
	// was read or enqueued.
	AlreadyComplete bool `json:"already_complete"`
	// Rows read, candidates accepted and rows rejected by this run.
	Rows       int64 `json:"rows"`
	Accepted   int64 `json:"accepted"`
	Rejected   int64 `json:"rejected"`
	Duplicates int64 `json:"duplicates"`
	Segments   int   `json:"segments"`
	// Rejects are the rejected rows, kept only up to MaxRejectsKept.
	Rejects []*RowError `json:"rejects,omitempty"`
}

// MaxRejectsKept bounds Result.Rejects; OnReject sees every one.
const MaxRejectsKept = 1000

var batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidateBatchID reports why id cannot name a batch.
func ValidateBatchID(id string) error {
	if !batchIDPattern.MatchString(id) {
		return fmt.Errorf("batch id %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// ErrUsage marks errors in what the caller asked for (a bad target, a batch id
// reused for another target), as opposed to failures along the way.
var ErrUsage = errors.New("usage")

// ErrOwned is returned for a batch id that names a batch of another owner
// (Options.AnyOwner unset). Its message names nothing of that batch.
var ErrOwned = errors.New("batch id taken: it names a batch of another owner")

// importBatch is Import, under its span.
func (p *Producer) importBatch(ctx context.Context, src Source, opts Options) (*Result, error) {
	if opts.BatchID == "" {
		opts.BatchID = uuid.Must(uuid.NewV7()).String()
	}
	if err := ValidateBatchID(opts.BatchID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	head, err := p.completeJob(src, &opts.Job)
	if err != nil {
		return nil, err
	}
	if err := opts.Job.Target.Validate(); err != nil {
		return nil, fmt.Errorf("%w: target: %w", ErrUsage, err)
	}
	if err := payload.ValidateMessage(opts.Job.InvitationMessage); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if err := checkSchedule(&opts.Job, time.Now()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	mw := p.memoryWaiter(&opts)
	var (
		b       *store.Batch
		created bool
	)
	err = mw.do(ctx, func() (err error) {
		b, created, err = p.store.CreateBatch(ctx, store.Meta{
			ID: opts.BatchID, Job: opts.Job, SegmentSize: p.cfg.SegmentSize,
			Source: opts.Source, ReplayOf: opts.ReplayOf, CallbackURL: opts.CallbackURL, CallbackKey: opts.CallbackKey, Owner: opts.Owner,
			By: opts.By, From: opts.From,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if !created && !opts.AnyOwner && b.Owner != opts.Owner {
		return nil, ErrOwned
	}
	res := &Result{BatchID: b.ID, Existing: !created}
	if err := mw.do(ctx, func() error { return p.enqueueCallback(ctx, b) }); err != nil {
		return res, err
	}
	if !created {
		if !sameJob(b.Job, opts.Job) {
			return nil, fmt.Errorf("%w: batch %s exists with another target, message or send_invite (its target: %s)", ErrUsage, b.ID, b.Job.Target)
		}
		if b.Sealed {
			if err := sameInput(b, head, src); err != nil {
				return nil, err
			}
			res.AlreadyComplete = true
			return res, nil
		}
	}
	w := &segmentWriter{p: p, ctx: ctx, batch: b, opts: &opts, res: res, enq: newEnqueuer(ctx, p, mw), mw: mw, digest: newDigest(),
		dedup: store.NewDedup()}
	defer w.enq.wait() // on an early return: no enqueue outlives Import
	if err := eachRecord(head, src, w.add); err != nil {
		return res, err
	}
	if err := w.flush(); err != nil {
		return res, err
	}
	// The seal says every segment is queued: it must not outlive a task in a failover.
	if err := w.verify(); err != nil {
		return res, err
	}
	if err := mw.do(ctx, func() error { return p.store.Seal(ctx, b.ID, w.segment, w.digest.sum()) }); err != nil {
		return res, otherInput(err)
	}
	res.Segments = w.segment
	return res, nil
}

// completeJob fills the job's empty fields from a source that carries the vendor's
// request body. The target must be known before the first segment is written: when
// the file puts "candidates" before the com_* fields, the records before them are
// held in memory until the target is read.
func (p *Producer) completeJob(src Source, job *task.Job) ([]Record, error) {
	ms, ok := src.(interface {
		Meta() Meta
		MoreMeta() bool
	})
	if !ok {
		return nil, nil
	}
	var head []Record
	for job.Target.IsZero() && ms.Meta().Target.IsZero() && ms.MoreMeta() {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		head = append(head, rec)
	}
	m := ms.Meta()
	if job.Target.IsZero() {
		job.Target = m.Target
	}
	if job.InvitationMessage == "" {
		job.InvitationMessage = m.InvitationMessage
	}
	if job.SendInvite == nil {
		job.SendInvite = m.SendInvite
	}
	return head, nil
}

// sameInput reads the rest of src, after head, and says whether it holds the
// records a sealed batch was made of: nil, or ErrOtherInput. A batch sealed
// before digests were kept is taken as the same, unread.
func sameInput(b *store.Batch, head []Record, src Source) error {
	if b.Digest == "" {
		return nil
	}
	d := newDigest()
	if err := eachRecord(head, src, func(rec Record) error { d.add(&rec); return nil }); err != nil {
		return err
	}
	if d.sum() != b.Digest {
		return fmt.Errorf("%w: batch %s: %w", ErrUsage, b.ID, ErrOtherInput)
	}
	return nil
}

// eachRecord calls fn with each record of head, then with each record left in
// src, until src ends or fn fails.
func eachRecord(head []Record, src Source, fn func(Record) error) error {
	for _, rec := range head {
		if err := fn(rec); err != nil {
			return err
		}
	}
	for {
		rec, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// otherInput marks the store's ErrOtherInput as a usage error.
func otherInput(err error) error {
	if errors.Is(err, store.ErrOtherInput) {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return err
}

// sameJob reports whether two jobs send the same: their schedules aside, for a
// re-run keeps the first run's (a not-before time given as a duration differs
// each run).
func sameJob(a, b task.Job) bool {
	a.Schedule, b.Schedule = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// segmentWriter cuts accepted candidates into segments and writes them.
type segmentWriter struct {
	p       *Producer
	ctx     context.Context
	batch   *store.Batch
	opts    *Options
	res     *Result
	buf     []task.Candidate
	rejects []store.Reject
	seq     int64
	segment int
	enq     *enqueuer
	mw      *memoryWaiter
	digest  *digest      // of the records added so far
	dedup   *store.Dedup // the import's duplicates, found in this process
	// held are the chunk tasks enqueued since the last verify, with heldCands
	// candidates.
	held      []queuedChunk
	heldCands int
}

func (w *segmentWriter) add(rec Record) error {
	w.res.Rows++
	w.digest.add(&rec)
	if rec.Err != nil {
		w.res.Rejected++
		if len(w.res.Rejects) < MaxRejectsKept {
			w.res.Rejects = append(w.res.Rejects, rec.Err)
		}
		if w.opts.OnReject != nil {
			w.opts.OnReject(rec.Err)
		}
		w.rejects = append(w.rejects, store.Reject{Row: rec.Row, Where: rec.Err.Where, Field: rec.Err.Field, Reason: rec.Err.Msg})
		if len(w.rejects) >= w.batch.SegmentSize {
			return w.flushRejects()
		}
		return nil
	}
	if w.buf == nil && w.segment > 0 {
		// Past the first segment the import is a large one: a whole segment's room.
		w.buf = make([]task.Candidate, 0, w.batch.SegmentSize)
	}
	w.buf = append(w.buf, task.Candidate{Seq: w.seq, Row: rec.Row, Candidate: rec.Candidate, History: rec.History})
	w.seq++
	if len(w.buf) >= w.batch.SegmentSize {
		return w.flush()
	}
	return nil
}

func (w *segmentWriter) flushRejects() error {
	if err := w.mw.do(w.ctx, func() error { return w.p.store.RecordRejects(w.ctx, w.batch.ID, w.rejects) }); err != nil {
		return err
	}
	w.rejects = w.rejects[:0]
	return nil
}

func (w *segmentWriter) flush() error {
	if err := w.flushRejects(); err != nil {
		return err
	}
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.enq.failed(); err != nil {
		return err
	}
	seg := w.segment
	chunks, blobs, err := w.cut(seg)
	if err != nil {
		return err
	}
	var adm store.Admission
	err = w.mw.doWithRoom(w.ctx, func() (err error) {
		adm, err = w.p.store.AdmitChunks(w.ctx, w.batch.ID, seg, w.buf, w.digest.sum(), blobs, w.dedup)
		return err
	})
	if err != nil {
		return otherInput(err)
	}
	w.res.Accepted += int64(len(w.buf))
	w.res.Duplicates += int64(adm.Duplicates)
	if len(adm.Open) > 0 {
		lq := w.queue(seg)
		for _, c := range openChunks(chunks, adm.Open) {
			q := task.ChunkQueue(w.p.sharded, lq, c.BatchID, c.Segment, c.Chunk, task.SegmentChunks(w.batch.SegmentSize, w.p.cfg.ChunkSize))
			w.enq.enqueue(c, q)
			w.held = append(w.held, queuedChunk{c: c, queue: q})
		}
		w.heldCands += len(adm.Open)
	}
	w.segment++
	// A new buffer, made by the next add if there is one: the chunks being
	// enqueued hold slices of this one.
	w.buf = nil
	if w.heldCands >= verifyEvery {
		return w.verify()
	}
	return nil
}

// cut cuts the buffered segment into chunks by position (chunk i holds its
// candidates [i*size, (i+1)*size), so that a chunk's id names the same
// candidates however often the segment is cut) and encodes a blob for each
// task.BlobChunks of them: the chunk tasks name their part of a blob
// (task.Ref), which the batch keeps.
func (w *segmentWriter) cut(seg int) ([]task.Chunk, []store.ChunkBlob, error) {
	size, group := w.p.cfg.ChunkSize, task.BlobChunks
	var chunks []task.Chunk
	var blobs []store.ChunkBlob
	for g := 0; g*group*size < len(w.buf); g++ {
		from := g * group * size
		cands := w.buf[from:min(from+group*size, len(w.buf))]
		b, err := task.EncodeCandidates(cands)
		if err != nil {
			return nil, nil, fmt.Errorf("encode chunks %d to %d of segment %d: %w", g*group, (g+1)*group-1, seg, err)
		}
		blobs = append(blobs, store.ChunkBlob{Segment: seg, Chunk: g * group, Chunks: group, Lo: cands[0].Seq, Hi: cands[len(cands)-1].Seq, Blob: b})
		for k := 0; k*size < len(cands); k++ {
			part := cands[k*size : min((k+1)*size, len(cands))]
			chunks = append(chunks, task.Chunk{V: task.VersionShared, BatchID: w.batch.ID, Segment: seg, Chunk: g*group + k, Job: w.batch.Job,
				Candidates: part, Ref: &task.Ref{From: k * size, To: k*size + len(part), Lo: part[0].Seq, Hi: part[len(part)-1].Seq, Shared: group}})
		}
	}
	return chunks, blobs, nil
}

// openChunks returns the chunks holding an open candidate, each with only its
// open candidates (what the import's check of its tasks looks at; the task
// itself names the whole chunk).
func openChunks(chunks []task.Chunk, open []task.Candidate) []task.Chunk {
	total := 0
	for _, c := range chunks {
		total += len(c.Candidates)
	}
	if len(open) == total { // all open, as in most segments: the chunks as they are
		return chunks
	}
	isOpen := make(map[int64]bool, len(open))
	for _, c := range open {
		isOpen[c.Seq] = true
	}
	var out []task.Chunk
	for _, c := range chunks {
		var kept []task.Candidate
		for _, cand := range c.Candidates {
			if isOpen[cand.Seq] {
				kept = append(kept, cand)
			}
		}
		if len(kept) > 0 {
			c.Candidates = kept
			out = append(out, c)
		}
	}
	return out
}

// queue is the logical queue of segment seg's chunks; on a Redis Cluster each
// goes to a shard of it (task.ChunkQueue).
func (w *segmentWriter) queue(seg int) string {
	switch {
	case w.opts.Queue != "":
		return w.opts.Queue
	case seg*w.batch.SegmentSize >= w.p.cfg.BulkThreshold:
		return task.QueueBulk
	default:
		return task.QueueDefault
	}
}

// callbackMaxRetry is asynq's retry limit for a callback task, a backstop: the
// worker gives up after its own window (a day) and says so in the batch's status.
const callbackMaxRetry = 1 << 16

// enqueueCallback enqueues the task that tells the batch's callback_url once the
// batch is done (one per batch: a re-run enqueues nothing twice, and nothing once
// the callback was settled).
func (p *Producer) enqueueCallback(ctx context.Context, b *store.Batch) error {
	if b.Callback == nil || b.Callback.State != store.CallbackPending {
		return nil
	}
	body, err := json.Marshal(task.Callback{V: task.CallbackVersion, BatchID: b.ID})
	if err != nil {
		return err
	}
	_, err = p.q.EnqueueContext(ctx, asynq.NewTask(task.TypeCallback, body),
		asynq.TaskID(task.CallbackID(b.ID)),
		asynq.Queue(task.QueueDefault),
		asynq.MaxRetry(callbackMaxRetry),
		asynq.Timeout(time.Minute),
	)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue the callback of batch %s: %w", b.ID, err)
	}
	return nil
}

// chunkEnqueues is how many chunk tasks an import enqueues at once: a round trip
// each, which would otherwise bound a large import. Reading the next segment
// goes on meanwhile.
const chunkEnqueues = 8

// enqueuer enqueues an import's chunk tasks in the background, up to
// chunkEnqueues at once, and keeps the first error.
type enqueuer struct {
	ctx context.Context
	p   *Producer
	mw  *memoryWaiter
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func newEnqueuer(ctx context.Context, p *Producer, mw *memoryWaiter) *enqueuer {
	return &enqueuer{ctx: ctx, p: p, mw: mw, sem: make(chan struct{}, chunkEnqueues)}
}

// enqueue starts enqueuing c on queue, once fewer than chunkEnqueues are under
// way. The asynq task id is the chunk's (task.ChunkID): a re-run of the import
// enqueues nothing twice.
func (e *enqueuer) enqueue(c task.Chunk, queue string) {
	e.sem <- struct{}{}
	e.wg.Go(func() {
		defer func() { <-e.sem }()
		if err := e.mw.do(e.ctx, func() error { return e.p.enqueueChunk(e.ctx, &c, queue) }); err != nil {
			e.mu.Lock()
			if e.err == nil {
				e.err = err
			}
			e.mu.Unlock()
		}
	})
}

// failed returns the first error so far, if any.
func (e *enqueuer) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// wait waits for every enqueue under way and returns the first error.
func (e *enqueuer) wait() error {
	e.wg.Wait()
	return e.failed()
}

func (p *Producer) enqueueChunk(ctx context.Context, c *task.Chunk, queue string) error {
	return task.EnqueueChunk(ctx, p.q, c, task.ChunkID(c.BatchID, c.Segment, c.Chunk), queue, p.cfg.ChunkTimeout)
}

// ErrOtherInput is returned (with ErrUsage) for an import under a batch's id
// that reads other records than the import that created it.
var ErrOtherInput = store.ErrOtherInput
