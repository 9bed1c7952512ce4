package store

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestSegmentIndexIsSortedBytewise: a segment's index entries are its
// candidates' (fingerprint, seq) pairs in the order of their bytes — top bits
// set, a fingerprint shared by two candidates (ordered by seq), seqs past 2^31
// — and a seq the index cannot hold is left out.
func TestSegmentIndexIsSortedBytewise(t *testing.T) {
	cands := []task.Candidate{{Seq: 0x8000_0001}, {Seq: 7}, {Seq: -1}, {Seq: maxIndexedSeq + 1}, {Seq: 3}, {Seq: maxIndexedSeq}}
	fps := [][]uint64{
		{0x8000_0000_0000_0000, 42},
		{42, 0xffff_ffff_ffff_ffff},
		{1},
		{2},
		{42},
		{0x7fff_ffff_ffff_ffff, 0},
	}
	keys := segmentKeys{at: []int{0}}
	var want [][]byte
	for i, f := range fps {
		keys.fps = append(keys.fps, f...)
		keys.at = append(keys.at, len(keys.fps))
		if seq := cands[i].Seq; seq >= 0 && seq <= maxIndexedSeq {
			for _, fp := range f {
				e := binary.BigEndian.AppendUint64(nil, fp)
				want = append(want, binary.BigEndian.AppendUint32(e, uint32(seq)))
			}
		}
	}
	slices.SortFunc(want, bytes.Compare)
	if got := segmentIndex(cands, keys); got != string(bytes.Join(want, nil)) {
		t.Errorf("segment index\n%x\nwant\n%x", got, bytes.Join(want, nil))
	}
}
