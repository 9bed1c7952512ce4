package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// PauseError sends a task back to the queue for After without spending an attempt:
// a 429 cool-down or an auth stop.
type PauseError struct {
	After time.Duration
	Why   string
}

func (e *PauseError) Error() string { return fmt.Sprintf("paused for %s: %s", e.After, e.Why) }

// chunkRun is one handling of one chunk task.
type chunkRun struct {
	w       *Worker
	task    *task.Chunk
	taskID  string
	queue   string
	runID   store.RunID // holds the run's claims
	attempt int         // 1-based; waits do not count
	log     *zap.Logger
	// claims are the claims the run took, nil before it took any.
	claims *claimHold
	// again are the candidates an earlier attempt sent without recording what
	// came of it, sent again (at-least-once).
	again map[int64]bool
	// waiting counts candidates the run leaves for later: another run holds
	// them, or marked them as sent first. The task comes back for them.
	waiting int
	// blob is where a version 2 chunk's candidates came from, nil for a
	// version 1 chunk: recording the last of them deletes it.
	blob *store.ChunkBlob
	// cancelled is set when the batch was cancelled before the run started:
	// nothing is sent, and a candidate an earlier attempt sent without
	// recording the answer is dead-lettered as unknown_outcome.
	cancelled bool
	// waited is how long the rate limiter held the run's request.
	waited time.Duration
}

// HandleChunk sends one chunk and records its candidates' outcomes.
func (w *Worker) HandleChunk(ctx context.Context, t *asynq.Task) (err error) {
	ct, err := task.DecodeChunk(t.Payload())
	if err != nil {
		return w.undecodable(ctx, t, err)
	}
	ctx, span := w.startChunk(ctx, ct)
	defer func() { endChunk(span, err) }()
	r := &chunkRun{w: w, task: ct, runID: store.NewRunID()}
	r.taskID, _ = asynq.GetTaskID(ctx)
	r.queue, _ = asynq.GetQueueName(ctx)
	if ct.Ref == nil && len(ct.Candidates) > w.cfg.ChunkSize {
		return w.recut(ctx, ct, r.taskID, r.queue)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	r.attempt = retried + 1
	r.describeChunk(span)
	// Lazy: most chunks log nothing, and With would encode the fields for each.
	r.log = w.log.WithLazy(zap.String("batch_id", ct.BatchID), zap.String("task_id", r.taskID), zap.Int("attempt", r.attempt))
	err = r.run(ctx)
	if r.claims != nil {
		r.claims.end()
	}
	return err
}

func (r *chunkRun) run(ctx context.Context) error {
	w, t := r.w, r.task
	if err := r.authStopped(ctx); err != nil {
		return err
	}
	if err := r.held(); err != nil {
		return err
	}
	// The hold comes with the states: a paused batch's chunk waits before it
	// claims anything or takes a grant from the rate limiter.
	hold, states, err := r.look(ctx)
	if err != nil || t.Len() > w.cfg.ChunkSize {
		if errors.Is(err, store.ErrBatchExpired) {
			r.log.Warn("the chunk's batch expired before its candidates were sent; nothing sent", zap.Error(err))
			return nil
		}
		if errors.Is(err, store.ErrChunkLost) {
			r.log.Error("chunk task archived: its candidates are gone from redis", zap.Error(err))
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		if err == nil { // a version 2 chunk cut larger than this worker sends
			return w.recut(ctx, t, r.taskID, r.queue)
		}
		return err
	}
	if hold == store.HoldPaused {
		return r.paused()
	}
	r.cancelled = hold == store.HoldCancelled
	cands, unsure, err := r.claim(ctx, states)
	if err != nil {
		return err
	}
	if len(unsure) > 0 {
		// At-most-once: an earlier attempt sent these and stopped before it recorded
		// what came of it. The vendor may have acted; they are not sent again.
		if err := r.deadLetterAll(ctx, unsure, payload.ReasonUnknownOutcome, errUnrecordedSend, 0, time.Time{}); err != nil {
			return err
		}
	}
	err = r.send(ctx, cands)
	if err == nil && r.waiting > 0 {
		// Come back for the candidates another run was sending.
		return &PauseError{After: w.cfg.PausePoll, Why: fmt.Sprintf("%d candidates are being sent to the same target by another run", r.waiting)}
	}
	return err
}

// errUnrecordedSend is the cause of an unknown_outcome dead letter for a candidate
// an earlier attempt sent without recording its outcome: it stopped (a crash, a
// shutdown, Redis out of reach) before the vendor's answer was written, and the
// vendor may have acted, so under OnUnknownDeadLetter it is not sent again.
var errUnrecordedSend = errors.New("sent by an earlier attempt that stopped before the answer was recorded")

// claim checks the task's undecided candidates against the target's ledger and
// claims them, so that no other chunk sends them at the same time. It records what
// the ledger already settles: a success of another candidate for the same person
// (skipped_duplicate, unless the job reinvites), or this very candidate's success,
// recorded in the ledger by an attempt that stopped before recording it in the
// batch. It returns the candidates to send; apart from them, under at-most-once,
// those an earlier attempt sent without recording what came of it (under
// at-least-once those are sent again, and logged). Candidates another run holds
// are counted in r.waiting.
func (r *chunkRun) claim(ctx context.Context, states []store.CandidateState) (send, unsure []task.Candidate, err error) {
	undecided := make([]bool, len(r.task.Candidates))
	sent := map[int64]bool{}
	for i, c := range r.task.Candidates {
		switch states[i] {
		case store.Sending:
			sent[c.Seq] = true
			undecided[i] = true
		case store.Open:
			undecided[i] = true
		}
	}
	check := subset(r.task.Candidates, undecided)
	if len(check) == 0 {
		return nil, nil, nil
	}
	at := time.Now()
	claims, err := r.w.store.ClaimForSending(ctx, r.task.BatchID, r.task.Job.Target, check, r.runID, r.w.cfg.ClaimTTL, r.task.Job.Reinvite)
	if err != nil {
		return nil, nil, err
	}
	var settled []store.Record
	skipped := 0
	toSend := make([]bool, len(check))
	for i, c := range check {
		switch claims[i] {
		case store.Claimed:
			switch {
			case !sent[c.Seq]:
				toSend[i] = true
			case r.w.cfg.OnUnknown == OnUnknownDeadLetter || r.cancelled:
				unsure = append(unsure, c)
			default:
				toSend[i] = true
				if r.again == nil {
					r.again = map[int64]bool{}
				}
				r.again[c.Seq] = true
			}
		case store.OtherCandidateDone:
			settled = append(settled, store.Record{Seq: c.Seq, Outcome: payload.OutcomeSkippedDuplicate})
			skipped++
		case store.DoneInvited:
			settled = append(settled, store.Record{Seq: c.Seq, Outcome: payload.OutcomeInvited, Candidate: c.Candidate})
		case store.DoneCVQueued:
			settled = append(settled, store.Record{Seq: c.Seq, Outcome: payload.OutcomeCVQueued, Candidate: c.Candidate})
		case store.ClaimedElsewhere:
			r.waiting++
		}
	}
	send = subset(check, toSend)
	if len(send)+len(unsure) > 0 {
		r.holdClaims(append(send[:len(send):len(send)], unsure...), at)
	}
	if len(settled) > 0 {
		if err := r.record(ctx, settled); err != nil {
			return nil, nil, err
		}
	}
	if skipped > 0 {
		r.log.Info("skipped candidates already invited to this target", zap.Int("count", skipped))
	}
	if n := len(settled) - skipped; n > 0 {
		r.log.Info("recorded outcomes an earlier attempt wrote to the ledger only", zap.Int("count", n))
	}
	if len(r.again) > 0 {
		r.log.Info("sending again candidates an earlier attempt sent without recording the outcome (at-least-once)", zap.Int("count", len(r.again)))
	}
	return send, unsure, nil
}

// send sends the candidates and records their outcomes. The candidates are marked
// as sent in Redis before the request goes, and whatever the vendor's answer
// shows is written before send returns (see persist).
func (r *chunkRun) send(ctx context.Context, cands []task.Candidate) error {
	w, t := r.w, r.task
	if len(cands) == 0 {
		return nil
	}

	release, err := r.acquire(ctx, len(cands))
	if err != nil {
		return err
	}
	// The wait may have been long: an auth stop set meanwhile holds this chunk too.
	if err := r.authStopped(ctx); err != nil {
		release()
		return err
	}
	if cands, err = r.mark(ctx, cands); err != nil || len(cands) == 0 {
		release()
		return err
	}
	req := t.Job.Target.Request(task.Candidates(cands), t.Job.InvitationMessage, t.Job.SendInvite)
	results, sendErr := r.invite(ctx, req)
	if sendErr == nil {
		err = r.recordResults(ctx, cands, results)
		release()
		w.limiter.Succeeded(ctx)
		return err
	}
	release()
	return r.handleSendError(ctx, cands, sendErr)
}

// acquire waits for the rate limiter to grant a request for n candidates, at most
// half the time left before the handler's deadline: the other half is the
// request's and the recording's (ChunkTimeout is at least twice the request
// timeout). A wait cut short hands the chunk back as a wait, before asynq's
// deadline would count it as a failed attempt: waiting is not an attempt.
func (r *chunkRun) acquire(ctx context.Context, n int) (func(), error) {
	w := r.w
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
		defer cancel()
	}
	waitFrom := w.now()
	release, err := w.limiter.Acquire(wctx, n)
	r.waited = w.now().Sub(waitFrom)
	w.obs.RateLimitWait(r.waited)
	switch {
	case err == nil:
		return release, nil
	case ctx.Err() == nil && wctx.Err() != nil:
		return nil, &PauseError{After: 0, Why: fmt.Sprintf("the rate limiter did not grant a request within %s, half the chunk's time", w.now().Sub(waitFrom).Round(time.Millisecond))}
	}
	return nil, fmt.Errorf("wait for rate limit: %w", err)
}

// mark marks the candidates as sent and returns those this run may send: those
// whose claims it still holds and that the mark found as the run left them
// (open, or sent earlier and sent again). The rest another run holds or marked
// first; the task comes back for them. A mark whose write failed is taken back
// from the open candidates, none of which was sent.
func (r *chunkRun) mark(ctx context.Context, cands []task.Candidate) ([]task.Candidate, error) {
	w := r.w
	held, err := r.claims.check(ctx, cands)
	if err != nil {
		return nil, err
	}
	r.waiting += len(cands) - len(held)
	isOpen := make([]bool, len(held))
	var again []int64
	for i, c := range held {
		if r.again[c.Seq] {
			again = append(again, c.Seq)
		} else {
			isOpen[i] = true
		}
	}
	open := subset(held, isOpen)
	marked, err := w.store.MarkSending(ctx, r.task.BatchID, seqs(open), again)
	switch {
	case errors.Is(err, store.ErrBatchExpired):
		// Nothing was marked: a task that outlived its batch sends nothing.
		r.log.Warn("the chunk's batch expired before its candidates were sent; nothing sent", zap.Int("candidates", len(held)), zap.Error(err))
		return nil, nil
	case errors.Is(err, store.ErrBatchPaused):
		// Nothing was marked: the chunk waits for the resume.
		return nil, r.paused()
	case errors.Is(err, store.ErrBatchCancelled):
		// Nothing was marked. The open candidates were cancelled; those an earlier
		// attempt sent are not sent again, and their outcome is unknown.
		return nil, r.cancelledBeforeSend(ctx, held)
	}
	if err != nil {
		// Redis may have made the marks (a reply lost, a WAIT that timed out):
		// nothing was sent, and a mark left would read as an unknown outcome.
		return nil, errors.Join(err, r.forget(ctx, open))
	}
	if len(marked) == len(held) {
		return held, nil
	}
	ok := make(map[int64]bool, len(marked))
	for _, q := range marked {
		ok[q] = true
	}
	out := held[:0:0]
	for _, c := range held {
		if ok[c.Seq] {
			out = append(out, c)
		}
	}
	r.waiting += len(held) - len(out)
	r.log.Info("candidates marked as sent by another run are left to it", zap.Int("count", len(held)-len(out)))
	return out, nil
}

// invite sends one request, telling the Observer and the Activity.
func (r *chunkRun) invite(ctx context.Context, req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	obs := r.w.obs
	ctx, span := r.startInvite(ctx, len(req.Candidates))
	obs.InFlight(1)
	results, err := r.w.sender.Invite(ctx, req)
	obs.InFlight(-1)
	status := http.StatusOK
	if err != nil {
		status = flowmingo.HTTPStatus(err)
	}
	endInvite(span, status)
	obs.APIRequest(status)
	r.w.activity.Request(r.task.BatchID, len(req.Candidates), status)
	return results, err
}

// subset returns the candidates of cands whose keep is set, in order: cands
// itself, not a copy, when every one is (a chunk's usual path).
func subset(cands []task.Candidate, keep []bool) []task.Candidate {
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	if n == len(cands) {
		return cands
	}
	out := make([]task.Candidate, 0, n)
	for i, c := range cands {
		if keep[i] {
			out = append(out, c)
		}
	}
	return out
}

func seqs(cands []task.Candidate) []int64 {
	out := make([]int64, len(cands))
	for i, c := range cands {
		out[i] = c.Seq
	}
	return out
}

// paused is the *PauseError of a chunk whose batch is paused: it comes back
// every PausePoll, or at once when ResumeBatch finds it waiting.
func (r *chunkRun) paused() error {
	return &PauseError{After: r.w.cfg.PausePoll, Why: "batch paused (bulkinvite batch resume " + r.task.BatchID + ")"}
}

// cancelledBeforeSend handles candidates the run was about to send when their
// batch was cancelled: the open ones the cancel decided; those an earlier
// attempt sent without recording the answer are dead-lettered as
// unknown_outcome, never sent again.
func (r *chunkRun) cancelledBeforeSend(ctx context.Context, held []task.Candidate) error {
	var sent []task.Candidate
	for _, c := range held {
		if r.again[c.Seq] {
			sent = append(sent, c)
		}
	}
	if len(sent) == 0 {
		return nil
	}
	return r.deadLetterAll(ctx, sent, payload.ReasonUnknownOutcome, errUnrecordedSend, 0, time.Time{})
}

// authStopped returns a *PauseError while sending is stopped for the key after a
// 401/403, the error of reading the stop, or nil.
func (r *chunkRun) authStopped(ctx context.Context) error {
	stop, err := r.w.authStop(ctx)
	if err != nil {
		return err
	}
	if stop == nil {
		return nil
	}
	return &PauseError{After: r.w.cfg.PausePoll, Why: fmt.Sprintf("sending stopped for key %s after HTTP %d: %s (run `bulkinvite resume` once fixed)", stop.Key, stop.Status, stop.Message)}
}

// record records outcomes and tells the Observer those that were new.
func (r *chunkRun) record(ctx context.Context, recs []store.Record) error {
	fresh, err := r.w.store.RecordChunk(ctx, r.task.BatchID, r.task.Job.Target, r.runID, recs, r.blob)
	if err != nil {
		return err
	}
	if r.claims != nil {
		r.claims.released(recs)
	}
	outcomes := map[payload.Outcome]int{}
	reasons := map[payload.Reason]int{}
	for _, rec := range fresh {
		outcomes[rec.Outcome]++
		if rec.DeadLetter != nil {
			reasons[rec.DeadLetter.Reason]++
		}
	}
	for o, n := range outcomes {
		r.w.obs.Outcomes(o, n)
	}
	for reason, n := range reasons {
		r.w.obs.DeadLettered(reason, n)
	}
	return nil
}

// recordAnswer records outcomes the vendor's answer decided, through persist.
func (r *chunkRun) recordAnswer(ctx context.Context, recs []store.Record) error {
	return r.w.persist(ctx, r.log, "record outcomes", func(ctx context.Context) error { return r.record(ctx, recs) })
}

// forget clears the sent marks of candidates the vendor did not act on (a 429, a
// 4xx, a connection refused), through persist, so that a later attempt does not
// take them for an unknown outcome.
func (r *chunkRun) forget(ctx context.Context, cands []task.Candidate) error {
	return r.w.persist(ctx, r.log, "clear sent marks", func(ctx context.Context) error {
		return r.w.store.ClearSending(ctx, r.task.BatchID, seqs(cands))
	})
}

func (r *chunkRun) recordResults(ctx context.Context, cands []task.Candidate, results []flowmingo.CandidateResult) error {
	if len(results) != len(cands) {
		// The client matches results to candidates; this cannot happen but by a bug.
		return r.deadLetterAll(ctx, cands, payload.ReasonUnknownOutcome,
			fmt.Errorf("client returned %d results for %d candidates", len(results), len(cands)), 200, time.Time{})
	}
	now := r.w.now().UTC()
	recs := make([]store.Record, len(cands))
	failed := 0
	for i, c := range cands {
		res := results[i]
		rec := store.Record{Seq: c.Seq, Candidate: c.Candidate}
		switch res.Kind {
		case flowmingo.Invited, flowmingo.CVQueued:
			rec.Outcome = payload.OutcomeInvited
			if res.Kind == flowmingo.CVQueued {
				rec.Outcome = payload.OutcomeCVQueued
			}
			rec.InvitationID, rec.SubmissionID = vendorIDs(res.Result)
		default:
			failed++
			rec.Outcome = payload.OutcomeDeadLettered
			dl := r.deadLetter(c, res.Reason, res.Errors, 200, now, now)
			dl.Detail = res.Detail
			rec.DeadLetter = dl
		}
		recs[i] = rec
	}
	if err := r.recordAnswer(ctx, recs); err != nil {
		return err
	}
	// Checked first: the fields would be built for every chunk, the level on or off.
	if ce := r.log.Check(zap.DebugLevel, "chunk sent"); ce != nil {
		ce.Write(zap.Int("candidates", len(cands)), zap.Int("dead_lettered", failed))
	}
	return nil
}

// vendorIDs are the ids of the invitation and the submission the vendor
// created for a candidate, where its result names them.
func vendorIDs(res *payload.Result) (invitation, submission string) {
	if res == nil {
		return "", ""
	}
	if res.Invitation != nil {
		invitation = res.Invitation.ID
	}
	if res.Submission != nil {
		submission = res.Submission.ID
	}
	return invitation, submission
}

func (r *chunkRun) handleSendError(ctx context.Context, cands []task.Candidate, err error) error {
	w := r.w
	var (
		rl    *flowmingo.RateLimitError
		auth  *flowmingo.AuthError
		nf    *flowmingo.NotFoundError
		inval *flowmingo.ValidationError
		big   *flowmingo.TooLargeError
		tr    *flowmingo.TransientError
	)
	switch {
	case ctx.Err() != nil:
		return r.interrupted(ctx, cands, err)
	case errors.As(err, &rl):
		if terr := w.limiter.Throttled(ctx, rl.RetryAfter); terr != nil {
			r.log.Warn("could not share the 429 cool-down", zap.Error(terr))
		}
		r.log.Info("rate limited by the API; every worker waits", zap.Duration("retry_after", rl.RetryAfter))
		if ferr := r.forget(ctx, cands); ferr != nil {
			return ferr
		}
		return &PauseError{After: rl.RetryAfter, Why: "rate limited (429)"}
	case errors.As(err, &auth):
		serr := w.store.StopAuth(ctx, w.key.ID(), w.key.Masked(), auth.StatusCode, auth.Message)
		if serr == nil {
			if err := w.store.RecordAuthStopped(ctx, r.task.BatchID, w.by, auth.StatusCode, auth.Message, w.key.Masked()); err != nil {
				r.log.Warn("could not write the auth stop in the batch's event log", zap.Error(err))
			}
		}
		w.forgetAuthClear()
		// The vendor refused the request: its candidates' marks go back even when
		// the stop could not be recorded, lest the next attempt take them for sent.
		if ferr := r.forget(ctx, cands); serr != nil || ferr != nil {
			return errors.Join(serr, ferr)
		}
		w.pauseQueues(ctx, r.log)
		r.log.Error("API key rejected: ALL SENDING STOPPED for this key; work stays queued. Fix the key (missing, malformed, deleted, inactive, expired, or lacking scope invite_candidates), then run `bulkinvite resume`",
			zap.Stringer("key", w.key), zap.Int("status", auth.StatusCode), zap.String("message", auth.Message))
		return &PauseError{After: w.cfg.PausePoll, Why: "API key rejected"}
	case errors.As(err, &nf):
		return r.deadLetterAll(ctx, cands, payload.ReasonTargetNotFound, err, 404, time.Time{})
	case errors.As(err, &inval):
		return r.isolateInvalid(ctx, cands, inval)
	case errors.As(err, &big):
		return r.isolateTooLarge(ctx, cands, big)
	case errors.As(err, &tr):
		// An answer the operator says proves nothing was done is no unknown outcome.
		ambiguous := tr.Ambiguous && !slices.Contains(w.cfg.RetrySafeStatuses, tr.StatusCode)
		if ambiguous && w.cfg.OnUnknown == OnUnknownDeadLetter {
			return r.deadLetterAll(ctx, cands, payload.ReasonUnknownOutcome, err, tr.StatusCode, time.Time{})
		}
		if !ambiguous {
			if ferr := r.forget(ctx, cands); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return r.retryOrGiveUp(ctx, cands, err, tr.StatusCode)
	default:
		return r.retryOrGiveUp(ctx, cands, err, 0)
	}
}

// interrupted handles a request cut short by the handler's context: a shutdown
// whose timeout ran out, or the task's lease lost. The chunk goes back to the
// queue; under at-most-once, candidates the vendor may have acted on are
// dead-lettered as unknown_outcome first, so that nobody sends them again.
func (r *chunkRun) interrupted(ctx context.Context, cands []task.Candidate, err error) error {
	switch {
	case flowmingo.Ambiguous(err) && r.w.cfg.OnUnknown == OnUnknownDeadLetter:
		if derr := r.deadLetterAll(ctx, cands, payload.ReasonUnknownOutcome, err, 0, time.Time{}); derr != nil {
			return derr
		}
		return nil
	case !flowmingo.Ambiguous(err):
		if ferr := r.forget(ctx, cands); ferr != nil {
			return errors.Join(fmt.Errorf("chunk interrupted: %w", ctx.Err()), ferr)
		}
	}
	return fmt.Errorf("chunk interrupted: %w", ctx.Err())
}

// retryOrGiveUp returns err for asynq to retry, unless this was the last attempt:
// then every open candidate is dead-lettered as retries_exhausted.
func (r *chunkRun) retryOrGiveUp(ctx context.Context, cands []task.Candidate, err error, status int) error {
	first, ferr := r.w.store.FirstFailure(ctx, r.task.BatchID, r.taskID)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	if r.attempt < r.w.cfg.MaxAttempts {
		r.log.Warn("chunk failed; will retry", zap.Int("max_attempts", r.w.cfg.MaxAttempts), zap.Error(err))
		return err
	}
	r.log.Warn("chunk failed on its last attempt; dead-lettering its candidates", zap.Int("candidates", len(cands)), zap.Error(err))
	return r.deadLetterAll(ctx, cands, payload.ReasonRetriesExhausted, err, status, first)
}

func (r *chunkRun) deadLetterAll(ctx context.Context, cands []task.Candidate, reason payload.Reason, cause error, status int, first time.Time) error {
	now := r.w.now().UTC()
	if first.IsZero() {
		first = now
	}
	msg, _ := json.Marshal(cause.Error())
	errs := map[string]json.RawMessage{payload.FieldErrorMessage: msg}
	recs := make([]store.Record, len(cands))
	for i, c := range cands {
		recs[i] = store.Record{Seq: c.Seq, Candidate: c.Candidate, Outcome: payload.OutcomeDeadLettered, DeadLetter: r.deadLetter(c, reason, errs, status, first, now)}
	}
	if err := r.recordAnswer(ctx, recs); err != nil {
		return err
	}
	r.log.Warn("candidates dead-lettered", zap.String("reason", string(reason)), zap.Int("count", len(cands)), zap.Error(cause))
	return nil
}

func (r *chunkRun) deadLetter(c task.Candidate, reason payload.Reason, errs map[string]json.RawMessage, status int, first, last time.Time) *store.DeadLetter {
	dl := &store.DeadLetter{
		ID:                store.DeadLetterID(r.task.BatchID, c.Seq),
		BatchID:           r.task.BatchID,
		Reason:            reason,
		Errors:            errs,
		Candidate:         c.Candidate,
		Target:            r.task.Job.Target,
		Attempts:          r.attempt,
		FirstFailedAt:     first,
		LastFailedAt:      last,
		LastHTTPStatus:    status,
		Seq:               c.Seq,
		Row:               c.Row,
		InvitationMessage: r.task.Job.InvitationMessage,
		SendInvite:        r.task.Job.SendInvite,
	}
	if h := c.History; h != nil {
		dl.Attempts += h.Attempts
		dl.ReplayedFrom = h.DeadLetterID
		if !h.FirstFailedAt.IsZero() && h.FirstFailedAt.Before(dl.FirstFailedAt) {
			dl.FirstFailedAt = h.FirstFailedAt
		}
	}
	if dl.Errors == nil {
		dl.Errors = map[string]json.RawMessage{}
	}
	return dl
}
