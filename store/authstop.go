package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuthStop says why sending stopped for an API key: the vendor answered 401 or 403.
// While it is set no worker sends with that key; work stays queued.
type AuthStop struct {
	Status  int       `json:"status"`
	Message string    `json:"message"`
	Key     string    `json:"key"` // the masked key
	Since   time.Time `json:"since"`
}

func (s *Store) authKey(keyID string) string { return s.key("authstop", keyID) }

// StopAuth sets the auth stop for the key (keyID is APIKey.ID, masked its masked form).
// A stop already set keeps its first time.
func (s *Store) StopAuth(ctx context.Context, keyID, masked string, status int, msg string) error {
	k := s.authKey(keyID)
	if err := s.rdb.HSetNX(ctx, k, "since", s.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("set auth stop: %w", err)
	}
	if err := s.rdb.HSet(ctx, k, "status", status, "message", msg, "key", masked).Err(); err != nil {
		return fmt.Errorf("set auth stop: %w", err)
	}
	return nil
}

// AuthStopped returns the key's auth stop, or nil when sending is allowed.
func (s *Store) AuthStopped(ctx context.Context, keyID string) (*AuthStop, error) {
	m, err := s.rdb.HGetAll(ctx, s.authKey(keyID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read auth stop: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return &AuthStop{Status: atoi(m["status"]), Message: m["message"], Key: m["key"], Since: msTime(m["since"])}, nil
}

// ResumeAuth clears the key's auth stop. It reports whether one was set.
func (s *Store) ResumeAuth(ctx context.Context, keyID string) (bool, error) {
	n, err := s.rdb.Del(ctx, s.authKey(keyID)).Result()
	if err != nil {
		return false, fmt.Errorf("clear auth stop: %w", err)
	}
	return n > 0, nil
}

// AuthStops returns every key's auth stop, for a watcher that does not know which
// key the workers use.
func (s *Store) AuthStops(ctx context.Context) ([]AuthStop, error) {
	var out []AuthStop
	iter := s.rdb.Scan(ctx, 0, s.authKey("*"), 100).Iterator()
	for iter.Next(ctx) {
		id := strings.TrimPrefix(iter.Val(), s.authKey(""))
		stop, err := s.AuthStopped(ctx, id)
		if err != nil {
			return nil, err
		}
		if stop != nil {
			out = append(out, *stop)
		}
	}
	return out, iter.Err()
}
