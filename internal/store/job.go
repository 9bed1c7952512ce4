package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// A batch's job (target, invitation message, send_invite, schedule) is stored
// once per content, P{j:ref} with ref a hash of its JSON, and the record keeps
// the ref (field jobref): batches pushed one candidate at a time with the same
// message share one copy. The shared key expires no earlier than every record
// that names it: each batch that uses it pushes its expiry forward (never
// back) when it is created (keepJob, now + UnsealedTTL + Retention), steered,
// and when it is done (its finish time + Retention). A record written before
// (field job) keeps its job inline and is read as before.

// jobRef is the ref of a job's JSON: the first 8 bytes of its SHA-256, in hex.
func jobRef(jobJSON []byte) string {
	sum := sha256.Sum256(jobJSON)
	return hex.EncodeToString(sum[:8])
}

// jobKey is the shared job's key, P{j:ref}, in a slot of its own.
func (s *Store) jobKey(ref string) string { return s.cfg.Prefix + "{j:" + ref + "}" }

// keepJob makes the shared job ref live at least ttl from now, writing jobJSON
// first if the key is missing (nil writes nothing). The expiry is on Redis's
// clock.
func (s *Store) keepJob(ctx context.Context, ref string, jobJSON []byte, ttl time.Duration) error {
	a := keepJobArgs{key: s.jobKey(ref), job: jobJSON, ttlMS: ttl.Milliseconds()}
	if err := s.eval(ctx, keepJobScript, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("keep the job %s: %w", ref, err)
	}
	return nil
}

// keepJobOf pushes the expiry of b's shared job past the longest b's record
// can live from now: Retention when it is done, else as if it were created
// now.
func (s *Store) keepJobOf(ctx context.Context, b *Batch) error {
	if b.jobRef == "" {
		return nil
	}
	ttl := s.cfg.UnsealedTTL + s.cfg.Retention
	if b.Done() {
		ttl = s.cfg.Retention
	}
	return s.keepJob(ctx, b.jobRef, nil, ttl)
}

// keepFinishedJob pushes the expiry of the shared job ref of a batch that a
// step just finished (ref "" for none) to Retention from now.
func (s *Store) keepFinishedJob(ctx context.Context, ref string) error {
	if ref == "" {
		return nil
	}
	return s.keepJob(ctx, ref, nil, s.cfg.Retention)
}

// recordJob reads the job of a record read as a hash: inline (field job,
// records written before jobs were shared) or shared (field jobref). A shared
// job that is gone (a batch kept undone longer than its job's expiry) reads as
// the zero job.
func (s *Store) recordJob(ctx context.Context, m map[string]string) (task.Job, error) {
	var job task.Job
	if j := m["job"]; j != "" {
		return job, json.Unmarshal([]byte(j), &job)
	}
	return s.sharedJob(ctx, m["jobref"])
}

// sharedJob reads the shared job ref, cached; "" or a job that is gone reads
// as the zero job.
func (s *Store) sharedJob(ctx context.Context, ref string) (task.Job, error) {
	var job task.Job
	if ref == "" {
		return job, nil
	}
	if j, ok := s.batchJobs.get(ref); ok {
		return j, nil
	}
	v, err := s.rdb.Get(ctx, s.jobKey(ref)).Bytes()
	if isNil(err) {
		return job, nil
	}
	if err != nil {
		return job, fmt.Errorf("read the job %s: %w", ref, err)
	}
	if err := json.Unmarshal(v, &job); err != nil {
		return job, fmt.Errorf("job %s: %w", ref, err)
	}
	s.batchJobs.put(ref, job)
	return job, nil
}
