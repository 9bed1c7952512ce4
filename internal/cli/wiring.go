package cli

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/bulkinvite/bulkinvite/internal/app"
	"github.com/bulkinvite/bulkinvite/internal/config"
)

// env is what a command run needs: the configuration, the logger, and the parts
// built from them (app). Run closes it when the command returns, whatever it
// returned.
type env struct {
	io IO

	cfg config.Config
	log *zap.Logger
	app *app.App
	// onRedisFatal, if set before Redis is opened, gets the Redis errors that
	// retrying cannot cure (redisconn.Config.OnFatal).
	onRedisFatal func(error)
}

// load reads the configuration for cmd and builds the logger.
func (e *env) load(cmd *cobra.Command) error {
	cfg, err := config.Load(config.Sources{Getenv: e.io.Getenv, Flags: cmd.Flags()})
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	e.cfg = cfg
	e.log = newLogger(cfg, e.io)
	useRedisLogger(e.log.Named("redis").Sugar())
	return nil
}

// open loads the configuration and connects to Redis: what most commands do
// first.
func (e *env) open(cmd *cobra.Command) (context.Context, *app.App, error) {
	if err := e.load(cmd); err != nil {
		return nil, nil, err
	}
	a, err := e.connect(cmd.Context())
	return cmd.Context(), a, err
}

// openWithKey is open for the commands that act with the API key: it checks that
// a well-formed key is set before it connects. It is apart from open so that the
// commands that never use the key do not read it, nor offer --api-key-file.
func (e *env) openWithKey(cmd *cobra.Command) (context.Context, *app.App, error) {
	if err := e.load(cmd); err != nil {
		return nil, nil, err
	}
	if err := e.cfg.RequireAPIKey(); err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	a, err := e.connect(cmd.Context())
	return cmd.Context(), a, err
}

// connect builds the App over REDIS_URL, once the configuration is loaded.
func (e *env) connect(ctx context.Context) (*app.App, error) {
	a, err := app.Open(ctx, e.cfg, e.log, e.onRedisFatal)
	if err != nil {
		return nil, err
	}
	e.app = a
	return a, nil
}

func (e *env) close() {
	if e.app != nil {
		_ = e.app.Close()
	}
	useRedisLogger(nil)
	if e.log != nil {
		_ = e.log.Sync()
	}
}

// newLogger logs to stderr: console lines on a terminal, JSON otherwise.
func newLogger(cfg config.Config, stdio IO) *zap.Logger {
	level := zapcore.InfoLevel
	_ = level.Set(cfg.LogLevel)
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "auto" {
		f, ok := stdio.Err.(*os.File)
		console = ok && term.IsTerminal(int(f.Fd()))
	}
	var enc zapcore.Encoder
	if console {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	// Locked: handlers and go-redis's own goroutines log at once, and stdio.Err
	// need not be safe for concurrent writes.
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(stdio.Err)), level)
	return zap.New(core)
}

// go-redis logs its own messages (reconnects, dial failures) through one global
// logger; redisLogger forwards them to the running command's zap logger, so they
// are structured like every other line, with any URL in them redacted, and drops
// them between commands.
type redisLogger struct{}

var (
	redisLog     atomic.Pointer[zap.SugaredLogger]
	redisLogOnce sync.Once
)

func useRedisLogger(l *zap.SugaredLogger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{}) })
	redisLog.Store(l)
}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLog.Load(); l != nil {
		l.Warn(config.RedactURLs(fmt.Sprintf(format, v...)))
	}
}
