package store

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// Dedup tells which candidates of an import repeat an earlier candidate of the
// same batch: the first candidate to use a de-duplication key (DedupKeys) owns
// it, and a later one using any key owned by another is a duplicate
// (skipped_duplicate) and owns none of its keys. It is kept in the importing
// process, not in Redis: an import run again reads its input from the start
// (the digests of its segments say it is the same input), so it judges every
// candidate as the first run did. A Dedup serves one run of one import: its
// segments in order, each judged once (AdmitChunks asking again for the
// segment it judged last — a retry of the same step — gets the same answer).
//
// It keeps 8 bytes a key in open-addressing tables, between 40% and 80% full:
// about 20 bytes per key on average, 40 per candidate with an email and an ATS
// id. The zero Dedup is not usable; NewDedup makes one.
type Dedup struct {
	keys     fpSet
	last     int     // the segment judged last; -1 before any
	lastDups []int64 // its duplicates' seqs
}

// NewDedup returns a Dedup that has seen no candidate.
func NewDedup() *Dedup { return &Dedup{last: -1} }

// segmentKeys are the fingerprints of a segment's candidates' de-duplication
// keys: candidate i's are fps[at[i]:at[i+1]].
type segmentKeys struct {
	fps []uint64
	at  []int
}

// keysOf fingerprints each candidate's de-duplication keys (DedupKeys): the
// first 8 bytes of the key's SHA-256, big-endian.
func keysOf(cands []task.Candidate) segmentKeys {
	k := segmentKeys{fps: make([]uint64, 0, 2*len(cands)), at: make([]int, 1, len(cands)+1)}
	var buf []byte
	for _, c := range cands {
		buf = eachDedupKey(c.Candidate, buf, func(key []byte) {
			sum := sha256.Sum256(key)
			k.fps = append(k.fps, binary.BigEndian.Uint64(sum[:8]))
		})
		k.at = append(k.at, len(k.fps))
	}
	return k
}

// judge returns the seqs of the segment's candidates that are duplicates, and
// records the keys of the others as owned. Judging the segment judged last
// again answers as before and records nothing.
func (d *Dedup) judge(segment int, cands []task.Candidate, keys segmentKeys) []int64 {
	if segment == d.last {
		return d.lastDups
	}
	var dups []int64
	for i, c := range cands {
		own := keys.fps[keys.at[i]:keys.at[i+1]]
		dup := false
		for _, fp := range own {
			if d.keys.has(fp) {
				dup = true
				break
			}
		}
		if dup {
			dups = append(dups, c.Seq)
			continue
		}
		for _, fp := range own {
			d.keys.add(fp)
		}
	}
	d.last, d.lastDups = segment, dups
	return dups
}

// fpSet is a set of 64-bit fingerprints: 256 open-addressing tables with
// linear probing, picked by the fingerprint's top byte and grown one at a
// time, so that growing never holds two copies of the whole set. 0 marks an
// empty slot; the fingerprint 0 is kept as 1 (one in 2^63 merges two keys).
type fpSet struct {
	tables [256]fpTable
}

type fpTable struct {
	slots []uint64 // a power of two long, or empty
	n     int
}

const (
	fpTableMin = 8 // slots of a table's first allocation
	// A table grows (doubles) when adding would make it more than 13/16 full.
	fpLoadNum, fpLoadDen = 13, 16
)

func (s *fpSet) has(fp uint64) bool {
	if fp == 0 {
		fp = 1
	}
	t := &s.tables[fp>>56]
	if len(t.slots) == 0 {
		return false
	}
	mask := uint64(len(t.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch t.slots[i] {
		case fp:
			return true
		case 0:
			return false
		}
	}
}

// add puts fp in the set; it reports whether fp was new.
func (s *fpSet) add(fp uint64) bool {
	if fp == 0 {
		fp = 1
	}
	t := &s.tables[fp>>56]
	if (t.n+1)*fpLoadDen > len(t.slots)*fpLoadNum {
		t.grow()
	}
	if !t.put(fp) {
		return false
	}
	t.n++
	return true
}

func (t *fpTable) put(fp uint64) bool {
	mask := uint64(len(t.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch t.slots[i] {
		case fp:
			return false
		case 0:
			t.slots[i] = fp
			return true
		}
	}
}

func (t *fpTable) grow() {
	old := t.slots
	t.slots = make([]uint64, max(fpTableMin, 2*len(old)))
	for _, fp := range old {
		if fp != 0 {
			t.put(fp)
		}
	}
}
