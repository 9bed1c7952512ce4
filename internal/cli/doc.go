// Package cli is the bulkinvite command line: it parses flags and configuration,
// builds the pieces (Redis, store, producer, worker, client, limiter) and runs one
// command. It holds wiring and presentation only; the logic lives in the packages it
// wires. cmd/bulkinvite's main calls Run.
package cli
