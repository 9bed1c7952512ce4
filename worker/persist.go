package worker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// Bounds of persist's retries.
const (
	persistTry     = 5 * time.Second       // one write
	persistBackoff = 50 * time.Millisecond // first wait between tries
	persistMaxWait = time.Second           // longest wait between tries
	persistLogGap  = 30 * time.Second      // between two warnings of the same write
)

// persist runs write until it succeeds. What the vendor's answer showed must be in
// Redis before the worker lets go of a chunk: a success that is not recorded would
// be sent again by the task's next attempt. So a write after a request is retried,
// while Redis is down or out of reach, for as long as the worker lives — past the
// handler's own context, which a shutdown or a lost task lease cancels; only the
// end of Serve stops it. If the process dies first, the candidates' sent marks
// remain and the next attempt treats them as of unknown outcome (OnUnknown).
//
// An error Redis answers that retrying cannot fix (a script error, a wrong type)
// is returned at once.
func (w *Worker) persist(ctx context.Context, log *zap.Logger, what string, write func(context.Context) error) error {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(w.life, cancel)()
	wait := persistBackoff
	var since, warned time.Time
	for tries := 1; ; tries++ {
		tctx, tcancel := context.WithTimeout(pctx, persistTry)
		err := write(tctx)
		tcancel()
		switch {
		case err == nil:
			if tries > 1 {
				log.Info("written after Redis came back", zap.String("what", what), zap.Int("tries", tries), zap.Duration("after", w.now().Sub(since)))
			}
			return nil
		case pctx.Err() != nil || redis.HasErrorPrefix(err, "ERR") || redis.HasErrorPrefix(err, "WRONGTYPE"):
			return err
		}
		now := w.now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(warned) >= persistLogGap {
			warned = now
			log.Warn("cannot write to Redis; retrying until it answers, so that nothing the vendor did is lost",
				zap.String("what", what), zap.Int("tries", tries), zap.Error(err))
		}
		if sleep.For(pctx, wait) != nil {
			return err
		}
		wait = min(2*wait, persistMaxWait)
	}
}
