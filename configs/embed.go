// Package configs holds bulkinvite's documented example configuration and sample
// data. The sample candidates file is embedded for `bulkinvite demo`.
package configs

import _ "embed"

// SampleCandidatesCSV is sample-candidates.csv: a few good rows, a CV-only row, a
// duplicate, rows the import rejects, and rows the sandbox fails on purpose.
//
//go:embed sample-candidates.csv
var SampleCandidatesCSV []byte
