// Package benchproc runs the real processes of the measurement programs under
// bench/: it builds the bulkinvite binary, starts private redis-server and
// `bulkinvite sandbox` processes on free loopback ports, runs bulkinvite
// commands with a clean environment, and stops every child it started, on exit,
// on error and when the program is interrupted.
//
// It owns no measurement: what to run and what to make of it stays in each
// program. Tests use internal/redistest and internal/pipelinetest instead.
package benchproc
