package sandbox

import (
	"fmt"
	"net/http"

	"github.com/bulkinvite/bulkinvite/flowmingo"
)

// keyStateStatus is the status a request with a known key in each state gets.
var keyStateStatus = map[KeyState]int{
	KeyActive:       http.StatusOK,
	KeyInactive:     http.StatusForbidden,
	KeyExpired:      http.StatusForbidden,
	KeyDeleted:      http.StatusUnauthorized,
	KeyMissingScope: http.StatusForbidden,
}

// authenticate returns 0 for an active key with scope, else the status and message.
func (s *Server) authenticate(raw string) (int, string) {
	if raw == "" {
		return http.StatusUnauthorized, "missing API key: set the " + HeaderAPIKey + " header"
	}
	k := flowmingo.NewAPIKey(raw)
	if k.Check() != nil || k.Reveal() != raw {
		return http.StatusUnauthorized, "malformed API key: expected " + flowmingo.KeyPrefix + "<prefix>.<secret>"
	}
	s.mu.Lock()
	state, ok := s.keys[raw]
	s.mu.Unlock()
	switch {
	case !ok:
		return http.StatusUnauthorized, "invalid API key"
	case state == KeyDeleted:
		return http.StatusUnauthorized, "API key has been deleted"
	case state == KeyInactive:
		return http.StatusForbidden, "API key is inactive"
	case state == KeyExpired:
		return http.StatusForbidden, "API key has expired"
	case state == KeyMissingScope:
		return http.StatusForbidden, "API key lacks the scope invite_candidates"
	}
	return 0, ""
}

// SetKeyState sets the state of key, adding the key when the sandbox does not know
// it yet (to model a key created at the vendor). The error never shows the key
// other than masked.
func (s *Server) SetKeyState(key string, state KeyState) error {
	k := flowmingo.NewAPIKey(key)
	if err := k.Check(); err != nil || k.Reveal() != key {
		return fmt.Errorf("sandbox: key %s is not of the form %s<prefix>.<secret>", k.Masked(), flowmingo.KeyPrefix)
	}
	if !state.Valid() {
		return fmt.Errorf("sandbox: unknown key state %q (want one of %v)", state, keyStates)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = state
	return nil
}
