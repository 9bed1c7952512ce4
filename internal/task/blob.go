package task

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"

	"github.com/bulkinvite/bulkinvite/payload"
)

// A version 2 or 3 chunk task carries no candidates: the producer stores them
// with the batch (store.AdmitChunks, in the batch's Redis slot), in blobs, and
// the task names its blob and the part of it the task covers (Ref). Today's
// producer writes one blob per BlobChunks chunks (a version 3 task), of blob
// format 2:
//
//	format byte 2 | count of UUIDs (uvarint) | their 16 bytes each | zstd frame
//
// The zstd frame holds the candidates column by column: their count, seqs and
// rows as deltas, the emails' local parts, their domains ("@..."), the names,
// first names, last names, CV links (each as the length of the prefix it
// shares with the one before and the rest), ATS ids (0 for a canonical UUID,
// whose 16 bytes are the next of those before the frame, else its length + 1
// and its text), then
// the replay histories (JSON). Column by column, like values sit together,
// which compresses better; a UUID's 16 random bytes do not compress, and kept
// out of the frame they do not spoil its literals' Huffman table.
//
// Blob format 1, which older producers wrote one per chunk (version 2 tasks),
// is the whole blob compressed with zstd: the format byte 1, then the same
// columns with emails whole, links and ATS ids as plain text. A zstd frame
// starts with 0x28, so the first byte tells the formats apart.
//
// bench/backfill's candidates (ATS id, email, name, CV link: 155 bytes of
// fields) take 52.1 bytes each in format 1 blobs of 50, 45.4 in format 2 blobs
// of 50 and 39.2 in format 2 blobs of 200 (TestBlobSizeOfBackfillRows).

// Blob formats (the first byte of a blob, inside the compression for format 1).
const (
	blobFormat1 = 1
	blobFormat2 = 2
	zstdMagic0  = 0x28 // a zstd frame's first byte
)

// maxBlobCandidates bounds the candidates a blob may claim to hold, so that a
// corrupt blob cannot make it allocate much.
const maxBlobCandidates = 1 << 16

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(16<<20))
	rawPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}
)

// plainFields are the candidate's text fields kept as they are, in the
// blob's order (format 2; format 1 has the email first and the ATS id last,
// see textFields1).
var plainFields = []func(*payload.Candidate) *string{
	func(c *payload.Candidate) *string { return &c.Name },
	func(c *payload.Candidate) *string { return &c.Firstname },
	func(c *payload.Candidate) *string { return &c.Lastname },
}

// textFields1 are format 1's text fields in its order.
var textFields1 = []func(*payload.Candidate) *string{
	func(c *payload.Candidate) *string { return &c.Email },
	func(c *payload.Candidate) *string { return &c.Name },
	func(c *payload.Candidate) *string { return &c.Firstname },
	func(c *payload.Candidate) *string { return &c.Lastname },
	func(c *payload.Candidate) *string { return &c.CVLink },
	func(c *payload.Candidate) *string { return &c.ATSCandidateID },
}

// EncodeCandidates encodes candidates as a blob of format 2 (see Ref).
func EncodeCandidates(cands []Candidate) ([]byte, error) {
	bp := rawPool.Get().(*[]byte)
	defer rawPool.Put(bp)
	b := binary.AppendUvarint((*bp)[:0], uint64(len(cands)))
	var prevSeq, prevRow int64
	for _, c := range cands {
		b = binary.AppendVarint(b, c.Seq-prevSeq)
		b = binary.AppendVarint(b, c.Row-prevRow)
		prevSeq, prevRow = c.Seq, c.Row
	}
	for i := range cands {
		local, _ := splitEmail(cands[i].Email)
		b = appendText(b, local)
	}
	for i := range cands {
		_, domain := splitEmail(cands[i].Email)
		b = appendText(b, domain)
	}
	for _, f := range plainFields {
		for i := range cands {
			b = appendText(b, *f(&cands[i].Candidate))
		}
	}
	prev := ""
	for i := range cands {
		link := cands[i].CVLink
		p := sharedPrefix(prev, link)
		b = binary.AppendUvarint(b, uint64(p))
		b = appendText(b, link[p:])
		prev = link
	}
	var uuids []byte
	for i := range cands {
		id := cands[i].ATSCandidateID
		if u, ok := CanonicalUUID(id); ok {
			b = append(b, 0)
			uuids = append(uuids, u[:]...)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(id))+1)
		b = append(b, id...)
	}
	var err error
	if b, err = appendHistories(b, cands); err != nil {
		return nil, err
	}
	*bp = b
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(uuids)+len(b)/2)
	out = append(out, blobFormat2)
	out = binary.AppendUvarint(out, uint64(len(uuids)/16))
	out = append(out, uuids...)
	return zenc.EncodeAll(b, out), nil
}

func appendText(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHistories(b []byte, cands []Candidate) ([]byte, error) {
	for _, c := range cands {
		if c.History == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		h, err := json.Marshal(c.History)
		if err != nil {
			return nil, err
		}
		b = appendText(b, string(h))
	}
	return b, nil
}

// splitEmail cuts an email before its last '@': the domain keeps the '@', so
// that local + domain is the email whatever it holds.
func splitEmail(email string) (local, domain string) {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i], email[i:]
	}
	return email, ""
}

func sharedPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// CanonicalUUID parses s when it is a UUID in canonical form (lower case,
// with hyphens), the only form its 16 bytes give back: uuid.Parse(s)
// succeeds and its String is s.
func CanonicalUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	u, err := uuid.Parse(s)
	// 36 characters that parse are hex digits and four hyphens where String puts
	// them: String gives s back unless s has an upper-case digit.
	return u, err == nil && !strings.ContainsAny(s, "ABCDEF")
}

// errBlob is wrapped by every error of a blob that cannot be read.
var errBlob = errors.New("corrupt candidates blob")

// DecodeCandidates reads a blob EncodeCandidates (or an older build's) wrote.
func DecodeCandidates(blob []byte) ([]Candidate, error) {
	d, err := decodeBlob(blob, 0, maxBlobCandidates)
	if err != nil {
		return nil, err
	}
	return d.part, nil
}

// decodedBlob is a blob's candidates [from, to) and the seqs it starts and
// ends with.
type decodedBlob struct {
	part        []Candidate
	n           int
	first, last int64
	// text holds the text of part's candidates: each field is a substring of
	// what it accumulated, so that a chunk's candidates cost a few
	// allocations between them, not one per field. A strings.Builder never
	// changes what it has written, so a substring stays valid as it grows.
	text strings.Builder
}

// str adds b to d.text and returns it as a string.
func (d *decodedBlob) str(b ...[]byte) string {
	from := d.text.Len()
	for _, p := range b {
		d.text.Write(p)
	}
	return d.text.String()[from:]
}

// uuidStr adds the canonical form of UUID u to d.text and returns it.
func (d *decodedBlob) uuidStr(u []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	hex.Encode(buf[9:13], u[4:6])
	hex.Encode(buf[14:18], u[6:8])
	hex.Encode(buf[19:23], u[8:10])
	hex.Encode(buf[24:], u[10:])
	buf[8], buf[13], buf[18], buf[23] = '-', '-', '-', '-'
	return d.str(buf[:])
}

// decodeBlob reads a blob, making only its candidates [from, min(to, n)) —
// those a task covers — into strings; the others' fields are skipped.
func decodeBlob(blob []byte, from, to int) (*decodedBlob, error) {
	bp := rawPool.Get().(*[]byte)
	defer rawPool.Put(bp)
	d := new(decodedBlob)
	format, uuids := byte(blobFormat1), []byte(nil)
	frame := blob
	if len(blob) > 0 && blob[0] != zstdMagic0 {
		r := blobReader{b: blob}
		format = r.byte()
		if format != blobFormat2 {
			return d, fmt.Errorf("%w: format %d, this build reads %d and %d", errBlob, format, blobFormat1, blobFormat2)
		}
		k := r.uvarint()
		if r.err != nil || k > uint64(len(r.b))/16 {
			return d, fmt.Errorf("%w: truncated", errBlob)
		}
		uuids, frame = r.b[:16*k], r.b[16*k:]
	}
	raw, err := zdec.DecodeAll(frame, (*bp)[:0])
	if err != nil {
		return d, fmt.Errorf("%w: %v", errBlob, err)
	}
	*bp = raw
	r := blobReader{b: raw}
	if format == blobFormat1 {
		if f := r.byte(); f != blobFormat1 {
			return d, fmt.Errorf("%w: format %d inside zstd, this build reads %d there", errBlob, f, blobFormat1)
		}
	}
	n := r.uvarint()
	if n == 0 || n > maxBlobCandidates {
		return d, fmt.Errorf("%w: %d candidates", errBlob, n)
	}
	d.n = int(n)
	from = max(0, min(from, d.n))
	to = max(from, min(to, d.n))
	d.part = make([]Candidate, to-from)
	// Room for the part's share of the text and half as much again (CV links
	// are stored without the prefix they share with the one before), and its
	// UUIDs spelt out. Past that the builder grows.
	d.text.Grow(len(raw)*(to-from)/d.n*3/2 + 36*min(to-from, len(uuids)/16))
	in := func(i int) (*Candidate, bool) {
		if i < from || i >= to {
			return nil, false
		}
		return &d.part[i-from], true
	}
	var seq, row int64
	for i := range d.n {
		seq += r.varint()
		row += r.varint()
		if i == 0 {
			d.first = seq
		}
		if c, ok := in(i); ok {
			c.Seq, c.Row = seq, row
		}
	}
	d.last = seq
	if format == blobFormat1 {
		for _, f := range textFields1 {
			for i := range d.n {
				s := r.bytes()
				if c, ok := in(i); ok {
					*f(&c.Candidate) = d.str(s)
				}
			}
		}
	} else {
		d.decodeColumns2(&r, from, to, in, uuids)
	}
	for i := range d.n {
		h := r.bytes()
		if c, ok := in(i); ok && len(h) > 0 && r.err == nil {
			c.History = new(History)
			if err := json.Unmarshal(h, c.History); err != nil {
				return d, fmt.Errorf("%w: history: %v", errBlob, err)
			}
		}
	}
	if r.err != nil {
		return d, r.err
	}
	if len(r.b) != 0 {
		return d, fmt.Errorf("%w: %d bytes left over", errBlob, len(r.b))
	}
	return d, nil
}

// decodeColumns2 reads format 2's text columns of n candidates into those of
// [from, to), which in gives.
func (d *decodedBlob) decodeColumns2(r *blobReader, from, to int, in func(int) (*Candidate, bool), uuids []byte) {
	n := d.n
	locals := make([][]byte, to-from) // joined to the domains below
	for i := range n {
		local := r.bytes()
		if i >= from && i < to {
			locals[i-from] = local
		}
	}
	for i := range n {
		domain := r.bytes()
		if c, ok := in(i); ok {
			c.Email = d.str(locals[i-from], domain)
		}
	}
	for _, f := range plainFields {
		for i := range n {
			s := r.bytes()
			if c, ok := in(i); ok {
				*f(&c.Candidate) = d.str(s)
			}
		}
	}
	var link []byte
	for i := range n {
		p := r.uvarint()
		rest := r.bytes()
		if p > uint64(len(link)) {
			r.fail()
			return
		}
		link = append(link[:p], rest...)
		if c, ok := in(i); ok {
			c.CVLink = d.str(link)
		}
	}
	for i := range n {
		var text []byte
		k := r.uvarint()
		switch {
		case k == 0 && len(uuids) >= 16:
			text, uuids = uuids[:16], uuids[16:]
		case k == 0 || k-1 > uint64(len(r.b)):
			r.fail()
		default:
			text, r.b = r.b[:k-1], r.b[k-1:]
		}
		if c, ok := in(i); ok && r.err == nil {
			if k == 0 {
				c.ATSCandidateID = d.uuidStr(text)
			} else {
				c.ATSCandidateID = d.str(text)
			}
		}
	}
	if len(uuids) != 0 {
		r.fail()
	}
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
