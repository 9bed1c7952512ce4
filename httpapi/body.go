package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
)

// Body kinds POST /v1/batches takes.
const (
	kindJSON = "json"
	kindCSV  = "csv"
)

// bodyKind reads a Content-Type: application/json or text/csv, UTF-8 if a
// charset is named.
func bodyKind(contentType string, kinds ...string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	want := "application/json"
	if len(kinds) > 1 {
		want += " or text/csv"
	}
	if err != nil {
		return "", errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send %s", contentType, want))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Sprintf("charset %q: send UTF-8", cs))
	}
	for _, k := range kinds {
		if k == kindJSON && mt == "application/json" || k == kindCSV && mt == "text/csv" {
			return k, nil
		}
	}
	return "", errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send %s", mt, want))
}

// spool holds a request body once read: the first Config.SpoolMemory bytes in
// memory, the rest in an unlinked temporary file; and its SHA-256.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
	hash string
}

// spoolBody reads r's body, at most Config.MaxBodyBytes (413 past that), into a
// spool whose hash also covers salt (what else makes the request what it is).
// The caller closes it.
func (s *Server) spoolBody(w http.ResponseWriter, r *http.Request, salt string) (*spool, error) {
	sp := &spool{}
	h := sha256.New()
	h.Write([]byte(salt + "\n"))
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if werr := sp.write(buf[:n], s.cfg.SpoolMemory, s.cfg.SpoolDir); werr != nil {
				sp.Close()
				return nil, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			sp.Close()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes))
			}
			return nil, invalid(Detail{Field: "body", Message: "reading the body: " + err.Error()})
		}
	}
	sp.hash = hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

func (sp *spool) write(p []byte, memMax int64, dir string) error {
	sp.size += int64(len(p))
	if sp.file == nil && int64(sp.mem.Len()+len(p)) <= memMax {
		sp.mem.Write(p)
		return nil
	}
	if sp.file == nil {
		f, err := os.CreateTemp(dir, "bulkinvite-body-*")
		if err != nil {
			return fmt.Errorf("spool the body: %w", err)
		}
		_ = os.Remove(f.Name()) // gone with the last descriptor, even if we crash
		sp.file = f
		if _, err := f.Write(sp.mem.Bytes()); err != nil {
			return fmt.Errorf("spool the body: %w", err)
		}
		sp.mem = bytes.Buffer{}
	}
	if _, err := sp.file.Write(p); err != nil {
		return fmt.Errorf("spool the body: %w", err)
	}
	return nil
}

// inMemory reports whether the whole body is in memory.
func (sp *spool) inMemory() bool { return sp.file == nil }

// reader reads the body from its start; each call gives a new reader.
func (sp *spool) reader() io.Reader {
	if sp.file != nil {
		return io.NewSectionReader(sp.file, 0, sp.size)
	}
	return bytes.NewReader(sp.mem.Bytes())
}

// Close releases the temporary file, if any.
func (sp *spool) Close() {
	if sp.file != nil {
		_ = sp.file.Close()
		_ = os.Remove(sp.file.Name())
	}
}
