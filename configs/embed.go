// Package configs holds bulkinvite's documented example configuration and sample
// data. The sample candidates file is embedded for `bulkinvite demo`.
package configs

import _ "embed"

// SampleCandidatesCSV is sample-candidates.csv: a few good rows, a CV-only row, a
// duplicate, rows the import rejects, and rows the sandbox fails on purpose.
//
//go:embed sample-candidates.csv
var SampleCandidatesCSV []byte

// SampleRequestJSON is sample-request.json: the sample request of the vendor's
// integration page, made valid JSON (the page breaks invitation_message across lines,
// written \n here). `bulkinvite enqueue configs/sample-request.json` takes it as is.
//
//go:embed sample-request.json
var SampleRequestJSON []byte
