package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// running reports what runs on the deployment already: the workers asynq has
// seen, paused queues and auth stops.
func (r *run) running(ctx context.Context, d Deployment) {
	insp := asynq.NewInspectorFromRedisClient(d.Redis)
	r.workers(insp)
	r.queues(insp)
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

// workers lists the worker processes asynq has seen (their heartbeats), and
// warns of one that does not take every queue. asynq records no version of
// the program a worker runs; a worker too old for a task's payload archives it
// with task.ErrVersion, which the worker logs.
func (r *run) workers(insp *asynq.Inspector) {
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
	var seen, partial []string
	for _, s := range servers {
		name := fmt.Sprintf("%s pid %d", s.Host, s.PID)
		seen = append(seen, fmt.Sprintf("%s (%s, concurrency %d, since %s)", name, s.Status, s.Concurrency, s.Started.UTC().Format(time.RFC3339)))
		var missing []string
		for _, q := range task.Queues {
			if _, ok := s.Queues[q]; !ok {
				missing = append(missing, q)
			}
		}
		if len(missing) > 0 {
			partial = append(partial, name+" does not take "+strings.Join(missing, ", "))
		}
	}
	slices.Sort(seen)
	if len(partial) > 0 {
		r.add(Check{Name: "workers", Status: Warn, Detail: strings.Join(partial, "; ") + ": it is no bulkinvite worker of this version, or another program shares the asynq keys",
			Fix: "give other asynq programs a Redis database of their own"})
		return
	}
	r.add(Check{Name: "workers", Status: OK, Detail: fmt.Sprintf("%d running: %s", len(servers), strings.Join(seen, "; "))})
}

// queues warns of paused queues: their tasks wait until they are resumed.
func (r *run) queues(insp *asynq.Inspector) {
	known, err := insp.Queues()
	if err != nil {
		r.add(Check{Name: "queues", Status: Warn, Detail: "could not list the queues: " + err.Error(), Fix: "see the acl check"})
		return
	}
	var paused []string
	for _, q := range task.Queues {
		if !slices.Contains(known, q) {
			continue // never used yet
		}
		info, err := insp.GetQueueInfo(q)
		switch {
		case err != nil:
			r.add(Check{Name: "queues", Status: Warn, Detail: "could not read queue " + q + ": " + err.Error(), Fix: "see the acl check"})
			return
		case info.Paused:
			paused = append(paused, fmt.Sprintf("%s (%d tasks)", q, info.Size))
		}
	}
	if len(paused) > 0 {
		r.add(Check{Name: "queues", Status: Warn, Detail: "paused: " + strings.Join(paused, ", ") + "; their tasks wait",
			Fix: "after an auth stop, fix the key and run bulkinvite resume; a queue paused by hand: resume it with asynq's tools"})
		return
	}
	r.add(Check{Name: "queues", Status: OK, Detail: "none paused (" + strings.Join(task.Queues, ", ") + ")"})
}
