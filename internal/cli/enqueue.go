package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// enqueueFlags are enqueue's own flags.
type enqueueFlags struct {
	target                 targetFlags
	format, message, mfile string
	batchID, rejects       string
	callbackURL            string
	notBefore, sendWindow  string
	noSend, reinvite       bool
	asJSON, wait           bool
}

func (f *enqueueFlags) register(fs *pflag.FlagSet) {
	f.target.register(fs)
	fs.StringVar(&f.format, "format", "", "input format: csv, jsonl or json (default: by the file's extension; required for -)")
	fs.StringVar(&f.message, "message", "", "invitation message (at least 10 characters; HTML and {{candidate_name}}-style placeholders allowed)")
	fs.StringVar(&f.mfile, "message-file", "", "read the invitation message from this file")
	fs.BoolVar(&f.noSend, "no-send-invite", false, "create the candidates without sending the invitation email (send_invite=false)")
	fs.StringVar(&f.batchID, "batch-id", "", "name the batch; the same id twice is one batch (default: a new UUID)")
	fs.BoolVar(&f.reinvite, "reinvite", false, "send even to candidates already invited to this target")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&f.wait, "wait", false, "wait until the batch is done; exit 3 if anything was dead-lettered")
	fs.StringVar(&f.rejects, "rejects", "", "write rejected rows to this file instead of stderr")
	fs.StringVar(&f.callbackURL, "callback-url", "", "POST the batch's status here, signed with BULKINVITE_CALLBACK_SECRET, when it is done")
	fs.StringVar(&f.notBefore, "not-before", "", "send nothing before this time: RFC 3339 (2026-11-26T08:00:00+01:00) or a duration from now (2h, 90m)")
	fs.StringVar(&f.sendWindow, "send-window", "", "send only within these weekly hours, e.g. 'Mon-Fri 09:00-17:00 Europe/Berlin' (days optional; zone default UTC)")
}

// schedule checks --not-before and --send-window, seen at now, and returns the
// schedule they make (nil for neither).
func (f *enqueueFlags) schedule(now time.Time) (*task.Schedule, error) {
	var at time.Time
	if f.notBefore != "" {
		var err error
		if at, err = parseNotBefore(f.notBefore, now); err != nil {
			return nil, usageErr("--not-before: %v", err)
		}
	}
	sc, err := producer.NewSchedule(at, f.sendWindow, now)
	var se *producer.ScheduleError
	if errors.As(err, &se) {
		return nil, usageErr("--%s: %v", strings.ReplaceAll(se.Field, "_", "-"), se.Err)
	}
	return sc, err
}

// parseNotBefore reads a time in RFC 3339, or a duration from now.
func parseNotBefore(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T08:00:00+01:00) nor a duration from now (2h, 90m)", s)
	case d < 0:
		return time.Time{}, fmt.Errorf("%q is a negative duration: give one from now, such as 2h", s)
	}
	return now.Add(d), nil
}

// checkCallback checks --callback-url: a URL callback.ValidateURL accepts, and a
// secret to sign the callback with.
func (f *enqueueFlags) checkCallback(cfg config.Config) error {
	if f.callbackURL == "" {
		return nil
	}
	if err := callback.ValidateURL(f.callbackURL, cfg.CallbackAllowPrivate); err != nil {
		return usageErr("--callback-url: %v", strings.TrimPrefix(err.Error(), "callback_url: "))
	}
	if cfg.CallbackSecret == "" {
		return usageErr("--callback-url needs BULKINVITE_CALLBACK_SECRET (or BULKINVITE_CALLBACK_SECRET_FILE): a callback must be signed")
	}
	return nil
}

// job checks the flags and returns the job they describe. A .json request body
// may complete it (producer.Import).
func (f *enqueueFlags) job() (task.Job, error) {
	if err := f.target.validate(); err != nil {
		return task.Job{}, err
	}
	if f.message != "" && f.mfile != "" {
		return task.Job{}, usageErr("give --message or --message-file, not both")
	}
	message := f.message
	if f.mfile != "" {
		b, err := os.ReadFile(f.mfile)
		if err != nil {
			return task.Job{}, usageErr("--message-file: %v", err)
		}
		message = string(b)
	}
	if f.batchID != "" {
		if err := producer.ValidateBatchID(f.batchID); err != nil {
			return task.Job{}, usageErr("--batch-id: %v", err)
		}
	}
	sc, err := f.schedule(time.Now())
	if err != nil {
		return task.Job{}, err
	}
	job := task.Job{Target: f.target.target(), InvitationMessage: message, Reinvite: f.reinvite, Schedule: sc}
	if f.noSend {
		no := false
		job.SendInvite = &no
	}
	return job, nil
}

func (e *env) enqueueCmd() *cobra.Command {
	var f enqueueFlags
	cmd := &cobra.Command{
		Use:   "enqueue FILE",
		Short: "Import a .csv, .jsonl or .json file of candidates as one batch",
		Long: `Reads FILE (or stdin for "-", with --format), rejects the rows that cannot succeed
(with line and reason, on stderr or in --rejects), invites each person once (emails
compared ignoring case), and enqueues the rest for the workers.

A .json file may be exactly the API's request body: its com_* ids, invitation_message
and send_invite are used unless flags say otherwise. CSV columns are matched ignoring
case, spaces, '_' and '-': ats_candidate_id, email, name, firstname, lastname, cv_link
(and aliases such as "Email Address", "First Name", "CV URL"); others are ignored.

The same --batch-id twice is one batch: re-running an import that died halfway
completes it without enqueuing anything twice. Once its batch has expired
(BULKINVITE_BATCH_RETENTION after it was done), an id is refused (exit 2): a new
import needs a new id.

Exit codes: 0 ok; 1 failed; 2 usage error; 3 with --wait, finished but something was
dead-lettered.

--not-before holds the whole batch until a time; --send-window sends it only within
weekly hours, by the wall clock of the window's time zone (grammar: docs/input.md,
"Schedule and send window"). Until then status says scheduled, or waiting_for_window
with the window's next opening. A re-run of the batch keeps its first schedule.

With --callback-url the batch's status is POSTed there when it is done, signed with
BULKINVITE_CALLBACK_SECRET; a host that is not global unicast (loopback, private,
link-local, reserved) or the worker's own is refused unless
BULKINVITE_CALLBACK_ALLOW_PRIVATE=true.

Unless GOGC or GOMEMLIMIT is set, the Go garbage collector lets the heap grow 8 MiB
past its live heap while importing (12% of it past 67 MiB), not Go's default 100%.`,
		Example: `  bulkinvite enqueue candidates.csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e
  bulkinvite enqueue export.jsonl --project 6f1c...-... --message-file invite.html --batch-id nightly-2026-11-25
  bulkinvite enqueue request.json --wait
  bulkinvite enqueue nightly.csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e --not-before 2026-11-26T08:00:00+01:00
  bulkinvite enqueue nightly.csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e --not-before 8h --send-window 'Mon-Fri 09:00-17:00 Europe/Berlin'
  cat rows.csv | bulkinvite enqueue - --format csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e --json`,
		Args: exactArgs(1, "one FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error { return e.enqueue(cmd, args[0], &f) },
	}
	f.register(cmd.Flags())
	return cmd
}

// enqueue imports the file at path as one batch, and with --wait waits for it.
func (e *env) enqueue(cmd *cobra.Command, path string, f *enqueueFlags) error {
	job, err := f.job()
	if err != nil {
		return err
	}
	if err := e.load(cmd); err != nil {
		return err
	}
	if err := f.checkCallback(e.cfg); err != nil {
		return err
	}
	src, closer, err := e.openSource(path, f.format)
	if err != nil {
		return err
	}
	defer closer.Close()
	if ig, ok := src.(interface{ Ignored() []string }); ok && len(ig.Ignored()) > 0 {
		fmt.Fprintf(e.io.Err, "ignoring columns: %s\n", plain(strings.Join(ig.Ignored(), ", ")))
	}
	rejects, closeRejects, err := e.rejectsWriter(f.rejects)
	if err != nil {
		return err
	}
	defer closeRejects()
	ctx := cmd.Context()
	a, err := e.connect(ctx)
	if err != nil {
		return err
	}
	release := importGC.hold()
	res, err := a.Producer().Import(ctx, src, producer.Options{
		BatchID:      f.batchID,
		Job:          job,
		Source:       sourceName(path),
		CallbackURL:  f.callbackURL,
		OnReject:     func(r *producer.RowError) { fmt.Fprintf(rejects, "rejected: %s\n", plain(r.Error())) },
		OnMemoryWait: func(m producer.MemoryWait) { fmt.Fprintln(e.io.Err, memoryWaitLine(m)) },
		// The CLI reaches Redis itself, as an admin would: it may complete any batch.
		Owner: auth.CLIName, AnyOwner: true, By: cliBy(),
	})
	release()
	var (
		expired   *store.BatchExpiredError
		badTarget payload.Errors
	)
	switch {
	case errors.As(err, &expired):
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\na batch id names one batch for good: give this import a new --batch-id (dead letters of the old batch, if any, are still listed under %s)", err, expired.ID)}
	case errors.Is(err, producer.ErrOtherInput):
		return fmt.Errorf("%w\na batch id names one input for good: a re-run must read the same records in the same order; a new import needs a new --batch-id", err)
	case errors.Is(err, producer.ErrUsage) && res == nil && errors.As(err, &badTarget):
		// The flags were checked before: the target came from a .json body, or none was given.
		return fmt.Errorf("%w\ngive --interview-set or --project", err)
	}
	if err != nil {
		if res != nil && res.BatchID != "" {
			err = fmt.Errorf("%w\nthe batch %s is incomplete: run the same command with --batch-id %s to finish it", err, res.BatchID, res.BatchID)
		}
		return err
	}
	switch {
	case f.wait:
		return e.waitForBatch(ctx, a.Store, res, f.asJSON)
	case f.asJSON:
		return writeJSON(e.io.Out, res)
	}
	printImport(e.io.Out, res)
	return nil
}

// memoryWaitLine is the progress line of an import waiting for Redis memory.
func memoryWaitLine(m producer.MemoryWait) string {
	used := "unknown"
	if m.Max > 0 {
		used = fmt.Sprintf("used %s of maxmemory %s", mebibytes(m.Used), mebibytes(m.Max))
	}
	return fmt.Sprintf("waiting for Redis memory (%s), %s of %s", used, m.Waited.Round(time.Second), m.Limit)
}

// mebibytes shows n bytes in MiB.
func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// waitForBatch follows an imported batch until it is done and prints its status:
// exit 3 when something was dead-lettered.
func (e *env) waitForBatch(ctx context.Context, st *store.Store, res *producer.Result, asJSON bool) error {
	if !asJSON {
		printImport(e.io.Err, res)
	}
	b, err := e.watch(ctx, st, res.BatchID)
	if err != nil {
		return err
	}
	s := b.Status()
	if asJSON {
		err = writeJSON(e.io.Out, s)
	} else {
		printStatus(e.io.Out, s)
	}
	if err != nil {
		return err
	}
	if s.DeadLettered > 0 {
		return &exitError{code: ExitDeadLettered, err: fmt.Errorf("batch %s finished with %d dead-lettered candidates", s.BatchID, s.DeadLettered)}
	}
	return nil
}

// rejectsWriter is where rejected rows are reported: stderr, or the --rejects
// file, flushed and closed by done.
func (e *env) rejectsWriter(path string) (w io.Writer, done func(), err error) {
	if path == "" {
		return e.io.Err, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, usageErr("--rejects: %v", err)
	}
	bw := bufio.NewWriter(f)
	return bw, func() { _ = bw.Flush(); _ = f.Close() }, nil
}

// openSource opens a file, or stdin for "-".
func (e *env) openSource(path, format string) (producer.Source, io.Closer, error) {
	if path == "-" {
		if format == "" {
			return nil, nil, usageErr("reading stdin needs --format csv, jsonl or json")
		}
		if strings.EqualFold(format, producer.FormatJSON) {
			return e.openStdinJSON()
		}
		src, err := producer.NewSource(e.io.In, format)
		if err != nil {
			return nil, nil, usageErr("%v", err)
		}
		return src, io.NopCloser(nil), nil
	}
	src, closer, err := producer.Open(path, format)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, nil, &exitError{code: ExitFailed, err: err}
		}
		return nil, nil, usageErr("%v", err)
	}
	return src, closer, nil
}

// openStdinJSON copies standard input to a temporary file (removed when closed) and
// opens it with producer.OpenJSON, so that a request body's fields after its
// candidates are known before the import writes anything, as with a file.
func (e *env) openStdinJSON() (producer.Source, io.Closer, error) {
	tmp, err := os.CreateTemp("", "bulkinvite-stdin-*.json")
	if err != nil {
		return nil, nil, err
	}
	closer := tempFile{tmp}
	if _, err := io.Copy(tmp, e.io.In); err != nil {
		closer.Close()
		return nil, nil, &exitError{code: ExitFailed, err: fmt.Errorf("read stdin: %w", err)}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		closer.Close()
		return nil, nil, err
	}
	src, err := producer.OpenJSON(tmp)
	if err != nil {
		closer.Close()
		return nil, nil, usageErr("stdin: %v", err)
	}
	return src, closer, nil
}

// tempFile is a temporary file that is removed when closed.
type tempFile struct{ *os.File }

func (t tempFile) Close() error {
	err := t.File.Close()
	if rerr := os.Remove(t.Name()); err == nil {
		err = rerr
	}
	return err
}

func sourceName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}
