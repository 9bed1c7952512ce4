package config

import (
	"fmt"
	"os"
	"strings"
)

// Source is where a setting's effective value came from.
type Source string

// The sources, in the order in which they override each other.
const (
	SourceDefault Source = "default"
	// SourceFile is the YAML config file; for a secret, the file its *_FILE
	// setting names.
	SourceFile Source = "file"
	SourceEnv  Source = "env"
	SourceFlag Source = "flag"
)

// Value is one setting's effective value, as `bulkinvite config` shows it.
type Value struct {
	// Key is the YAML key; "" for a secret and for the config file itself.
	Key string `json:"key,omitempty"`
	// Env is the environment variable.
	Env string `json:"env"`
	// Flag is the flag without "--"; "" for a secret.
	Flag string `json:"flag,omitempty"`
	// Value is the value with the passwords of URLs redacted (RedactURLs) and
	// secrets masked: the API key as the vendor shows it, the tokens by name,
	// the callback secret not at all.
	Value string `json:"value"`
	// Source is where the value came from.
	Source Source `json:"source"`
}

// Effective reads the settings as Load does and returns each one's value and
// source: the config file first (BULKINVITE_CONFIG), then every setting in the
// order of Settings, then the secrets. A value that cannot be read (a file that
// is missing, a number that is not one) is an error without values; a
// configuration that reads but is invalid returns its values and Validate's
// error, so that one sees what was set where.
func Effective(src Sources) ([]Value, error) {
	from := Origins{}
	c, err := load(src, from)
	if err != nil {
		return nil, err
	}
	origin := func(name string) Source {
		if s, ok := from[name]; ok {
			return s
		}
		return SourceDefault
	}
	file := Value{Env: EnvConfigFile, Flag: "config", Source: origin(EnvConfigFile)}
	if file.Source == SourceFlag {
		file.Value = src.Flags.Lookup("config").Value.String()
	} else if file.Source == SourceEnv {
		file.Value = src.getenv()(EnvConfigFile)
	}
	out := []Value{file}
	for _, s := range Settings() {
		out = append(out, Value{Key: s.Key, Env: s.Env, Flag: s.Flag, Value: valueText(s.field(&c)), Source: origin(s.Key)})
	}
	for _, s := range Secrets() {
		out = append(out, Value{Env: s.Env, Value: maskedSecret(c, s.Env), Source: origin(s.Env)})
	}
	if err := c.Validate(); err != nil {
		return out, fmt.Errorf("invalid configuration: %w", err)
	}
	return out, nil
}

// valueText is a setting's value as Effective shows it: format's, but an empty
// string as itself.
func valueText(field any) string {
	if p, ok := field.(*string); ok {
		return RedactURLs(*p)
	}
	return format(field)
}

// maskedSecret shows the secret env holds in c without revealing it.
func maskedSecret(c Config, env string) string {
	switch env {
	case "FLOWMINGO_API_KEY":
		return c.APIKey.Masked()
	case "BULKINVITE_TOKENS":
		if len(c.Tokens) == 0 {
			return "(none)"
		}
		names := make([]string, len(c.Tokens))
		for i, t := range c.Tokens {
			names[i] = t.Name
		}
		return fmt.Sprintf("%d token(s): %s", len(c.Tokens), strings.Join(names, ", "))
	case "BULKINVITE_CALLBACK_SECRET":
		if c.CallbackSecret == "" {
			return "(none)"
		}
		return "****"
	}
	panic("config: no masking for secret " + env)
}

// getenv is s.Getenv, or os.Getenv when that is nil.
func (s Sources) getenv() func(string) string {
	if s.Getenv == nil {
		return os.Getenv
	}
	return s.Getenv
}
