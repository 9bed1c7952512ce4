package callback

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// receiver is a callback receiver that checks the signature as a real one would.
type receiver struct {
	secret string
	status int
	got    chan Event
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, err := strconv.ParseInt(req.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil || !Verify(r.secret, ts, body, req.Header.Get(HeaderSignature)) || time.Since(time.Unix(ts, 0)) > time.Minute {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != req.Header.Get(HeaderEvent) {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.got <- e
	w.WriteHeader(r.status)
}

func TestSend(t *testing.T) {
	t.Parallel()
	finished := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	status := store.Status{BatchID: "nightly", State: store.StateDone, Total: 3, Accepted: 3, Invited: 2, DeadLettered: 1, FinishedAt: &finished}
	tests := []struct {
		name       string
		secret     string // the receiver's
		keyID      string // the batch's: "" for the global secret, else a token's name
		answer     int
		wantStatus int
		wantErr    bool
	}{
		{"delivered", "k3y", "", http.StatusNoContent, http.StatusNoContent, false},
		{"the receiver fails", "k3y", "", http.StatusInternalServerError, http.StatusInternalServerError, true},
		{"a wrong key is refused by the receiver", "other", "", 0, http.StatusUnauthorized, true},
		{"a redirect is not followed", "k3y", "", http.StatusFound, http.StatusFound, true},
		{"a token's batch, checked with its key", TokenKey("k3y", "ats"), "ats", http.StatusNoContent, http.StatusNoContent, false},
		{"a token's batch, checked with another token's key", TokenKey("k3y", "crm"), "ats", 0, http.StatusUnauthorized, true},
		{"a token's batch, checked with the global secret", "k3y", "ats", 0, http.StatusUnauthorized, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rcv := &receiver{secret: tt.secret, status: tt.answer, got: make(chan Event, 1)}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			s, err := New(Config{Secret: "k3y", AllowPrivate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			code, err := s.Send(context.Background(), srv.URL+"/hook?token=t", tt.keyID, NewEvent(status))
			if code != tt.wantStatus || (err != nil) != tt.wantErr {
				t.Fatalf("Send = %d, %v; want %d, error %v", code, err, tt.wantStatus, tt.wantErr)
			}
			if tt.wantStatus != http.StatusUnauthorized {
				e := <-rcv.got
				if e.ID != "batch.done:nightly" || e.Type != EventBatchDone || !e.CreatedAt.Equal(finished) || e.Batch.Invited != 2 || e.Batch.State != store.StateDone {
					t.Errorf("event %+v", e)
				}
			}
		})
	}
}

// TestSendRefusesPrivateAddresses: with AllowPrivate false, a callback to a
// loopback address is refused before any connection. (The dialer's own check, for
// a host name that resolves to one, is TestCheckAddrRefusesPrivateAddresses.)
func TestSendRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit <- struct{}{} }))
	defer srv.Close()
	s, err := New(Config{Secret: "k3y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, port, _ := splitHostPort(srv.URL)
	for _, url := range []string{srv.URL, "http://localhost.:" + port + "/", "http://[::1]:" + port + "/"} {
		if _, err := s.Send(context.Background(), url, "", Event{ID: "x"}); !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("%s: %v, want ErrPrivateTarget", url, err)
		}
	}
	if len(hit) != 0 {
		t.Errorf("the receiver on loopback was reached %d times", len(hit))
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoSecret) {
		t.Errorf("New without a secret: %v", err)
	}
}

func splitHostPort(rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}
