package httpapi

import (
	"net/http"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/producer"
)

// RejectList is the answer to GET /v1/batches/{id}/rejects: a page of the
// batch's rejected rows by row, and the cursor of the next page when there is one.
type RejectList struct {
	Rejects    []Reject `json:"rejects"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Page sizes of a batch's rejects.
const (
	DefaultRejectPage = 100
	MaxRejectPage     = 1000
)

// RejectOf is a recorded reject as the API gives it: a candidate of a JSON
// array by its 0-based index, any other row (a line of a CSV body or file, of
// a JSONL file) by its line.
func RejectOf(r store.Reject) Reject {
	out := Reject{Field: r.Field, Reason: r.Reason}
	row := r.Row
	if r.Where == producer.WhereCandidate {
		row--
		out.Index = &row
	} else {
		out.Line = &row
	}
	return out
}

// listRejects is GET /v1/batches/{id}/rejects?limit=&cursor=: the rows its
// import rejected, for as long as the batch is kept.
func (s *Server) listRejects(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	limit, err := pageParams(q, DefaultRejectPage, MaxRejectPage, "limit", "cursor")
	if err == nil {
		_, err = s.visibleBatch(r, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, next, err := s.store.RejectPage(r.Context(), id, q.Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, cursorError(err))
		return
	}
	out := RejectList{Rejects: make([]Reject, 0, len(page)), NextCursor: next}
	for _, rj := range page {
		out.Rejects = append(out.Rejects, RejectOf(rj))
	}
	writeJSON(w, http.StatusOK, out)
}
