// Package config owns bulkinvite's settings: their defaults, their names in the YAML
// file, the environment and on the command line, the order in which those sources
// override each other (flags over env over file over defaults), and their
// validation, each error naming the setting. It also reads REDIS_URL
// (ParseRedisURL) and hides the passwords of URLs shown to people (RedactURL). It
// does not build clients or servers from the settings: internal/cli wires them into
// each package's own Config.
//
// Every setting is declared once, in the table returned by Settings, so that the
// file key, the env name, the flag and the documentation cannot drift apart;
// CONTRIBUTING.md says how to add one.
package config
