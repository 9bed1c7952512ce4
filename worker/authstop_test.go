package worker

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/store"
)

// TestAuthStopRecheck: a worker reads the auth stop at most once every
// AuthStopRecheck while there is none, sees a stop written elsewhere within that
// time, sees its own stop and a resume at once, and never trusts a stop.
func TestAuthStopRecheck(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb, store.Config{})
	key := flowmingo.NewAPIKey("fl_live_unit.secret")
	at := time.Unix(1_800_000_000, 0)
	w := &Worker{Deps: Deps{Store: st, Key: key}, now: func() time.Time { return at }}
	ctx := context.Background()
	stopped := func(when string, want bool) {
		t.Helper()
		stop, err := w.authStop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (stop != nil) != want {
			t.Errorf("%s: stopped = %v, want %v", when, stop != nil, want)
		}
	}
	stopped("at start", false)
	// Another worker stops the key: this one trusts its last read a little longer.
	if err := st.StopAuth(ctx, key.ID(), key.Masked(), 401, "expired"); err != nil {
		t.Fatal(err)
	}
	stopped("just after another worker's stop", false)
	at = at.Add(AuthStopRecheck)
	stopped("AuthStopRecheck later", true)
	// A stop is read again at every look: a resume is seen at once.
	if _, _, err := w.Store.ResumeAuth(ctx); err != nil {
		t.Fatal(err)
	}
	stopped("just after resume", false)
	// This worker's own stop is seen at once.
	if err := st.StopAuth(ctx, key.ID(), key.Masked(), 403, "no scope"); err != nil {
		t.Fatal(err)
	}
	w.forgetAuthClear()
	stopped("just after its own stop", true)
}
