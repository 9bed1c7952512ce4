// Package dashboard is the dashboard for people that `bulkinvite serve` answers
// at GET /: the batches, newest first, with their progress, counts by outcome,
// rate and an estimated time to done; a batch's outcomes, rejects and dead
// letters grouped by reason with the vendor's own messages, searchable and
// exported as CSV (deadletter.WriteCSV, formula cells defused); replay (optionally
// to a corrected target) and purge, each behind a confirmation page; the shared
// rate limiter, and an auth stop shown on every page with a resume button.
//
// Pages are rendered on the server with html/template, which escapes everything
// from candidates and the vendor for where it stands; the stylesheet and script
// are embedded and served from /assets/. A page reads and works without
// JavaScript: the script only re-fetches the page and swaps in its live parts
// while a batch is running.
//
// # Security
//
// A person signs in with one of the API's bearer tokens (Config.Tokens). The
// browser then holds a session cookie (HttpOnly, SameSite=Strict, Secure over
// TLS) whose value is a random session id; Redis holds the session under a hash
// of that id (session.Session) with the token's id (httpapi.TokenID), never the
// token, and a CSRF secret. A session ends after Config.SessionTTL, at sign-out
// (deleted from Redis), or when its token is no longer configured. Every
// state-changing form (sign-in, sign-out, replay, purge, resume) carries a CSRF
// token, checked in constant time, and cross-origin POSTs are refused besides
// (net/http.CrossOriginProtection). Every answer forbids framing and inline
// script and style through its Content-Security-Policy. Failed sign-ins are
// limited per client address. Tokens and session ids are never logged.
//
// It owns the pages and the sign-in only: batches, dead letters and rejects are
// store's, sessions session's, replays deadletter's, resuming worker's (Deps.Resume),
// the limiter's state ratelimit's; httpapi mounts it beside the API (Config.UI).
package dashboard
