// Package presence tells which build each running worker process runs: every
// `bulkinvite worker` publishes its version (BuildVersion) in a small key of
// its own, refreshed while it runs, and doctor reads them (Lookup) beside
// asynq's list of servers, which records no program version.
//
// # Keys
//
// Beside the store's keys, under its prefix P (see the key list in package
// store's doc), one string per worker process:
//
//	P worker:<host>:<pid>   JSON {"version","started"}: the build the process
//	                        runs and when it started publishing
//
// named by the host and pid asynq records for the process's server
// (os.Hostname, os.Getpid), so that a reader joins the two without a scan.
// The key is written with SET ... EX: every Config.Every (10 s) its expiry is
// pushed Config.TTL (30 s) ahead; a worker stopping gracefully deletes it, a
// killed one's lapses within TTL. A worker of a build older than this package
// writes none. A failed write is logged and retried at the next refresh: a
// worker never waits or stops for it.
//
// It does not list the workers (asynq's servers do) or decide what a version
// mix means (doctor).
package presence
