package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestSessions: a session is found by its id until it expires or is deleted, and
// no key names the id.
func TestSessions(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sess := Session{TokenID: "tok-0a1b2c3d", CSRF: "csrf-secret", Created: now, Expires: now.Add(time.Hour)}
	const id = "session-id-0123456789abcdef"
	if err := s.CreateSession(ctx, id, sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, id)
	if err != nil || got == nil || *got != sess {
		t.Fatalf("Session = %+v, %v; want %+v", got, err, sess)
	}
	if got, err := s.Session(ctx, "another-id"); err != nil || got != nil {
		t.Errorf("an unknown id: %+v, %v", got, err)
	}
	keys, err := s.rdb.Keys(ctx, s.cfg.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, id) {
			t.Errorf("key %q names the session id", k)
		}
	}
	if ttl := s.rdb.PTTL(ctx, s.sessionKey(id)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL %s, want up to an hour", ttl)
	}
	// Past its end a session is gone, whatever Redis still holds.
	s.now = func() time.Time { return now.Add(time.Hour) }
	if got, err := s.Session(ctx, id); err != nil || got != nil {
		t.Errorf("an expired session: %+v, %v", got, err)
	}
	s.now = time.Now
	if err := s.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, id); err != nil || got != nil {
		t.Errorf("a deleted session: %+v, %v", got, err)
	}
}

// TestRejects: a batch's rejects come back by row, at most limit of them.
func TestRejects(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	var rejects []Reject
	for _, row := range []int64{40, 3, 17, 2, 1000} {
		rejects = append(rejects, Reject{Row: row, Reason: fmt.Sprintf("email: bad at %d", row)})
	}
	if _, _, err := s.CreateBatch(ctx, Meta{ID: "rj", Job: task.Job{Target: target}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRejects(ctx, "rj", rejects); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rejects(ctx, "rj", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reject{{2, "email: bad at 2"}, {3, "email: bad at 3"}, {17, "email: bad at 17"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Rejects = %v, want %v", got, want)
	}
	if got, err := s.Rejects(ctx, "none", 3); err != nil || len(got) != 0 {
		t.Errorf("a batch without rejects: %v, %v", got, err)
	}
}
