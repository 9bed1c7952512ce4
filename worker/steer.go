package worker

import (
	"context"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TaskRunner lists the tasks waiting to be retried and moves one back to its
// queue at once; *asynq.Inspector is one.
type TaskRunner interface {
	ListRetryTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	RunTask(queue, id string) error
}

// wakePage is how many waiting tasks wake reads at a time.
const wakePage = 1000

// Steering pauses, resumes and cancels batches, for the CLI and serve (by: who
// does it, for the batch's event log, as store.PauseBatch): the
// store's steps, the batch's waiting chunks moved back to their queues, and
// the candidates a cancel decided told to the Observer (serve's metrics: a
// cancel is counted in the process that makes it).
type Steering struct {
	Store *store.Store
	// Tasks moves waiting chunks back to their queues: an asynq.Inspector on
	// the store's Redis. Required.
	Tasks TaskRunner
	// Observer is told the candidates cancelled. Default NopObserver.
	Observer Observer
}

// PauseBatch pauses a batch (store.PauseBatch): its chunks wait, without a
// claim or a grant of the rate limiter, until the resume.
func (s *Steering) PauseBatch(ctx context.Context, id, by string) (*store.Batch, error) {
	return s.Store.PauseBatch(ctx, id, by)
}

// ResumeBatch lifts a batch's pause (store.ResumeBatch) and moves the batch's
// chunks that wait for it to end back to their queues, so that the batch sends
// again within moments rather than within Config.PausePoll. Moving them is a
// help, not a step of the resume: a chunk it misses (one that was running and
// went back to wait meanwhile, or Redis failing between) comes back within
// PausePoll.
func (s *Steering) ResumeBatch(ctx context.Context, id, by string) (*store.Batch, error) {
	b, err := s.Store.ResumeBatch(ctx, id, by)
	if err != nil {
		return nil, err
	}
	if b.Hold == store.HoldNone && !b.Done() {
		wake(s.Tasks, id)
	}
	return b, nil
}

// CancelBatch cancels a batch (store.CancelBatch) and moves its chunks that
// wait (on a pause, a retry) back to their queues, where they find their
// candidates decided and end: the batch is done as soon as the candidates in
// flight at the cancel are recorded. It returns how many candidates this call
// cancelled.
func (s *Steering) CancelBatch(ctx context.Context, id, by string) (*store.Batch, int64, error) {
	b, n, err := s.Store.CancelBatch(ctx, id, by)
	if err != nil {
		return nil, 0, err
	}
	if n > 0 && s.Observer != nil {
		s.Observer.Outcomes(payload.OutcomeCancelled, int(n))
	}
	if !b.Done() {
		wake(s.Tasks, id)
	}
	return b, n, nil
}

// wake moves the batch's chunk tasks waiting to be retried back to their
// queues, best effort (see ResumeBatch): it reads every queue's waiting tasks
// (of every shard) a page at a time and runs those whose payload names the
// batch.
func wake(tr TaskRunner, batchID string) {
	prefix := task.IDPrefix(batchID)
	for _, q := range task.AllShards() {
		var ids []string
		for page := 1; ; page++ {
			infos, err := tr.ListRetryTasks(q, asynq.PageSize(wakePage), asynq.Page(page))
			if err != nil {
				break
			}
			for _, ti := range infos {
				if !strings.HasPrefix(ti.ID, prefix) || ti.Type != task.TypeChunk {
					continue
				}
				if c, err := task.DecodeChunk(ti.Payload); err == nil && c.BatchID == batchID {
					ids = append(ids, ti.ID)
				}
			}
			if len(infos) < wakePage {
				break
			}
		}
		for _, id := range ids {
			_ = tr.RunTask(q, id) // gone meanwhile: it ran already
		}
	}
}
