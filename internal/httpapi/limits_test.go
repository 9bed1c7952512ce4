package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// slowUpload is a POST /v1/batches whose body the test sends in two parts: the
// request is in the handler, reading, once send has returned.
type slowUpload struct {
	pw   *io.PipeWriter
	rest string
	rec  *httptest.ResponseRecorder
	hr   *http.Request
	done chan struct{}
}

// startUpload starts body's upload with token and its Content-Length, sends
// its first head bytes and returns once the server has read them.
func (tb *testBundle) startUpload(t *testing.T, token, body string, head int) *slowUpload {
	t.Helper()
	pr, pw := io.Pipe()
	hr := httptest.NewRequest(http.MethodPost, "/v1/batches", pr)
	hr.ContentLength = int64(len(body)) // its space is taken before a byte is read
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	u := &slowUpload{pw: pw, rest: body[head:], rec: httptest.NewRecorder(), hr: hr, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		tb.srv.ServeHTTP(u.rec, hr)
		_ = pr.Close() // a refused upload is not read to its end
	}()
	if _, err := io.WriteString(pw, body[:head]); err != nil {
		t.Fatalf("upload refused before its body was read: %v", err)
	}
	return u
}

// finish sends the rest of the body and waits for the answer.
func (u *slowUpload) finish(t *testing.T) *httptest.ResponseRecorder {
	t.Helper()
	_, _ = io.WriteString(u.pw, u.rest)
	_ = u.pw.Close()
	<-u.done
	checkAgainstDoc(t, u.hr, u.rec)
	return u.rec
}

// abort cuts the upload off, as a client that goes away, and waits for the answer.
func (u *slowUpload) abort() *httptest.ResponseRecorder {
	_ = u.pw.CloseWithError(io.ErrUnexpectedEOF)
	<-u.done
	return u.rec
}

// withBatchID gives the sample request another batch id.
func withBatchID(id string) string {
	return strings.Replace(seed, "{", `{"batch_id":"`+id+`",`, 1)
}

// padded is body after n blanks: as large as wanted, and still one request.
func padded(body string, n int) string { return strings.Repeat(" ", n) + body }

// TestTokenInFlightCap: a token with TokenInFlight uploads in flight gets 429
// rate_limited with Retry-After for one more, while another token still gets
// through; once an upload ends, the token has a request again.
func TestTokenInFlightCap(t *testing.T) {
	t.Parallel()
	const n = 3
	tb := setup(t, httpapi.Config{TokenInFlight: n})
	var ups []*slowUpload
	for i := range n {
		ups = append(ups, tb.startUpload(t, token1, withBatchID("inflight-"+string(rune('a'+i))), 10))
	}

	rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: withBatchID("inflight-over")})
	if e := errorOf(t, rec, http.StatusTooManyRequests); e.Code != httpapi.CodeRateLimited {
		t.Errorf("upload %d of one token: code %q, want %q", n+1, e.Code, httpapi.CodeRateLimited)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	other := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: withBatchID("inflight-other"), header: []string{"Authorization", "Bearer " + token2}})
	if other.Code != http.StatusAccepted {
		t.Errorf("another token: status %d, want 202: %s", other.Code, other.Body)
	}

	for i, u := range ups {
		if rec := u.finish(t); rec.Code != http.StatusAccepted {
			t.Errorf("upload %d: status %d, want 202: %s", i+1, rec.Code, rec.Body)
		}
	}
	if rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: withBatchID("inflight-after")}); rec.Code != http.StatusAccepted {
		t.Errorf("after the uploads ended: status %d, want 202: %s", rec.Code, rec.Body)
	}
}

// TestSpoolLimit: two bodies held at once past SpoolLimit: the second is
// answered 503 server_busy with Retry-After while the first goes on; the space
// comes back when a request ends, whether it was imported, refused or cut off
// by its client, and no temporary file stays behind.
func TestSpoolLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	dir := t.TempDir()
	tb := setup(t, httpapi.Config{SpoolLimit: limit, MaxBodyBytes: limit, SpoolMemory: 4 << 10, SpoolDir: dir})
	size := 40 << 10 // two of them do not fit
	body := func(id string) string { b := withBatchID(id); return padded(b, size-len(b)) }

	first := tb.startUpload(t, token1, body("spool-first"), size-100)
	rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: body("spool-second"), header: []string{"Authorization", "Bearer " + token2}})
	if e := errorOf(t, rec, http.StatusServiceUnavailable); e.Code != httpapi.CodeServerBusy {
		t.Errorf("second body: code %q, want %q", e.Code, httpapi.CodeServerBusy)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if rec := first.finish(t); rec.Code != http.StatusAccepted {
		t.Fatalf("first body: status %d, want 202: %s", rec.Code, rec.Body)
	}
	if got := httpapi.SpoolInUse(tb.srv); got != 0 {
		t.Errorf("after both ended: %d bytes of spool still held", got)
	}

	cut := tb.startUpload(t, token1, body("spool-cut"), size-100)
	if rec := cut.abort(); rec.Code != http.StatusBadRequest {
		t.Errorf("upload cut off: status %d, want 400: %s", rec.Code, rec.Body)
	}
	if got := httpapi.SpoolInUse(tb.srv); got != 0 {
		t.Errorf("after an upload was cut off: %d bytes of spool still held", got)
	}

	// The limit still holds with another body held, and once that one ends a
	// third body fits: all the space came back.
	held := tb.startUpload(t, token2, body("spool-held"), size-100)
	if rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: body("spool-third")}); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("third body beside a held one: status %d, want 503: %s", rec.Code, rec.Body)
	}
	// Without a Content-Length, the body is refused once it gets past the space.
	chunked := httptest.NewRequest(http.MethodPost, "/v1/batches", io.MultiReader(strings.NewReader(body("spool-chunked"))))
	chunked.Header.Set("Authorization", "Bearer "+token1)
	chunked.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	tb.srv.ServeHTTP(rec, chunked)
	checkAgainstDoc(t, chunked, rec)
	if e := errorOf(t, rec, http.StatusServiceUnavailable); e.Code != httpapi.CodeServerBusy {
		t.Errorf("body without a length: code %q, want %q", e.Code, httpapi.CodeServerBusy)
	}
	if rec := held.finish(t); rec.Code != http.StatusAccepted {
		t.Errorf("held body: status %d, want 202: %s", rec.Code, rec.Body)
	}
	if rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: body("spool-third")}); rec.Code != http.StatusAccepted {
		t.Errorf("third body: status %d, want 202: %s", rec.Code, rec.Body)
	}
	if got := httpapi.SpoolInUse(tb.srv); got != 0 {
		t.Errorf("at the end: %d bytes of spool still held", got)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
		t.Errorf("spool directory: %v left behind (%v)", left, err)
	}
}
