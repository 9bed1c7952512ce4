package task

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/bulkinvite/bulkinvite/payload"
)

// A version 2 chunk task carries no candidates: the producer stores them with
// the batch (store.AdmitSegment, in the batch's Redis slot), one blob per chunk,
// and the task names its blob and the part of it the task covers (Ref). The
// blob is the chunk's candidates column by column — seqs as deltas, rows as
// deltas, then each text field of every candidate, then the replay histories —
// compressed with zstd. Column by column, like values sit together, which
// compresses better: bench/redis's candidates (email, name, CV link, ~120
// bytes of fields) take about 30 bytes each in a chunk of 50 (s2 about 47,
// snappy 46; measured on chunks of 50 and 100).

// blobFormat is the first byte of an encoded blob, before compression.
const blobFormat = 1

// maxBlobCandidates bounds the candidates a blob may claim to hold, so that a
// corrupt blob cannot make DecodeCandidates allocate much.
const maxBlobCandidates = 1 << 16

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(16<<20))
	rawPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
)

// textFields are the candidate's text fields in the blob's order.
var textFields = []func(*payload.Candidate) *string{
	func(c *payload.Candidate) *string { return &c.Email },
	func(c *payload.Candidate) *string { return &c.Name },
	func(c *payload.Candidate) *string { return &c.Firstname },
	func(c *payload.Candidate) *string { return &c.Lastname },
	func(c *payload.Candidate) *string { return &c.CVLink },
	func(c *payload.Candidate) *string { return &c.ATSCandidateID },
}

// EncodeCandidates encodes a chunk's candidates as a blob (see Ref).
func EncodeCandidates(cands []Candidate) ([]byte, error) {
	bp := rawPool.Get().(*[]byte)
	defer rawPool.Put(bp)
	b := append((*bp)[:0], blobFormat)
	b = binary.AppendUvarint(b, uint64(len(cands)))
	var prevSeq, prevRow int64
	for _, c := range cands {
		b = binary.AppendVarint(b, c.Seq-prevSeq)
		b = binary.AppendVarint(b, c.Row-prevRow)
		prevSeq, prevRow = c.Seq, c.Row
	}
	for _, f := range textFields {
		for i := range cands {
			s := *f(&cands[i].Candidate)
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	for _, c := range cands {
		if c.History == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		h, err := json.Marshal(c.History)
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(h)))
		b = append(b, h...)
	}
	*bp = b
	return zenc.EncodeAll(b, nil), nil
}

// errBlob is wrapped by every error of a blob that cannot be read.
var errBlob = errors.New("corrupt candidates blob")

// DecodeCandidates reads a blob EncodeCandidates wrote.
func DecodeCandidates(blob []byte) ([]Candidate, error) {
	bp := rawPool.Get().(*[]byte)
	defer rawPool.Put(bp)
	raw, err := zdec.DecodeAll(blob, (*bp)[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBlob, err)
	}
	*bp = raw
	r := blobReader{b: raw}
	if f := r.byte(); f != blobFormat {
		return nil, fmt.Errorf("%w: format %d, this build reads %d", errBlob, f, blobFormat)
	}
	n := r.uvarint()
	if n == 0 || n > maxBlobCandidates {
		return nil, fmt.Errorf("%w: %d candidates", errBlob, n)
	}
	out := make([]Candidate, n)
	var seq, row int64
	for i := range out {
		seq += r.varint()
		row += r.varint()
		out[i].Seq, out[i].Row = seq, row
	}
	// One copy of the blob, which every text field is cut from: one allocation
	// for a chunk's fields rather than one each.
	all := string(raw)
	for _, f := range textFields {
		for i := range out {
			if b := r.bytes(); len(b) > 0 {
				at := len(raw) - len(r.b) - len(b)
				*f(&out[i].Candidate) = all[at : at+len(b)]
			}
		}
	}
	for i := range out {
		if h := r.bytes(); len(h) > 0 && r.err == nil {
			out[i].History = new(History)
			if err := json.Unmarshal(h, out[i].History); err != nil {
				return nil, fmt.Errorf("%w: history: %v", errBlob, err)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errBlob, len(r.b))
	}
	return out, nil
}

// blobReader reads a decompressed blob, keeping the first error.
type blobReader struct {
	b   []byte
	err error
}

func (r *blobReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", errBlob)
	}
	r.b = nil
}

func (r *blobReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *blobReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *blobReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *blobReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
