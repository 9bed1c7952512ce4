package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/worker"
)

// receiver records the callbacks POSTed to it.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []delivery
}

// delivery is one callback as received.
type delivery struct {
	ts   int64
	body []byte
	sig  string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get(callback.HeaderTimestamp), 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, delivery{ts: ts, body: body, sig: req.Header.Get(callback.HeaderSignature)})
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// tokenKey is a named token's callback key as its receiver is told it: the hex
// HMAC-SHA256 of "callback:<name>" keyed by BULKINVITE_CALLBACK_SECRET,
// computed here by hand so that the test pins the derivation.
func tokenKey(secret, name string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("callback:" + name))
	return hex.EncodeToString(mac.Sum(nil))
}

// TestCallbackKeyPerToken: the callback of a batch created by a named token is
// signed with that token's own key, so another token's receiver cannot verify
// it (nor forge one), and the global secret does not verify it either; a
// batch of a bare (admin) secret is signed with BULKINVITE_CALLBACK_SECRET as
// before.
func TestCallbackKeyPerToken(t *testing.T) {
	t.Parallel()
	const global = "global-callback-secret-5a1f"
	entries := "ats-a:submit+read:callback-key-test-a-4c8e1f0b7d2a9e63," +
		"ats-b:submit+read:callback-key-test-b-9e2d5c7a1f3b8e04"
	toks, err := auth.ParseEnv(entries)
	if err != nil {
		t.Fatal(err)
	}
	tb := setup(t, httpapi.Config{AuthTokens: toks, CallbackSigning: true, CallbackAllowPrivate: true})
	sender, err := callback.New(callback.Config{Secret: global, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	tb.StartWorker(pipelinetest.WorkerOptions{Notifier: sender, Worker: worker.Config{
		CallbackPoll: 100 * time.Millisecond, CallbackRetryMin: 100 * time.Millisecond, CallbackRetryMax: 200 * time.Millisecond,
	}})

	callers := []struct {
		secret, batch string
		rcv           *receiver
		key           string // what the receiver verifies with
	}{
		{"callback-key-test-a-4c8e1f0b7d2a9e63", "cb-a", newReceiver(t), tokenKey(global, "ats-a")},
		{"callback-key-test-b-9e2d5c7a1f3b8e04", "cb-b", newReceiver(t), tokenKey(global, "ats-b")},
		{token2, "cb-bare", newReceiver(t), global},
	}
	for _, c := range callers {
		body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","candidates":[{"email":"` + c.batch + `@example.com"}],` +
			`"callback_url":"` + c.rcv.URL + `/hook","batch_id":"` + c.batch + `"}`
		if rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body, header: []string{"Authorization", "Bearer " + c.secret}}); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", c.batch, rec.Code, rec.Body)
		}
	}
	for _, c := range callers {
		tb.WaitFor(c.batch, 30*time.Second, "callback delivered", func(b *store.Batch) bool {
			return b.Callback != nil && b.Callback.State == store.CallbackDelivered
		})
	}
	keys := map[string]string{"a": callers[0].key, "b": callers[1].key, "global": global}
	for _, c := range callers {
		got := c.rcv.deliveries()
		if len(got) != 1 {
			t.Fatalf("%s: %d deliveries, want 1", c.batch, len(got))
		}
		d := got[0]
		var verifies []string
		for _, name := range []string{"a", "b", "global"} {
			if callback.Verify(keys[name], d.ts, d.body, d.sig) {
				verifies = append(verifies, name)
			}
		}
		want := map[string]string{"cb-a": "a", "cb-b": "b", "cb-bare": "global"}[c.batch]
		if strings.Join(verifies, ",") != want {
			t.Errorf("%s's callback verifies with the keys [%s], want [%s] only", c.batch, strings.Join(verifies, ","), want)
		}
	}
}
