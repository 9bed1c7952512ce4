package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/bulkinvite/bulkinvite/flowmingo"
)

// AdminPrefix starts the paths of the control endpoints. They need no API key.
const AdminPrefix = "/__sandbox/"

// The control endpoints, relative to the sandbox's base URL.
const (
	PathStats    = AdminPrefix + "stats"    // GET: Stats
	PathRequests = AdminPrefix + "requests" // GET: []RequestRecord
	PathInvites  = AdminPrefix + "invites"  // GET: []Invite
	PathReset    = AdminPrefix + "reset"    // POST: Reset
	PathFaults   = AdminPrefix + "faults"   // GET: Faults; POST Faults: SetFaults
	PathKeys     = AdminPrefix + "keys"     // GET: masked keys and states; POST KeyConfig: SetKeyState
)

const maxAdminBody = 1 << 20

// keyStateBody is a key in GET/POST /__sandbox/keys answers: masked.
type keyStateBody struct {
	Key   string   `json:"key"`
	State KeyState `json:"state"`
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	type route struct {
		get  func() any
		post func(body []byte) (any, error)
	}
	routes := map[string]route{
		PathStats:    {get: func() any { return s.Stats() }},
		PathRequests: {get: func() any { return s.Requests() }},
		PathInvites:  {get: func() any { return s.Invites() }},
		PathReset: {post: func([]byte) (any, error) {
			s.Reset()
			return errorBody{Message: "reset"}, nil
		}},
		PathFaults: {
			get: func() any { return s.Faults() },
			post: func(b []byte) (any, error) {
				var f Faults
				if err := json.Unmarshal(b, &f); err != nil {
					return nil, fmt.Errorf("faults: want a JSON object of Faults: %w", err)
				}
				if err := s.SetFaults(f); err != nil {
					return nil, err
				}
				return s.Faults(), nil
			},
		},
		PathKeys: {
			get: func() any { return s.keyStates() },
			post: func(b []byte) (any, error) {
				var kc KeyConfig
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&kc); err != nil {
					return nil, fmt.Errorf("keys: want {\"key\": ..., \"state\": ...}: %w", err)
				}
				if err := s.SetKeyState(kc.Key, kc.State); err != nil {
					return nil, err
				}
				return keyStateBody{Key: flowmingo.NewAPIKey(kc.Key).Masked(), State: kc.State}, nil
			},
		},
	}
	rt, ok := routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Message: "no sandbox endpoint " + r.URL.Path})
		return
	}
	switch {
	case r.Method == http.MethodGet && rt.get != nil:
		writeJSON(w, http.StatusOK, rt.get())
	case r.Method == http.MethodPost && rt.post != nil:
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Message: "read body: " + err.Error()})
			return
		}
		v, err := rt.post(b)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Message: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	default:
		var allow []string
		if rt.get != nil {
			allow = append(allow, http.MethodGet)
		}
		if rt.post != nil {
			allow = append(allow, http.MethodPost)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Message: "method " + r.Method + " not allowed, use " + strings.Join(allow, " or ")})
	}
}

// keyStates lists the known keys, masked, sorted.
func (s *Server) keyStates() []keyStateBody {
	s.mu.Lock()
	out := make([]keyStateBody, 0, len(s.keys))
	for k, st := range s.keys {
		out = append(out, keyStateBody{Key: flowmingo.NewAPIKey(k).Masked(), State: st})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
