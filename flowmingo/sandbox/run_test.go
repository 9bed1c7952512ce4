package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutine while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`(?m)^sandbox listening on (http://127\.0\.0\.1:\d+)$`)

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, ":0", Config{Faults: Faults{Rate: 5, Burst: 2}}, &out) }()

	var url string
	eventually(t, "the listening line", func() bool {
		m := listeningRE.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	banner := out.String()
	for _, k := range DefaultKeys() {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(k.Key) + `\s+` + string(k.State) + `\b`).MatchString(banner) {
			t.Errorf("banner does not list %s %s:\n%s", k.Key, k.State, banner)
		}
	}
	for _, want := range []string{DemoInterviewSetID, DemoProjectID, DemoJobPostID, "rate=5/s burst=2", PathStats, payload.InvitePath} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner does not show %s:\n%s", want, banner)
		}
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	b := &testBundle{sb: &Running{URL: url}, client: &http.Client{Transport: tr}}
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusOK {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}

	// A request held by an hour of latency does not hold up the shutdown.
	if r := b.do(t, http.MethodPost, PathFaults, "", []byte(`{"latency":"1h"}`)); r.status != http.StatusOK {
		t.Fatalf("POST faults: %d", r.status)
	}
	held := make(chan error, 1)
	go func() {
		body, _ := json.Marshal(request(demoSet, "held@example.com"))
		_, err := b.doErr(context.Background(), http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
		held <- err
	}()
	eventually(t, "the held request to arrive", func() bool {
		var recs []RequestRecord
		b.getJSON(t, PathRequests, &recs)
		return len(recs) == 2
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if err := <-held; err == nil {
		t.Error("the held request got an answer; want the connection closed")
	}
	if _, err := b.doErr(context.Background(), http.MethodGet, PathStats, "", "", nil); err == nil {
		t.Error("the sandbox still answers after ListenAndServe returned")
	}
}

func TestListenAndServeErrors(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	err := ListenAndServe(t.Context(), ":0", Config{Faults: Faults{FailRate: 3}}, &out)
	if err == nil || !strings.Contains(err.Error(), "Config.Faults.FailRate") {
		t.Errorf("bad config: %v", err)
	}
	err = ListenAndServe(t.Context(), "127.0.0.1:99999", Config{}, &out)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("bad address: %v", err)
	}
	if out.String() != "" {
		t.Errorf("printed %q before failing", out.String())
	}
}

func TestStartClose(t *testing.T) {
	t.Parallel()
	sb, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(sb.URL) {
		t.Errorf("URL %q", sb.URL)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(sb.URL + PathStats)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := sb.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Start(Config{MaxBodyBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Errorf("Start with a bad config: %v", err)
	}
}
