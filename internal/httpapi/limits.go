package httpapi

import (
	"sync"
	"time"
)

// inFlightRetryAfter is the Retry-After of a 429 for too many requests in
// flight: most requests end within a second.
const inFlightRetryAfter = time.Second

// spoolRetryAfter is the Retry-After of a 503 server_busy: the bodies that
// hold the space take a while to arrive and be imported.
const spoolRetryAfter = 5 * time.Second

// inFlight counts each client's requests in flight against a cap. A client
// without requests in flight takes no room. Safe for concurrent use.
type inFlight struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newInFlight(max int) *inFlight { return &inFlight{max: max, n: map[string]int{}} }

// acquire counts a request of key in, or reports false when key has max in
// flight already.
func (f *inFlight) acquire(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key] >= f.max {
		return false
	}
	f.n[key]++
	return true
}

// release counts a request of key out.
func (f *inFlight) release(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key]--; f.n[key] <= 0 {
		delete(f.n, key)
	}
}

// spoolSpace is the room for request bodies, all requests together
// (Config.SpoolLimit). Safe for concurrent use.
type spoolSpace struct {
	limit int64
	mu    sync.Mutex
	used  int64
}

// take reserves n bytes, or reports false when they are not free.
func (sp *spoolSpace) take(n int64) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if n > sp.limit-sp.used {
		return false
	}
	sp.used += n
	return true
}

// give returns n bytes taken before.
func (sp *spoolSpace) give(n int64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.used -= n
}

// inUse is the bytes taken now.
func (sp *spoolSpace) inUse() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.used
}
