package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuthStop says why sending stopped for an API key: the vendor answered 401 or 403.
// While it is set no worker sends with that key; work stays queued.
type AuthStop struct {
	Status  int       `json:"status"`
	Message string    `json:"message"`
	Key     string    `json:"key"` // the masked key
	Since   time.Time `json:"since"`
}

// Auth stops live in one hash, keyed by APIKey.ID, so that reading them all is one
// command (no SCAN over the keyspace); the queues paused for them in a set beside
// it, in the same slot.
func (s *Store) authKey() string        { return s.cfg.Prefix + "{authstop}" }
func (s *Store) authPausedKey() string  { return s.cfg.Prefix + "{authstop}:paused" }
func (s *Store) authBatchesKey() string { return s.cfg.Prefix + "{authstop}:batches" }

// maxHeldBatches bounds the batches the auth stops remember as held, to tell
// them of the resume (auth_resumed): past it, a batch records auth_stopped but
// not the resume.
const maxHeldBatches = 256

// RecordAuthStopped writes in the log of the batch whose chunk the vendor
// refused (status, msg) that sending stopped for the key (masked), by by
// ("worker@<host>"): once per batch while a stop is set. The batch is
// remembered, up to maxHeldBatches, for ResumeAuth to hand back. It runs after
// StopAuth; a crash between the two steps leaves the batch without its event.
func (s *Store) RecordAuthStopped(ctx context.Context, batchID, by string, status int, msg, masked string) error {
	a := authStoppedArgs{stops: s.authKey(), batches: s.authBatchesKey(), id: batchID, max: maxHeldBatches}
	n, err := s.eval(ctx, authStoppedScript, a.keys(), a.argv()...).Int()
	if err != nil || n == 0 {
		return err
	}
	return s.RecordEvent(ctx, batchID, Event{What: EventAuthStopped, By: by,
		Detail: fmt.Sprintf("vendor answered %d: %s; sending stopped for key %s", status, cut(msg, 120), masked)})
}

// RecordAuthResumed writes in the log of each batch that the auth stop it
// waited on was cleared, by by.
func (s *Store) RecordAuthResumed(ctx context.Context, batchIDs []string, by string) error {
	var errs []error
	for _, id := range batchIDs {
		errs = append(errs, s.RecordEvent(ctx, id, Event{What: EventAuthResumed, By: by, Detail: "auth stop cleared; sending resumes"}))
	}
	return errors.Join(errs...)
}

// StopAuth sets the auth stop for the key (keyID is APIKey.ID, masked its masked form).
// A stop already set keeps its first time.
func (s *Store) StopAuth(ctx context.Context, keyID, masked string, status int, msg string) error {
	b, err := json.Marshal(AuthStop{Status: status, Message: msg, Key: masked, Since: s.now().UTC()})
	if err != nil {
		return err
	}
	a := stopAuthArgs{stops: s.authKey(), keyID: keyID, stop: b}
	if err := stopAuthScript.Run(ctx, s.rdb, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("set auth stop: %w", err)
	}
	return nil
}

// AuthStopped returns the key's auth stop, or nil when sending is allowed.
func (s *Store) AuthStopped(ctx context.Context, keyID string) (*AuthStop, error) {
	v, err := s.rdb.HGet(ctx, s.authKey(), keyID).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read auth stop: %w", err)
	}
	var stop AuthStop
	if err := json.Unmarshal([]byte(v), &stop); err != nil {
		return nil, fmt.Errorf("read auth stop: %w", err)
	}
	return &stop, nil
}

// AuthStops returns every key's auth stop, oldest first, for a watcher that does
// not know which key the workers use.
func (s *Store) AuthStops(ctx context.Context) ([]AuthStop, error) {
	m, err := s.rdb.HGetAll(ctx, s.authKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read auth stops: %w", err)
	}
	return decodeAuthStops(m)
}

func decodeAuthStops(m map[string]string) ([]AuthStop, error) {
	out := make([]AuthStop, 0, len(m))
	for id, v := range m {
		var stop AuthStop
		if err := json.Unmarshal([]byte(v), &stop); err != nil {
			return nil, fmt.Errorf("auth stop of key %s: %w", id, err)
		}
		out = append(out, stop)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}

// PausedForAuth records that queue is paused because of the key's auth stop, so
// that ResumeAuth hands it back, if that stop is still set; it reports whether
// it is. Recording and reading the stop are one step: a queue is never recorded
// for a stop that a resume has already cleared.
func (s *Store) PausedForAuth(ctx context.Context, keyID, queue string) (stopped bool, err error) {
	a := pausedForAuthArgs{stops: s.authKey(), paused: s.authPausedKey(), keyID: keyID, queue: queue}
	n, err := pausedForAuthScript.Run(ctx, s.rdb, a.keys(), a.argv()...).Int()
	if err != nil {
		return false, fmt.Errorf("record paused queue: %w", err)
	}
	return n == 1, nil
}

// AuthResume is what ResumeAuth cleared.
type AuthResume struct {
	// Stops are the auth stops, oldest first.
	Stops []AuthStop
	// Queues are the queues paused for them, which the caller unpauses.
	Queues []string
	// Batches are the batches that recorded auth_stopped (RecordAuthStopped),
	// at most maxHeldBatches: the caller records auth_resumed on them.
	Batches []string
}

// ResumeAuth clears every key's auth stop in one step — a person fixed the key, or
// rotated it — and returns the stops it cleared, the queues paused and the
// batches held for them.
func (s *Store) ResumeAuth(ctx context.Context) (*AuthResume, error) {
	keys := []string{s.authKey(), s.authPausedKey(), s.authBatchesKey()}
	res, err := resumeAuthScript.Run(ctx, s.rdb, keys).Slice()
	if err != nil {
		return nil, fmt.Errorf("clear auth stops: %w", err)
	}
	m := map[string]string{}
	pairs, _ := res[0].([]any)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[fmt.Sprint(pairs[i])] = fmt.Sprint(pairs[i+1])
	}
	out := &AuthResume{}
	if out.Stops, err = decodeAuthStops(m); err != nil {
		return nil, err
	}
	out.Queues, out.Batches = sortedStrings(res[1]), sortedStrings(res[2])
	return out, nil
}

// sortedStrings is a script's array reply of strings, sorted.
func sortedStrings(v any) []string {
	vs, _ := v.([]any)
	out := make([]string, 0, len(vs))
	for _, x := range vs {
		out = append(out, fmt.Sprint(x))
	}
	sort.Strings(out)
	return out
}
