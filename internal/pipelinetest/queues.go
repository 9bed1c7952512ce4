package pipelinetest

import (
	"errors"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// QueueInfo is what asynq says of logical queue q (task.Queues) summed over
// its shards (task.Shards): the counts added up, Paused when every shard that
// exists is paused. Shards never used yet are left out; ErrQueueNotFound when
// none is used.
func QueueInfo(insp *asynq.Inspector, q string) (*asynq.QueueInfo, error) {
	known, err := insp.Queues()
	if err != nil {
		return nil, err
	}
	var sum *asynq.QueueInfo
	for _, s := range task.Shards(q) {
		if !slices.Contains(known, s) {
			continue
		}
		info, err := insp.GetQueueInfo(s)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = &asynq.QueueInfo{Queue: q, Paused: true}
		}
		sum.Size += info.Size
		sum.Pending += info.Pending
		sum.Active += info.Active
		sum.Scheduled += info.Scheduled
		sum.Retry += info.Retry
		sum.Archived += info.Archived
		sum.Completed += info.Completed
		sum.Aggregating += info.Aggregating
		sum.Processed += info.Processed
		sum.Failed += info.Failed
		sum.MemoryUsage += info.MemoryUsage
		sum.Paused = sum.Paused && info.Paused
	}
	if sum == nil {
		return nil, asynq.ErrQueueNotFound
	}
	return sum, nil
}

// Tasks lists the tasks of logical queue q's shards that list lists (an
// asynq.Inspector's ListPendingTasks, ListRetryTasks, ...): up to 1,000 of
// each shard. A shard never used yet has none.
func Tasks(list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error), q string) ([]*asynq.TaskInfo, error) {
	var out []*asynq.TaskInfo
	for _, s := range task.Shards(q) {
		infos, err := list(s, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
	}
	return out, nil
}

// PauseQueue pauses logical queue q, every shard of it, or with on false
// unpauses it.
func PauseQueue(insp *asynq.Inspector, q string, on bool) error {
	for _, s := range task.Shards(q) {
		pause := insp.UnpauseQueue
		if on {
			pause = insp.PauseQueue
		}
		if err := pause(s); err != nil {
			return err
		}
	}
	return nil
}
