//go:build race

package producer_test

// raceEnabled shortens the long-running tests under the race detector, which makes
// them about ten times slower; the full-size runs happen without it.
const raceEnabled = true
