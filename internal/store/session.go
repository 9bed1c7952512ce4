package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session is a browser signed in to the dashboard (package dashboard): the token
// it signed in with, by its id (never the token itself), the secret its forms
// carry against cross-site requests, and when it was opened and ends.
type Session struct {
	TokenID string
	CSRF    string
	Created time.Time
	Expires time.Time
}

// sessionKey is P{sess:h}, h a hash of the session id: the keys do not hold what
// the cookie holds, so that reading Redis does not sign anyone in.
func (s *Store) sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.cfg.Prefix + "{sess:" + hex.EncodeToString(sum[:16]) + "}"
}

// CreateSession stores a session under id (the secret the browser's cookie
// holds); it expires at sess.Expires.
func (s *Store) CreateSession(ctx context.Context, id string, sess Session) error {
	k := s.sessionKey(id)
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

// Session returns the session stored under id, or nil when there is none or it
// has expired.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	m, err := s.rdb.HGetAll(ctx, s.sessionKey(id)).Result()
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

// DeleteSession ends the session stored under id (signing out).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.sessionKey(id)).Err(); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
