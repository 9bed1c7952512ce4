package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/task"
)

// Config tunes a Replayer. Zero fields take the documented defaults.
type Config struct {
	// LeaseTTL is how long a replay run's hold on a replay batch lasts without being
	// renewed (the run renews it every LeaseTTL/3 while it works). A run that died
	// leaves its batch to the next run after at most this long. Default 30s.
	LeaseTTL time.Duration
}

// DefaultLeaseTTL is Config.LeaseTTL's default.
const DefaultLeaseTTL = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	return c
}

// Replayer replays dead letters as new batches. Any number of replays may run at
// once, in any number of processes: each replay batch is filled and enqueued by the
// one run holding its lease (see store.OpenReplay), and an entry moves into exactly
// one batch.
type Replayer struct {
	store    *store.Store
	producer *producer.Producer
	cfg      Config
}

// NewReplayer returns a Replayer.
func NewReplayer(st *store.Store, p *producer.Producer, cfg Config) *Replayer {
	return &Replayer{store: st, producer: p, cfg: cfg.withDefaults()}
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
	// Resumed lists replay batches left unfinished by a run that died, finished now.
	Resumed []string `json:"resumed,omitempty"`
	// InProgress lists replay batches another run is filling right now (or one that
	// died less than Config.LeaseTTL ago): left alone; a later replay finishes them if
	// their run died.
	InProgress []string `json:"in_progress,omitempty"`
}

// Replay first finishes any replay whose run died, then moves the dead letters
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
	owner := uuid.Must(uuid.NewV7()).String()
	res := &Result{}
	if _, err := r.store.UnmarkClosed(ctx); err != nil {
		return res, err
	}
	var err error
	if res.Resumed, res.InProgress, err = r.resumeAbandoned(ctx, owner); err != nil {
		return res, err
	}

	groups := map[string]*group{}
	err = r.store.DeadLetters(ctx, opts.Filter, func(d *store.DeadLetter) error {
		job := task.Job{Target: d.Target, InvitationMessage: d.InvitationMessage, SendInvite: d.SendInvite}
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
		n, err := r.replayGroup(ctx, id, owner, g)
		if err != nil {
			return res, err
		}
		if n > 0 {
			res.Batches = append(res.Batches, id)
			res.Replayed += n
		}
	}
	return res, nil
}

// replayGroup opens a replay batch for g, moves g's dead letters into it and
// enqueues it, holding its lease throughout. It returns how many entries it moved;
// when another replay took them all first, no batch is left behind.
func (r *Replayer) replayGroup(ctx context.Context, id, owner string, g *group) (int, error) {
	info := store.ReplayInfo{Job: g.job, ReplayOf: g.sources()}
	if err := r.store.OpenReplay(ctx, id, info, owner, r.cfg.LeaseTTL); err != nil {
		return 0, err
	}
	hctx, release := r.hold(ctx, id, owner)
	defer release()
	n, err := r.store.MoveToReplay(hctx, id, owner, g.ids)
	if err != nil {
		return n, leaseCause(hctx, err)
	}
	if n == 0 {
		return 0, leaseCause(hctx, r.store.CloseReplay(hctx, id, owner))
	}
	return n, leaseCause(hctx, r.finish(hctx, id, owner, info))
}

// resumeAbandoned finishes the open replay batches whose run died: those whose
// lease it can take. It returns them, and the ones a live run holds.
func (r *Replayer) resumeAbandoned(ctx context.Context, owner string) (resumed, live []string, err error) {
	open, err := r.store.OpenReplays(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(open)) {
		err := r.store.TakeReplay(ctx, id, owner, r.cfg.LeaseTTL)
		if errors.Is(err, store.ErrReplayLeaseLost) {
			live = append(live, id)
			continue
		}
		if err != nil {
			return resumed, live, err
		}
		hctx, release := r.hold(ctx, id, owner)
		err = leaseCause(hctx, r.finish(hctx, id, owner, open[id]))
		release()
		if err != nil {
			return resumed, live, err
		}
		resumed = append(resumed, id)
	}
	return resumed, live, nil
}

// finish enqueues a replay batch from its staged entries and closes it. The caller
// holds the batch's lease. Moves a dead run left half done are finished first;
// once the batch is enqueued (sealed) its entries are settled, and marks set for it
// since (by a run that had lost its lease) are taken back. Run twice on the same
// staged entries, it enqueues nothing twice: the producer's re-run rules hold.
// A replay batch whose record has expired was sealed: a replay batch's record
// expires only Config.Retention after it was done (store.CreateBatch).
func (r *Replayer) finish(ctx context.Context, id, owner string, info store.ReplayInfo) error {
	sealed, err := r.sealed(ctx, id)
	if err != nil {
		return err
	}
	if !sealed {
		if err := r.store.AdoptMoves(ctx, id, owner, info.ReplayOf); err != nil {
			return err
		}
		staged, err := r.store.Staged(ctx, id)
		if err != nil {
			return err
		}
		if len(staged) > 0 {
			_, err = r.producer.Import(ctx, &stagedSource{entries: staged}, producer.Options{
				BatchID:  id,
				Job:      info.Job,
				Source:   "replay",
				Queue:    task.QueueReplay,
				ReplayOf: info.ReplayOf,
			})
			if err != nil {
				return fmt.Errorf("replay batch %s: %w", id, err)
			}
		}
	}
	if err := r.store.Unmark(ctx, id, info.ReplayOf); err != nil {
		return err
	}
	return r.store.CloseReplay(ctx, id, owner)
}

// sealed reports whether the replay batch id was fully enqueued: sealed, or
// sealed, done and expired since.
func (r *Replayer) sealed(ctx context.Context, id string) (bool, error) {
	b, err := r.store.Batch(ctx, id)
	switch {
	case err == nil:
		return b.Sealed, nil
	case errors.Is(err, store.ErrBatchExpired):
		return true, nil
	case errors.Is(err, store.ErrBatchNotFound):
		return false, nil
	}
	return false, err
}

// hold renews owner's lease on the replay batch every LeaseTTL/3 until release is
// called. The returned context is canceled with ErrReplayLeaseLost as its cause if
// the lease is lost: another run took the batch over, or Redis could not be reached
// to renew it before it ran out.
func (r *Replayer) hold(ctx context.Context, id, owner string) (context.Context, func()) {
	hctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := r.cfg.LeaseTTL / 3
		t := time.NewTicker(every)
		defer t.Stop()
		held := time.Now()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			err := r.store.TakeReplay(hctx, id, owner, r.cfg.LeaseTTL)
			switch {
			case err == nil:
				held = time.Now()
			case errors.Is(err, store.ErrReplayLeaseLost) || time.Since(held) >= r.cfg.LeaseTTL-every/2:
				cancel(fmt.Errorf("replay %s: %w", id, store.ErrReplayLeaseLost))
				return
			}
		}
	}()
	return hctx, func() { cancel(nil); <-done }
}

// leaseCause reports a lost lease rather than the context error it caused.
func leaseCause(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, store.ErrReplayLeaseLost) {
			return cause
		}
	}
	return err
}

type group struct {
	job  task.Job
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
		History: &task.History{
			DeadLetterID: d.ID, BatchID: d.BatchID, Attempts: d.Attempts, FirstFailedAt: d.FirstFailedAt,
		},
	}, nil
}
