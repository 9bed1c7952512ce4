package flowmingo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/bulkinvite/bulkinvite/payload"
)

// TestKeyNeverLeaks drives every kind of answer from a server that echoes the
// X-API-Key header back (raw and JSON-escaped), then prints and logs the client, its
// config and everything Invite returned in every way we know, and checks that the
// key's secret part is nowhere while its masked form is.
func TestKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		body   string // %[1]s: the key as received; %[2]s: the key as \u escapes
		header []string
	}
	answers := []answer{
		{400, `{"message":"bad key %[1]s"}`, nil},
		{400, `{"message":"bad key %[2]s","echo":{"%[2]s":"%[1]s"}}`, nil},
		{422, `{"message":["key %[1]s invalid"],"headers":{"x-api-key":"%[1]s"}}`, nil},
		{422, `{"errors":[{"field":"candidates[0].%[1]s","message":"key %[2]s"}]}`, nil},
		{413, `{"message":"too big for %[1]s"}`, nil},
		{401, `invalid API key: %[1]s`, nil},
		{403, `{"error":{"message":"key %[2]s lacks scope"}}`, nil},
		{404, `{"detail":"nothing for %[1]s"}`, nil},
		{429, `{"message":"slow down %[1]s"}`, []string{"Retry-After", "2"}},
		{500, `internal error with key=%[1]s`, nil},
		{503, "<html>\n<p>%[1]s</p>\n</html>", []string{"Retry-After", "3"}},
		{418, `%[1]s`, nil},
		{302, `moved`, []string{"Location", "https://elsewhere.example/%[1]s?key=%[1]s"}},
		{200, `not json %[1]s`, nil},
		{200, `{"results":[{"email_address":"alice@example.com","error_message":"key %[1]s","invitation_error_message":{"k":"%[2]s"},"candidate_entry":{"key":"%[1]s"}}]}`, nil},
		{200, `{"results":[{"email_address":"%[1]s@example.com"}]}`, nil},
		{200, `{"results":[{"email_address":"%[2]s"}]}`, nil},
		{200, `{"results":[{"email_address":"alice@example.com","cv_link":"https://x.example/%[2]s"}]}`, nil},
		{200, `{"results":[{"email_address":"alice@example.com","error_message":"%[1]s"},{}]}`, nil},
	}
	next := make(chan answer, len(answers))
	for _, a := range answers {
		next <- a
	}
	b := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a := <-next
		key := r.Header.Get("X-API-Key")
		for i := 0; i+1 < len(a.header); i += 2 {
			w.Header().Set(a.header[i], fmt.Sprintf(a.header[i+1], key))
		}
		w.WriteHeader(a.status)
		_, _ = fmt.Fprintf(w, a.body, key, unicodeEscaped(key))
	}), nil)

	var errs []error
	var results [][]CandidateResult
	for range answers {
		res, err := b.client.Invite(context.Background(), inviteReq(alice))
		if err != nil {
			errs = append(errs, err)
		} else {
			results = append(results, res)
		}
	}
	// Errors that no answer makes: refused, timed out, cancelled.
	refused, err := New(Config{BaseURL: "http://" + freeAddr(t), Key: NewAPIKey(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refused.Close)
	_, err = refused.Invite(context.Background(), inviteReq(alice))
	errs = append(errs, err)
	h, _ := blockingServer(t, nil)
	slow := setup(t, h, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	_, err = slow.client.Invite(context.Background(), inviteReq(alice))
	errs = append(errs, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = slow.client.Invite(ctx, inviteReq(alice))
	errs = append(errs, err)
	_, err = New(Config{Key: NewAPIKey(testKey), BaseURL: "ftp://" + testKey}) // the key pasted in the wrong place
	errs = append(errs, err)
	_, err = New(Config{Key: NewAPIKey(testKey + " and more")})
	errs = append(errs, err)

	kinds := map[string]bool{}
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		kinds[fmt.Sprintf("%T", err)] = true
	}
	for _, k := range []string{"*flowmingo.ValidationError", "*flowmingo.TooLargeError", "*flowmingo.AuthError", "*flowmingo.NotFoundError",
		"*flowmingo.RateLimitError", "*flowmingo.TransientError", "*flowmingo.canceledError"} {
		if !kinds[k] {
			t.Errorf("no %s among the errors: the test does not cover it", k)
		}
	}
	if len(results) != 5 {
		t.Errorf("%d successful calls, want 5", len(results))
	}

	// Print and log everything.
	var out bytes.Buffer
	enc := zap.NewProductionEncoderConfig()
	core := zapcore.NewTee(
		zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&out), zapcore.DebugLevel),
		zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(&out), zapcore.DebugLevel),
	)
	log := zap.New(core)
	cfg := Config{BaseURL: b.srv.URL, Key: NewAPIKey(testKey), HTTPClient: http.DefaultClient}
	c := b.client
	type holder struct {
		cfg    Config  // unexported: fmt prints it without calling any method
		client Client  // likewise
		Key    APIKey  // exported: Format applies
		C      *Client // exported pointer
	}
	things := []any{c, *c, cfg, &cfg, cfg.Key, &cfg.Key, holder{cfg, *c, cfg.Key, c}, &holder{cfg, *c, cfg.Key, c}}
	for _, err := range errs {
		things = append(things, err, errors.Unwrap(err))
		log.Error("invite failed", zap.Error(err), zap.Any("any", err), zap.NamedError("named", err))
		out.WriteString(err.Error() + "\n")
	}
	for _, res := range results {
		things = append(things, res)
		log.Info("results", zap.Any("results", res), zap.Reflect("reflect", res))
		j, err := json.Marshal(res)
		if err != nil {
			t.Errorf("results do not marshal: %v", err)
		}
		out.Write(j)
		for _, r := range res {
			things = append(things, r, r.Result)
			out.WriteString(r.Detail + "\n")
			for _, v := range r.Errors {
				out.Write(v)
			}
		}
	}
	log.Info("client", zap.Any("client", c), zap.Stringer("stringer", c), zap.Any("config", cfg), zap.Stringer("cfg", cfg),
		zap.Any("key", cfg.Key), zap.Stringer("keys", cfg.Key), zap.Reflect("reflect", cfg))
	for _, x := range things {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T"} {
			fmt.Fprintf(&out, verb+"\n", x)
		}
		out.WriteString(fmt.Sprint(x) + fmt.Sprintln(x))
	}
	_ = log.Sync()

	text := out.String()
	if strings.Contains(text, testSecret) {
		i := strings.Index(text, testSecret)
		t.Errorf("the key's secret leaked, e.g. near %q", text[max(0, i-300):min(len(text), i+100)])
	}
	if !strings.Contains(text, testMasked) {
		t.Errorf("the masked key %s shows nowhere: the test prints nothing useful", testMasked)
	}

	// What was redacted is still usable: the Body stays JSON, the error fields too.
	for _, err := range errs {
		var ve *ValidationError
		if errors.As(err, &ve) && ve.Body != nil && !json.Valid(ve.Body) {
			t.Errorf("ValidationError.Body is no longer JSON: %s", ve.Body)
		}
	}
	first := results[0][0]
	if first.Kind != Failed || string(first.Errors[payload.FieldErrorMessage]) != `"key `+testMasked+`"` {
		t.Errorf("echoing result: %+v", first)
	}
}
