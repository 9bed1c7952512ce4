package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/store"
)

// Replayer replays dead letters as new batches.
type Replayer struct {
	store    *store.Store
	producer *producer.Producer
}

// NewReplayer returns a Replayer.
func NewReplayer(st *store.Store, p *producer.Producer) *Replayer {
	return &Replayer{store: st, producer: p}
}

// Options select what to replay and where.
type Options struct {
	Filter store.Filter
	// Target, when set, sends the candidates there instead of their original target
	// (to fix a target_not_found, say).
	Target payload.Target
}

// Result is what a replay did.
type Result struct {
	// Batches are the new batch ids, one per distinct target and message.
	Batches []string `json:"batches"`
	// Replayed counts the dead letters moved into them.
	Replayed int `json:"replayed"`
	// Resumed lists replay batches left unfinished by an earlier crash and finished now.
	Resumed []string `json:"resumed,omitempty"`
}

// Replay first finishes any replay a crash interrupted, then moves the dead letters
// matching opts into new batches and enqueues them on the replay queue.
func (r *Replayer) Replay(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	if !opts.Target.IsZero() {
		if err := opts.Target.Validate(); err != nil {
			return nil, fmt.Errorf("%w: target: %v", producer.ErrUsage, err)
		}
	}
	res := &Result{}
	resumed, err := r.ResumeOpen(ctx)
	if err != nil {
		return res, err
	}
	res.Resumed = resumed

	groups := map[string]*group{}
	err = r.store.DeadLetters(ctx, opts.Filter, func(d *store.DeadLetter) error {
		job := payload.Job{Target: d.Target, InvitationMessage: d.InvitationMessage, SendInvite: d.SendInvite}
		if !opts.Target.IsZero() {
			job.Target = opts.Target
		}
		k, _ := json.Marshal(job)
		g := groups[string(k)]
		if g == nil {
			g = &group{job: job, from: map[string]bool{}}
			groups[string(k)] = g
		}
		g.ids = append(g.ids, d.ID)
		g.from[d.BatchID] = true
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		id := uuid.Must(uuid.NewV7()).String()
		info := store.ReplayInfo{Job: g.job, ReplayOf: g.sources()}
		if err := r.store.OpenReplay(ctx, id, info); err != nil {
			return res, err
		}
		n, err := r.store.MoveToReplay(ctx, id, g.ids)
		if err != nil {
			return res, err
		}
		if err := r.finish(ctx, id, info); err != nil {
			return res, err
		}
		res.Batches = append(res.Batches, id)
		res.Replayed += n
	}
	return res, nil
}

// ResumeOpen finishes replay batches whose dead letters were moved but which a crash
// stopped before they were fully enqueued. It returns their ids.
func (r *Replayer) ResumeOpen(ctx context.Context) ([]string, error) {
	open, err := r.store.OpenReplays(ctx)
	if err != nil {
		return nil, err
	}
	ids := slices.Sorted(maps.Keys(open))
	for _, id := range ids {
		if err := r.finish(ctx, id, open[id]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// finish enqueues a replay batch from its staged entries and closes it. Run twice,
// it enqueues nothing twice: the producer's re-run rules hold.
func (r *Replayer) finish(ctx context.Context, id string, info store.ReplayInfo) error {
	staged, err := r.store.Staged(ctx, id)
	if err != nil {
		return err
	}
	_, err = r.producer.Import(ctx, &stagedSource{entries: staged}, producer.Options{
		BatchID:  id,
		Job:      info.Job,
		Source:   "replay",
		Queue:    producer.QueueReplay,
		ReplayOf: info.ReplayOf,
	})
	if err != nil {
		return fmt.Errorf("replay batch %s: %w", id, err)
	}
	return r.store.CloseReplay(ctx, id)
}

type group struct {
	job  payload.Job
	ids  []string
	from map[string]bool
}

func (g *group) sources() []string {
	return slices.Sorted(maps.Keys(g.from))
}

// stagedSource feeds staged dead letters to the producer as records that carry their
// attempt history.
type stagedSource struct {
	entries []*store.DeadLetter
	i       int
}

func (s *stagedSource) Next() (producer.Record, error) {
	if s.i >= len(s.entries) {
		return producer.Record{}, io.EOF
	}
	d := s.entries[s.i]
	s.i++
	return producer.Record{
		Row:       int64(s.i),
		Candidate: d.Candidate,
		History: &payload.History{
			DeadLetterID: d.ID, BatchID: d.BatchID, Attempts: d.Attempts, FirstFailedAt: d.FirstFailedAt,
		},
	}, nil
}
