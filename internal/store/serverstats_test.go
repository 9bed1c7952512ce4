package store

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// serverStats are a server's counters that the tests and benchmarks compare
// before and after what they measure.
type serverStats struct {
	// scriptUS is the µs spent in scripts (INFO commandstats: EVAL and
	// EVALSHA, the commands they call included); scriptCalls their calls
	// without an error (a NOSCRIPT and the EVAL after it are one call).
	scriptUS    float64
	scriptCalls int64
	// cpuUS is the CPU the server spent (INFO cpu: used_cpu_user and
	// used_cpu_sys), in µs.
	cpuUS float64
	// reads is how often it read a client's socket (INFO stats:
	// total_reads_processed).
	reads int64
}

func readServerStats(tb testing.TB, rdb redis.UniversalClient) serverStats {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats", "cpu", "stats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var st serverStats
	for line := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch name {
		case "cmdstat_eval", "cmdstat_evalsha":
			for kv := range strings.SplitSeq(v, ",") {
				field, n, _ := strings.Cut(kv, "=")
				f, _ := strconv.ParseFloat(n, 64)
				switch field {
				case "usec":
					st.scriptUS += f
				case "calls":
					st.scriptCalls += int64(f)
				case "failed_calls":
					st.scriptCalls -= int64(f)
				}
			}
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			st.cpuUS += f * 1e6
		case "total_reads_processed":
			st.reads, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st
}
