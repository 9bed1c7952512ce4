package store

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// The find index: what Find reads to tell, for one person, which candidates of
// a batch were theirs and what the vendor answered. It is one hash per batch,
// P{b:id}:fx, kept as long as the batch's record, with two kinds of fields:
//
//   - s<segment>: the segment's index entries, written once when the segment is
//     admitted (admitScript): per candidate and per de-duplication key of it
//     (DedupKeys: the email, the ATS id, the CV link of a CV-only candidate), the
//     key's fingerprint (8 bytes) and the candidate's seq (4 bytes, big-endian),
//     sorted bytewise, so that a lookup is a binary search of the segment's
//     string;
//   - i<seq/idsBucket>: the vendor's ids of the candidates of that bucket of
//     seqs that were invited or queued (recordScript appends them as their
//     outcomes are recorded): per candidate its seq's place in the bucket (1
//     byte), when (unix seconds, 4 bytes), then the invitation id and the
//     submission id (encodeID): 39 bytes for two UUIDs.

// Sizes of the find index's entries.
const (
	fpLen         = 8 // a fingerprint
	seqLen        = 4 // a seq, big-endian
	indexEntryLen = fpLen + seqLen
	// idsBucket is how many consecutive seqs share one field of vendor ids: a
	// chunk's candidates land in one or two fields, and a field stays a few KB
	// (64 entries of two UUIDs fill 2,502 of an allocation of 2,560 bytes).
	idsBucket = 64
)

// maxIndexedSeq is the last seq the index can hold (4 bytes); a candidate past
// it is left out of the index.
const maxIndexedSeq = math.MaxUint32

// segmentIndex returns the index entries of a segment's candidates, whose
// de-duplication keys' fingerprints are keys, sorted (see the find index), as
// one string.
func segmentIndex(cands []task.Candidate, keys segmentKeys) string {
	type entry struct {
		fp  uint64
		seq uint32
	}
	// Sorted by fingerprint, then seq (the order of their bytes): placed by the
	// fingerprint's top byte, then each run of one top byte, a few entries as
	// fingerprints are uniform, sorted.
	var at [257]int // at[b+1]: the entries with a top byte of b, then where they start
	indexed := func(yield func(uint64, uint32)) {
		for i, c := range cands {
			if c.Seq < 0 || c.Seq > maxIndexedSeq {
				continue
			}
			for _, fp := range keys.fps[keys.at[i]:keys.at[i+1]] {
				yield(fp, uint32(c.Seq))
			}
		}
	}
	indexed(func(fp uint64, _ uint32) { at[fp>>56+1]++ })
	for b := range 256 {
		at[b+1] += at[b]
	}
	entries := make([]entry, at[256])
	next := at
	indexed(func(fp uint64, seq uint32) {
		entries[next[fp>>56]] = entry{fp, seq}
		next[fp>>56]++
	})
	for b := range 256 {
		slices.SortFunc(entries[at[b]:at[b+1]], func(x, y entry) int {
			if c := cmp.Compare(x.fp, y.fp); c != 0 {
				return c
			}
			return cmp.Compare(x.seq, y.seq)
		})
	}
	var out strings.Builder
	out.Grow(len(entries) * indexEntryLen)
	for _, e := range entries {
		var b [indexEntryLen]byte
		binary.BigEndian.PutUint64(b[:fpLen], e.fp)
		binary.BigEndian.PutUint32(b[fpLen:], e.seq)
		out.Write(b[:])
	}
	return out.String()
}

// idsField is the field of the find index holding seq's vendor ids.
func idsField(seq int64) string {
	var buf [24]byte
	return string(strconv.AppendInt(append(buf[:0], 'i'), seq/idsBucket, 10))
}

// Tags of an id in an ids entry (encodeID): a length below idUUID is that many
// bytes of text; idUUID is a UUID in 16 bytes, its canonical form being the id.
const (
	idUUID   = 0xff
	maxIDLen = idUUID - 1
)

// encodeID appends id: a canonical (lower-case) UUID in 17 bytes, anything else
// as a length byte and its text, cut to maxIDLen bytes.
func encodeID(b []byte, id string) []byte {
	if u, ok := task.CanonicalUUID(id); ok {
		return append(append(b, idUUID), u[:]...)
	}
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	return append(append(b, byte(len(id))), id...)
}

// decodeID reads an id encodeID wrote at the start of b and returns it and the
// rest of b; ok is false when b is too short.
func decodeID(b []byte) (id string, rest []byte, ok bool) {
	if len(b) < 1 {
		return "", nil, false
	}
	n := int(b[0])
	if n == idUUID {
		if len(b) < 17 {
			return "", nil, false
		}
		u, _ := uuid.FromBytes(b[1:17])
		return u.String(), b[17:], true
	}
	if len(b) < 1+n {
		return "", nil, false
	}
	return string(b[1 : 1+n]), b[1+n:], true
}

// idsEntry is one candidate's entry in its ids field, or "" when there is
// nothing to keep (no id, or a seq the index cannot hold).
func idsEntry(seq int64, at time.Time, invitationID, submissionID string) string {
	if invitationID == "" && submissionID == "" || seq < 0 || seq > maxIndexedSeq {
		return ""
	}
	var buf [5 + 2*17]byte
	b := buf[:5]
	b[0] = byte(seq % idsBucket)
	binary.BigEndian.PutUint32(b[1:], uint32(max(at.Unix(), 0)))
	b = encodeID(b, invitationID)
	b = encodeID(b, submissionID)
	return string(b)
}

// vendorIDs are what an ids entry holds.
type vendorIDs struct {
	At                         time.Time
	InvitationID, SubmissionID string
}

// findIDs returns seq's entry in its ids field (idsField), if it holds one.
func findIDs(field string, seq int64) (vendorIDs, bool) {
	b := []byte(field)
	for len(b) >= 5 {
		s := int64(b[0])
		at := time.Unix(int64(binary.BigEndian.Uint32(b[1:])), 0).UTC()
		inv, rest, ok := decodeID(b[5:])
		if !ok {
			return vendorIDs{}, false
		}
		sub, rest, ok := decodeID(rest)
		if !ok {
			return vendorIDs{}, false
		}
		if s == seq%idsBucket {
			return vendorIDs{At: at, InvitationID: inv, SubmissionID: sub}, true
		}
		b = rest
	}
	return vendorIDs{}, false
}
