package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/doctor"
	"github.com/bulkinvite/bulkinvite/worker"
)

func (e *env) doctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment before the first run: Redis, the API, what runs there",
		Long: `Checks the deployment the settings point at and prints a checklist, with the fix
for each failure: Redis reachable, its topology, persistence (AOF and its fsync),
maxmemory and its policy, the ACL on our keys and asynq's, the replicas
BULKINVITE_REDIS_WAIT_REPLICAS waits for, what at-most-once needs, the clocks of this
host and Redis, the API URL reachable (over TLS for https://), the API key's shape,
the workers running and their versions, paused queues and an auth stop.

It exits 1 when a check fails: something would lose or repeat work, or stop it. A
warning is worth reading but loses nothing. It writes nothing to Redis but one key
of its own, deleted in the same script.`,
		Example: `  bulkinvite doctor
  bulkinvite doctor --json | jq '.checks[] | select(.status != "ok")'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.load(cmd); err != nil {
				return err
			}
			rep := doctor.Run(cmd.Context(), doctor.Config{
				RedisURL:        e.cfg.RedisURL,
				Prefix:          e.cfg.Prefix,
				WaitReplicas:    e.cfg.RedisWaitReplicas,
				AtMostOnce:      e.cfg.OnUnknown == worker.OnUnknownDeadLetter,
				APIURL:          e.cfg.APIURL,
				CleartextAPIURL: e.cfg.AllowInsecureAPIURL && e.cfg.CleartextAPIURL(),
				APIKey:          e.cfg.APIKey,
			}, func(ctx context.Context) (doctor.Deployment, error) {
				a, err := e.connect(ctx)
				if err != nil {
					return doctor.Deployment{}, err
				}
				return doctor.Deployment{Redis: a.Redis, Store: a.Store}, nil
			})
			var err error
			if asJSON {
				err = writeJSON(e.io.Out, struct {
					OK bool `json:"ok"`
					doctor.Report
				}{!rep.Failed(), rep})
			} else {
				printDoctor(e.io.Out, rep)
			}
			if err == nil && rep.Failed() {
				err = &exitError{code: ExitFailed, err: fmt.Errorf("%d check(s) failed: see their fix", rep.Count(doctor.Fail))}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print as JSON: {"ok","checks":[{"name","status":"ok|warn|fail","detail","fix"}]}`)
	return cmd
}

func printDoctor(w io.Writer, rep doctor.Report) {
	const indent = "                     "
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "%-5s %-14s %s\n", strings.ToUpper(string(c.Status)), c.Name, plain(c.Detail))
		if c.Fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", indent, plain(c.Fix))
		}
	}
	fmt.Fprintf(w, "%d ok, %d warning(s), %d failed\n", rep.Count(doctor.OK), rep.Count(doctor.Warn), rep.Count(doctor.Fail))
}
