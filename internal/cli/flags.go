package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// targetFlags are --interview-set, --project and --job-post.
type targetFlags struct{ interviewSet, project, jobPost string }

func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.interviewSet, "interview-set", "", "interview set UUID to invite to")
	fs.StringVar(&t.project, "project", "", "project UUID to invite to (instead of --interview-set)")
	fs.StringVar(&t.jobPost, "job-post", "", "job post UUID within --project (default: the project's latest)")
}

func (t *targetFlags) target() payload.Target {
	return payload.Target{InterviewSetID: t.interviewSet, ProjectID: t.project, JobPostID: t.jobPost}
}

func (t *targetFlags) validate() error {
	if t.target().IsZero() {
		if t.jobPost != "" {
			return usageErr("--job-post needs --project")
		}
		return nil
	}
	if t.interviewSet != "" && t.project != "" {
		return usageErr("give --interview-set or --project, not both")
	}
	if t.jobPost != "" && t.project == "" {
		return usageErr("--job-post needs --project")
	}
	if err := t.target().Validate(); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// filterFlags are --batch and --reason, which select dead letters; left out,
// they take every batch and every reason.
type filterFlags struct {
	batch, reason string
	fs            *pflag.FlagSet
}

func (f *filterFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.batch, "batch", "", "only this batch's dead letters")
	fs.StringVar(&f.reason, "reason", "", "only this reason: candidate_error, invitation_error, application_error, submission_error, candidate_entry_error, validation, target_not_found, retries_exhausted or unknown_outcome")
}

// filter is the filter the flags select. A flag given empty (a script's unset
// variable) is a usage error, not every batch or reason.
func (f *filterFlags) filter() (store.Filter, error) {
	for _, name := range []string{"batch", "reason"} {
		if fl := f.fs.Lookup(name); f.fs.Changed(name) && fl.Value.String() == "" {
			return store.Filter{}, usageErr("--%s is empty: give a value, or leave the flag out to take every %s", name, name)
		}
	}
	flt := store.Filter{BatchID: f.batch, Reason: payload.Reason(f.reason)}
	if err := flt.Validate(); err != nil {
		return flt, usageErr("%v", err)
	}
	return flt, nil
}
