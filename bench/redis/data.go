package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/bulkinvite/bulkinvite/bench/internal/names"
)

// candidate is one generated row: the three fields the goals are measured with.
type candidate struct{ email, name, cvLink string }

// genCandidate is the i-th candidate of the file tagged tag ("m", "d", "n"):
// files with different tags share no email and no CV link.
func genCandidate(tag string, i int) candidate {
	first := names.First[i%len(names.First)]
	last := names.Last[(i/len(names.First))%len(names.Last)]
	h := sha256.Sum256([]byte(tag + strconv.Itoa(i)))
	id := hex.EncodeToString(h[:8])
	return candidate{
		email:  fmt.Sprintf("%s.%s.%s%d@example-mail.com", lower(first), lower(last), tag, i),
		name:   first + " " + last,
		cvLink: "https://files.example-ats.com/cv/" + id + "/" + lower(first) + "-" + lower(last) + ".pdf",
	}
}

// fieldBytes is len(email)+len(name)+len(cv_link).
func (c candidate) fieldBytes() int { return len(c.email) + len(c.name) + len(c.cvLink) }

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// candidateFile is a generated CSV file and the mean size of its candidates' fields.
type candidateFile struct {
	path       string
	n          int
	meanFields float64
}

// writeCandidates writes n candidates tagged tag as CSV (email,name,cv_link) to path.
func writeCandidates(path, tag string, n int) (candidateFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return candidateFile{}, err
	}
	total, err := writeCSV(f, tag, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return candidateFile{}, fmt.Errorf("write %s: %w", path, err)
	}
	return candidateFile{path: path, n: n, meanFields: float64(total) / float64(n)}, nil
}

// writeCSV writes the rows and returns the sum of their fields' sizes.
func writeCSV(w io.Writer, tag string, n int) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString("email,name,cv_link\n")
	total := 0
	for i := range n {
		c := genCandidate(tag, i)
		total += c.fieldBytes()
		bw.WriteString(c.email + "," + c.name + "," + c.cvLink + "\n")
	}
	return total, bw.Flush()
}
