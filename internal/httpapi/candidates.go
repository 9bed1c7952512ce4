package httpapi

import (
	"errors"
	"net/http"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// CandidateList is the answer to GET /v1/candidates: every candidate of a kept
// batch the caller may see that was the person asked for, newest batch first
// (`bulkinvite find --json`'s objects).
type CandidateList struct {
	Candidates []store.Found `json:"candidates"`
}

// findCandidates is GET /v1/candidates?email= or ?ats_candidate_id=: exactly
// one of the two.
func (s *Server) findCandidates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := pageParams(q, 0, 0, "email", "ats_candidate_id"); err != nil {
		s.fail(w, r, err)
		return
	}
	key := store.FindKey{Email: q.Get("email"), ATSCandidateID: q.Get("ats_candidate_id")}
	switch {
	case key.Email != "" && key.ATSCandidateID != "":
		s.fail(w, r, invalid(Detail{Field: "ats_candidate_id", Message: "give email or ats_candidate_id, not both"}))
		return
	case key.Email == "" && key.ATSCandidateID == "":
		s.fail(w, r, invalid(Detail{Field: "email", Message: "give email or ats_candidate_id"}))
		return
	}
	owner := ""
	if who := caller(r); !who.Has(auth.Admin) {
		owner = who.Name
	}
	found, err := s.store.Find(r.Context(), key, owner)
	if errors.Is(err, store.ErrBadFindKey) {
		err = invalid(Detail{Field: "ats_candidate_id", Message: "not a UUID"})
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if found == nil {
		found = []store.Found{}
	}
	writeJSON(w, http.StatusOK, CandidateList{Candidates: found})
}
