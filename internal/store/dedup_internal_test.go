package store

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFPSetAgainstAMap: the set answers as a map does through every bucket's
// growth, for fingerprints crowding one bucket and for 0.
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
			fp &= 0x0000_ffff_ffff_ffff // all in bucket 0
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
	for b := range fpBuckets {
		g, from, to := s.bucket(uint64(b) << (64 - fpBucketBits))
		bucket := (*g)[from*fpEntry : to*fpEntry]
		for j := 1; j < to-from; j++ {
			if fpAt(bucket, j-1) >= fpAt(bucket, j) {
				t.Fatalf("bucket %d: entry %d %#x is not below entry %d %#x", b, j-1, fpAt(bucket, j-1), j, fpAt(bucket, j))
			}
		}
		n += to - from
	}
	for i, g := range s.groups {
		entries := 0
		for _, size := range s.sizes[i*fpGroup : (i+1)*fpGroup] {
			entries += int(size)
		}
		if len(g) != entries*fpEntry {
			t.Fatalf("group %d holds %d bytes, its buckets %d entries", i, len(g), entries)
		}
	}
	if n != len(want) {
		t.Errorf("the buckets hold %d fingerprints, want %d", n, len(want))
	}
}

// TestFPSetTellsNearFingerprintsApart: fingerprints that share their low 48
// bits (the bytes a bucket keeps) or their top 16 (the bucket), or differ in
// one bit only, are each their own, 0 and 1 included; none is in an empty
// set. Both in a set still small and in one with its buckets.
func TestFPSetTellsNearFingerprintsApart(t *testing.T) {
	for _, prefill := range []int{0, fpSmall + 1} {
		t.Run(fmt.Sprintf("after %d others", prefill), func(t *testing.T) {
			var s fpSet
			r := rand.New(rand.NewPCG(5, 6))
			for range prefill {
				s.add(r.Uint64()) // seeded: none is one of those below
			}
			if (s.groups != nil) != (prefill > fpSmall) {
				t.Fatalf("buckets made: %v after %d fingerprints", s.groups != nil, prefill)
			}
			checkNearFingerprints(t, &s)
		})
	}
}

func checkNearFingerprints(t *testing.T, s *fpSet) {
	t.Helper()
	var fps []uint64
	for _, low := range []uint64{0, 1, 0x0000_8000_0000_0000, fpLowMask} {
		for _, top := range []uint64{0, 1, 0x8000, 0xffff} {
			fps = append(fps, top<<48|low)
		}
	}
	for bit := range 64 {
		fps = append(fps, 0x0123_4567_89ab_cdef^1<<bit)
	}
	for _, fp := range fps {
		if s.has(fp) {
			t.Fatalf("has(%#x) before its add", fp)
		}
	}
	for i, fp := range fps {
		if !s.add(fp) {
			t.Fatalf("add(%#x) = false: taken for one of %#x", fp, fps[:i])
		}
		for _, later := range fps[i+1:] {
			if s.has(later) {
				t.Fatalf("has(%#x) after adding %#x only", later, fps[:i+1])
			}
		}
	}
	for _, fp := range fps {
		if !s.has(fp) || s.add(fp) {
			t.Fatalf("%#x: not in the set after its add", fp)
		}
	}
}

// TestFPSetMakesItsBucketsPastFpSmall: a set of at most fpSmall fingerprints
// (an import of a few candidates: an API server's one-candidate POSTs) makes
// none of the buckets' 640 KiB; the next fingerprint moves them all into the
// buckets, where every one is found.
func TestFPSetMakesItsBucketsPastFpSmall(t *testing.T) {
	var s fpSet
	r := rand.New(rand.NewPCG(7, 8))
	var fps []uint64
	for range fpSmall + 1 {
		fps = append(fps, r.Uint64())
	}
	for i, fp := range fps {
		if !s.add(fp) {
			t.Fatalf("add %d: taken as one before", i)
		}
		if made := s.groups != nil; made != (i == fpSmall) {
			t.Fatalf("after %d fingerprints the buckets are made: %v", i+1, made)
		}
	}
	if s.small != nil {
		t.Errorf("%d fingerprints left in small", len(s.small))
	}
	for i, fp := range fps {
		if !s.has(fp) || s.add(fp) {
			t.Fatalf("fingerprint %d not in the set after the move", i)
		}
	}
}

// TestFPSetHoldsAMillionKeysInAFewBytesEach: 2,000,000 fingerprints, those of
// 1,000,000 candidates with an email and an ATS id, take at most 7.5 bytes
// each beside the groups' and sizes' 640 KiB (the 256 tables this set
// replaced took 16.8), and every one is found.
func TestFPSetHoldsAMillionKeysInAFewBytesEach(t *testing.T) {
	const n = 2_000_000
	var s fpSet
	r := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		if !s.add(r.Uint64()) {
			t.Fatalf("add %d: a random fingerprint taken as one before", i)
		}
	}
	bytes := 0
	for _, g := range s.groups {
		bytes += cap(g)
	}
	if per := float64(bytes) / n; per > 7.5 {
		t.Errorf("%.2f bytes a fingerprint in the buckets, want at most 7.5", per)
	}
	r = rand.New(rand.NewPCG(3, 4))
	for i := range n {
		if fp := r.Uint64(); !s.has(fp) {
			t.Fatalf("fingerprint %d (%#x) not found", i, fp)
		}
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
