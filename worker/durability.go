package worker

import (
	"context"

	"go.uber.org/zap"
)

// checkAtMostOnce says once, at start, whether Redis keeps what at-most-once
// (OnUnknownDeadLetter) rests on: a candidate's sent mark is written before its
// request goes, and a mark that a Redis restart or failover loses leaves the
// candidate open, so that the next attempt sends it again. The mark is kept when
// each write is acknowledged by a replica (store WaitReplicas >= 1, WAIT) or
// fsynced before Redis answers (appendonly yes and appendfsync always on every
// master the worker writes to); anything less is a warning, and so are masters
// whose settings cannot be read. Under at-least-once it says nothing.
func (w *Worker) checkAtMostOnce(ctx context.Context) {
	if w.cfg.OnUnknown != OnUnknownDeadLetter {
		return
	}
	const needs = "; it needs BULKINVITE_REDIS_WAIT_REPLICAS >= 1 (with that many replicas per master) " +
		"or, on every master, appendonly yes with appendfsync always (docs/reliability.md)"
	if n := w.store.WaitReplicas(); n > 0 {
		w.log.Info("at-most-once (BULKINVITE_ON_UNKNOWN=deadletter): each sent mark is acknowledged by replicas before its request goes",
			zap.Int("wait_replicas", n))
		return
	}
	masters, err := w.store.Persistence(ctx)
	if err != nil {
		w.log.Warn("could not check whether Redis keeps at-most-once (BULKINVITE_ON_UNKNOWN=deadletter)"+needs, zap.Error(err))
		return
	}
	var lossy, unchecked []string
	for _, m := range masters {
		switch {
		case m.Err != nil:
			unchecked = append(unchecked, m.Addr+": "+m.Err.Error())
		case !m.AppendOnly:
			lossy = append(lossy, m.Addr+": appendonly no")
		case !m.FsyncsEachWrite():
			lossy = append(lossy, m.Addr+": appendfsync "+m.AppendFsync)
		}
	}
	var fields []zap.Field
	if len(lossy) > 0 {
		fields = append(fields, zap.Strings("masters", lossy))
	}
	if len(unchecked) > 0 {
		fields = append(fields, zap.Strings("unchecked", unchecked))
	}
	switch {
	case len(lossy) > 0:
		w.log.Warn("at-most-once (BULKINVITE_ON_UNKNOWN=deadletter) is NOT kept by this Redis: a restart or failover can lose "+
			"the last sent marks, and their candidates would be sent again"+needs, fields...)
	case len(unchecked) > 0:
		w.log.Warn("could not check whether Redis keeps at-most-once (BULKINVITE_ON_UNKNOWN=deadletter): CONFIG GET refused"+needs, fields...)
	default:
		w.log.Info("at-most-once (BULKINVITE_ON_UNKNOWN=deadletter): every master fsyncs each write before it answers (appendfsync always)",
			zap.Int("masters", len(masters)))
	}
}
