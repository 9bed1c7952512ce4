package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// messagesShown bounds the distinct messages a reason's group lists.
const messagesShown = 5

// message is one error field of a dead letter: the vendor's field name (or
// "detail", our own words) and its text.
type message struct {
	Field, Text string
}

// deadLetterView is a dead letter as the pages show it.
type deadLetterView struct {
	*store.DeadLetter
	Messages []message
}

// messageCount is a distinct message of a group and how many dead letters carry it.
type messageCount struct {
	Text  string
	Count int
}

// reasonGroup is the dead letters of one reason.
type reasonGroup struct {
	Reason   payload.Reason
	Count    int
	Messages []messageCount
	// MoreMessages counts the distinct messages not listed.
	MoreMessages int
	Entries      []deadLetterView
}

// deadLetterSummary is a batch's dead letters, grouped by reason.
type deadLetterSummary struct {
	BatchID string
	Reason  string
	Query   string
	Groups  []reasonGroup
	// Matched counts the dead letters matching the search of those read; Read
	// counts those read, Truncated says the reading stopped at Config.MaxScan.
	Matched, Read int
	Truncated     bool
	// Listed counts the entries listed, at most Config.MaxRows.
	Listed int
}

// messages returns a dead letter's error fields, the vendor's verbatim (a JSON
// string as its text, anything else as its JSON), in field order, and our detail.
func messages(dl *store.DeadLetter) []message {
	var out []message
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range dl.Errors {
			if !yield(k) {
				return
			}
		}
	}) {
		raw := dl.Errors[k]
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		out = append(out, message{Field: k, Text: s})
	}
	if dl.Detail != "" {
		out = append(out, message{Field: "detail", Text: dl.Detail})
	}
	return out
}

// matches reports whether a dead letter holds the search text q (lower case), in
// its candidate, its messages, its reason or its id.
func matches(v deadLetterView, q string) bool {
	if q == "" {
		return true
	}
	c := v.Candidate
	for _, s := range []string{v.ID, string(v.Reason), c.ATSCandidateID, c.Email, c.Name, c.Firstname, c.Lastname, c.CVLink} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	for _, m := range v.Messages {
		if strings.Contains(strings.ToLower(m.Text), q) {
			return true
		}
	}
	return false
}

// errStopScan ends a scan at its bound.
var errStopScan = errors.New("enough dead letters read")

// deadLetters reads a batch's dead letters (of one reason, when given) matching
// the search text q, at most scan of them, groups them by reason and keeps up to
// rows entries.
func (d *Dashboard) deadLetters(ctx context.Context, batchID, reason, q string, rows, scan int) (deadLetterSummary, error) {
	sum := deadLetterSummary{BatchID: batchID, Reason: reason, Query: q}
	q = strings.ToLower(strings.TrimSpace(q))
	groups := map[payload.Reason]*reasonGroup{}
	counts := map[payload.Reason]map[string]int{}
	err := d.store.DeadLetters(ctx, store.Filter{BatchID: batchID, Reason: payload.Reason(reason)}, func(dl *store.DeadLetter) error {
		if sum.Read >= scan {
			sum.Truncated = true
			return errStopScan
		}
		sum.Read++
		v := deadLetterView{DeadLetter: dl, Messages: messages(dl)}
		if !matches(v, q) {
			return nil
		}
		sum.Matched++
		g := groups[dl.Reason]
		if g == nil {
			g = &reasonGroup{Reason: dl.Reason}
			groups[dl.Reason] = g
			counts[dl.Reason] = map[string]int{}
		}
		g.Count++
		for _, m := range v.Messages {
			counts[dl.Reason][m.Field+": "+m.Text]++
		}
		if sum.Listed < rows {
			g.Entries = append(g.Entries, v)
			sum.Listed++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return sum, err
	}
	for _, r := range payload.Reasons {
		g := groups[r]
		if g == nil {
			continue
		}
		for text, n := range counts[r] {
			g.Messages = append(g.Messages, messageCount{Text: text, Count: n})
		}
		slices.SortFunc(g.Messages, func(a, b messageCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Text, b.Text)
		})
		if len(g.Messages) > messagesShown {
			g.MoreMessages = len(g.Messages) - messagesShown
			g.Messages = g.Messages[:messagesShown]
		}
		sum.Groups = append(sum.Groups, *g)
	}
	return sum, nil
}

// dlFilter reads and checks the reason and search text of a dead-letter page; it
// has answered when ok is false.
func (d *Dashboard) dlFilter(w http.ResponseWriter, r *http.Request, reason string) bool {
	if reason != "" && !payload.Reason(reason).Valid() {
		d.errorPage(w, r, http.StatusBadRequest, "Unknown reason: "+strconv.Quote(reason)+".")
		return false
	}
	return true
}

// deadLettersBody is what the dead-letter page shows.
type deadLettersBody struct {
	Batch   *batchView
	Gone    string
	Reasons []payload.Reason
	Dead    deadLetterSummary
}

// deadLettersPage is GET /batches/{id}/deadletters?reason=&q=: the batch's dead
// letters by reason, with the vendor's messages, searchable. A batch whose record
// expired still shows its dead letters.
func (d *Dashboard) deadLettersPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	q := r.URL.Query()
	reason, text := q.Get("reason"), q.Get("q")
	if !d.dlFilter(w, r, reason) {
		return
	}
	ctx := r.Context()
	b, status, msg, err := d.batch(ctx, id)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	body := deadLettersBody{Reasons: payload.Reasons, Gone: msg}
	if body.Dead, err = d.deadLetters(ctx, id, reason, text, d.cfg.MaxRows, d.cfg.MaxScan); err != nil {
		d.fail(w, r, err)
		return
	}
	if b == nil && body.Dead.Read == 0 {
		d.errorPage(w, r, status, msg)
		return
	}
	active := false
	if b != nil {
		v := d.view(b.Status())
		body.Batch, active = &v, v.Running
	}
	p, err := d.common(ctx, r, s, "Dead letters of "+id, active, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "deadletters.html", p)
}

// deadLettersCSV is GET /batches/{id}/deadletters.csv?reason=&q=: every matching
// dead letter, as `deadletter list --csv` writes them.
func (d *Dashboard) deadLettersCSV(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	reason, text := r.URL.Query().Get("reason"), strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if !d.dlFilter(w, r, reason) {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="deadletters-`+id+`.csv"`)
	f := store.Filter{BatchID: id, Reason: payload.Reason(reason)}
	err := deadletter.WriteCSV(w, func(fn func(*store.DeadLetter) error) error {
		return d.store.DeadLetters(r.Context(), f, func(dl *store.DeadLetter) error {
			if !matches(deadLetterView{DeadLetter: dl, Messages: messages(dl)}, text) {
				return nil
			}
			return fn(dl)
		})
	})
	if err != nil {
		// The answer has begun: the log says why it is cut short.
		d.log.Error("dashboard CSV export failed", zap.String("request_id", w.Header().Get("X-Request-Id")), zap.String("batch", id), zap.Error(err))
	}
}
