package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Task type names, as registered with asynq.
const (
	// TypeSegment is the type of a segment task, which producers no longer write:
	// they enqueue a segment's chunk tasks themselves. Workers still split the
	// segment tasks an older producer wrote (a rolling upgrade, a queue filled
	// before it).
	//
	// Deprecated: kept only for segment tasks of older producers; the first
	// release after the one whose producers stopped writing segment tasks may
	// drop it, once no queue holds them.
	TypeSegment  = "bulkinvite:segment"
	TypeChunk    = "bulkinvite:chunk"
	TypeCallback = "bulkinvite:callback"
)

// The logical queues tasks go to. Small batches and the head of large ones go
// to QueueDefault, the rest of a large batch to QueueBulk, replays to
// QueueReplay; workers weigh the three so that a huge import cannot starve the
// others. On a Redis Cluster each is served as ShardCount asynq queues, its
// shards (Sharded, Shards): a chunk task goes to one of them (ChunkQueue), a
// callback task to the logical queue itself, its first shard; elsewhere every
// task goes to the logical queue.
const (
	QueueDefault = "default"
	QueueBulk    = "bulk"
	QueueReplay  = "replay"
)

// Queues lists the logical queues, in the order their default weights are
// written: the names of the user-facing weights (BULKINVITE_QUEUE_WEIGHTS).
var Queues = []string{QueueDefault, QueueReplay, QueueBulk}

// Version is the version of the task payloads this build writes. A worker reads
// every version from 1 up to Version, so a worker upgraded before its producers
// keeps working; a payload from a newer producer is refused with ErrVersion.
//
// Version 2 and 3 chunk tasks carry a reference to their candidates (Ref),
// stored with the batch; version 1 chunk tasks carry them inline, and this
// build still writes them for the chunks it cuts from inline candidates (an
// older producer's segment or chunk task).
const Version = VersionShared

// The chunk task versions.
const (
	// VersionInline chunks carry their job and candidates.
	VersionInline = 1
	// VersionRef chunks carry a Ref to their candidates' blob and take the job
	// from the batch record.
	VersionRef = 2
	// VersionShared chunks are VersionRef chunks whose Ref names a blob
	// several chunks share (Ref.Shared), of a blob format (2) an older worker
	// cannot read: it hands them back untouched, as a newer version, for a
	// newer worker. A Ref that names a chunk's own blob is still written as
	// version 2.
	VersionShared = 3
	// SegmentVersion and CallbackVersion are the last versions of segment and
	// callback tasks: they did not change with version 2 chunks, and are still
	// written as 1 so that a worker of an older build takes them.
	SegmentVersion  = 1
	CallbackVersion = 1
)

// ErrVersion is returned for a task payload whose version this build cannot read.
var ErrVersion = errors.New("unsupported task payload version")

// Job is what every candidate of a batch shares: where to send them and how.
type Job struct {
	Target            payload.Target `json:"target"`
	InvitationMessage string         `json:"invitation_message,omitempty"`
	// SendInvite is passed to the vendor as is; nil leaves the vendor's default (true).
	SendInvite *bool `json:"send_invite,omitempty"`
	// Reinvite sends candidates even when the ledger has recorded a success for the
	// same target.
	Reinvite bool `json:"reinvite,omitempty"`
	// Schedule holds the batch back until a time or to a send window; nil sends at
	// once. It travels with every chunk, so that the worker's gate reads nothing.
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Schedule is when a batch may send: not before a time, and only while its send
// window is open. Tasks written before schedules existed have none.
type Schedule struct {
	// NotBefore is the earliest time to send, in Unix milliseconds; 0 for none.
	NotBefore int64 `json:"not_before,omitempty"`
	// Window is the send window in package window's grammar (canonical form);
	// "" for none.
	Window string `json:"window,omitempty"`
}

// Start returns NotBefore as a time, zero for none.
func (s *Schedule) Start() time.Time {
	if s == nil || s.NotBefore == 0 {
		return time.Time{}
	}
	return time.UnixMilli(s.NotBefore).UTC()
}

// Candidate is a candidate inside a task, with its identity in the batch.
type Candidate struct {
	// Seq is the candidate's position among the batch's accepted candidates, from 0.
	// (batch id, Seq) identifies the candidate: its outcome is recorded once under it.
	Seq int64 `json:"seq"`
	// Row is where the candidate was in its source, for messages a person reads: the
	// file line a CSV or JSONL record starts on, or the 1-based position in a JSON
	// array or a list of candidates; 0 when unknown.
	Row int64 `json:"row,omitempty"`
	payload.Candidate
	// History carries the attempts of earlier batches for a replayed candidate.
	History *History `json:"history,omitempty"`
}

// History is what a replayed candidate brings from the dead letter it was replayed from.
type History struct {
	DeadLetterID  string    `json:"dead_letter_id"`
	BatchID       string    `json:"batch_id"`
	Attempts      int       `json:"attempts"`
	FirstFailedAt time.Time `json:"first_failed_at"`
}

// Segment is a bounded slice of a batch. The producer cuts it into chunks itself
// (Split); a segment task, written by an older producer, is split by a worker.
type Segment struct {
	V          int         `json:"v"`
	BatchID    string      `json:"batch_id"`
	Segment    int         `json:"segment"`
	Job        Job         `json:"job"`
	Candidates []Candidate `json:"candidates"`
}

// Chunk is at most one API request's worth of candidates.
type Chunk struct {
	V          int         `json:"v"`
	BatchID    string      `json:"batch_id"`
	Segment    int         `json:"segment"`
	Chunk      int         `json:"chunk"`
	Job        Job         `json:"job"`
	Candidates []Candidate `json:"candidates"`
	// Split is set on a chunk split off a larger one the API refused (400, 422,
	// 413), to bound the requests spent finding what it refused.
	Split *SplitOrigin `json:"split,omitempty"`
	// Ref, on a version 2 or 3 chunk, names the part of the blob the task
	// covers; Job and Candidates are then filled by the worker from the batch
	// (only Job.Schedule travels with the task). Nil on a version 1 chunk.
	Ref *Ref `json:"-"`
	// Trace is the W3C traceparent of the span that enqueued the chunk
	// (EnqueueChunk fills it); "" when it was not traced, and the key is then
	// left out of the payload. A build that does not know it ignores it.
	Trace string `json:"traceparent,omitempty"`
}

// Ref is what a version 2 or 3 chunk task says of its candidates: they are
// candidates [From, To) of the blob (EncodeCandidates) the producer stored for
// chunk (Segment, Chunk) of the batch, with seqs from Lo to Hi. A chunk re-cut
// or split by a worker names a sub-range of the same blob.
type Ref struct {
	From int   `json:"from"`
	To   int   `json:"to"`
	Lo   int64 `json:"lo"`
	Hi   int64 `json:"hi"`
	// Shared, when above 0, says that the blob is shared by Shared chunks of
	// the segment, from the one numbered Chunk − Chunk%Shared (BlobChunks; a
	// version 3 task); 0: the blob is the chunk's own (version 2).
	Shared int `json:"shared,omitempty"`
}

// BlobChunks is how many consecutive chunks of a segment the producer stores
// in one blob (the last blob of a segment may hold fewer): a blob of 200
// candidates compresses better than four of 50, and Redis's cost of a hash
// field (its entry, names, allocation rounding) is paid once for them. A
// chunk task still covers its own chunk; the worker reads only that part of
// the blob (Chunk.Load).
const BlobChunks = 4

// FirstChunk is the first chunk of the blob c's candidates are in.
func (c *Chunk) FirstChunk() int {
	if c.Ref == nil || c.Ref.Shared <= 0 {
		return c.Chunk
	}
	return c.Chunk - c.Chunk%c.Ref.Shared
}

// refChunk is a version 2 or 3 chunk task's payload.
type refChunk struct {
	V        int          `json:"v"`
	BatchID  string       `json:"batch_id"`
	Segment  int          `json:"segment"`
	Chunk    int          `json:"chunk"`
	Ref      *Ref         `json:"ref"`
	Schedule *Schedule    `json:"schedule,omitempty"`
	Split    *SplitOrigin `json:"split,omitempty"`
	Trace    string       `json:"traceparent,omitempty"`
}

// Load decodes the candidates c covers from blob, its Ref's blob, checking
// that they are what the Ref says; only those are made into strings. first
// and last are the seqs the whole blob starts and ends with.
func (c *Chunk) Load(blob []byte) (cands []Candidate, first, last int64, err error) {
	r := c.Ref
	d, err := decodeBlob(blob, r.From, r.To)
	if err != nil {
		return nil, 0, 0, err
	}
	if r.From < 0 || r.To > d.n || r.From >= r.To {
		return nil, 0, 0, fmt.Errorf("chunk task %s/%d/%d: candidates [%d, %d) of a blob of %d", c.BatchID, c.Segment, c.Chunk, r.From, r.To, d.n)
	}
	part := d.part
	if part[0].Seq != r.Lo || part[len(part)-1].Seq != r.Hi {
		return nil, 0, 0, fmt.Errorf("chunk task %s/%d/%d: its blob holds seqs %d..%d where it names %d..%d", c.BatchID, c.Segment, c.Chunk, part[0].Seq, part[len(part)-1].Seq, r.Lo, r.Hi)
	}
	return part, d.first, d.last, nil
}

// Sub returns the Ref of candidates [i, j) of those c covers (Candidates
// filled), for a part of c re-cut or split off.
func (c *Chunk) Sub(i, j int) *Ref {
	return &Ref{From: c.Ref.From + i, To: c.Ref.From + j, Lo: c.Candidates[i].Seq, Hi: c.Candidates[j-1].Seq, Shared: c.Ref.Shared}
}

// Len is how many candidates c covers.
func (c *Chunk) Len() int {
	if c.Ref != nil {
		return c.Ref.To - c.Ref.From
	}
	return len(c.Candidates)
}

// SplitOrigin names the chunk a split chunk comes from.
type SplitOrigin struct {
	// Root is the task id of the chunk the API first refused.
	Root string `json:"root"`
	// Size is how many candidates that chunk had.
	Size int `json:"size"`
}

// Callback waits for a batch to be done, then tells its callback_url. It goes to
// QueueDefault, one per batch.
type Callback struct {
	V       int    `json:"v"`
	BatchID string `json:"batch_id"`
}

// CallbackID is the asynq task id of a batch's callback: one per batch.
func CallbackID(batchID string) string {
	return fmt.Sprintf("bi:%s:cb", batchID)
}

// DecodeCallback reads a callback payload of any supported version.
func DecodeCallback(b []byte) (*Callback, error) {
	var t Callback
	if err := decodeTask(b, &t); err != nil {
		return nil, err
	}
	if t.BatchID == "" {
		return nil, fmt.Errorf("callback task: batch_id is empty")
	}
	return &t, nil
}

// SegmentID is the asynq task id of a batch's segment task: deterministic, so
// that a producer run again enqueued nothing twice.
//
// Deprecated: segment tasks come only from older producers (see TypeSegment);
// the first release after the one whose producers stopped writing them may drop it.
func SegmentID(batchID string, segment int) string {
	return fmt.Sprintf("bi:%s:s%d", batchID, segment)
}

// IDPrefix starts the asynq task id of every task of a batch (its chunks,
// their re-cut and split parts, its callback). A batch id may hold ':', so a
// task whose id has another batch's prefix may belong to a batch whose id
// extends it: read its payload to be sure.
func IDPrefix(batchID string) string { return "bi:" + batchID + ":" }

// ChunkID is the asynq task id of a segment's chunk: deterministic, so that a
// segment handled twice enqueues nothing twice.
func ChunkID(batchID string, segment, chunk int) string {
	return fmt.Sprintf("bi:%s:s%d:c%d", batchID, segment, chunk)
}

// DecodeSegment reads a segment payload of any supported version.
//
// Deprecated: segment tasks come only from older producers (see TypeSegment);
// the first release after the one whose producers stopped writing them may drop it.
func DecodeSegment(b []byte) (*Segment, error) {
	var t Segment
	if err := decodeTask(b, &t); err != nil {
		return nil, err
	}
	if t.BatchID == "" {
		return nil, fmt.Errorf("segment task: batch_id is empty")
	}
	return &t, nil
}

// DecodeChunk reads a chunk payload of any supported version. A version 2
// chunk comes back with its Ref and schedule only: the caller fills Job and
// Candidates from the batch.
func DecodeChunk(b []byte) (*Chunk, error) {
	if ref, ok, err := decodeRefChunk(b); ok {
		return ref, err
	}
	// Room for the candidates, counted by their first key, so that decoding does
	// not grow the slice candidate by candidate. "seq": cannot occur inside a
	// JSON string (its quotes would be escaped), so the count is exact; it is
	// capped, so that a corrupt payload cannot make it allocate much.
	t := Chunk{Candidates: make([]Candidate, 0, min(bytes.Count(b, seqKey), maxPresized))}
	if err := decodeTask(b, &t); err != nil {
		return nil, err
	}
	if t.BatchID == "" {
		return nil, fmt.Errorf("chunk task: batch_id is empty")
	}
	if len(t.Candidates) == 0 {
		return nil, fmt.Errorf("chunk task %s/%d/%d: no candidates", t.BatchID, t.Segment, t.Chunk)
	}
	return &t, nil
}

var seqKey = []byte(`"seq":`)

// decodeRefChunk decodes b when it is a version 2 or 3 chunk: ok is false
// for another version.
func decodeRefChunk(b []byte) (c *Chunk, ok bool, err error) {
	var t refChunk
	if json.Unmarshal(b, &t) != nil || t.V != VersionRef && t.V != VersionShared {
		return nil, false, nil
	}
	if t.BatchID == "" {
		return nil, true, fmt.Errorf("chunk task: batch_id is empty")
	}
	if t.Ref == nil || t.Ref.From < 0 || t.Ref.To <= t.Ref.From || t.Ref.Hi < t.Ref.Lo || t.Ref.Shared < 0 {
		return nil, true, fmt.Errorf("chunk task %s/%d/%d: no candidates referenced", t.BatchID, t.Segment, t.Chunk)
	}
	return &Chunk{V: t.V, BatchID: t.BatchID, Segment: t.Segment, Chunk: t.Chunk, Job: Job{Schedule: t.Schedule}, Split: t.Split, Ref: t.Ref, Trace: t.Trace}, true, nil
}

// encodeChunk is c's payload: version 3 when c has a Ref to a shared blob,
// version 2 when it has a Ref to its own, else version 1 with its job and
// candidates inline.
func encodeChunk(c *Chunk) ([]byte, error) {
	if c.Ref == nil {
		v1 := *c
		v1.V = VersionInline
		return json.Marshal(&v1)
	}
	v := VersionRef
	if c.Ref.Shared > 0 {
		v = VersionShared
	}
	return json.Marshal(refChunk{V: v, BatchID: c.BatchID, Segment: c.Segment, Chunk: c.Chunk, Ref: c.Ref, Schedule: c.Job.Schedule, Split: c.Split, Trace: c.Trace})
}

// maxPresized caps the candidates DecodeChunk makes room for beforehand: more
// than any chunk size allows (500).
const maxPresized = 1024

// decodeTask decodes a payload of a version from 1 to Version into into, whose
// first field is the version V (`json:"v"`). The payload is decoded once; only
// when that fails is its version looked at alone, so that a payload from a newer
// producer whose shape this build does not know is refused with ErrVersion
// rather than with a type error.
func decodeTask(b []byte, into versioned) error {
	if err := json.Unmarshal(b, into); err != nil {
		var head struct {
			V int `json:"v"`
		}
		if json.Unmarshal(b, &head) == nil && head.V > into.maxVersion() {
			return versionErrorOf(head.V, into.maxVersion())
		}
		return fmt.Errorf("decode task payload: %w", err)
	}
	if v := into.version(); v < 1 || v > into.maxVersion() {
		return versionErrorOf(v, into.maxVersion())
	}
	return nil
}

func versionErrorOf(v, max int) error {
	return fmt.Errorf("%w: v=%d, this build reads 1..%d", ErrVersion, v, max)
}

// versioned is a task payload: it has a version, at most maxVersion.
type versioned interface {
	version() int
	maxVersion() int
}

func (s *Segment) version() int     { return s.V }
func (c *Chunk) version() int       { return c.V }
func (c *Callback) version() int    { return c.V }
func (s *Segment) maxVersion() int  { return SegmentVersion }
func (c *Chunk) maxVersion() int    { return Version }
func (c *Callback) maxVersion() int { return CallbackVersion }

// Candidates returns the plain candidates of ts, in order.
func Candidates(ts []Candidate) []payload.Candidate {
	out := make([]payload.Candidate, len(ts))
	for i, t := range ts {
		out[i] = t.Candidate
	}
	return out
}
