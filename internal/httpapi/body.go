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
	"sync"
	"time"
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
// memory, the rest in an unlinked temporary file; and its SHA-256. The bytes
// it holds are taken from the server's spool space, and given back by Close.
type spool struct {
	mem   bytes.Buffer
	file  *os.File
	size  int64
	hash  string
	space *spoolSpace
	held  int64 // bytes taken from space
}

// spoolBody reads r's body, at most Config.MaxBodyBytes (413 past that), into a
// spool whose hash also covers salt (what else makes the request what it is).
// A body that does not fit in the spool space left is a 503 server_busy: at
// once when its Content-Length says so, else when it gets there. The caller
// closes the spool.
func (s *Server) spoolBody(w http.ResponseWriter, r *http.Request, salt string) (*spool, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, s.tooLarge()
	}
	sp := &spool{space: s.space}
	if r.ContentLength > 0 && !sp.reserve(r.ContentLength) {
		return nil, s.busy()
	}
	h := sha256.New()
	h.Write([]byte(salt + "\n"))
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if !sp.reserve(sp.size + int64(n)) {
				sp.Close()
				return nil, s.busy()
			}
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
				return nil, s.tooLarge()
			}
			return nil, invalid(Detail{Field: "body", Message: "reading the body: " + err.Error()})
		}
	}
	sp.hash = hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

// readBufs are spoolBody's read buffers: what is read is copied into the
// spool, so a buffer goes back once the body is read.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// tooLarge is the answer to a body over Config.MaxBodyBytes.
func (s *Server) tooLarge() *apiError {
	return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes))
}

// busy is the answer to a body that does not fit in the spool space left.
func (s *Server) busy() *apiError {
	e := errorf(http.StatusServiceUnavailable, CodeServerBusy, "the server holds as many request bodies as it may for now; retry later")
	e.retryAfter = int(spoolRetryAfter / time.Second)
	return e
}

// reserve makes sure the spool holds total bytes of the space, taking what is
// missing; false when the space has not that much left.
func (sp *spool) reserve(total int64) bool {
	if total <= sp.held {
		return true
	}
	if !sp.space.take(total - sp.held) {
		return false
	}
	sp.held = total
	return true
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

// Close releases the temporary file, if any, and gives the space back. A
// second Close does nothing.
func (sp *spool) Close() {
	if sp.file != nil {
		_ = sp.file.Close()
		_ = os.Remove(sp.file.Name())
		sp.file = nil
	}
	sp.mem = bytes.Buffer{}
	sp.space.give(sp.held)
	sp.held = 0
}
