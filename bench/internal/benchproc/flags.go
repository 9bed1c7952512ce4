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
