package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/idempotency"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Accepted is the answer to POST /v1/batches (202).
type Accepted struct {
	BatchID string `json:"batch_id"`
	// Existing is true when the batch id was known already (the same batch_id
	// again); the counts are then the batch's.
	Existing bool `json:"existing"`
	// Accepted, Rejected and Duplicates count the candidates accepted, rejected,
	// and accepted but the same person as another of the batch.
	Accepted   int64 `json:"accepted"`
	Rejected   int64 `json:"rejected"`
	Duplicates int64 `json:"duplicates"`
	// Rejects are the rejected candidates, at most producer.MaxRejectsKept of them
	// (RejectsTruncated says when there were more).
	Rejects          []Reject `json:"rejects"`
	RejectsTruncated bool     `json:"rejects_truncated"`
	// StatusURL is where the batch's status is.
	StatusURL string `json:"status_url"`
}

// Reject is a candidate that was not accepted: its 0-based index in the JSON
// candidates array, or its line in a CSV body; the field at fault ("" for the
// candidate as a whole) and why.
type Reject struct {
	Index  *int64 `json:"index,omitempty"`
	Line   *int64 `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// The request-level fields of a body, besides the vendor's; for text/csv they are
// query parameters, with the vendor's.
const (
	fieldBatchID     = "batch_id"
	fieldCallbackURL = "callback_url"
	fieldNotBefore   = producer.FieldNotBefore
	fieldSendWindow  = producer.FieldSendWindow
)

// requestFields are the request-level fields of a JSON body besides the vendor's.
var requestFields = []string{fieldBatchID, fieldCallbackURL, fieldNotBefore, fieldSendWindow}

var csvParams = append([]string{"com_interview_set_id", "com_project_id", "com_job_post_id", "invitation_message", "send_invite"}, requestFields...)

// batchRequest is a posted batch, checked and ready to import.
type batchRequest struct {
	kind        string
	body        *spool
	job         task.Job
	batchID     string
	callbackURL string
	// from is the client's address, for the batch's created event.
	from string
	// notBefore and sendWindow are the schedule's fields as given, checked into
	// job.Schedule by checkFields.
	notBefore, sendWindow string
	// records are the candidates of a JSON body small enough to have been kept in
	// memory, decoded once; nil for others, which are read again to import.
	records []producer.Record
}

// recordSource imports records already read.
type recordSource struct{ recs []producer.Record }

func (s *recordSource) Next() (producer.Record, error) {
	if len(s.recs) == 0 {
		return producer.Record{}, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// createBatch is POST /v1/batches.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	r, end := s.traceBatch(w, r)
	defer end()
	req, err := s.readBatch(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer req.body.Close()
	key := r.Header.Get("Idempotency-Key")
	owner := requestInfo(r).id
	if key != "" {
		done, err := s.reserve(w, r, key, owner, req)
		if err != nil || done {
			if err != nil {
				s.fail(w, r, err)
			}
			return
		}
	}
	// The import goes on if the client leaves: a batch is not left half enqueued.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.ImportTimeout)
	defer cancel()
	resp, err := s.importBatch(ctx, caller(r), req)
	if err != nil {
		if key != "" {
			_ = s.idem.Release(ctx, requestInfo(r).scope, key, owner)
		}
		s.fail(w, r, err)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if key != "" {
		if err := s.idem.Finish(ctx, requestInfo(r).scope, key, owner, b, s.cfg.IdempotencyTTL); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Location", resp.StatusURL)
	writeRaw(w, http.StatusAccepted, b)
}

// reserve checks the request's Idempotency-Key: a new key or one taken over
// lets the import go on (with the key's batch id); otherwise it has answered.
func (s *Server) reserve(w http.ResponseWriter, r *http.Request, key, owner string, req *batchRequest) (answered bool, err error) {
	if len(key) > 255 || strings.TrimSpace(key) == "" || strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		return false, invalid(Detail{Field: "Idempotency-Key", Message: "must be 1-255 printable ASCII characters"})
	}
	lease := s.cfg.ImportTimeout + s.cfg.ReadTimeout
	got, err := s.idem.Reserve(r.Context(), requestInfo(r).scope, key, req.body.hash, req.batchID, owner, lease, s.cfg.IdempotencyTTL)
	if err != nil {
		return false, err
	}
	switch got.State {
	case idempotency.StateNew, idempotency.StateTakeOver:
		req.batchID = got.BatchID
		return false, nil
	case idempotency.StateDone:
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Location", statusURL(got.BatchID))
		writeRaw(w, http.StatusAccepted, got.Response)
		return true, nil
	case idempotency.StateBusy:
		e := errorf(http.StatusConflict, CodeIdempotencyInUse, "a request with this Idempotency-Key is being imported (batch "+got.BatchID+"); retry later for its answer")
		e.retryAfter = 1
		return false, e
	}
	return false, errorf(http.StatusConflict, CodeIdempotencyConflict, "this Idempotency-Key was used with another request body (batch "+got.BatchID+"); use a new key for a new batch")
}

// readBatch checks the content type and the query, spools the body, and learns
// and checks its request-level fields: everything that can be refused is refused
// here, before anything is written.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request) (*batchRequest, error) {
	kind, err := bodyKind(r.Header.Get("Content-Type"), kindJSON, kindCSV)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if err := checkQuery(q, kind); err != nil {
		return nil, err
	}
	body, err := s.spoolBody(w, r, kind+"\n"+q.Encode())
	if err != nil {
		return nil, err
	}
	kept := false
	defer func() {
		if !kept { // refused, or a panic: the spool space comes back here
			body.Close()
		}
	}()
	req := &batchRequest{kind: kind, body: body, from: s.cfg.FailedAuth.ClientAddr(r)}
	var details []Detail
	read := true
	if kind == kindJSON {
		details, read = req.fromJSON()
	} else {
		details = req.fromCSV(q)
	}
	if read {
		details = append(details, s.checkFields(req)...)
	}
	if len(details) > 0 {
		return nil, invalid(details...)
	}
	if req.batchID == "" {
		req.batchID = uuid.Must(uuid.NewV7()).String()
	}
	kept = true
	return req, nil
}

// checkQuery allows a text/csv body the request-level fields as query
// parameters, each once, and a JSON body none.
func checkQuery(q url.Values, kind string) error {
	var details []Detail
	for k, v := range q {
		switch {
		case kind == kindJSON:
			details = append(details, Detail{Field: k, Message: "query parameters are for a text/csv body; put the field in the JSON body"})
		case !slices.Contains(csvParams, k):
			details = append(details, Detail{Field: k, Message: "unknown query parameter; known: " + strings.Join(csvParams, ", ")})
		case len(v) > 1:
			details = append(details, Detail{Field: k, Message: "given more than once"})
		}
	}
	if len(details) > 0 {
		slices.SortFunc(details, func(a, b Detail) int { return strings.Compare(a.Field, b.Field) })
		return invalid(details...)
	}
	return nil
}

// fromJSON reads the body's request-level fields and checks it whole. A body
// kept in memory is decoded whole now; a larger one only scanned. read is false
// when the body could not be read as a request object: its fields are then
// unknown, and not to be checked (a missing target would be a false detail).
func (req *batchRequest) fromJSON() (details []Detail, read bool) {
	var meta *producer.Request
	var err error
	if req.body.inMemory() {
		meta, req.records, err = producer.ReadRequest(req.body.reader(), requestFields...)
	} else {
		meta, err = producer.ScanRequest(req.body.reader(), requestFields...)
	}
	if err != nil {
		var ke *producer.KeyError
		if errors.As(err, &ke) {
			return []Detail{{Field: strings.ToLower(ke.Key), Message: err.Error()}}, false
		}
		return []Detail{{Field: "body", Message: err.Error()}}, false
	}
	if !meta.Object {
		return []Detail{{Field: "body", Message: "expected the invite API's request object ({\"com_interview_set_id\": ..., \"candidates\": [...]}), got an array"}}, false
	}
	req.job = task.Job{Target: meta.Target, InvitationMessage: meta.InvitationMessage, SendInvite: meta.SendInvite}
	req.batchID, req.callbackURL = meta.Extra[fieldBatchID], meta.Extra[fieldCallbackURL]
	req.notBefore, req.sendWindow = meta.Extra[fieldNotBefore], meta.Extra[fieldSendWindow]
	if meta.Candidates == 0 {
		return []Detail{{Field: "candidates", Message: "must contain at least 1 candidate"}}, true
	}
	return nil, true
}

// fromCSV reads the request-level fields from the query and checks the body whole.
func (req *batchRequest) fromCSV(q url.Values) []Detail {
	var details []Detail
	req.job.Target = payload.Target{InterviewSetID: strings.TrimSpace(q.Get("com_interview_set_id")),
		ProjectID: strings.TrimSpace(q.Get("com_project_id")), JobPostID: strings.TrimSpace(q.Get("com_job_post_id"))}
	req.job.InvitationMessage = q.Get("invitation_message")
	if v := q.Get("send_invite"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			details = append(details, Detail{Field: "send_invite", Message: fmt.Sprintf("must be true or false, got %q", v)})
		}
		req.job.SendInvite = &b
	}
	req.batchID, req.callbackURL = strings.TrimSpace(q.Get(fieldBatchID)), strings.TrimSpace(q.Get(fieldCallbackURL))
	req.notBefore, req.sendWindow = strings.TrimSpace(q.Get(fieldNotBefore)), strings.TrimSpace(q.Get(fieldSendWindow))
	src, err := producer.NewCSVSource(req.body.reader())
	if err != nil {
		return append(details, Detail{Field: "body", Message: err.Error()})
	}
	rows := 0
	for {
		_, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return append(details, Detail{Field: "body", Message: err.Error()})
		}
		rows++
	}
	if rows == 0 {
		details = append(details, Detail{Field: "body", Message: "no rows after the header"})
	}
	return details
}

// checkFields checks the target, message, batch id, callback URL and
// schedule.
func (s *Server) checkFields(req *batchRequest) []Detail {
	details := req.checkSchedule(time.Now())
	if err := req.job.Target.Validate(); err != nil {
		details = append(details, fieldDetails("com_interview_set_id", err)...)
	}
	if err := payload.ValidateMessage(req.job.InvitationMessage); err != nil {
		details = append(details, fieldDetails("invitation_message", err)...)
	}
	if req.batchID != "" {
		if err := producer.ValidateBatchID(req.batchID); err != nil {
			details = append(details, Detail{Field: fieldBatchID, Message: err.Error()})
		}
	}
	if req.callbackURL != "" {
		if err := callback.ValidateURL(req.callbackURL, s.cfg.CallbackAllowPrivate); err != nil {
			details = append(details, Detail{Field: fieldCallbackURL, Message: strings.TrimPrefix(err.Error(), "callback_url: ")})
		} else if !s.cfg.CallbackSigning {
			details = append(details, Detail{Field: fieldCallbackURL, Message: "this server has no BULKINVITE_CALLBACK_SECRET to sign callbacks with, so it takes no callback_url"})
		}
	}
	return details
}

// checkSchedule checks not_before (RFC 3339) and send_window and sets the
// job's schedule from them.
func (req *batchRequest) checkSchedule(now time.Time) []Detail {
	var at time.Time
	if req.notBefore != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, req.notBefore); err != nil {
			return []Detail{{Field: fieldNotBefore, Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-26T08:00:00+01:00", req.notBefore)}}
		}
	}
	sc, err := producer.NewSchedule(at, req.sendWindow, now)
	var se *producer.ScheduleError
	if errors.As(err, &se) {
		return []Detail{{Field: se.Field, Message: se.Err.Error()}}
	}
	req.job.Schedule = sc
	return nil
}

// callbackKey names the key that signs the callback of a batch the caller in
// ctx creates (callback.Key): a named token's own, so that its receiver cannot
// check or forge another token's callbacks; "", BULKINVITE_CALLBACK_SECRET
// itself, for a bare secret or the anonymous caller, as before tokens had
// names, and for a batch without a callback.
func callbackKey(ctx context.Context, callbackURL string) string {
	id, ok := auth.FromContext(ctx)
	if !ok || callbackURL == "" || id.Name == auth.AnonymousName || strings.HasPrefix(id.Name, auth.BarePrefix) {
		return ""
	}
	return id.Name
}

// importBatch imports a checked request and says what was accepted.
func (s *Server) importBatch(ctx context.Context, who auth.Identity, req *batchRequest) (*Accepted, error) {
	var src producer.Source
	switch {
	case req.records != nil:
		src = &recordSource{recs: req.records}
	case req.kind == kindJSON:
		src = producer.NewJSONSource(req.body.reader())
	default:
		csv, err := producer.NewCSVSource(req.body.reader())
		if err != nil {
			return nil, err
		}
		src = csv
	}
	res, err := s.prod.Import(ctx, src, producer.Options{
		BatchID: req.batchID, Job: req.job, Source: "http", CallbackURL: req.callbackURL,
		CallbackKey: callbackKey(ctx, req.callbackURL),
		Owner:       who.Name, AnyOwner: who.Has(auth.Admin), From: req.from,
		MemoryWait: importMemoryWait,
	})
	switch {
	case errors.Is(err, producer.ErrOwned):
		// Nothing of the other owner's batch is said: not its target, not its owner.
		return nil, errorf(http.StatusConflict, CodeBatchConflict, "batch_id "+req.batchID+" is taken; a new batch needs a new batch_id",
			Detail{Field: fieldBatchID, Message: "is taken; choose another"})
	case errors.Is(err, store.ErrBatchExpired):
		return nil, errorf(http.StatusGone, CodeBatchExpired, err.Error(), Detail{Field: fieldBatchID, Message: "named a batch that has expired; a new batch needs a new batch_id"})
	case errors.Is(err, producer.ErrOtherInput):
		return nil, errorf(http.StatusConflict, CodeBatchConflict, "batch_id "+req.batchID+" names a batch made from another body (other candidates, rows or order); a new batch needs a new batch_id",
			Detail{Field: fieldBatchID, Message: "already names a batch with other candidates"})
	case errors.Is(err, producer.ErrUsage):
		return nil, errorf(http.StatusConflict, CodeBatchConflict, strings.TrimPrefix(err.Error(), "usage: "), Detail{Field: fieldBatchID, Message: "already names a batch with another target, message or send_invite"})
	case err != nil:
		return nil, fmt.Errorf("import batch %s (incomplete: the same request again completes it): %w", req.batchID, err)
	}
	out := &Accepted{BatchID: res.BatchID, Existing: res.Existing, Accepted: res.Accepted, Rejected: res.Rejected,
		Duplicates: res.Duplicates, Rejects: make([]Reject, 0, len(res.Rejects)), RejectsTruncated: res.Rejected > int64(len(res.Rejects)),
		StatusURL: statusURL(res.BatchID)}
	if res.AlreadyComplete {
		b, err := s.store.Batch(ctx, res.BatchID)
		if err != nil {
			return nil, err
		}
		out.Accepted, out.Rejected, out.Duplicates, out.RejectsTruncated = b.Accepted, b.Rejected, b.SkippedDuplicate, false
	}
	for _, re := range res.Rejects {
		out.Rejects = append(out.Rejects, RejectOf(store.Reject{Row: re.Row, Where: re.Where, Field: re.Field, Reason: re.Msg}))
	}
	return out, nil
}

func statusURL(id string) string { return "/v1/batches/" + url.PathEscape(id) }
