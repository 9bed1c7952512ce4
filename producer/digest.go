package producer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// digest sums an import's records in order: what a re-run under the same batch
// id must read again. A record counts with its row, whether it was rejected
// (and why), its candidate and, for a replayed one, the dead letter it came
// from. The store keeps the sum at each segment's end and at the seal
// (store.Batch.Digest) and refuses a re-run whose sum differs.
type digest struct {
	h   hash.Hash
	buf []byte
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) add(rec *Record) {
	b := binary.AppendVarint(d.buf[:0], rec.Row)
	c := &rec.Candidate
	for _, f := range [...]string{c.ATSCandidateID, c.Email, c.Name, c.Firstname, c.Lastname, c.CVLink} {
		b = appendField(b, f)
	}
	switch {
	case rec.Err != nil:
		b = append(b, 'r')
		b = appendField(b, rec.Err.Field)
		b = appendField(b, rec.Err.Msg)
	case rec.History != nil:
		b = append(b, 'h')
		b = appendField(b, rec.History.DeadLetterID)
	default:
		b = append(b, 'a')
	}
	d.buf = b
	d.h.Write(b)
}

// appendField appends s with its length, so that no two lists of fields
// append the same bytes.
func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// sum is the digest of the records so far: 128 bits, in hex.
func (d *digest) sum() string {
	var out [sha256.Size]byte
	return hex.EncodeToString(d.h.Sum(out[:0])[:16])
}
