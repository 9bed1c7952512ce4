package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSessions: a session is found by its id until it expires or is deleted, and
// no key names the id.
func TestSessions(t *testing.T) {
	t.Parallel()
	const prefix = "bulkinvite:"
	s := New(redistest.Start(t, redistest.Options{}).Client(), prefix)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sess := Session{TokenID: "tok-0a1b2c3d", CSRF: "csrf-secret", Created: now, Expires: now.Add(time.Hour)}
	const id = "session-id-0123456789abcdef"
	if err := s.Create(ctx, id, sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil || got == nil || *got != sess {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, sess)
	}
	if got, err := s.Get(ctx, "another-id"); err != nil || got != nil {
		t.Errorf("an unknown id: %+v, %v", got, err)
	}
	keys, err := s.rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, id) {
			t.Errorf("key %q names the session id", k)
		}
	}
	// The key keeps the name it had in store, so that sessions already in Redis
	// stay signed in.
	if want := prefix + "{sess:c8d14630f909bc419ba20e0abf07b8b1}"; len(keys) != 1 || keys[0] != want {
		t.Errorf("keys %v, want [%s]", keys, want)
	}
	if ttl := s.rdb.PTTL(ctx, s.key(id)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL %s, want up to an hour", ttl)
	}
	// Past its end a session is gone, whatever Redis still holds.
	s.now = func() time.Time { return now.Add(time.Hour) }
	if got, err := s.Get(ctx, id); err != nil || got != nil {
		t.Errorf("an expired session: %+v, %v", got, err)
	}
	s.now = time.Now
	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, id); err != nil || got != nil {
		t.Errorf("a deleted session: %+v, %v", got, err)
	}
}
