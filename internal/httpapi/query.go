package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// BatchList is the answer to GET /v1/batches: batches newest first, and the
// cursor of the next page when there is one.
type BatchList struct {
	Batches    []store.Status `json:"batches"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// DeadLetterList is the answer to GET /v1/deadletters.
type DeadLetterList struct {
	DeadLetters []*store.DeadLetter `json:"dead_letters"`
	NextCursor  string              `json:"next_cursor,omitempty"`
}

// Page sizes of the lists.
const (
	DefaultBatchPage      = 50
	MaxBatchPage          = 200
	DefaultDeadLetterPage = 100
	MaxDeadLetterPage     = 1000
)

// getBatch is GET /v1/batches/{id}: the `status --json` shape.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	b, err := s.visibleBatch(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeStatus(w, r, http.StatusOK, b)
}

// writeStatus answers the batch's status, with the auth stop of the
// configured key when there is one.
func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, code int, b *store.Batch) {
	st := b.Status()
	if s.cfg.KeyID != "" {
		var err error
		if st.AuthStop, err = s.store.AuthStopped(r.Context(), s.cfg.KeyID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, code, st)
}

// visibleBatch reads the batch a route's path names, or says why not: a 400
// for an id that is not one, a 404 for one the caller may not see (unknown, of
// another owner, or expired for a token without admin: its owner is gone with
// its record), a 410 for an admin of one expired.
func (s *Server) visibleBatch(r *http.Request, id string) (*store.Batch, error) {
	if err := producer.ValidateBatchID(id); err != nil {
		return nil, invalid(Detail{Field: "id", Message: err.Error()})
	}
	b, err := s.store.Batch(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrBatchNotFound), err == nil && !owns(caller(r), b.Owner):
		return nil, noBatch(id)
	case errors.Is(err, store.ErrBatchExpired) && !caller(r).Has(auth.Admin):
		return nil, noBatch(id)
	case errors.Is(err, store.ErrBatchExpired):
		return nil, errorf(http.StatusGone, CodeBatchExpired, err.Error())
	}
	return b, err
}

// listBatches is GET /v1/batches?limit=&cursor=: recent batches, newest first.
// Batches whose record expired are left out, and for a token without admin
// those of other owners (a page may then come back short: go on while
// next_cursor is set).
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageParams(q, DefaultBatchPage, MaxBatchPage, "limit", "cursor")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	var next string
	if who := caller(r); who.Has(auth.Admin) {
		ids, next, err = s.store.BatchPage(r.Context(), q.Get("cursor"), limit)
	} else {
		ids, next, err = s.store.OwnedBatchPage(r.Context(), who.Name, q.Get("cursor"), limit)
	}
	if err != nil {
		s.fail(w, r, cursorError(err))
		return
	}
	out := BatchList{Batches: make([]store.Status, 0, len(ids)), NextCursor: next}
	for _, id := range ids {
		b, err := s.store.Batch(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrBatchExpired), errors.Is(err, store.ErrBatchNotFound):
			continue
		case err != nil:
			s.fail(w, r, err)
			return
		}
		out.Batches = append(out.Batches, b.Status())
	}
	writeJSON(w, http.StatusOK, out)
}

// listDeadLetters is GET /v1/deadletters?batch_id=&reason=&limit=&cursor=.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageParams(q, DefaultDeadLetterPage, MaxDeadLetterPage, "limit", "cursor", "batch_id", "reason")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := filter(q.Get("batch_id"), q.Get("reason"))
	if err == nil && f.BatchID != "" {
		err = s.checkOwner(r, f.BatchID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, next, err := s.store.DeadLetterPage(r.Context(), ownerFilter(r, f), q.Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, cursorError(err))
		return
	}
	if page == nil {
		page = []*store.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, DeadLetterList{DeadLetters: page, NextCursor: next})
}

// Purged is the answer to DELETE /v1/deadletters.
type Purged struct {
	Purged int `json:"purged"`
}

// purgeDeadLetters is DELETE /v1/deadletters?batch_id=|all=true&reason=&confirm=true.
// Without confirm=true it deletes nothing and says how many it would.
func (s *Server) purgeDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := pageParams(q, 0, 0, "batch_id", "reason", "all", "confirm"); err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := allParam(q.Get("all"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := filter(q.Get("batch_id"), q.Get("reason"))
	if err == nil {
		err = s.bulkScope(r, f.BatchID, all, "all=true")
	}
	if err == nil && f.BatchID != "" {
		err = s.checkOwner(r, f.BatchID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	if err := s.store.DeadLetters(r.Context(), ownerFilter(r, f), func(d *store.DeadLetter) error { ids = append(ids, d.ID); return nil }); err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Get("confirm") != "true" {
		msg := fmt.Sprintf("would purge %d dead letters; add confirm=true to delete them", len(ids))
		s.fail(w, r, errorf(http.StatusBadRequest, CodeConfirmationRequired, msg, Detail{Field: "confirm", Message: "must be true"}))
		return
	}
	n, err := s.store.PurgeDeadLetters(r.Context(), ids, caller(r).Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Purged{Purged: n})
}

// allParam reads the query parameter all: "true" or "false" (absent is false).
func allParam(v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, invalid(Detail{Field: "all", Message: fmt.Sprintf("must be true or false, got %q", v)})
}

// bulkScope checks which batches a purge or replay acts on: the one batchID
// names, or every batch when all is asked for (allForm says how: all=true or
// "all": true); never both, never neither, so that nothing left empty by
// mistake acts on every batch. It is the one place a request is let act on every
// batch, and only with the admin scope (read from r's identity): 403 otherwise.
func (s *Server) bulkScope(r *http.Request, batchID string, all bool, allForm string) error {
	switch {
	case all && batchID != "":
		return invalid(Detail{Field: "all", Message: "give batch_id or " + allForm + ", not both"})
	case !all && batchID == "":
		return invalid(Detail{Field: "batch_id", Message: "give batch_id to act on one batch, or " + allForm + " to act on every batch"})
	case all:
		if id, _ := auth.FromContext(r.Context()); !id.Has(auth.Admin) {
			return errorf(http.StatusForbidden, CodeForbidden, "acting on every batch ("+allForm+") needs a token with the admin scope")
		}
	}
	return nil
}

// ReplayRequest is the body of POST /v1/deadletters/replay: which dead letters
// (one batch's, or every batch's with All; Reason narrows either) and,
// optionally, a corrected target to send them to. A filter field given empty
// is refused, never read as "any".
type ReplayRequest struct {
	BatchID string `json:"batch_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
	All     bool   `json:"all,omitempty"`
	payload.Target
}

// Replayed is the answer to POST /v1/deadletters/replay (deadletter.Result).
type Replayed struct {
	Batches    []string `json:"batches"`
	Replayed   int      `json:"replayed"`
	Resumed    []string `json:"resumed"`
	InProgress []string `json:"in_progress"`
}

// replayDeadLetters is POST /v1/deadletters/replay.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	if _, err := bodyKind(r.Header.Get("Content-Type"), kindJSON); err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := readReplay(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := filter(req.BatchID, req.Reason)
	if err == nil {
		err = s.bulkScope(r, f.BatchID, req.All, `"all": true`)
	}
	if err == nil && f.BatchID != "" {
		err = s.checkOwner(r, f.BatchID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !req.Target.IsZero() {
		if err := req.Target.Validate(); err != nil {
			s.fail(w, r, invalid(fieldDetails("com_interview_set_id", err)...))
			return
		}
	}
	// A replay moves entries under a lease: let it finish if the client leaves.
	who := caller(r)
	res, err := s.replay.Replay(context.WithoutCancel(r.Context()), deadletter.Options{Filter: ownerFilter(r, f), Target: req.Target, By: who.Name})
	if err == nil {
		// Runs of other callers that this one finished or left alone are theirs.
		res.Resumed, err = s.visible(r.Context(), who, res.Resumed)
	}
	if err == nil {
		res.InProgress, err = s.visible(r.Context(), who, res.InProgress)
	}
	if err != nil {
		if errors.Is(err, producer.ErrUsage) {
			err = invalid(Detail{Message: err.Error()})
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Replayed{Batches: orEmpty(res.Batches), Replayed: res.Replayed, Resumed: orEmpty(res.Resumed), InProgress: orEmpty(res.InProgress)})
}

// maxReplayBody bounds the body of POST /v1/deadletters/replay.
const maxReplayBody = 64 << 10

// replayBody is a replay request as sent: its filter fields, shadowing
// ReplayRequest's, are pointers to tell one given empty from one left out.
type replayBody struct {
	ReplayRequest
	BatchID *string `json:"batch_id"`
	Reason  *string `json:"reason"`
}

// request is the body as a ReplayRequest, or a 400 naming each filter field
// given empty.
func (b replayBody) request() (ReplayRequest, error) {
	req := b.ReplayRequest
	var details []Detail
	for _, f := range []struct {
		name string
		v    *string
		to   *string
	}{{"batch_id", b.BatchID, &req.BatchID}, {"reason", b.Reason, &req.Reason}} {
		switch {
		case f.v == nil:
		case *f.v == "":
			details = append(details, Detail{Field: f.name, Message: emptyValue})
		default:
			*f.to = *f.v
		}
	}
	if details != nil {
		return req, invalid(details...)
	}
	return req, nil
}

// readReplay decodes a replay request: one JSON object of known fields (an empty
// body is one with none) and nothing after it; a body over maxReplayBody is a 413.
func readReplay(w http.ResponseWriter, r *http.Request) (ReplayRequest, error) {
	var body replayBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReplayBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&body)
	switch {
	case err == io.EOF:
		return body.request()
	case err == nil:
		if _, err = dec.Token(); err == io.EOF {
			return body.request()
		}
		if err == nil {
			err = errors.New("more JSON after the object")
		}
		err = fmt.Errorf("after the object: %w", err)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ReplayRequest{}, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxReplayBody))
	}
	return ReplayRequest{}, invalid(Detail{Field: "body", Message: "not a replay request: " + err.Error()})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// filter checks a dead-letter filter's fields.
func filter(batchID, reason string) (store.Filter, error) {
	f := store.Filter{BatchID: batchID, Reason: payload.Reason(reason)}
	var details []Detail
	if batchID != "" {
		if err := producer.ValidateBatchID(batchID); err != nil {
			details = append(details, Detail{Field: "batch_id", Message: err.Error()})
		}
	}
	if reason != "" && !f.Reason.Valid() {
		details = append(details, Detail{Field: "reason", Message: fmt.Sprintf("unknown reason %q (one of %v)", reason, payload.Reasons)})
	}
	if details != nil {
		return f, invalid(details...)
	}
	return f, nil
}

// maxCursor bounds a page cursor: the lists give out base64url of a place
// holding at most one batch id, under 300 characters.
const maxCursor = 512

// emptyValue is what a 400 says of a parameter or field given with no value.
const emptyValue = "given empty: give a value, or leave it out"

// pageParams allows only the named query parameters, each once and each with a
// value (an empty one means nothing, not "any" or "the default"), bounds the
// cursor's length (maxCursor), and reads limit (def when absent, 1..max).
func pageParams(q url.Values, def, max int, allowed ...string) (int, error) {
	for k, v := range q {
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		switch {
		case !known && len(allowed) == 0:
			return 0, invalid(Detail{Field: k, Message: "unknown query parameter; this route takes none"})
		case !known:
			return 0, invalid(Detail{Field: k, Message: "unknown query parameter; known: " + strings.Join(allowed, ", ")})
		case len(v) > 1:
			return 0, invalid(Detail{Field: k, Message: "given more than once"})
		case v[0] == "":
			return 0, invalid(Detail{Field: k, Message: emptyValue})
		}
	}
	if len(q.Get("cursor")) > maxCursor {
		return 0, invalid(Detail{Field: "cursor", Message: fmt.Sprintf("longer than %d characters: not a cursor this list gave out", maxCursor)})
	}
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, invalid(Detail{Field: "limit", Message: fmt.Sprintf("must be a whole number 1..%d, got %q", max, v)})
	}
	return n, nil
}

func cursorError(err error) error {
	if errors.Is(err, store.ErrBadCursor) {
		return invalid(Detail{Field: "cursor", Message: "not a cursor this list gave out"})
	}
	return err
}

// Health is the answer of /healthz.
type Health struct {
	Status string `json:"status"`
}

// healthz is GET /healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// Readiness is the answer of /readyz, which anyone may ask: whether the server
// is ready and, when not, only why in one word (Reason*); the details go to the
// log. Ready: 200 {"ready":true,"status":"ready"}; not: 503
// {"ready":false,"reason":"redis"}.
type Readiness struct {
	Ready bool `json:"ready"`
	// Status is "ready" when ready, as /readyz answered before Ready was added.
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Why /readyz says not ready (Readiness.Reason).
const (
	ReasonRedis       = "redis"        // Redis does not answer, or fails
	ReasonAuthStopped = "auth_stopped" // sending is stopped by a 401/403 of the vendor
)

// readyz is GET /readyz: Redis answers a PING within Config.ReadyTimeout, and
// sending is not stopped by a 401/403 for the configured key (any key's stop
// when none is configured).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	stops, err := s.authStops(ctx)
	switch {
	case err != nil:
		s.log.Warn("not ready: Redis", zap.String("request_id", requestInfo(r).id), zap.Error(err))
		writeJSON(w, http.StatusServiceUnavailable, Readiness{Reason: ReasonRedis})
	case len(stops) > 0:
		st := stops[0]
		s.log.Warn("not ready: sending is stopped; fix the key, then run `bulkinvite resume`", zap.String("request_id", requestInfo(r).id),
			zap.String("key", st.Key), zap.Int("http_status", st.Status), zap.String("message", st.Message), zap.Time("since", st.Since))
		writeJSON(w, http.StatusServiceUnavailable, Readiness{Reason: ReasonAuthStopped})
	default:
		writeJSON(w, http.StatusOK, Readiness{Ready: true, Status: "ready"})
	}
}

// authStops pings Redis, then returns the auth stop of the configured key, or
// every key's when none is configured.
func (s *Server) authStops(ctx context.Context) ([]store.AuthStop, error) {
	if err := s.store.Redis().Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("ping Redis: %w", err)
	}
	if s.cfg.KeyID == "" {
		return s.store.AuthStops(ctx)
	}
	stop, err := s.store.AuthStopped(ctx, s.cfg.KeyID)
	if err != nil || stop == nil {
		return nil, err
	}
	return []store.AuthStop{*stop}, nil
}
