// Package session keeps the dashboard's sign-in sessions in Redis, beside the
// store's keys and under the same prefix: one hash per session, P{sess:h}, h a
// hash of the session id (see the key list in package store's doc).
//
// It owns those keys only: what a session lets a browser do is the dashboard's,
// the tokens are auth's. Sessions share nothing with the batches' keys, so they
// are a Store of their own, built from the store's client and prefix.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session is a browser signed in to the dashboard: the token it signed in with,
// by its id (never the token itself), the secret its forms carry against
// cross-site requests, and when it was opened and ends.
type Session struct {
	TokenID string
	CSRF    string
	Created time.Time
	Expires time.Time
}

// Store reads and writes sessions. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a Store over rdb whose keys start with prefix: the store's client
// and prefix (store.Store's Redis and Prefix).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, now: time.Now}
}

// key is P{sess:h}, h a hash of the session id: the keys do not hold what the
// cookie holds, so that reading Redis does not sign anyone in.
func (s *Store) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.prefix + "{sess:" + hex.EncodeToString(sum[:16]) + "}"
}

// Create stores a session under id (the secret the browser's cookie holds); it
// expires at sess.Expires.
func (s *Store) Create(ctx context.Context, id string, sess Session) error {
	k := s.key(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "token", sess.TokenID, "csrf", sess.CSRF,
			"created", msOf(sess.Created), "expires", msOf(sess.Expires))
		p.PExpireAt(ctx, k, sess.Expires)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Get returns the session stored under id, or nil when there is none or it has
// expired.
func (s *Store) Get(ctx context.Context, id string) (*Session, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if m["token"] == "" {
		return nil, nil
	}
	sess := &Session{TokenID: m["token"], CSRF: m["csrf"], Created: msTime(m["created"]), Expires: msTime(m["expires"])}
	if !s.now().Before(sess.Expires) {
		return nil, nil
	}
	return sess, nil
}

// Delete ends the session stored under id (signing out).
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.key(id)).Err(); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// msOf is t in unix milliseconds, 0 for the zero time.
func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// msTime is msOf's inverse; "" is the zero time.
func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(n).UTC()
}
