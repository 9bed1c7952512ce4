// Package config owns bulkinvite's settings: their defaults, their names in the YAML
// file, the environment and on the command line, and the order in which those
// sources override each other (flags over env over file over defaults). It does not
// build clients or servers from them; cmd/bulkinvite wires that.
//
// Every setting is declared once, in the table returned by Settings, so that the
// file key, the env name, the flag and the documentation cannot drift apart.
package config
