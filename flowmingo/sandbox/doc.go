// Package sandbox is a local stand-in for Flowmingo's invite API, faithful to
// docs/vendor-api.md, with fault injection, in the spirit of net/http/httptest.
// Tests of the worker use it in-process (New gives an http.Handler for
// httptest.NewServer, Start serves it on a loopback port), `bulkinvite demo` runs
// it in-process, `bulkinvite sandbox` serves it with ListenAndServe, and
// measurement scripts read its counters over HTTP.
//
// It owns no client code (that is package flowmingo) and keeps everything in
// memory: a restart forgets every invite.
//
// # The invite endpoint
//
// POST payload.InvitePath answers, in this order:
//
//   - The body is read first (up to Config.MaxBodyBytes), then Faults.Latency
//     (+ jitter) is waited; a client that goes away meanwhile is not processed
//     (with Faults.ProcessAbandoned it is, as by a vendor that acted anyway, and
//     its answer reaches nobody), and a client still there when the server
//     stops sees its connection closed.
//   - 404 for any other path, 405 for another method (JSON bodies).
//   - 401 without X-API-Key, for a key not of the form fl_live_<prefix>.<secret>,
//     for a key the sandbox does not know and for a deleted key (the vendor
//     cannot tell a deleted key from one it never issued); 403 for an inactive or
//     expired key and for a key without the scope invite_candidates. No error
//     body ever shows the key, not even masked.
//   - 429 with Retry-After (whole seconds, at least 1) over Faults.Rate/Burst,
//     counted per API key.
//   - 500 or 503 (503 with Retry-After: 1) at Faults.FailRate, processing nothing.
//   - 415 unless Content-Type is application/json; 413 for a body over
//     Config.MaxBodyBytes (10 MiB by default).
//   - 400 when payload.DecodeInviteRequest fails (malformed JSON, wrong types).
//   - 422 when payload.ValidateRequest fails, or when a candidate's email domain
//     ends in ".invalid" (InvalidDomainSuffix): a rejection the vendor makes that
//     our import does not. The body is {"message": "...", "errors": [{"field":
//     "candidates[2].email", "message": "..."}]} with one entry per failure.
//   - 404 for an unknown com_interview_set_id or com_project_id, a
//     com_job_post_id not in the project (or without a project), or a project
//     without job posts when none is named. The sandbox always knows
//     DemoInterviewSetID (the vendor sample's) and DemoProjectID with
//     DemoJobPostID; Config.InterviewSets and Config.Projects add more.
//   - 200 {"results": [...]}, one result per candidate in request order, each
//     with email_address and cv_link as sent (null when absent). A candidate with
//     an email gets a submission {id, status_text "need_interview"} and, unless
//     send_invite is false, an invitation {id, email, status_text "pending"}. A
//     CV-only candidate (cv_link, no email) gets candidate_entry {id,
//     status_text "queued"}. Ids are UUIDv7.
//   - After processing, at Faults.LostReplyRate, the reply is lost: 504, or the
//     connection closed without an answer (Faults.LostReplyMode). The invites
//     stay recorded: the vendor acted, the client cannot know.
//   - Faults.ReplyLatency waits after processing, before the reply: a client that
//     gives up meanwhile never hears that the vendor acted.
//
// Every error body is {"message": "..."}.
//
// # Per-candidate triggers
//
// A candidate fails, deterministically, by its data; a failed candidate gets the
// error field(s) and no invitation, submission or candidate entry, and is not
// counted as invited. Tags are '+'-separated parts of the email's local part,
// matched whole and ignoring case (TriggeredErrors tells what a candidate gets):
//
//	alex+invitation_error@example.com   invitation_error_message   (TagInvitationError)
//	alex+application_error@example.com  application_error_message  (TagApplicationError)
//	alex+submission_error@example.com   submission_error_message   (TagSubmissionError)
//	alex+error@example.com              error_message              (TagError)
//	cv_link containing "fail-cv", no email  candidate_entry_error_message (FailCVMarker)
//	alex@example.invalid                whole request 422 naming candidates[i].email (InvalidDomainSuffix)
//
// # Keys
//
// With Config.Keys empty the sandbox knows DefaultKey (active), InactiveKey,
// ExpiredKey, DeletedKey and NoScopeKey (missing_scope). Server.SetKeyState
// changes a key's state, or adds a key, at runtime.
//
// # Control endpoints
//
// Paths under /__sandbox/ need no API key (it is a sandbox) and are not counted
// in the statistics:
//
//	GET  /__sandbox/stats      Stats
//	GET  /__sandbox/requests   every request: seq, at, status, candidates, masked key, fault
//	GET  /__sandbox/invites    every invite created
//	POST /__sandbox/reset      clear counters, requests and invites
//	GET  /__sandbox/faults     the faults now
//	POST /__sandbox/faults     replace the faults: {"fail_rate":0.1,"lost_reply_rate":0,
//	                           "lost_reply_mode":"","latency":"200ms","latency_jitter":"0s",
//	                           "reply_latency":"0s","process_abandoned":false,"rate":5,
//	                           "burst":1}; absent fields are zero
//	GET  /__sandbox/keys       the keys, masked, with their states
//	POST /__sandbox/keys       {"key":"fl_live_x.y","state":"inactive"}: SetKeyState
//
// Stats.DuplicateInvites counts successes for a target and email (ignoring case)
// that already had one: the figure that proves nobody was invited twice.
// Stats.InFlight counts the requests received and not answered yet, so that a
// fault script can wait for a request to be at the vendor without reading every
// record.
package sandbox
