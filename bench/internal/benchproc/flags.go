package benchproc

import (
	"flag"
	"fmt"
	"maps"
	"slices"
)

// SetDefaults sets values on the flags of fs that the command line did not
// set, in the order of their names: a program's -short sizes (a smoke run that
// goes through every step in seconds, for its test), or a scenario's own
// defaults. what names the set of values in an error.
func SetDefaults(fs *flag.FlagSet, what string, values map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if set[k] {
			continue
		}
		if err := fs.Set(k, values[k]); err != nil {
			return fmt.Errorf("%s: default -%s=%s: %w", what, k, values[k], err)
		}
	}
	return nil
}

// FinishFlags completes a parsed command line: with short set, the -short
// values (SetDefaults) for the flags not given; and no positional argument.
func FinishFlags(fs *flag.FlagSet, short bool, shortDefaults map[string]string) error {
	if short {
		if err := SetDefaults(fs, "-short", shortDefaults); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("no arguments expected, got %q", fs.Args())
	}
	return nil
}
