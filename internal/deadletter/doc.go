// Package deadletter replays dead letters: it moves the selected entries out of the
// dead-letter list and into a new batch linked to the ones they came from, optionally
// aimed at a corrected target, in a way that a crash can neither lose nor double an
// entry. Listing and purging are plain store calls; this package owns the replay,
// and the CSV export of dead letters (WriteCSV) that `deadletter list --csv` and
// the dashboard share, safe to open in a spreadsheet.
package deadletter
