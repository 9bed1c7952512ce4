// Package ratelimit holds one request rate for every worker process, on every
// machine, that sends with the same Flowmingo API key: the rate is measured at
// the API, not per process. It owns the shared limiter (a GCRA in Redis), the
// local x/time/rate stage in front of it, the shared cool-down after a 429, the
// optional adaptive rate, the global cap on requests in flight, and what a
// process does while Redis is unreachable: grant nothing. Local is the
// per-process-only variant, for tests and as the measurement's baseline.
//
// It does not send requests, parse Retry-After, decide what a status code means,
// re-queue tasks or export metrics: the worker calls Acquire before a request,
// the release func after it, Throttled on a 429 (with the Retry-After it parsed)
// and Succeeded on a success. State is for the CLI and for metrics.
//
// # Algorithm
//
// Acquire goes through, in order:
//
//  1. The cool-down this process knows of (set by its own Throttled, or learned
//     from Redis), waited out locally.
//  2. The local stage: an x/time/rate limiter at the effective rate and burst.
//     A process alone can never use more than the whole rate, so it never asks
//     Redis faster than that. Then one goroutine per process at a time asks
//     Redis; the others queue behind it, so a process's waiting goroutines do not
//     poll Redis, and Redis sees at most one caller per process per grant.
//  3. The shared step, one Lua script run atomically in Redis (the model is
//     go-redis/redis_rate's GCRA): the shared cool-down, the GCRA on requests,
//     the candidates of the last minute and the in-flight leases are checked
//     together, and only when all allow does the script record the request. If
//     not, it says how long to wait, the asking goroutine waits that long (on a
//     timer, or until ctx ends) and asks again. The script reads the time from
//     Redis (TIME), so workers with skewed clocks still share one rate.
//
// GCRA: with emission interval T = 1/rate and a stored theoretical arrival
// time (TAT), a request at time now is allowed when max(TAT, now) + T - Burst*T
// <= now, and then TAT becomes max(TAT, now) + T. In any window of W seconds all
// workers together get at most Burst + rate*W grants.
//
// Candidates per minute: the candidates granted are counted per Redis second;
// a request goes when the 61 one-second buckets that any 60-second window ending
// now can touch, plus its own candidates, stay within the cap. So no 60-second
// window holds more than the cap.
//
// In flight: each grant takes a lease (a sorted-set member scored by its expiry,
// now + InFlightTTL). release removes it; a crashed worker's lease expires. With
// MaxInFlight leases alive the step waits. No event reports a release, so the
// step looks again after one emission interval (5-100ms) or when the oldest
// lease expires. A release is no round trip of its own: the process's next
// step (or 429) removes the leases released since, before it counts; with no
// step after it, one call removes them within 20ms (releaseDelay). So another
// process sees a release up to 20ms late, and a 429's learned rate (Adaptive)
// may count a few of another process's last requests as still in flight: a
// slightly lower rate, never a higher one.
//
// # 429s
//
// Throttled sets the shared cool-down to the Retry-After (capped by
// MaxCooldown) unless a longer one is in force, and moves the GCRA's TAT so that
// after the cool-down the first request goes alone and the rest follow at the
// steady rate: no burst into a vendor that just refused us. Every worker's next
// Acquire waits it out, whether or not it saw the 429. The worker re-queues the
// refused request without spending an attempt.
//
// Adaptive mode, for a vendor whose real limit is unknown, lowers the shared
// effective rate on a 429 and climbs back on successes. A decrease holds until a
// tenth of AdaptiveInterval after its cool-down: later 429s lower the rate again
// (the ones of requests already in flight arrive during the cool-down and count
// once). It learns the vendor's limit from the grants: every 429 starts a count
// of the requests granted from the end of its cool-down (when the vendor's token
// bucket is full again), and the next 429 says the bucket is empty. So the
// requests the vendor accepted, ok (those granted less those still in flight
// and the refused one), are its burst (taken to be ours, Burst) plus its limit
// times the span since, less under one token: the limit is in [lo, lo+1/span]
// with lo = (ok-Burst)/span. When the span is a tenth of AdaptiveInterval or
// more and ok > Burst:
//
//   - a 429 within three intervals of the end of the last decrease (the rate is
//     still well above the limit, as at start-up) lowers the rate to lo at once
//     when that is below AdaptiveDecrease^(2^streak) (the factor squared for
//     each such 429 in a row), but by at most half;
//   - a later one (the rate crossed the limit after a while under it) lowers it
//     to lo, by at least 1-(1-AdaptiveDecrease)/5 (2%) and at most
//     AdaptiveDecrease, so a rate just over the limit comes down just under it.
//
// Otherwise (nothing to learn from) the rate is multiplied by
// AdaptiveDecrease^(2^streak). Down to AdaptiveMin either way. The limit seen
// last is lo+1/span (at most the refused rate, at least the new one), or the
// refused rate. Succeeded adds a step back at most once per AdaptiveInterval
// for all workers, up to Rate: AdaptiveIncrease below 80% of the limit seen
// last, half the distance left (at least a twentieth of AdaptiveIncrease) from
// there up to it, a fiftieth of AdaptiveIncrease from it to 5% above it, and
// AdaptiveIncrease again beyond (the vendor's limit rose). The rate closes in on
// the limit quickly, spends its time just under it and crosses it gently and
// rarely; each 429 still costs every worker its cool-down (the Retry-After is
// the vendor's word).
//
// # Redis unreachable
//
// A grant is a request the shared step charged, and nothing else is. When a
// Redis call fails or takes longer than RedisTimeout, the process logs a warning
// once and grants nothing until a call succeeds: it keeps asking, one caller at
// a time as always, pausing between attempts (50ms, doubling up to a second);
// on success it logs so and grants again. A process that never reached Redis
// sends nothing. Callers wait in Acquire meanwhile, until their ctx ends. A
// cool-down this process knows of is still honoured; Throttled that cannot
// reach Redis still sets it and returns an error saying the others were not
// told; a release that cannot reach Redis leaves the lease to expire.
//
// So one process whose link is slow or broken cannot add to what the others
// get: the others keep the shared rate, all of it. A local share of the rate
// (as this package once fell back to) adds to it, because a process cannot tell
// its own broken link from an outage of everyone's: at rate 10, burst 1, one
// healthy process and one on a share of 1/4 got 62 grants in 5 s where 51 are
// allowed. Leasing tokens ahead (k grants charged in one step, spent locally
// later) does not help either: GCRA grants at most Burst at once, so the k
// tokens are due at k slot times, and a token spent d after its slot adds d*Rate
// to the bound of any window; a process knows the slots in its own clock only to
// within a round trip, the very thing a slow link makes long.
//
// What remains is the time a reply takes to come back: a grant is spent when
// its reply arrives, up to RedisTimeout after Redis charged it. A process asks
// one call at a time, so at most one of its grants is on its way at any moment:
// with P processes, a window of W seconds holds at most Burst + Rate*W + P
// requests, the P only from replies that crossed the window's start (on a
// healthy link a reply takes a fraction of a millisecond).
//
// RedisTimeout is a ctx deadline: go-redis honours it on the socket only with
// ContextTimeoutEnabled set on the client (New warns if not); otherwise a reply
// that is late is honoured up to the client's ReadTimeout.
//
// # Redis keys
//
// All under Config.Prefix (default "bulkinvite:") and named by the key id, a
// hash of the API key (flowmingo.APIKey.ID), never the key; the braces are a
// Redis Cluster hash tag so that one script touches one slot:
//
//	<prefix>ratelimit:{<keyID>}:gcra      string: the TAT, µs since the epoch; expires when idle
//	<prefix>ratelimit:{<keyID>}:cooldown  string "1" with the cool-down as its TTL
//	<prefix>ratelimit:{<keyID>}:inflight  zset: lease id -> expiry (ms)
//	<prefix>ratelimit:{<keyID>}:stats     hash: r:<unix second> requests, c:<unix second> candidates, w: last second written; 62 s kept
//	<prefix>ratelimit:{<keyID>}:adaptive  hash: rate, hold, next, max (the limit seen last), streak, since, n (grants since the last cool-down); adaptive mode only; expires after an idle hour
//	<prefix>ratelimit:{<keyID>}:procs     zset: process id (host/pid/random) -> last seen (ms)
//
// Every process sharing a key must use the same Rate, Burst and
// CandidatesPerMinute.
package ratelimit
