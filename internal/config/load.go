package config

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/auth"
)

// EnvConfigFile names the YAML config file.
const EnvConfigFile = "BULKINVITE_CONFIG"

// Setting is one setting's names in every source and its documentation.
type Setting struct {
	Key  string // YAML key
	Env  string // environment variable
	Flag string // command-line flag, without "--"
	Help string
	// field returns a pointer to the setting in c: *string, *int, *float64, *bool
	// or *time.Duration.
	field func(c *Config) any
}

// Settings lists every setting, in the order the docs show them.
func Settings() []Setting {
	return []Setting{
		{"redis_url", "REDIS_URL", "redis-url", "Redis URL: redis://[user:pass@]host:port/db, rediss:// for TLS; any node of a Redis Cluster (?addr=host:port adds seeds); redis-sentinel://[user:pass@]host:port[,host:port]/db?master=NAME[&sentinel_password=...] for Sentinel", func(c *Config) any { return &c.RedisURL }},
		{"prefix", "BULKINVITE_PREFIX", "prefix", "prefix of every Redis key of our own", func(c *Config) any { return &c.Prefix }},
		{"api_url", "FLOWMINGO_API_URL", "api-url", "Flowmingo API base URL: https://, or http:// to a loopback host (127.0.0.0/8, ::1, localhost)", func(c *Config) any { return &c.APIURL }},
		{"allow_insecure_api_url", "BULKINVITE_ALLOW_INSECURE_API_URL", "allow-insecure-api-url", "allow an http:// API URL to a host that is not loopback, which sends the API key in cleartext", func(c *Config) any { return &c.AllowInsecureAPIURL }},
		{"api_key_file", "FLOWMINGO_API_KEY_FILE", "api-key-file", "file holding the API key (the key itself only via FLOWMINGO_API_KEY)", func(c *Config) any { return &c.APIKeyFile }},
		{"tokens_file", "BULKINVITE_TOKENS_FILE", "tokens-file", "file of the bearer tokens serve accepts: YAML (tokens: [{name, scopes, secret_sha256}]) or one secret a line (secrets themselves only via BULKINVITE_TOKENS)", func(c *Config) any { return &c.TokensFile }},
		{"callback_secret_file", "BULKINVITE_CALLBACK_SECRET_FILE", "callback-secret-file", "file holding the key that signs batch callbacks (the key itself only via BULKINVITE_CALLBACK_SECRET)", func(c *Config) any { return &c.CallbackSecretFile }},
		{"callback_allow_private", "BULKINVITE_CALLBACK_ALLOW_PRIVATE", "callback-allow-private", "let a callback_url reach an address that is not global unicast (loopback, private, link-local, reserved) or the worker's own", func(c *Config) any { return &c.CallbackAllowPrivate }},
		{"serve_max_body", "BULKINVITE_SERVE_MAX_BODY", "serve-max-body", "largest request body serve takes, in bytes, 1024..1073741824 (larger: 413)", func(c *Config) any { return &c.ServeMaxBody }},
		{"serve_token_rate", "BULKINVITE_SERVE_TOKEN_RATE", "serve-token-rate", "requests/s each bearer token may make to one serve process, > 0 and <= 100000 (more: 429)", func(c *Config) any { return &c.ServeTokenRate }},
		{"serve_token_burst", "BULKINVITE_SERVE_TOKEN_BURST", "serve-token-burst", "requests a token may make at once above its rate, 1..100000", func(c *Config) any { return &c.ServeTokenBurst }},
		{"serve_token_in_flight", "BULKINVITE_SERVE_TOKEN_IN_FLIGHT", "serve-token-in-flight", "requests each bearer token may have in flight at once in one serve process, 1..10000 (more: 429)", func(c *Config) any { return &c.ServeTokenInFlight }},
		{"serve_spool_limit", "BULKINVITE_SERVE_SPOOL_LIMIT", "serve-spool-limit", "request bodies one serve process holds at once, all requests together, in memory and temporary files, in bytes, serve max body..1099511627776 (a body past it: 503)", func(c *Config) any { return &c.ServeSpoolLimit }},
		{"trusted_proxy_header", "BULKINVITE_TRUSTED_PROXY_HEADER", "trusted-proxy-header", "header in which the proxy in front of serve gives the client's address (X-Forwarded-For, X-Real-IP, Forwarded; the last one listed counts), for the throttle of failed authentications; set it only when every request comes through that proxy (default: the connection's address)", func(c *Config) any { return &c.TrustedProxyHeader }},
		{"request_timeout", "BULKINVITE_REQUEST_TIMEOUT", "request-timeout", "timeout of one API request, at most 1h", func(c *Config) any { return &c.RequestTimeout }},
		{"rate", "BULKINVITE_RATE", "rate", "requests/s to the API, all workers together, > 0 and <= 10000", func(c *Config) any { return &c.Rate }},
		{"burst", "BULKINVITE_BURST", "burst", "requests that may go at once above the rate, 1..10000", func(c *Config) any { return &c.Burst }},
		{"candidates_per_minute", "BULKINVITE_CANDIDATES_PER_MINUTE", "candidates-per-minute", "cap on candidates sent per minute, all workers together, 0..1000000 (0 = none)", func(c *Config) any { return &c.CandidatesPerMinute }},
		{"max_in_flight", "BULKINVITE_MAX_IN_FLIGHT", "max-in-flight", "cap on requests in flight, all workers together, 0..10000 (0 = limiter default)", func(c *Config) any { return &c.MaxInFlight }},
		{"adaptive", "BULKINVITE_ADAPTIVE", "adaptive", "lower the rate after repeated 429s and climb back slowly", func(c *Config) any { return &c.Adaptive }},
		{"limiter", "BULKINVITE_LIMITER", "limiter", "global (one rate for all workers, in Redis) or local (per process; for comparison only)", func(c *Config) any { return &c.Limiter }},
		{"chunk_size", "BULKINVITE_CHUNK_SIZE", "chunk-size", "most candidates in one API request, 1..500", func(c *Config) any { return &c.ChunkSize }},
		{"segment_size", "BULKINVITE_SEGMENT_SIZE", "segment-size", "candidates admitted (counted, de-duplicated) in one step of an import, chunk size..100000", func(c *Config) any { return &c.SegmentSize }},
		{"concurrency", "BULKINVITE_CONCURRENCY", "concurrency", "chunk handlers per worker process, 1..1000", func(c *Config) any { return &c.Concurrency }},
		{"max_attempts", "BULKINVITE_MAX_ATTEMPTS", "max-attempts", "sends of a chunk before its open candidates are dead-lettered, 1..1000", func(c *Config) any { return &c.MaxAttempts }},
		{"retry_min", "BULKINVITE_RETRY_MIN", "retry-min", "floor of the retry backoff, at most 24h", func(c *Config) any { return &c.RetryMin }},
		{"retry_max", "BULKINVITE_RETRY_MAX", "retry-max", "ceiling of the retry backoff, at most 24h", func(c *Config) any { return &c.RetryMax }},
		{"on_unknown", "BULKINVITE_ON_UNKNOWN", "on-unknown", "reply lost after the vendor may have acted: retry (at-least-once) or deadletter (at-most-once)", func(c *Config) any { return &c.OnUnknown }},
		{"retry_safe_statuses", "BULKINVITE_RETRY_SAFE_STATUSES", "retry-safe-statuses", "the vendor's 5xx statuses that prove it did nothing with a request, comma-separated: at most once they are retried instead of dead-lettered as unknown_outcome (default none)", func(c *Config) any { return &c.RetrySafeStatuses }},
		{"ledger_ttl", "BULKINVITE_LEDGER_TTL", "ledger-ttl", "how long a recorded success blocks a repeat invite to the same target, at most 87600h (10 years)", func(c *Config) any { return &c.LedgerTTL }},
		{"batch_retention", "BULKINVITE_BATCH_RETENTION", "batch-retention", "how long a done batch's keys (counters, outcomes, de-duplication data, rejects) stay after it finished, at most 87600h (10 years)", func(c *Config) any { return &c.BatchRetention }},
		{"redis_memory_wait", "BULKINVITE_REDIS_MEMORY_WAIT", "redis-memory-wait", "how long an import waits while Redis is out of memory (OOM at maxmemory), retrying, before it fails; 0 fails at once, at most 24h", func(c *Config) any { return &c.RedisMemoryWait }},
		{"redis_wait_replicas", "BULKINVITE_REDIS_WAIT_REPLICAS", "redis-wait-replicas", "replicas that must acknowledge each claim, sent mark, outcome and ledger write (WAIT) before the worker moves on, 0..100 (0 = none)", func(c *Config) any { return &c.RedisWaitReplicas }},
		{"task_check_interval", "BULKINVITE_TASK_CHECK_INTERVAL", "task-check-interval", "how often an idle worker looks for new tasks, 10ms..10s", func(c *Config) any { return &c.TaskCheckInterval }},
		{"delayed_task_check_interval", "BULKINVITE_DELAYED_TASK_CHECK_INTERVAL", "delayed-task-check-interval", "how often a worker moves tasks whose wait is over (retries, pauses) back to their queue, 100ms..1m", func(c *Config) any { return &c.DelayedTaskCheckInterval }},
		{"shutdown_timeout", "BULKINVITE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "how long a stopping worker waits for in-flight chunks, at most 1h", func(c *Config) any { return &c.ShutdownTimeout }},
		{"bulk_threshold", "BULKINVITE_BULK_THRESHOLD", "bulk-threshold", "batches larger than this go to the bulk queue, 0..1000000000", func(c *Config) any { return &c.BulkThreshold }},
		{"queue_weights", "BULKINVITE_QUEUE_WEIGHTS", "queue-weights", "queue priorities as default=N,replay=N,bulk=N, each 1..100", func(c *Config) any { return &c.QueueWeights }},
		{"log_level", "BULKINVITE_LOG_LEVEL", "log-level", "debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
		{"log_format", "BULKINVITE_LOG_FORMAT", "log-format", "auto (console on a TTY, else JSON), json or console", func(c *Config) any { return &c.LogFormat }},
	}
}

// Sources are where Load reads settings from, besides the defaults.
type Sources struct {
	// File is the YAML config file; "" uses $BULKINVITE_CONFIG, and none if that is unset.
	File string
	// Getenv reads the environment; nil uses os.Getenv.
	Getenv func(string) string
	// Flags holds the flags registered by RegisterSettingFlags; only flags set on the
	// command line apply. May be nil.
	Flags *pflag.FlagSet
}

// FlagAnnotation marks the flags RegisterSettingFlags adds (pflag.Flag.Annotations), so
// that help can show them apart from a command's own flags.
const FlagAnnotation = "bulkinvite_setting"

// RegisterSettingFlags adds --config and a flag for each setting named by its
// file key in keys: the flags of a command that reads those settings. Load reads
// the flags it finds; a setting without a flag is still read from the file and
// the environment. It panics on a key that is no setting.
func RegisterSettingFlags(fs *pflag.FlagSet, keys []string) {
	byKey := map[string]Setting{}
	for _, s := range Settings() {
		byKey[s.Key] = s
	}
	mark := map[string][]string{FlagAnnotation: {"true"}}
	fs.String("config", "", "YAML config file (env "+EnvConfigFile+")")
	fs.Lookup("config").Annotations = mark
	def := Default()
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			panic("config: no setting " + k)
		}
		field := s.field(&def)
		f := fs.VarPF(&flagValue{typ: typeName(field)}, s.Flag, "", fmt.Sprintf("%s (env %s, default %s)", s.Help, s.Env, format(field)))
		f.Annotations = mark
		if _, ok := field.(*bool); ok {
			f.NoOptDefVal = "true"
		}
	}
}

// FieldName is the name of the Config field that s sets.
func (s Setting) FieldName() string {
	var c Config
	p := reflect.ValueOf(s.field(&c)).Pointer()
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if v.Field(i).Addr().Pointer() == p {
			return v.Type().Field(i).Name
		}
	}
	panic("config: setting " + s.Key + " points at no field of Config")
}

// DefaultText is s's default as the docs show it: "" for an empty string, and a
// duration without its zero minutes and seconds (720h, 5m, 100ms).
func (s Setting) DefaultText() string {
	def := Default()
	switch p := s.field(&def).(type) {
	case *string:
		return *p
	case *time.Duration:
		return shortDuration(*p)
	default:
		return format(p)
	}
}

// shortDuration writes d as time.Duration.String does, less the zero units it
// ends with: 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}

// Secret is a value that has no flag and no file key of its own, so that it is
// never on a command line nor in a file that may be committed: it comes from the
// environment variable Env, or from the file that the setting FileKey names.
type Secret struct {
	Env     string
	FileKey string // the Settings key of the file holding the secret
	Field   string // the Config field that holds it
	Help    string
}

// Secrets lists the secrets Load reads (loadSecrets).
func Secrets() []Secret {
	return []Secret{
		{"FLOWMINGO_API_KEY", "api_key_file", "APIKey", "the Flowmingo API key, fl_live_<prefix>.<secret>"},
		{"BULKINVITE_TOKENS", "tokens_file", "Tokens", "the bearer tokens serve accepts, comma-separated name:scope+scope:secret entries or bare secrets (unscoped admin tokens), each secret at least 32 characters"},
		{"BULKINVITE_CALLBACK_SECRET", "callback_secret_file", "CallbackSecret", "the key that signs batch callbacks, and from which each named token's callback key is derived"},
	}
}

// flagValue holds a setting's flag as text until Load parses it with the same rules
// as the environment and the file.
type flagValue struct {
	typ string
	v   string
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) Type() string       { return f.typ }

func typeName(field any) string {
	switch field.(type) {
	case *int:
		return "int"
	case *float64:
		return "float"
	case *bool:
		return "bool"
	case *time.Duration:
		return "duration"
	}
	return "string"
}

// Load returns the defaults overridden by the config file, then the environment, then
// the flags, validated. Errors name the source and the setting.
func Load(src Sources) (Config, error) {
	c, err := load(src, Origins{})
	if err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

// Origins maps a setting's file key, or a secret's env name, to the source its
// value came from; one it lacks has its default.
type Origins map[string]Source

// load is Load without the validation, noting in from where each value came from.
func load(src Sources, from Origins) (Config, error) {
	getenv := src.getenv()
	c := Default()
	settings := Settings()

	path, pathFrom := src.File, SourceFlag
	if src.Flags != nil {
		if f := src.Flags.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path == "" {
		path, pathFrom = getenv(EnvConfigFile), SourceEnv
	}
	if path != "" {
		from[EnvConfigFile] = pathFrom
		if err := loadFile(&c, path, settings, from); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v, ok := lookupEnv(getenv, s.Env); ok {
			if err := set(s.field(&c), v); err != nil {
				return c, fmt.Errorf("env %s: %w", s.Env, err)
			}
			from[s.Key] = SourceEnv
		}
	}
	if src.Flags != nil {
		for _, s := range settings {
			f := src.Flags.Lookup(s.Flag)
			if f == nil || !f.Changed {
				continue
			}
			if err := set(s.field(&c), f.Value.String()); err != nil {
				return c, fmt.Errorf("flag --%s: %w", s.Flag, err)
			}
			from[s.Key] = SourceFlag
		}
	}
	if err := loadSecrets(&c, getenv, src.Flags, from); err != nil {
		return c, err
	}
	return c, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func loadFile(c *Config, path string, settings []Setting, from Origins) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	byKey := make(map[string]Setting, len(settings))
	for _, s := range settings {
		byKey[s.Key] = s
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "api_key" {
			return fmt.Errorf("config file %s: api_key: the key itself does not belong in a file that may be committed; use FLOWMINGO_API_KEY or api_key_file", path)
		}
		s, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		if m[k] == nil {
			continue
		}
		if err := set(s.field(c), fmt.Sprint(m[k])); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
		from[k] = SourceFile
	}
	return nil
}

// loadSecrets reads the API key, which has no flag of its own: --api-key-file
// (a flag) wins over FLOWMINGO_API_KEY, which wins over a key file named by
// FLOWMINGO_API_KEY_FILE or the config file.
func loadSecrets(c *Config, getenv func(string) string, flags *pflag.FlagSet, from Origins) error {
	key, err := secret(getenv, flags, "FLOWMINGO_API_KEY", "api-key-file", c.APIKeyFile, from)
	if err != nil {
		return fmt.Errorf("API key file: %w", err)
	}
	if key != "" {
		c.APIKey = flowmingo.NewAPIKey(key)
	}
	if c.CallbackSecret, err = secret(getenv, flags, "BULKINVITE_CALLBACK_SECRET", "callback-secret-file", c.CallbackSecretFile, from); err != nil {
		return fmt.Errorf("callback secret file: %w", err)
	}
	// The tokens, as secret reads them, but the file untrimmed, so that the
	// line numbers its errors give are the file's.
	if env := getenv("BULKINVITE_TOKENS"); env != "" && !flagSet(flags, "tokens-file") || c.TokensFile == "" {
		if env != "" {
			from["BULKINVITE_TOKENS"] = SourceEnv
		}
		c.Tokens, err = envTokens(env)
		return err
	}
	b, err := os.ReadFile(c.TokensFile)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	from["BULKINVITE_TOKENS"] = SourceFile
	c.Tokens, err = fileTokens(string(b))
	return err
}

// envTokens reads BULKINVITE_TOKENS (auth.ParseEnv).
func envTokens(v string) ([]auth.Token, error) {
	toks, err := auth.ParseEnv(v)
	if err != nil {
		return nil, fmt.Errorf("BULKINVITE_TOKENS: %w", err)
	}
	return toks, nil
}

// fileTokens reads the file of BULKINVITE_TOKENS_FILE (auth.ParseFile).
func fileTokens(text string) ([]auth.Token, error) {
	toks, err := auth.ParseFile(text)
	if err != nil {
		return nil, fmt.Errorf("BULKINVITE_TOKENS_FILE %w", err)
	}
	return toks, nil
}

func flagSet(flags *pflag.FlagSet, name string) bool {
	if flags == nil {
		return false
	}
	f := flags.Lookup(name)
	return f != nil && f.Changed
}

// secret reads a secret that has no flag of its own: a --NAME-file flag (fileFlag)
// wins over the environment variable env, which wins over a file named by the
// environment or the config file (path). It notes in from whether the secret came
// from env or from the file.
func secret(getenv func(string) string, flags *pflag.FlagSet, env, fileFlag, path string, from Origins) (string, error) {
	flagged := flagSet(flags, fileFlag)
	if v := getenv(env); v != "" && !flagged {
		from[env] = SourceEnv
		return v, nil
	}
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	from[env] = SourceFile
	return strings.TrimSpace(string(b)), nil
}

func set(field any, v string) error {
	v = strings.TrimSpace(v)
	switch p := field.(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", v)
		}
		*p = f
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a Go duration such as 30s, 5m or 2160h, got %q", v)
		}
		*p = d
	default:
		return fmt.Errorf("internal: unsupported setting type %T", field)
	}
	return nil
}

func format(field any) string {
	switch p := field.(type) {
	case *string:
		if *p == "" {
			return `""`
		}
		return RedactURLs(*p)
	case *int:
		return strconv.Itoa(*p)
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	}
	return fmt.Sprint(field)
}
