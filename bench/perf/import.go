package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/producer"
)

// rawPipeline is the rows per pipeline of the raw Redis writes.
const rawPipeline = 1000

// importFigures are the import section's.
type importFigures struct {
	Rows int `json:"rows"`
	// importVariant holds the rows without an ats_candidate_id, the figures
	// this section has always reported (its JSON fields at the top level).
	importVariant
	// WithIDs are the same rows with an ats_candidate_id column, imported
	// in the same run, each import next to one without.
	WithIDs importVariant `json:"with_ids"`
	// RedisMemory is INFO memory's used_memory_human after the last run
	// (one of rows without ids).
	RedisMemory string `json:"redis_memory"`
	// RawSeconds and RawRowsPerS are the raw pipelined writes of the same rows.
	RawSeconds  float64 `json:"raw_seconds"`
	RawRowsPerS float64 `json:"raw_rows_per_s"`
}

// importVariant are the imports of one generated file.
type importVariant struct {
	CSVBytes int64 `json:"csv_bytes"`
	// Seconds and RowsPerS are the median run's (by time), PeakRSS the
	// largest enqueue process's ru_maxrss, in bytes, of -import-runs runs.
	Seconds  float64 `json:"seconds"`
	RowsPerS float64 `json:"rows_per_s"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
	// Runs are the imports one by one, each into an emptied database.
	Runs []importRun `json:"runs"`
}

// add records run r.
func (v *importVariant) add(r importRun) {
	v.Runs = append(v.Runs, r)
	v.PeakRSS = max(v.PeakRSS, r.PeakRSS)
	byTime := slices.SortedFunc(slices.Values(v.Runs), func(a, b importRun) int { return cmp.Compare(a.Seconds, b.Seconds) })
	v.Seconds, v.RowsPerS = byTime[len(byTime)/2].Seconds, byTime[len(byTime)/2].RowsPerS
}

// importRun is one timed `enqueue`.
type importRun struct {
	Seconds  float64 `json:"seconds"`
	RowsPerS float64 `json:"rows_per_s"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
}

// importSection times -import-runs rounds of `enqueue` of two generated CSVs,
// the rows with an ats_candidate_id then the same rows without, then the raw
// writes of the rows without, each into an emptied private Redis.
func (b *bench) importSection(ctx context.Context) error {
	dir, err := b.dir("import")
	if err != nil {
		return err
	}
	var g benchproc.Group
	defer g.StopAll(benchrate.StopGrace)
	rds, err := benchproc.StartRedis(ctx, &g, dir, benchproc.RedisOptions{})
	if err != nil {
		return err
	}
	csvPath := filepath.Join(dir, "candidates.csv")
	idsPath := filepath.Join(dir, "candidates-ids.csv")
	f := &importFigures{Rows: b.o.importRows}
	if f.CSVBytes, err = writeCSV(csvPath, f.Rows, false); err != nil {
		return err
	}
	if f.WithIDs.CSVBytes, err = writeCSV(idsPath, f.Rows, true); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	defer rdb.Close()
	logf("enqueue of %d rows (%.1f MB CSV; with ats_candidate_id %.1f MB) into %s, %d runs each", f.Rows,
		float64(f.CSVBytes)/1e6, float64(f.WithIDs.CSVBytes)/1e6, rds.URL(), b.o.importRuns)
	for range b.o.importRuns {
		for _, v := range []struct {
			path string
			into *importVariant
		}{{idsPath, &f.WithIDs}, {csvPath, &f.importVariant}} {
			if err := rdb.FlushAll(ctx).Err(); err != nil { // our private server only
				return err
			}
			r, err := timeEnqueue(ctx, b.ours.Bin, rds.URL(), v.path, f.Rows)
			if err != nil {
				return err
			}
			v.into.add(r)
		}
	}
	mem, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return err
	}
	f.RedisMemory = infoField(mem, "used_memory_human")
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	logf("raw pipelined RPUSH of the same rows")
	if err := rawWrites(ctx, rdb, csvPath, f); err != nil {
		return err
	}
	b.figs.Import = f
	return nil
}

// writeCSV writes a header and rows generated candidates to path and returns
// the file's size. The rows are those of the bench/import program this section
// replaced (email, names, CV link), so that the figures compare with its
// earlier ones; with ids, each row also starts with a distinct version-4
// ats_candidate_id.
func writeCSV(path string, rows int, ids bool) (int64, error) {
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<20)
	if ids {
		fmt.Fprint(w, "ats_candidate_id,")
	}
	fmt.Fprintln(w, "email,first name,last name,cv url")
	for i := range rows {
		if ids {
			h := uint32(i) * 2654435761 // spread, like real ids, over the whole range
			fmt.Fprintf(w, "%08x-%04x-4%03x-%04x-%012x,", h, i>>16&0xffff, i&0xfff, 0x8000|h>>16&0x3fff, i)
		}
		fmt.Fprintf(w, "person%d@example.com,First%d,Last%d,https://cv.example.com/%d.pdf\n", i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := out.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), out.Close()
}

// timeEnqueue runs `bin enqueue csvPath` of rows rows against redisURL and
// returns its time and peak RSS.
func timeEnqueue(ctx context.Context, bin, redisURL, csvPath string, rows int) (importRun, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := benchproc.Command(ctx, bin, map[string]string{"REDIS_URL": redisURL, "BULKINVITE_LOG_LEVEL": "warn"},
		"enqueue", csvPath, "--interview-set", benchrate.InterviewSet, "--batch-id", "import", "--json")
	var r importRun
	start := time.Now()
	out, err := benchproc.Output(cmd)
	r.Seconds = time.Since(start).Seconds()
	if err != nil {
		return r, err
	}
	var res producer.Result
	if err := json.Unmarshal(out, &res); err != nil || res.Accepted != int64(rows) {
		return r, fmt.Errorf("enqueue accepted %d of %d rows (%v)", res.Accepted, rows, err)
	}
	r.RowsPerS = float64(rows) / r.Seconds
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	logf("enqueue: %.2f s, %.0f rows/s, peak RSS %.1f MiB", r.Seconds, r.RowsPerS, float64(r.PeakRSS)/(1<<20))
	return r, nil
}

// infoField returns the value of name in an INFO reply, "?" when missing.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return "?"
}

// rawWrites reads csvPath again and RPUSHes each row's bytes to one list, in
// pipelines of rawPipeline rows, timing the whole.
func rawWrites(ctx context.Context, rdb *redis.Client, csvPath string, f *importFigures) error {
	in, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer in.Close()
	start := time.Now()
	sc := bufio.NewScanner(in)
	sc.Scan() // the header
	pipe := rdb.Pipeline()
	rows := 0
	for sc.Scan() {
		pipe.RPush(ctx, "raw:rows", sc.Text())
		if rows++; rows%rawPipeline == 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if _, err := pipe.Exec(ctx); err != nil && rows%rawPipeline != 0 {
		return err
	}
	f.RawSeconds = time.Since(start).Seconds()
	if rows != f.Rows {
		return fmt.Errorf("raw writes: read %d rows of %d", rows, f.Rows)
	}
	f.RawRowsPerS = float64(rows) / f.RawSeconds
	logf("raw: %.2f s, %.0f rows/s", f.RawSeconds, f.RawRowsPerS)
	return nil
}
