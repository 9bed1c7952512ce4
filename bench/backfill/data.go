package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bulkinvite/bulkinvite/bench/internal/names"
)

// uuidOf makes a version-4-shaped UUID of a hash: the ATS ids are UUIDs.
func uuidOf(h [32]byte) string {
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// writeCSV writes a header and rows candidates (ATS id, email, name, CV link;
// every email and link distinct) to path, and returns the mean size of a row's
// fields.
func writeCSV(path string, rows int) (float64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("ats_candidate_id,email,name,cv_link\n")
	var total int64
	for i := range rows {
		first := names.First[i%len(names.First)]
		last := names.Last[(i/len(names.First))%len(names.Last)]
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		fl := strings.ToLower(first) + "-" + strings.ToLower(last)
		ats := uuidOf(h)
		email := fmt.Sprintf("%s.%s%d@example-mail.com", strings.ToLower(first), strings.ToLower(last), i)
		name := first + " " + last
		cv := "https://files.example-ats.com/cv/" + hex.EncodeToString(h[16:24]) + "/" + fl + ".pdf"
		total += int64(len(ats) + len(email) + len(name) + len(cv))
		w.WriteString(ats + "," + email + "," + name + "," + cv + "\n")
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return float64(total) / float64(rows), f.Close()
}
