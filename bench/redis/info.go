package main

import (
	"bufio"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseInfo reads the fields of an INFO reply ("name:value" lines); section
// headers ("# Memory") and blank lines are skipped.
func parseInfo(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// memory is what INFO memory says of the data held.
type memory struct {
	Used    int64 // used_memory
	Dataset int64 // used_memory_dataset
}

// parseMemory reads used_memory and used_memory_dataset from INFO memory.
func parseMemory(s string) (memory, error) {
	m := parseInfo(s)
	var mem memory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"used_memory", &mem.Used}, {"used_memory_dataset", &mem.Dataset}} {
		v, err := strconv.ParseInt(m[f.name], 10, 64)
		if err != nil {
			return mem, fmt.Errorf("INFO memory: %s: %q", f.name, m[f.name])
		}
		*f.v = v
	}
	return mem, nil
}

// calls counts the calls of each command, by the name INFO commandstats gives
// it ("evalsha", "config|resetstat").
type calls map[string]int64

// parseCommandStats reads INFO commandstats, lines such as
//
//	cmdstat_get:calls=1,usec=2,usec_per_call=2.00,rejected_calls=0,failed_calls=0
//
// Redis counts a command run by a script (redis.call) as a call of its own,
// besides the EVALSHA that ran the script.
func parseCommandStats(s string) (calls, error) {
	c := calls{}
	for k, v := range parseInfo(s) {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		found := false
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				x, err := strconv.ParseInt(n, 10, 64)
				if err != nil || x < 0 {
					return nil, fmt.Errorf("INFO commandstats: %s: bad calls in %q", k, v)
				}
				c[name], found = x, true
			}
		}
		if !found {
			return nil, fmt.Errorf("INFO commandstats: %s: no calls= in %q", k, v)
		}
	}
	return c, nil
}

// total is the sum of the calls of every command.
func (c calls) total() int64 {
	var t int64
	for _, n := range c {
		t += n
	}
	return t
}

// minus returns c less times × o, command by command; a count that would go
// below zero is an error (o was not part of c).
func (c calls) minus(o calls, times int64) (calls, error) {
	r := calls{}
	for k, v := range c {
		r[k] = v
	}
	for k, v := range o {
		r[k] -= times * v
		if r[k] < 0 {
			return nil, fmt.Errorf("%s: %d calls, fewer than the %d × %d subtracted", k, c[k], times, v)
		}
		if r[k] == 0 {
			delete(r, k)
		}
	}
	return r, nil
}

// scripts is the calls that run a Lua script or function: EVAL, EVALSHA, their
// read-only forms and FCALL.
func (c calls) scripts() int64 {
	return c["eval"] + c["evalsha"] + c["eval_ro"] + c["evalsha_ro"] + c["fcall"] + c["fcall_ro"]
}

// commandCount is one command and its calls.
type commandCount struct {
	Name  string
	Calls int64
}

// top returns the n commands with the most calls, most first (ties by name);
// none without calls.
func (c calls) top(n int) []commandCount {
	var list []commandCount
	for k, v := range c {
		if v > 0 {
			list = append(list, commandCount{k, v})
		}
	}
	slices.SortFunc(list, func(a, b commandCount) int {
		if a.Calls != b.Calls {
			return cmp.Compare(b.Calls, a.Calls)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return list[:min(n, len(list))]
}

// Key classes of the breakdown, for the layout before the store redesign (the
// default -baseline) and the new one (internal/store/doc.go) alike.
const (
	classAsynq      = "asynq"
	classLedger     = "ledger"
	classBatch      = "batch"
	classDeadLetter = "dead letters"
	classOther      = "other"
)

// classify names the class of key under prefix:
//
//	asynq         asynq:...
//	ledger        P{t:...} (ledger weeks, index, claims); old: P ledger:...
//	dead letters  P{b:id}:dl, :dlmv, P dljobs, P dlbatches; old: P dl:...
//	batch         every other P{b:id}... (its activity too); old: P batch:id...
//	other         the rest: P batches, the rate limiter, the auth stop, the
//	              deployment's activity, ...
func classify(prefix, key string) string {
	if strings.HasPrefix(key, "asynq:") {
		return classAsynq
	}
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return classOther
	}
	switch {
	case strings.HasPrefix(rest, "{t:"), strings.HasPrefix(rest, "ledger:"):
		return classLedger
	case strings.HasPrefix(rest, "dl:"), rest == "dljobs", rest == "dlbatches":
		return classDeadLetter
	case strings.HasPrefix(rest, "{b:"):
		if strings.HasSuffix(rest, ":dl") || strings.HasSuffix(rest, ":dlmv") {
			return classDeadLetter
		}
		return classBatch
	case strings.HasPrefix(rest, "batch:"):
		return classBatch
	}
	return classOther
}
