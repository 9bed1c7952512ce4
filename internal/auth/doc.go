// Package auth owns the bearer tokens of `serve` and the dashboard: a token's
// name, its scopes (submit, read, operate, admin) and the SHA-256 of its secret,
// which is all the server keeps. It reads them from the tokens file (YAML, or
// the older one secret a line) and from BULKINVITE_TOKENS (name:scope+scope:secret
// entries, or bare secrets), mints new ones (`bulkinvite token new`), finds the
// token of a presented secret in constant time, and carries the caller's
// Identity in a request's context.
//
// It does not decide which route needs which scope (httpapi and dashboard do),
// nor whose batches a token may see.
package auth
