package dashboard

import (
	"net/http"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// candidatesBody is what the candidate search shows.
type candidatesBody struct {
	Query string
	// Problem says why the query names nobody ("" when it does, or is empty).
	Problem string
	Found   []foundView
}

// foundView is a candidate found, with its times as values for the templates.
type foundView struct {
	store.Found
	When, LedgerUntil time.Time
}

// candidatesPage is GET /candidates?q=: the batches that held the person an
// email or ATS id names (store.Find), the token's own only unless it is an
// admin's.
func (d *Dashboard) candidatesPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	body := candidatesBody{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	status := http.StatusOK
	if body.Query != "" {
		key, err := store.ParseFindKey(body.Query)
		if err != nil {
			status, body.Problem = http.StatusBadRequest, "Give an email address or an ATS candidate id (a UUID)."
		} else if body.Found, err = d.find(r, s, key); err != nil {
			d.fail(w, r, err)
			return
		}
	}
	p, err := d.common(ctx, r, s, "Find a candidate", false, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, status, "candidates.html", p)
}

// find runs store.Find for the session's token.
func (d *Dashboard) find(r *http.Request, s *session, key store.FindKey) ([]foundView, error) {
	owner := ""
	if !s.Who.Has(auth.Admin) {
		owner = s.Who.Name
	}
	found, err := d.store.Find(r.Context(), key, owner)
	if err != nil {
		return nil, err
	}
	out := make([]foundView, len(found))
	for i, f := range found {
		out[i].Found = f
		if f.At != nil {
			out[i].When = *f.At
		}
		if f.LedgerUntil != nil {
			out[i].LedgerUntil = *f.LedgerUntil
		}
	}
	return out, nil
}
