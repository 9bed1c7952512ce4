package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

func (e *env) enqueueCmd() *cobra.Command {
	var (
		tf                     targetFlags
		format, message, mfile string
		batchID, rejectsPath   string
		noSend, reinvite       bool
		asJSON, wait           bool
	)
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
completes it without enqueuing anything twice.

Exit codes: 0 ok; 1 failed; 2 usage error; 3 with --wait, finished but something was
dead-lettered.`,
		Example: `  bulkinvite enqueue candidates.csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e
  bulkinvite enqueue export.jsonl --project 6f1c...-... --message-file invite.html --batch-id nightly-2026-11-25
  bulkinvite enqueue request.json --wait
  cat rows.csv | bulkinvite enqueue - --format csv --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e --json`,
		Args: exactArgs(1, "one FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tf.validate(); err != nil {
				return err
			}
			if message != "" && mfile != "" {
				return usageErr("give --message or --message-file, not both")
			}
			if mfile != "" {
				b, err := os.ReadFile(mfile)
				if err != nil {
					return usageErr("--message-file: %v", err)
				}
				message = string(b)
			}
			if batchID != "" {
				if err := producer.ValidateBatchID(batchID); err != nil {
					return usageErr("--batch-id: %v", err)
				}
			}
			if err := e.load(cmd); err != nil {
				return err
			}
			src, closer, err := e.openSource(args[0], format)
			if err != nil {
				return err
			}
			defer closer.Close()
			if ig, ok := src.(interface{ Ignored() []string }); ok && len(ig.Ignored()) > 0 {
				fmt.Fprintf(e.io.Err, "ignoring columns: %s\n", plain(strings.Join(ig.Ignored(), ", ")))
			}
			rejectsOut := e.io.Err
			if rejectsPath != "" {
				f, err := os.Create(rejectsPath)
				if err != nil {
					return usageErr("--rejects: %v", err)
				}
				defer f.Close()
				bw := bufio.NewWriter(f)
				defer bw.Flush()
				rejectsOut = bw
			}
			job := payload.Job{Target: tf.target(), InvitationMessage: message, Reinvite: reinvite}
			if noSend {
				f := false
				job.SendInvite = &f
			}
			ctx := cmd.Context()
			p, st, err := e.producer(ctx)
			if err != nil {
				return err
			}
			res, err := p.Import(ctx, src, producer.Options{
				BatchID:  batchID,
				Job:      job,
				Source:   sourceName(args[0]),
				OnReject: func(r *producer.RowError) { fmt.Fprintf(rejectsOut, "rejected: %s\n", plain(r.Error())) },
			})
			if err != nil {
				if res != nil && res.BatchID != "" {
					err = fmt.Errorf("%w\nthe batch %s is incomplete: run the same command with --batch-id %s to finish it", err, res.BatchID, res.BatchID)
				}
				return err
			}
			if !wait {
				if asJSON {
					return writeJSON(e.io.Out, res)
				}
				printImport(e.io.Out, res)
				return nil
			}
			if !asJSON {
				printImport(e.io.Err, res)
			}
			b, err := e.watch(ctx, st, res.BatchID)
			if err != nil {
				return err
			}
			s := b.Status()
			if asJSON {
				if err := writeJSON(e.io.Out, s); err != nil {
					return err
				}
			} else {
				printStatus(e.io.Out, s)
			}
			if s.DeadLettered > 0 {
				return &exitError{code: ExitDeadLettered, err: fmt.Errorf("batch %s finished with %d dead-lettered candidates", s.BatchID, s.DeadLettered)}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	tf.register(fs)
	fs.StringVar(&format, "format", "", "input format: csv, jsonl or json (default: by the file's extension; required for -)")
	fs.StringVar(&message, "message", "", "invitation message (at least 10 characters; HTML and {{candidate_name}}-style placeholders allowed)")
	fs.StringVar(&mfile, "message-file", "", "read the invitation message from this file")
	fs.BoolVar(&noSend, "no-send-invite", false, "create the candidates without sending the invitation email (send_invite=false)")
	fs.StringVar(&batchID, "batch-id", "", "name the batch; the same id twice is one batch (default: a new UUID)")
	fs.BoolVar(&reinvite, "reinvite", false, "send even to candidates already invited to this target")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&wait, "wait", false, "wait until the batch is done; exit 3 if anything was dead-lettered")
	fs.StringVar(&rejectsPath, "rejects", "", "write rejected rows to this file instead of stderr")
	return cmd
}

// openSource opens a file, or stdin for "-".
func (e *env) openSource(path, format string) (producer.Source, io.Closer, error) {
	if path == "-" {
		if format == "" {
			return nil, nil, usageErr("reading stdin needs --format csv, jsonl or json")
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

func sourceName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

func printImport(w io.Writer, r *producer.Result) {
	switch {
	case r.AlreadyComplete:
		fmt.Fprintf(w, "batch %s was already fully enqueued; nothing to do (see: bulkinvite status %s)\n", r.BatchID, r.BatchID)
		return
	case r.Existing:
		fmt.Fprintf(w, "batch %s existed: completed its import\n", r.BatchID)
	}
	fmt.Fprintf(w, "batch %s: %d rows read, %d accepted (%d of them skipped as duplicates), %d rejected; %d segments enqueued\n",
		r.BatchID, r.Rows, r.Accepted, r.Duplicates, r.Rejected, r.Segments)
	fmt.Fprintf(w, "follow it: bulkinvite status %s --watch\n", r.BatchID)
}
