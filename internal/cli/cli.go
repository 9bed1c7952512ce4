package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Exit codes, as docs/cli.md's "Commands" states them (contract).
const (
	ExitOK           = 0
	ExitFailed       = 1
	ExitUsage        = 2
	ExitDeadLettered = 3 // enqueue --wait finished, but something was dead-lettered
)

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Getenv reads the environment; nil uses os.Getenv.
	Getenv func(string) string
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// Run runs the bulkinvite command line with args (without the program name) and
// returns the process's exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = os.Getenv
	}
	root, e := newRoot(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	e.close()
	if err == nil {
		return ExitOK
	}
	// Errors may quote a URL we did not build the message for (a library's error,
	// an argument echoed back): none of them shows a password.
	fmt.Fprintln(stdio.Err, "bulkinvite:", config.RedactURLs(redisconn.Explain(err).Error()))
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, producer.ErrUsage), isFlagError(err):
		return ExitUsage
	}
	return ExitFailed
}

type flagError struct{ error }

func isFlagError(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

func newRoot(stdio IO) (*cobra.Command, *env) {
	root := &cobra.Command{
		Use:   "bulkinvite",
		Short: "Invite thousands of candidates to Flowmingo video interviews, reliably, from a queue",
		Long: `bulkinvite imports candidate batches onto a Redis queue and runs workers that send
them to the Flowmingo invite API under one shared rate limit, retry what is transient,
and dead-letter every candidate that fails, ready to replay.

Each command takes the flags of the settings it reads (see its --help);
"bulkinvite help settings" lists every setting with its env name and default.

Start with:  bulkinvite demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	e := &env{io: stdio}
	settings := settingsCmd()
	root.AddCommand(
		e.demoCmd(),
		e.workerCmd(),
		e.enqueueCmd(),
		e.statusCmd(),
		e.findCmd(),
		e.batchCmd(),
		e.deadletterCmd(),
		e.resumeCmd(),
		e.limitsCmd(),
		e.serveCmd(),
		e.sandboxCmd(),
		e.tokenCmd(),
		e.configCmd(),
		e.doctorCmd(),
		settings,
	)
	registerSettingFlags(root)
	useUsageTemplate(root)
	var table strings.Builder
	_ = writeSettings(&table, root) // a strings.Builder does not fail
	settings.Long = table.String()
	return root, e
}
