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

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Config tunes a Replayer. Zero fields take the documented defaults.
type Config struct {
	// LeaseTTL is how long a replay run's hold on a replay batch lasts without being
	// renewed (the run renews it every LeaseTTL/3 while it works). A run that died
	// leaves its batch to the next run after at most this long. Default 30s.
	LeaseTTL time.Duration
	// PageSize is about how many dead letters a replay reads and moves at a time,
	// and how many staged entries it reads at a time to enqueue them: a replay's
	// memory does not grow with the number it replays. Default 500.
	PageSize int
}

// Defaults of Config.
const (
	DefaultLeaseTTL = 30 * time.Second
	DefaultPageSize = 500
)

func (c Config) withDefaults() Config {
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	return c
}

// Replayer replays dead letters as new batches. Any number of replays may run at
// once, in any number of processes: each replay batch is filled and enqueued by the
// one run holding its lease (see store.ReplayLease), and an entry moves into exactly
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
	// By names the caller (a token's name, "cli"): it owns the replay batches
	// this replay creates, those of its own dead letters and those of a dead
	// run it finishes (store.Meta.Owner).
	By string
	// Actor names the caller in the batches' event logs (store.Event.By):
	// "cli@<host>" for the CLI. Default By.
	Actor string
}

// actor is who the event logs name: Actor, or By.
func (o Options) actor() string {
	if o.Actor != "" {
		return o.Actor
	}
	return o.By
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
// matching opts into new batches and enqueues them on the replay queue. It reads,
// moves and enqueues them a page at a time (Config.PageSize): its memory does
// not grow with their number.
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
	if res.Resumed, res.InProgress, err = r.resumeAbandoned(ctx, owner, opts); err != nil {
		return res, err
	}

	run := &replayRun{r: r, owner: owner, opts: opts, groups: map[string]*group{}}
	defer run.release()
	err = r.store.DeadLetterPages(ctx, opts.Filter, r.cfg.PageSize, func(page []*store.DeadLetter) error {
		return run.move(ctx, page)
	})
	if err != nil {
		return res, err
	}
	for _, k := range slices.Sorted(maps.Keys(run.groups)) {
		g := run.groups[k]
		if err := run.finish(g); err != nil {
			return res, err
		}
		if g.moved > 0 {
			res.Batches = append(res.Batches, g.id)
			res.Replayed += g.moved
		}
	}
	return res, nil
}

// replayRun is one Replay's new replay batches, one per job (target and
// message), each opened when its first dead letter is seen and held under its
// lease until it is enqueued.
type replayRun struct {
	r      *Replayer
	owner  string
	opts   Options // the target, the replay batches' owner (By) and Actor
	groups map[string]*group
}

// group is one replay batch of a run.
type group struct {
	id    string
	job   task.Job
	from  map[string]bool // the source batches
	moved int
	// lease is the run's hold on the batch, from the last OpenReplay (which
	// names every source so far).
	lease *store.ReplayLease
	// ctx is canceled with ErrReplayLeaseLost as its cause when the run loses
	// the batch's lease; release stops renewing it.
	ctx     context.Context
	release func()
}

func (g *group) info() store.ReplayInfo {
	return store.ReplayInfo{Job: g.job, ReplayOf: slices.Sorted(maps.Keys(g.from))}
}

// move moves a page of dead letters into their groups' replay batches, opening
// those not open yet.
func (run *replayRun) move(ctx context.Context, page []*store.DeadLetter) error {
	ids := map[*group][]string{}
	var order []*group
	seen := make(map[string]bool, len(page))
	for _, d := range page {
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		g, err := run.group(ctx, d)
		if err != nil {
			return err
		}
		if _, ok := ids[g]; !ok {
			order = append(order, g)
		}
		ids[g] = append(ids[g], d.ID)
	}
	for _, g := range order {
		n, err := g.lease.Move(g.ctx, ids[g])
		g.moved += n
		if err != nil {
			return leaseCause(g.ctx, err)
		}
	}
	return nil
}

// group returns the replay batch d goes to, opening it the first time. Before an
// entry of a new source batch is marked for it, the replay's open record names
// that source, so that a run taking the replay over after a crash finds the
// marks (store.ReplayLease.Finish).
func (run *replayRun) group(ctx context.Context, d *store.DeadLetter) (*group, error) {
	job := task.Job{Target: d.Target, InvitationMessage: d.InvitationMessage, SendInvite: d.SendInvite}
	if !run.opts.Target.IsZero() {
		job.Target = run.opts.Target
	}
	k, _ := json.Marshal(job)
	g := run.groups[string(k)]
	if g != nil && g.from[d.BatchID] {
		return g, nil
	}
	if g == nil {
		g = &group{id: uuid.Must(uuid.NewV7()).String(), job: job, from: map[string]bool{}}
	}
	g.from[d.BatchID] = true
	lease, err := run.r.store.OpenReplay(ctx, g.id, g.info(), run.owner, run.r.cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	g.lease = lease
	if g.ctx == nil {
		g.ctx, g.release = run.r.hold(ctx, lease)
		run.groups[string(k)] = g
	}
	return g, nil
}

// finish enqueues a group's replay batch and lets go of it; when another replay
// took all its entries first, no batch is left behind.
func (run *replayRun) finish(g *group) error {
	defer g.release()
	return leaseCause(g.ctx, run.r.finish(g.ctx, g.lease, run.opts, g.info()))
}

// release stops renewing every lease the run holds (again: a group's release may
// be called more than once).
func (run *replayRun) release() {
	for _, g := range run.groups {
		g.release()
	}
}

// resumeAbandoned finishes the open replay batches whose run died: those whose
// lease it can take. It returns them, and the ones a live run holds.
func (r *Replayer) resumeAbandoned(ctx context.Context, owner string, opts Options) (resumed, live []string, err error) {
	open, err := r.store.OpenReplays(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(open)) {
		lease, err := r.store.TakeReplay(ctx, id, open[id], owner, r.cfg.LeaseTTL)
		if errors.Is(err, store.ErrReplayLeaseLost) {
			live = append(live, id)
			continue
		}
		if err != nil {
			return resumed, live, err
		}
		hctx, release := r.hold(ctx, lease)
		err = leaseCause(hctx, r.finish(hctx, lease, opts, open[id]))
		release()
		if err != nil {
			return resumed, live, err
		}
		resumed = append(resumed, id)
	}
	return resumed, live, nil
}

// finish enqueues a replay batch from its staged entries and closes it
// (store.ReplayLease.Finish runs the steps in their order), then writes in the
// log of each source batch how many of its dead letters went in. A batch
// nothing is staged for is closed without a batch.
func (r *Replayer) finish(ctx context.Context, lease *store.ReplayLease, opts Options, info store.ReplayInfo) error {
	from := map[string]int{}
	err := lease.Finish(ctx, r.cfg.PageSize, func(staged *store.StagedPages) error {
		src := &stagedSource{ctx: ctx, staged: staged, from: from}
		if err := src.fill(); err != nil {
			return err
		}
		if len(src.page) == 0 {
			return nil
		}
		_, err := r.producer.Import(ctx, src, producer.Options{
			BatchID:  lease.ID(),
			Job:      info.Job,
			Source:   "replay",
			Queue:    task.QueueReplay,
			ReplayOf: info.ReplayOf,
			Owner:    opts.By,
			By:       opts.actor(),
			AnyOwner: true, // its id is new; a resumed one keeps its first owner
		})
		if err != nil {
			return fmt.Errorf("replay batch %s: %w", lease.ID(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.recordReplayed(ctx, lease.ID(), from, opts.actor())
}

// recordReplayed writes in the log of each source batch how many of its dead
// letters the replay batch took (none when its import had run before: see
// the store's doc, "A batch's event log").
func (r *Replayer) recordReplayed(ctx context.Context, replay string, from map[string]int, by string) error {
	var errs []error
	for _, src := range slices.Sorted(maps.Keys(from)) {
		errs = append(errs, r.store.RecordReplayed(ctx, src, replay, from[src], by))
	}
	return errors.Join(errs...)
}

// hold renews the lease on the replay batch every LeaseTTL/3 until release is
// called. The returned context is canceled with ErrReplayLeaseLost as its cause if
// the lease is lost: another run took the batch over, or Redis could not be reached
// to renew it before it ran out.
func (r *Replayer) hold(ctx context.Context, lease *store.ReplayLease) (context.Context, func()) {
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
			err := lease.Renew(hctx)
			switch {
			case err == nil:
				held = time.Now()
			case errors.Is(err, store.ErrReplayLeaseLost) || time.Since(held) >= r.cfg.LeaseTTL-every/2:
				cancel(fmt.Errorf("replay %s: %w", lease.ID(), store.ErrReplayLeaseLost))
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

// stagedSource feeds the dead letters staged for a replay batch to the
// producer, a page at a time, as records that carry their attempt history.
type stagedSource struct {
	ctx    context.Context
	staged *store.StagedPages
	// from counts the entries read by source batch.
	from map[string]int

	page []*store.DeadLetter
	row  int64
}

// fill reads the next page when the current one is used up and there is one.
func (s *stagedSource) fill() error {
	if len(s.page) > 0 {
		return nil
	}
	page, err := s.staged.Next(s.ctx)
	s.page = page
	return err
}

func (s *stagedSource) Next() (producer.Record, error) {
	if err := s.fill(); err != nil {
		return producer.Record{}, err
	}
	if len(s.page) == 0 {
		return producer.Record{}, io.EOF
	}
	d := s.page[0]
	s.page = s.page[1:]
	s.row++
	s.from[d.BatchID]++
	return producer.Record{
		Row:       s.row,
		Candidate: d.Candidate,
		History: &task.History{
			DeadLetterID: d.ID, BatchID: d.BatchID, Attempts: d.Attempts, FirstFailedAt: d.FirstFailedAt,
		},
	}, nil
}
