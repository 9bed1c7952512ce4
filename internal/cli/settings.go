package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulkinvite/bulkinvite/internal/config"
)

// The settings of each part a command builds, by config file key.
var (
	// Every command that opens Redis builds the store over it, and logs.
	redisSettings = []string{"redis_url", "prefix", "batch_retention", "ledger_ttl", "redis_wait_replicas", "log_level", "log_format"}
	// The API key, for the commands that act with it or show its state.
	keySettings = []string{"api_key_file"}
	// The shared rate limiter (its lease on a request in flight follows the
	// request timeout).
	limiterSettings = []string{"request_timeout", "rate", "burst", "candidates_per_minute", "max_in_flight", "adaptive", "limiter"}
	// The producer, which enqueues batches, imported or replayed (the chunk
	// tasks' timeout follows the request timeout; it waits for Redis memory).
	producerSettings = []string{"chunk_size", "segment_size", "bulk_threshold", "request_timeout", "redis_memory_wait"}
	// The sending worker and the asynq server it runs in.
	workerSettings = []string{"api_url", "allow_insecure_api_url", "request_timeout", "chunk_size", "max_attempts", "retry_min", "retry_max",
		"on_unknown", "retry_safe_statuses", "concurrency", "shutdown_timeout", "task_check_interval", "delayed_task_check_interval", "queue_weights"}
	// Batch callbacks: their signing key and the addresses they may reach.
	callbackSettings = []string{"callback_secret_file", "callback_allow_private"}
	// The HTTP service.
	serveSettings = []string{"tokens_file", "serve_max_body", "serve_token_rate", "serve_token_burst", "serve_token_in_flight", "serve_spool_limit", "trusted_proxy_header"}
)

// commandSettings are the settings each runnable command reads, by its path
// under bulkinvite: it takes their flags (and --config) besides its own, and
// none of the others, which are an unknown flag there. A setting it does not
// read may still be set in the environment or the config file, which every
// command shares; Load checks them all. TestHelpListsTheSettingsEachCommandReads
// derives what each command reads from its code and fails when this table says
// otherwise.
var commandSettings = map[string][][]string{
	"demo":               nil, // embedded defaults only
	"sandbox":            nil, // flags of its own only
	"worker":             {redisSettings, keySettings, limiterSettings, workerSettings, callbackSettings},
	"enqueue":            {redisSettings, producerSettings, callbackSettings},
	"status":             {redisSettings, keySettings},
	"find":               {redisSettings},
	"deadletter list":    {redisSettings},
	"deadletter replay":  {redisSettings, producerSettings},
	"deadletter purge":   {redisSettings},
	"batch pause":        {redisSettings},
	"batch resume":       {redisSettings},
	"batch cancel":       {redisSettings},
	"resume":             {redisSettings, keySettings},
	"limits":             {redisSettings, keySettings, limiterSettings},
	"serve":              {redisSettings, keySettings, limiterSettings, producerSettings, callbackSettings, serveSettings},
	"token new":          {{"callback_secret_file"}},
	"token callback-key": {{"callback_secret_file", "log_level", "log_format"}},
	showsSettings:        {everySetting()},
	"doctor":             {redisSettings, keySettings, {"api_url", "allow_insecure_api_url", "on_unknown"}},
}

// showsSettings is the command that takes every setting's flag to show the
// settings, not to use them: the settings table does not count it as reading
// them.
const showsSettings = "config"

// everySetting is the file key of every setting.
func everySetting() []string {
	var keys []string
	for _, s := range config.Settings() {
		keys = append(keys, s.Key)
	}
	return keys
}

// settingsOf returns the file keys of the settings the command at path reads,
// each once, and whether the table has the command.
func settingsOf(path string) ([]string, bool) {
	groups, ok := commandSettings[path]
	var keys []string
	for _, g := range groups {
		for _, k := range g {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys, ok
}

// subPath is a command's path under the root: "deadletter list".
func subPath(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), c.Root().Name()), " ")
}

// registerSettingFlags gives every runnable command under root the flags of the
// settings it reads. It panics on a runnable command the table lacks.
func registerSettingFlags(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() {
			keys, ok := settingsOf(subPath(c))
			if !ok {
				panic("cli: commandSettings lacks " + subPath(c))
			}
			if len(keys) > 0 {
				config.RegisterSettingFlags(c.Flags(), keys)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// readers returns the commands that read the setting key, as their paths, in the
// order of root's tree.
func readers(root *cobra.Command, key string) []string {
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if keys, _ := settingsOf(subPath(c)); slices.Contains(keys, key) && subPath(c) != showsSettings {
			out = append(out, subPath(c))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// readBy says which commands read the setting key, for the settings table:
// "every Redis command" for those that all commands opening Redis read.
func readBy(root *cobra.Command, key string) string {
	all := readers(root, "redis_url")
	got := readers(root, key)
	var rest []string
	for _, c := range got {
		if !slices.Contains(all, c) {
			rest = append(rest, c)
		}
	}
	if len(got)-len(rest) == len(all) {
		return strings.Join(append([]string{"every Redis command"}, rest...), ", ")
	}
	return strings.Join(got, ", ")
}

// redisCommands names the commands that open Redis, for the settings table.
func redisCommands(root *cobra.Command) string {
	return strings.Join(readers(root, "redis_url"), ", ")
}

// settingsCmd is the help topic `bulkinvite help settings`: every setting with its
// flag, env name, file key, default and the commands that read it.
func settingsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "settings",
		Short: "Every setting: flag, env, config file key, default, and the commands that read it",
	}
}

// writeSettings writes the table of settings that `bulkinvite help settings` shows.
func writeSettings(w io.Writer, root *cobra.Command) error {
	fmt.Fprintf(w, `Settings come from flags, which override the environment, which overrides the
YAML config file (--config or %s), which overrides the defaults.
A command takes the flags of the settings it reads (see its --help). The
environment and the config file may set any setting, for every command, and
each value is checked wherever it is set. docs/configuration.md says more of
each setting.

"every Redis command" is %s.

`, config.EnvConfigFile, redisCommands(root))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENV\tFILE KEY\tDEFAULT\tREAD BY")
	for _, s := range config.Settings() {
		def := s.DefaultText()
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\t%s\n", s.Flag, s.Env, s.Key, config.RedactURLs(def), readBy(root, s.Key))
	}
	for _, s := range config.Secrets() {
		fmt.Fprintf(tw, "-\t%s\t-\t-\t%s\n", s.Env, readBy(root, s.FileKey))
	}
	fmt.Fprintf(tw, "--config\t%s\t-\t-\tevery command that reads a setting\n", config.EnvConfigFile)
	return tw.Flush()
}

// usageTemplate is cobra's, with a command's own flags and the flags of the
// settings it reads in two lists.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{with ownFlags .}}

Flags:
{{.}}{{end}}{{with settingFlags .}}

Settings (flag > env > config file > default; all of them: bulkinvite help settings):
{{.}}{{end}}{{if .HasHelpSubCommands}}

Additional help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

var templateFuncsOnce sync.Once

// useUsageTemplate sets usageTemplate on root, and the functions it calls.
func useUsageTemplate(root *cobra.Command) {
	templateFuncsOnce.Do(func() {
		cobra.AddTemplateFuncs(map[string]any{
			"ownFlags":     func(c *cobra.Command) string { return flagUsages(c, false) },
			"settingFlags": func(c *cobra.Command) string { return flagUsages(c, true) },
		})
	})
	root.SetUsageTemplate(usageTemplate)
}

// flagUsages lists c's flags: those of settings, or its own.
func flagUsages(c *cobra.Command, settings bool) string {
	fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		_, isSetting := f.Annotations[config.FlagAnnotation]
		if isSetting == settings && !f.Hidden {
			fs.AddFlag(f)
		}
	})
	return strings.TrimRight(fs.FlagUsages(), " \n")
}
