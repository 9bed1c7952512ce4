package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestGrowth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rounds  []int64
		perRnd  float64
		flat    bool
		largest int64
	}{
		{"one round", []int64{1000}, 0, true, 1000},
		{"flat within 5%", []int64{1_000_000, 1_100_000, 1_040_000}, 20_000, true, 1_100_000},
		{"grows", []int64{1_000_000, 1_500_000, 2_000_000, 2_500_000}, 500_000, false, 2_500_000},
		{"shrinks a lot", []int64{1_000_000, 900_000}, -100_000, false, 1_000_000},
	} {
		r := &retentionFigures{}
		for _, u := range tc.rounds {
			r.Rounds = append(r.Rounds, memory{Used: u})
		}
		per, flat := r.growth()
		if per != tc.perRnd || flat != tc.flat || r.largest() != tc.largest {
			t.Errorf("%s: growth = %v, %v, largest %d; want %v, %v, %d", tc.name, per, flat, r.largest(), tc.perRnd, tc.flat, tc.largest)
		}
	}
}

// testOptions are the defaults of the flags, smaller.
func testOptions() options {
	return options{candidates: 1000, deadLetters: 100, repeatCandidates: 100, repeats: 3, retention: 2 * time.Second, chunk: 50}
}

// cell returns the cell of the row labelled label for column col (1 = first subject).
func cell(t *testing.T, rows [][]string, label string, col int) string {
	t.Helper()
	for _, r := range rows {
		if r[0] == label {
			return r[col]
		}
	}
	t.Fatalf("no row %q in %q", label, rows)
	return ""
}

func TestTable(t *testing.T) {
	o := testOptions()
	baseline := &figures{Subject: subject{Label: "baseline abc1234"}, Empty: memory{Used: 1_000_000, Dataset: 100_000}}
	ours := &figures{Subject: subject{Label: "ours", Current: true},
		Empty:       memory{Used: 1_000_000, Dataset: 100_000},
		AfterImport: &memory{Used: 1_214_000, Dataset: 300_000},
		ImportKeys:  keyClasses{Bytes: map[string]int64{classAsynq: 197_000, classOther: 100}},
		AfterDone:   &memory{Used: 1_094_000, Dataset: 190_000},
		DoneKeys:    keyClasses{Bytes: map[string]int64{classLedger: 82_000}},
		Send: &sendFigures{Calls: calls{"evalsha": 200, "hset": 700, "wait": 0, "get": 500}, Drain: 3840 * time.Millisecond,
			Polls: 5, StatusCalls: 7},
		Wait: &sendFigures{Calls: calls{"evalsha": 200, "hset": 700, "wait": 80}, Drain: 3560 * time.Millisecond},
		DeadLetters: &deadLetterFigures{Before: memory{Used: 2_000_000}, After: memory{Used: 2_077_500},
			KeyBytes: 69_200, ValueBytes: 52_200, MeanFields: 120},
		Retention: &retentionFigures{Rounds: []memory{{Used: 3_000_000}, {Used: 3_001_000}, {Used: 3_002_000}}},
	}
	rows := table(o, []*figures{baseline, ours})
	for _, tc := range []struct{ label, base, ours string }{
		{"B/candidate after import (dataset)", missing, "214 (200)"},
		{"  asynq keys (MEMORY USAGE)", missing, "197"},
		{"B/candidate after done, ledger kept (dataset)", missing, "94 (90)"},
		{"  ledger keys (MEMORY USAGE)", missing, "82"},
		{"commands/candidate (send path)", missing, "1.40"},
		{"  EVAL(SHA)/chunk of 50", missing, "10.0"},
		{"  hset/candidate", missing, "0.700"},
		{"drain s (no WAIT / WAIT 1)", missing, "3.8 / 3.6"},
		{"commands/candidate with WAIT 1", missing, "0.98"},
		{"  WAIT/chunk of 50", missing, "4.0"},
		{"dead letter B (candidate fields)", missing, "775 (120)"},
		{"  overhead beyond the fields", missing, "655"},
		{"  dead-letter keys alone (MEMORY USAGE)", missing, "692"},
		{"  of which the stored values (JSON)", missing, "522"},
		{"memory after 3 imports, first→last", missing, "2.86→2.86 MiB"},
		{"  growth per round", missing, "+1000 B"},
		{"  flat (last within 5% of first)", missing, "yes"},
		{"batch keys left after retention", missing, "0 (0.00 MiB)"},
	} {
		if got := cell(t, rows, tc.label, 1); got != tc.base {
			t.Errorf("%q, baseline: %q, want %q", tc.label, got, tc.base)
		}
		if got := cell(t, rows, tc.label, 2); got != tc.ours {
			t.Errorf("%q, ours: %q, want %q", tc.label, got, tc.ours)
		}
	}
	if got := cell(t, rows, "B/candidate after done, ledger kept (dataset)", 3); got != "<= 120" {
		t.Errorf("goal of the after-done row = %q", got)
	}
	for _, r := range rows {
		if r[0] == "  other keys (MEMORY USAGE)" {
			t.Error("a class under 0.5 B/candidate everywhere has a row")
		}
		if r[0] == "  wait/candidate" {
			t.Error("a command with no calls is among the top commands")
		}
	}

	var buf bytes.Buffer
	printTable(&buf, o, []*figures{baseline, ours})
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != len(rows)+1 || !strings.Contains(lines[0], "baseline abc1234") || !strings.HasSuffix(lines[0], "   goal") {
		t.Errorf("printTable: %d lines, header %q", len(lines), lines[0])
	}
	col := strings.Index(lines[0], "ours")
	for _, l := range lines[1:] {
		if r := []rune(l); len(r) > col && r[col-1] != ' ' {
			t.Errorf("column of ours not aligned in %q", l)
		}
	}
}

func TestPerCandidate(t *testing.T) {
	if got := perCandidate(300, 100); got != 3 {
		t.Errorf("perCandidate(300, 100) = %v", got)
	}
	if got := perCandidate(1, 0); !math.IsNaN(got) {
		t.Errorf("perCandidate(1, 0) = %v, want NaN", got)
	}
}

func TestRetentionWait(t *testing.T) {
	if got := retentionWait(2 * time.Second); got != 3*time.Second {
		t.Errorf("retentionWait(2s) = %v", got)
	}
	if got := retentionWait(10 * time.Second); got != 15*time.Second {
		t.Errorf("retentionWait(10s) = %v", got)
	}
}

func TestQuoteArgs(t *testing.T) {
	got := strings.Join(quoteArgs([]string{"-baseline", "", "-candidates", "10000", "-x", "a b"}), " ")
	if want := `-baseline "" -candidates 10000 -x "a b"`; got != want {
		t.Errorf("quoteArgs = %s, want %s", got, want)
	}
}

func TestCandidates(t *testing.T) {
	var buf bytes.Buffer
	total, err := writeCSV(&buf, "m", 300)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 301 || lines[0] != "email,name,cv_link" {
		t.Fatalf("%d lines, header %q", len(lines), lines[0])
	}
	seen := map[string]bool{}
	sum := 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 3 || !strings.Contains(f[0], "@") || !strings.HasPrefix(f[2], "https://") {
			t.Fatalf("bad row %q", l)
		}
		if seen[f[0]] || seen[f[2]] {
			t.Fatalf("repeated email or cv_link in %q", l)
		}
		seen[f[0]], seen[f[2]] = true, true
		sum += len(f[0]) + len(f[1]) + len(f[2])
	}
	if sum != total {
		t.Errorf("field bytes %d, writeCSV said %d", sum, total)
	}
	if a, b := genCandidate("m", 7), genCandidate("d", 7); a.email == b.email || a.cvLink == b.cvLink {
		t.Errorf("files m and d share a candidate: %+v", a)
	}
}
