package store

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFPSetAgainstAMap: the set answers as a map does through every table's
// growth, for fingerprints crowding one table and for 0.
func TestFPSetAgainstAMap(t *testing.T) {
	var s fpSet
	want := map[uint64]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(fp uint64) {
		t.Helper()
		isNew := !want[fp]
		if got := s.add(fp); got != isNew {
			t.Fatalf("add(%#x) = %v, want %v", fp, got, isNew)
		}
		want[fp] = true
	}
	for i := range 200_000 {
		fp := r.Uint64()
		if i%7 == 0 {
			fp &= 0x00ff_ffff_ffff_ffff // all in table 0
		}
		check(fp)
		if i%5 == 0 {
			check(fp) // again: not new
		}
	}
	check(0)
	for fp := range want {
		if !s.has(fp) {
			t.Fatalf("has(%#x) = false after add", fp)
		}
	}
	misses := 0
	for range 200_000 {
		fp := r.Uint64()
		if s.has(fp) != want[fp] {
			misses++
		}
	}
	if misses > 0 {
		t.Errorf("%d of 200,000 fingerprints not added answered has", misses)
	}
	n := 0
	for i := range s.tables {
		tb := &s.tables[i]
		n += tb.n
		if tb.n*fpLoadDen > len(tb.slots)*fpLoadNum {
			t.Errorf("table %d holds %d in %d slots", i, tb.n, len(tb.slots))
		}
	}
	if n != len(want) {
		t.Errorf("the tables count %d fingerprints, want %d", n, len(want))
	}
}

// TestDedupJudgesASegmentOnce: asking again for the segment judged last (a
// retried step) answers as before, where judging it anew would find each of
// its candidates a duplicate of itself.
func TestDedupJudgesASegmentOnce(t *testing.T) {
	d := NewDedup()
	seg := []task.Candidate{
		{Seq: 0, Candidate: payload.Candidate{Email: "a@example.com"}},
		{Seq: 1, Candidate: payload.Candidate{Email: "A@example.com"}},
		{Seq: 2, Candidate: payload.Candidate{CVLink: "https://cv.example.com/2"}},
	}
	for range 2 {
		if got := d.judge(0, seg, keysOf(seg)); len(got) != 1 || got[0] != 1 {
			t.Fatalf("duplicates %v, want [1]", got)
		}
	}
	next := []task.Candidate{{Seq: 3, Candidate: payload.Candidate{CVLink: "https://cv.example.com/2"}}}
	if got := d.judge(1, next, keysOf(next)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("duplicates %v, want [3]", got)
	}
}

// TestKeysOfAreTheDedupKeys: the fingerprints keysOf builds without strings
// are those of DedupKeys, ASCII and Unicode cases alike.
func TestKeysOfAreTheDedupKeys(t *testing.T) {
	seg := []task.Candidate{
		{Candidate: payload.Candidate{Email: "Ann.Lee@Example.COM", ATSCandidateID: "0190A5E0-0000-7000-8000-000000ABC001"}},
		{Candidate: payload.Candidate{Email: "ÉLODIE@exämple.com"}},
		{Candidate: payload.Candidate{CVLink: "https://cv.example.com/Ann.pdf"}},
		{Candidate: payload.Candidate{Email: "x@example.com", CVLink: "https://cv.example.com/x.pdf"}},
	}
	k := keysOf(seg)
	for i, c := range seg {
		want := DedupKeys(c.Candidate)
		got := k.fps[k.at[i]:k.at[i+1]]
		if len(got) != len(want) {
			t.Fatalf("candidate %d: %d fingerprints, want %d (%q)", i, len(got), len(want), want)
		}
		for j, key := range want {
			if fp := binary.BigEndian.Uint64([]byte(fingerprint(key))); got[j] != fp {
				t.Errorf("candidate %d key %q: fingerprint %x, want %x", i, key, got[j], fp)
			}
		}
	}
}
