// Package httpapi is bulkinvite's HTTP service for other services (`bulkinvite
// serve`): POST /v1/batches takes exactly the vendor's request body (plus
// batch_id and callback_url), or CSV, and imports it as a batch; GET
// /v1/batches and /v1/batches/{id} show batches with the `status --json` shape;
// /v1/deadletters lists, replays and purges dead letters; /healthz and /readyz
// are for orchestrators, and /metrics serves what Config.Metrics holds. Config.UI
// (the dashboard, package dashboard) answers the other paths outside the API's
// namespace (/v1, paths that look like another version or /api, and those below
// the routes outside /v1), GET / among them; it is not part of the API and not
// in docs/openapi.yaml.
//
// It owns the HTTP side only: bearer tokens (constant-time compare) and a
// request rate per token, request ids and one log line per request, the one JSON
// error shape ({"error":{"code","message","details"}}), body limits and
// spooling, Idempotency-Key handling, timeouts and graceful shutdown. Importing
// is producer's, batches and dead letters are store's, replays deadletter's;
// docs/openapi.yaml describes every route, and a test holds the two together.
//
// A request body is spooled (in memory up to Config.SpoolMemory, then to a
// temporary file) while its hash is taken, then read twice: once to learn its
// request-level fields wherever they stand and to check it whole, once to import
// it. So a body that cannot be accepted (malformed, over the size limit, a bad
// target) is refused before anything is written, an Idempotency-Key is checked
// against the whole body, and memory stays flat whatever the body's size.
// The bodies held at once, all requests together, are bounded by
// Config.SpoolLimit (503 server_busy past it), and each token's requests in
// flight by Config.TokenInFlight (429), so that one caller cannot take the
// disk or every connection.
package httpapi
