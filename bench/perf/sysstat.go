package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100
// on every Linux this runs on.
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time process pid has used so far (utime+stime of
// /proc/PID/stat).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces, so
// the fields are counted from its closing parenthesis.
func parseProcStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, field := range f[11:13] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc stat: bad utime/stime %q", field)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// redisCounters are what the drain reads of redis-server before and after.
type redisCounters struct {
	CPU   time.Duration // used_cpu_user + used_cpu_sys
	Calls int64         // sum of calls= over INFO commandstats
}

// readRedisCounters reads INFO cpu and commandstats in one call.
func readRedisCounters(ctx context.Context, rdb *redis.Client) (redisCounters, error) {
	info, err := rdb.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return redisCounters{}, err
	}
	return parseRedisCounters(info)
}

// parseRedisCounters reads used_cpu_user, used_cpu_sys (seconds) and every
// cmdstat_<name>:calls=N,... line of an INFO reply.
func parseRedisCounters(info string) (redisCounters, error) {
	var c redisCounters
	var cpuFields int
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		switch {
		case !ok:
		case k == "used_cpu_user" || k == "used_cpu_sys":
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return c, fmt.Errorf("INFO cpu: %s: %q", k, v)
			}
			c.CPU += time.Duration(math.Round(secs * float64(time.Second)))
			cpuFields++
		case strings.HasPrefix(k, "cmdstat_"):
			calls, err := callsOf(v)
			if err != nil {
				return c, fmt.Errorf("INFO commandstats: %s: %w", k, err)
			}
			c.Calls += calls
		}
	}
	if cpuFields != 2 {
		return c, fmt.Errorf("INFO: used_cpu_user and used_cpu_sys missing")
	}
	return c, nil
}

// callsOf reads N of "calls=N,usec=...".
func callsOf(v string) (int64, error) {
	for _, f := range strings.Split(v, ",") {
		if n, ok := strings.CutPrefix(f, "calls="); ok {
			return strconv.ParseInt(n, 10, 64)
		}
	}
	return 0, fmt.Errorf("no calls= in %q", v)
}

// mallocsMetric is the Go collector's count of heap objects allocated.
const mallocsMetric = "go_memstats_mallocs_total"

// scrapeMallocs reads mallocsMetric from the Prometheus text at url; ok is
// false when the metric is not there (no Go collector registered).
func scrapeMallocs(ctx context.Context, hc *http.Client, url string) (n float64, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return metricValue(resp.Body, mallocsMetric)
}

// metricValue finds the sample of an unlabelled metric name in Prometheus'
// text format.
func metricValue(r io.Reader, name string) (float64, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: bad value %q", name, rest)
		}
		return v, true, nil
	}
	return 0, false, sc.Err()
}
