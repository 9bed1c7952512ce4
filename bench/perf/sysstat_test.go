package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a parenthesis; utime 250, stime 31.
	line := "4242 (bulk invite) w) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 31 0 0 20 0 9 0 123 0 0\n"
	got, err := parseProcStat(line)
	if err != nil || got != 2810*time.Millisecond {
		t.Errorf("parseProcStat = %v, %v; want 2.81s", got, err)
	}
	for _, bad := range []string{"4242 bulkinvite S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 31 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): want an error", bad)
		}
	}
}

func TestParseRedisCounters(t *testing.T) {
	t.Parallel()
	info := "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9.000000\r\n\r\n" +
		"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=99,usec_per_call=9.90,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_config|resetstat:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hget:calls=31,usec=10,usec_per_call=0.32,rejected_calls=0,failed_calls=0\r\n"
	c, err := parseRedisCounters(info)
	if err != nil {
		t.Fatal(err)
	}
	if c.CPU != 3750*time.Millisecond || c.Calls != 42 {
		t.Errorf("got CPU %v, calls %d; want 3.75s (children not counted), 42", c.CPU, c.Calls)
	}
	if _, err := parseRedisCounters("# Commandstats\r\ncmdstat_get:calls=1\r\n"); err == nil {
		t.Error("no CPU fields: want an error")
	}
	if _, err := parseRedisCounters("used_cpu_sys:1\r\nused_cpu_user:1\r\ncmdstat_get:usec=1\r\n"); err == nil {
		t.Error("a cmdstat without calls=: want an error")
	}
}

func TestMetricValue(t *testing.T) {
	t.Parallel()
	text := `# HELP go_memstats_mallocs_total Total number of heap objects allocated.
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total_other 7
go_memstats_mallocs_total 1.234567e+06
go_memstats_frees_total 1000
`
	v, ok, err := metricValue(strings.NewReader(text), mallocsMetric)
	if err != nil || !ok || v != 1234567 {
		t.Errorf("metricValue = %v, %v, %v; want 1234567, true", v, ok, err)
	}
	if _, ok, err := metricValue(strings.NewReader("bulkinvite_candidates_total 3\n"), mallocsMetric); ok || err != nil {
		t.Errorf("absent metric: ok %v, err %v; want false, nil", ok, err)
	}
}
