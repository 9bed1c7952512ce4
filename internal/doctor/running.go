package doctor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/mod/semver"

	"github.com/bulkinvite/bulkinvite/internal/presence"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// running reports what runs on the deployment already: the workers asynq has
// seen, paused queues and auth stops.
func (r *run) running(ctx context.Context, d Deployment) {
	insp := asynq.NewInspectorFromRedisClient(d.Redis)
	r.workers(ctx, insp, d.Redis)
	r.queues(insp, d.Redis)
	stops, err := d.Store.AuthStops(ctx)
	switch {
	case err != nil:
		r.add(Check{Name: "auth stop", Status: Warn, Detail: "could not read the auth stops: " + err.Error(), Fix: "see the acl check"})
	case len(stops) > 0:
		var s []string
		for _, st := range stops {
			s = append(s, fmt.Sprintf("key %s since %s after HTTP %d", st.Key, st.Since.Format(time.RFC3339), st.Status))
		}
		r.add(Check{Name: "auth stop", Status: Warn, Detail: "sending is stopped: " + strings.Join(s, "; ") + "; the work stays queued",
			Fix: "fix the key (or its scopes) or rotate it, then run bulkinvite resume"})
	default:
		r.add(Check{Name: "auth stop", Status: OK, Detail: "none: sending is not stopped"})
	}
}

// workers lists the worker processes asynq has seen (their heartbeats), each
// with the build version it published (package presence; asynq records
// none), and warns of one that does not take every queue, of workers running
// different versions and of one older than this doctor's build.
func (r *run) workers(ctx context.Context, insp *asynq.Inspector, rdb redis.UniversalClient) {
	servers, err := insp.Servers()
	if err != nil {
		r.add(Check{Name: "workers", Status: Warn, Detail: "could not list the workers: " + err.Error(), Fix: "see the acl check"})
		return
	}
	if len(servers) == 0 {
		r.add(Check{Name: "workers", Status: Warn, Detail: "no worker is running: what is enqueued waits",
			Fix: "start bulkinvite worker (docs/operations.md)"})
		return
	}
	procs := make([]presence.Proc, len(servers))
	for i, s := range servers {
		procs[i] = presence.Proc{Host: s.Host, PID: s.PID}
	}
	var problems, fixes []string
	published, err := presence.Lookup(ctx, rdb, r.cfg.Prefix, procs)
	if err != nil {
		problems, fixes = append(problems, err.Error()), append(fixes, "see the acl check")
	}
	var seen, partial, unsharded, older []string
	versions := map[string]int{}
	for i, s := range servers {
		name := fmt.Sprintf("%s pid %d", s.Host, s.PID)
		version := "unknown"
		if e, ok := published[procs[i]]; ok {
			version = e.Version
		}
		versions[version]++
		seen = append(seen, fmt.Sprintf("%s (%s, concurrency %d, since %s, version %s)", name, s.Status, s.Concurrency, s.Started.UTC().Format(time.RFC3339), version))
		if semver.IsValid(version) && semver.IsValid(r.cfg.Version) && semver.Compare(version, r.cfg.Version) < 0 {
			older = append(older, name+" runs "+version)
		}
		var missing []string
		sharded := true
		for _, q := range task.Queues {
			if _, ok := s.Queues[q]; !ok {
				missing = append(missing, q)
			}
			for _, sh := range shards(q, rdb)[1:] {
				if _, ok := s.Queues[sh]; !ok {
					sharded = false
				}
			}
		}
		switch {
		case len(missing) > 0:
			partial = append(partial, name+" does not take "+strings.Join(missing, ", "))
		case !sharded:
			unsharded = append(unsharded, name)
		}
	}
	slices.Sort(seen)
	if len(partial) > 0 {
		problems = append(problems, strings.Join(partial, "; ")+": it is no bulkinvite worker of this version, or another program shares the asynq keys")
		fixes = append(fixes, "give other asynq programs a Redis database of their own")
	}
	if len(unsharded) > 0 {
		problems = append(problems, "older than the sharded queues, taking only their first shards ("+strings.Join(task.Queues, ", ")+"): "+
			strings.Join(unsharded, "; ")+"; the chunk tasks on the other shards wait for upgraded workers")
		fixes = append(fixes, "upgrade the workers before the producers")
	}
	if len(versions) > 1 {
		var mix []string
		for _, v := range slices.Sorted(maps.Keys(versions)) {
			mix = append(mix, fmt.Sprintf("%s (%d)", v, versions[v]))
		}
		problems = append(problems, "the workers run "+strconv.Itoa(len(versions))+" versions, "+strings.Join(mix, ", ")+": fine while a rolling upgrade is in progress")
		fixes = append(fixes, "finish the upgrade: restart the workers left on an old version")
	}
	if len(older) > 0 {
		problems = append(problems, strings.Join(older, "; ")+", older than this doctor's "+r.cfg.Version)
		fixes = append(fixes, "upgrade the workers, unless this doctor is the newer build on purpose")
	}
	detail := fmt.Sprintf("%d running: %s", len(servers), strings.Join(seen, "; "))
	if len(problems) > 0 {
		r.add(Check{Name: "workers", Status: Warn, Detail: strings.Join(problems, "; ") + "; " + detail, Fix: strings.Join(fixes, "; ")})
		return
	}
	r.add(Check{Name: "workers", Status: OK, Detail: detail})
}

// shards returns the asynq queues logical queue q is served as on rdb: its
// shards on a Redis Cluster, else q alone (task.Sharded).
func shards(q string, rdb redis.UniversalClient) []string {
	if task.Sharded(rdb) {
		return task.Shards(q)
	}
	return []string{q}
}

// queues warns of paused queues: their tasks wait until they are resumed.
func (r *run) queues(insp *asynq.Inspector, rdb redis.UniversalClient) {
	known, err := insp.Queues()
	if err != nil {
		r.add(Check{Name: "queues", Status: Warn, Detail: "could not list the queues: " + err.Error(), Fix: "see the acl check"})
		return
	}
	var paused []string
	for _, l := range task.Queues {
		var on []string // its paused shards
		tasks := 0
		for _, q := range shards(l, rdb) {
			if !slices.Contains(known, q) {
				continue // never used yet
			}
			info, err := insp.GetQueueInfo(q)
			switch {
			case err != nil:
				r.add(Check{Name: "queues", Status: Warn, Detail: "could not read queue " + q + ": " + err.Error(), Fix: "see the acl check"})
				return
			case info.Paused:
				on = append(on, q)
				tasks += info.Size
			}
		}
		switch {
		case len(on) > 0 && task.Sharded(rdb):
			paused = append(paused, fmt.Sprintf("%s (%d of its %d shards: %s; %d tasks)", l, len(on), task.ShardCount, strings.Join(on, " "), tasks))
		case len(on) > 0:
			paused = append(paused, fmt.Sprintf("%s (%d tasks)", l, tasks))
		}
	}
	if len(paused) > 0 {
		r.add(Check{Name: "queues", Status: Warn, Detail: "paused: " + strings.Join(paused, ", ") + "; their tasks wait",
			Fix: "after an auth stop, fix the key and run bulkinvite resume; a queue paused by hand: resume it with asynq's tools"})
		return
	}
	detail := "none paused (" + strings.Join(task.Queues, ", ")
	if task.Sharded(rdb) {
		detail += fmt.Sprintf("; %d shards each", task.ShardCount)
	}
	r.add(Check{Name: "queues", Status: OK, Detail: detail + ")"})
}
