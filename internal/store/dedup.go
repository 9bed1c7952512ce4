package store

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"

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
// It keeps about 6.8 bytes a key (fpSet), 14 per candidate with an email and
// an ATS id. The zero Dedup is not usable; NewDedup makes one.
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

// fpSet is a set of 64-bit fingerprints in 6 bytes each: a fingerprint's top
// 16 bits pick one of 65536 buckets, which keeps the other 48, big-endian and
// sorted: all 64 bits tell two fingerprints apart (0 and 1 too). The buckets
// lie fpGroup to an allocation (a group), one after the other, so that a
// collection marks a quarter as many objects; a group grows by about an eighth
// when full, one at a time. The set holds about 6.8 bytes a fingerprint, plus
// 640 KiB once it holds more than fpSmall: until then it is one sorted slice
// (small), so that an import of a few candidates (an API server's
// one-candidate POSTs) does not make the buckets.
type fpSet struct {
	small  []uint64 // sorted: the set until it holds more than fpSmall
	groups [][]byte // fpBuckets/fpGroup of them, made when small overflows
	sizes  []uint32 // the entries of each bucket
}

// fpSmall is the most fingerprints the set keeps in small (8 KiB).
const fpSmall = 1024

const (
	fpBucketBits = 16
	fpBuckets    = 1 << fpBucketBits
	fpGroup      = 4                  // buckets in one group
	fpEntry      = 8 - fpBucketBits/8 // bytes a fingerprint keeps in its bucket
	fpLowMask    = 1<<(64-fpBucketBits) - 1
)

// bucket returns the group of fp's bucket and the entries of the group that
// are the bucket's, [from, to).
func (s *fpSet) bucket(fp uint64) (g *[]byte, from, to int) {
	b := int(fp >> (64 - fpBucketBits))
	for _, n := range s.sizes[b&^(fpGroup-1) : b] {
		from += int(n)
	}
	return &s.groups[b/fpGroup], from, from + int(s.sizes[b])
}

func (s *fpSet) has(fp uint64) bool {
	if s.groups == nil {
		_, found := slices.BinarySearch(s.small, fp)
		return found
	}
	g, from, to := s.bucket(fp)
	_, found := fpSearch((*g)[from*fpEntry:to*fpEntry], fp&fpLowMask)
	return found
}

// add puts fp in the set; it reports whether fp was new.
func (s *fpSet) add(fp uint64) bool {
	if s.groups == nil {
		i, found := slices.BinarySearch(s.small, fp)
		if found {
			return false
		}
		if len(s.small) < fpSmall {
			s.small = slices.Insert(s.small, i, fp)
			return true
		}
		s.groups, s.sizes = make([][]byte, fpBuckets/fpGroup), make([]uint32, fpBuckets)
		for _, x := range s.small {
			s.addToBucket(x)
		}
		s.small = nil
	}
	return s.addToBucket(fp)
}

// addToBucket is add once the set has its buckets.
func (s *fpSet) addToBucket(fp uint64) bool {
	g, from, to := s.bucket(fp)
	low := fp & fpLowMask
	i, found := fpSearch((*g)[from*fpEntry:to*fpEntry], low)
	if found {
		return false
	}
	n := len(*g)
	if n+fpEntry > cap(*g) {
		// Room for an eighth more (one at least): append from nothing takes
		// the allocator's size class as the capacity, where appending to the
		// group would double a small one.
		grown := append([]byte(nil), make([]byte, n+max(fpEntry, n/8/fpEntry*fpEntry))...)
		copy(grown, *g)
		*g = grown[:n]
	}
	*g = (*g)[:n+fpEntry]
	at := (from + i) * fpEntry
	copy((*g)[at+fpEntry:], (*g)[at:n])
	binary.BigEndian.PutUint16((*g)[at:], uint16(low>>32))
	binary.BigEndian.PutUint32((*g)[at+2:], uint32(low))
	s.sizes[fp>>(64-fpBucketBits)]++
	return true
}

// fpSearch returns where low is in the sorted bucket b, or where it would go,
// counted in entries, and whether it is there. Fingerprints are uniform, so it
// starts where low would stand among entries spread evenly over the bucket's
// range and steps from there: a few entries, one or two cache lines.
func fpSearch(b []byte, low uint64) (int, bool) {
	n := len(b) / fpEntry
	i, _ := bits.Mul64(low<<fpBucketBits, uint64(n)) // low / 2^48 of the way
	at := int(i)
	for at > 0 && fpAt(b, at-1) >= low {
		at--
	}
	for at < n && fpAt(b, at) < low {
		at++
	}
	return at, at < n && fpAt(b, at) == low
}

// fpAt is the entry i of bucket b.
func fpAt(b []byte, i int) uint64 {
	e := b[i*fpEntry : i*fpEntry+fpEntry]
	return uint64(binary.BigEndian.Uint16(e))<<32 | uint64(binary.BigEndian.Uint32(e[2:]))
}
