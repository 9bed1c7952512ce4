package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

func TestFaultFailRate(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{FailRate: 1}})
	seen := map[int]int{}
	for i := range 20 {
		r := b.inviteReq(t, request(demoSet, fmt.Sprintf("f%d@example.com", i)))
		seen[r.status]++
		switch r.status {
		case http.StatusServiceUnavailable:
			if ra := r.header.Get("Retry-After"); ra != "1" {
				t.Errorf("503 Retry-After %q, want 1", ra)
			}
		case http.StatusInternalServerError:
		default:
			t.Fatalf("status %d, want 500 or 503; body %s", r.status, r.body)
		}
		r.errorBody(t)
	}
	if seen[500] == 0 || seen[503] == 0 {
		t.Errorf("statuses %v: want both 500 and 503", seen)
	}
	st := b.sb.Stats()
	if st.InjectedFailures != 20 || st.Invites != 0 || len(b.sb.Invites()) != 0 {
		t.Errorf("an injected failure recorded something: %+v", st)
	}

	// Auth comes first: a bad key still gets 401, not an injected failure.
	if r := b.invite(t, "", seedSampleRequest); r.status != http.StatusUnauthorized {
		t.Errorf("missing key under FailRate 1: status %d", r.status)
	}

	// Stop failing.
	if err := b.sb.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := b.inviteReq(t, request(demoSet, "after@example.com")); r.status != http.StatusOK {
		t.Errorf("after SetFaults(Faults{}): status %d", r.status)
	}
}

func TestFaultFailRateIsSeeded(t *testing.T) {
	t.Parallel()
	statuses := func(seed uint64) string {
		s, err := New(Config{Seed: seed, Faults: Faults{FailRate: 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for range 40 {
			req := httptest.NewRequest(http.MethodPost, payload.InvitePath, strings.NewReader(seedSampleRequest))
			req.Header.Set(HeaderAPIKey, DefaultKey)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			out = append(out, strconv.Itoa(w.Code))
		}
		return strings.Join(out, " ")
	}
	a, b := statuses(7), statuses(7)
	if a != b {
		t.Errorf("same seed, different runs:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "200") || !(strings.Contains(a, "500") || strings.Contains(a, "503")) {
		t.Errorf("FailRate 0.5 over 40 requests: %s", a)
	}
}

func TestFaultLostReply(t *testing.T) {
	t.Parallel()
	t.Run("504", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Faults: Faults{LostReplyRate: 1, LostReplyMode: LostReplyTimeout}})
		r := b.inviteReq(t, request(demoSet, "lost@example.com"))
		if r.status != http.StatusGatewayTimeout {
			t.Fatalf("status %d, want 504", r.status)
		}
		if n := b.sb.InviteCount(demoSet, "lost@example.com"); n != 1 {
			t.Errorf("the invite was not recorded: InviteCount %d", n)
		}
		if st := b.sb.Stats(); st.LostReplies != 1 || st.Invites != 1 || st.ByStatus[504] != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Faults: Faults{LostReplyRate: 1, LostReplyMode: LostReplyClose}})
		body, _ := json.Marshal(request(demoSet, "dropped@example.com"))
		r, err := b.doErr(t.Context(), http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
		if err == nil {
			t.Fatalf("got an answer %d %s, want a connection error", r.status, r.body)
		}
		if n := b.sb.InviteCount(demoSet, "dropped@example.com"); n != 1 {
			t.Errorf("the invite was not recorded: InviteCount %d", n)
		}
		recs := b.sb.Requests()
		if len(recs) != 1 || recs[0].Status != StatusNoReply || recs[0].Fault != faultLostReply {
			t.Errorf("records %+v", recs)
		}
	})
	t.Run("close without a hijackable writer", func(t *testing.T) {
		t.Parallel()
		s, err := New(Config{Faults: Faults{LostReplyRate: 1, LostReplyMode: LostReplyClose}})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, payload.InvitePath, strings.NewReader(seedSampleRequest))
		req.Header.Set(HeaderAPIKey, DefaultKey)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusGatewayTimeout || s.Stats().Invites != 1 {
			t.Errorf("status %d, stats %+v", w.Code, s.Stats())
		}
	})
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Seed: 3, Faults: Faults{LostReplyRate: 1}})
		var timeouts, closed int
		for i := range 16 {
			email := fmt.Sprintf("m%d@example.com", i)
			body, _ := json.Marshal(request(demoSet, email))
			r, err := b.doErr(t.Context(), http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
			switch {
			case err != nil:
				closed++
			case r.status == http.StatusGatewayTimeout:
				timeouts++
			default:
				t.Fatalf("status %d", r.status)
			}
			if n := b.sb.InviteCount(demoSet, email); n != 1 {
				t.Errorf("%s: InviteCount %d", email, n)
			}
		}
		if timeouts == 0 || closed == 0 {
			t.Errorf("mixed mode: %d timeouts, %d closed; want both", timeouts, closed)
		}
		if st := b.sb.Stats(); st.LostReplies != 16 || st.Invites != 16 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestFaultRate(t *testing.T) {
	t.Parallel()
	const other = "fl_live_other.test-secret"
	// One token per 100 s: after the burst, the next request is certainly over.
	b := setup(t, Config{
		Keys:   []KeyConfig{{Key: DefaultKey}, {Key: other}},
		Faults: Faults{Rate: 0.01, Burst: 2},
	})
	for i := range 2 {
		if r := b.inviteReq(t, request(demoSet, fmt.Sprintf("r%d@example.com", i))); r.status != http.StatusOK {
			t.Fatalf("request %d within the burst: status %d", i, r.status)
		}
	}
	r := b.inviteReq(t, request(demoSet, "over@example.com"))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over the burst: status %d, want 429", r.status)
	}
	r.errorBody(t)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
	if n := b.sb.InviteCount(demoSet, "over@example.com"); n != 0 {
		t.Errorf("a 429 recorded an invite")
	}

	// The bucket is per key.
	if r := b.invite(t, other, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("another key: status %d", r.status)
	}

	if st := b.sb.Stats(); st.RateLimited != 1 || st.ByStatus[429] != 1 {
		t.Errorf("stats %+v", st)
	}
	recs := b.sb.Requests()
	if recs[2].Fault != faultRateLimited || recs[2].Status != 429 {
		t.Errorf("record %+v", recs[2])
	}

	if err := b.sb.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := b.inviteReq(t, request(demoSet, "over@example.com")); r.status != http.StatusOK {
		t.Errorf("without a rate: status %d", r.status)
	}
}

func TestFaultRateRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate float64
		want int
	}{
		{1000, 1}, // a token is back within 1 ms: still at least 1
		{1, 1},
		{0.5, 2},
		{0.01, 100},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			t.Parallel()
			s, err := New(Config{Faults: Faults{Rate: tt.rate, Burst: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := s.allow(DefaultKey); !ok {
				t.Fatal("the first request is over the rate")
			}
			secs, ok := s.allow(DefaultKey)
			if ok && tt.rate >= 1000 {
				return // the token came back between the two calls
			}
			if ok || secs != tt.want {
				t.Errorf("allow = %d, %v; want %d, false", secs, ok, tt.want)
			}
		})
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	const latency = 150 * time.Millisecond
	b := setup(t, Config{Faults: Faults{Latency: latency, LatencyJitter: 20 * time.Millisecond}})
	start := time.Now()
	if r := b.inviteReq(t, request(demoSet, "slow@example.com")); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if took := time.Since(start); took < latency {
		t.Errorf("took %v, want at least %v", took, latency)
	}
	if err := b.sb.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := b.inviteReq(t, request(demoSet, "fast@example.com")); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
}

func TestFaultLatencyClientGone(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{Latency: time.Hour}})
	ctx, cancel := context.WithCancel(t.Context())
	body, _ := json.Marshal(request(demoSet, "gone@example.com"))
	errc := make(chan error, 1)
	go func() {
		_, err := b.doErr(ctx, http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
		errc <- err
	}()
	eventually(t, "the request to arrive", func() bool { return len(b.sb.Requests()) == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the client got an answer within an hour's latency")
	}
	eventually(t, "the request to be recorded as client gone", func() bool {
		return b.sb.Requests()[0].Status == StatusClientGone
	})
	if n := b.sb.InviteCount(demoSet, "gone@example.com"); n != 0 {
		t.Errorf("a request abandoned during latency was processed")
	}
}

// TestFaultReplyLatencyClientGone: with ReplyLatency the vendor acts first; a
// client that gives up before the reply leaves the invite created.
func TestFaultReplyLatencyClientGone(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{ReplyLatency: time.Hour}})
	ctx, cancel := context.WithCancel(t.Context())
	body, _ := json.Marshal(request(demoSet, "acted@example.com"))
	errc := make(chan error, 1)
	go func() {
		_, err := b.doErr(ctx, http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
		errc <- err
	}()
	eventually(t, "the invite to be created", func() bool { return b.sb.InviteCount(demoSet, "acted@example.com") == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the client got an answer within an hour's reply latency")
	}
	eventually(t, "the request to be recorded as client gone", func() bool {
		return b.sb.Requests()[0].Status == StatusClientGone
	})
	if n := b.sb.InviteCount(demoSet, "acted@example.com"); n != 1 {
		t.Errorf("%d invites after the client went away, want the 1 the vendor made", n)
	}
}

// TestFaultProcessAbandoned: with ProcessAbandoned a request whose client went
// away during the latency is decided as for anyone, its invites recorded, and
// its record says nobody read the answer, unless a fault decided it.
func TestFaultProcessAbandoned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		faults      Faults
		wantStatus  func(int) bool
		wantFault   string
		wantInvites int
	}{
		{
			name:        "processed, the answer read by nobody",
			faults:      Faults{Latency: time.Hour, ProcessAbandoned: true},
			wantStatus:  func(s int) bool { return s == http.StatusOK },
			wantFault:   faultAbandoned,
			wantInvites: 1,
		},
		{
			name:       "an injected failure decides it",
			faults:     Faults{Latency: time.Hour, ProcessAbandoned: true, FailRate: 1},
			wantStatus: func(s int) bool { return s == http.StatusInternalServerError || s == http.StatusServiceUnavailable },
			wantFault:  faultFail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Faults: tt.faults})
			ctx, cancel := context.WithCancel(t.Context())
			body, _ := json.Marshal(request(demoSet, "gone@example.com"))
			errc := make(chan error, 1)
			go func() {
				_, err := b.doErr(ctx, http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
				errc <- err
			}()
			eventually(t, "the request to arrive", func() bool { return b.sb.Stats().InFlight == 1 })
			cancel()
			if err := <-errc; err == nil {
				t.Fatal("the client got an answer within an hour's latency")
			}
			eventually(t, "the request to be decided", func() bool { return b.sb.Stats().InFlight == 0 })
			rec := b.sb.Requests()[0]
			if !tt.wantStatus(rec.Status) || rec.Fault != tt.wantFault {
				t.Errorf("record: status %d, fault %q; want fault %q", rec.Status, rec.Fault, tt.wantFault)
			}
			if n := b.sb.InviteCount(demoSet, "gone@example.com"); n != tt.wantInvites {
				t.Errorf("%d invites, want %d", n, tt.wantInvites)
			}
		})
	}
}

func TestSetFaultsRejectsBadValues(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		f     Faults
		field string
	}{
		{"fail rate over 1", Faults{FailRate: 1.5}, "FailRate"},
		{"negative lost rate", Faults{LostReplyRate: -0.1}, "LostReplyRate"},
		{"unknown mode", Faults{LostReplyMode: "sometimes"}, "LostReplyMode"},
		{"negative latency", Faults{Latency: -time.Second}, "Latency"},
		{"negative jitter", Faults{LatencyJitter: -time.Second}, "LatencyJitter"},
		{"negative reply latency", Faults{ReplyLatency: -time.Second}, "ReplyLatency"},
		{"negative rate", Faults{Rate: -1}, "Rate"},
		{"negative burst", Faults{Burst: -1}, "Burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.SetFaults(tt.f)
			if err == nil || !strings.Contains(err.Error(), "Faults."+tt.field+":") {
				t.Errorf("SetFaults: %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestFaultsJSON(t *testing.T) {
	t.Parallel()
	f := Faults{FailRate: 0.25, LostReplyRate: 0.5, LostReplyMode: LostReplyClose,
		Latency: 250 * time.Millisecond, LatencyJitter: time.Second, ReplyLatency: 2 * time.Second, Rate: 5, Burst: 3}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fail_rate":0.25,"lost_reply_rate":0.5,"lost_reply_mode":"close","latency":"250ms","latency_jitter":"1s","reply_latency":"2s","rate":5,"burst":3}`
	if string(b) != want {
		t.Errorf("Marshal:\n got %s\nwant %s", b, want)
	}
	var back Faults
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"latency":1000000}`), &back); err != nil || back != (Faults{Latency: time.Millisecond}) {
		t.Errorf("latency in ns: %+v, %v", back, err)
	}
	f = Faults{ProcessAbandoned: true}
	if b, err = json.Marshal(f); err != nil || !strings.Contains(string(b), `"process_abandoned":true`) {
		t.Errorf("Marshal(%+v) = %s, %v", f, b, err)
	}
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if f.String() != "process_abandoned" {
		t.Errorf("String() = %q", f.String())
	}
	for _, bad := range []string{`{"fail_rat":1}`, `{"latency":"soon"}`, `{"latency":true}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{FailRate: 0.2, LostReplyRate: 0.2, LostReplyMode: LostReplyTimeout}})
	const workers, each = 8, 12
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				body, _ := json.Marshal(request(demoSet, email, "w"+strconv.Itoa(w)+TagError+"@example.com"))
				if _, err := b.doErr(t.Context(), http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body); err != nil {
					t.Error(err)
				}
				_ = b.sb.Stats()
				_ = b.sb.InviteCount(demoSet, email)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			_ = b.sb.Requests()
			_ = b.sb.Invites()
			_ = b.sb.SetKeyState(InactiveKey, KeyInactive)
		}
	})
	wg.Wait()

	st := b.sb.Stats()
	total := 0
	for _, n := range st.ByStatus {
		total += n
	}
	if st.Requests != workers*each || total != st.Requests {
		t.Errorf("requests %d, by status %v; want %d", st.Requests, st.ByStatus, workers*each)
	}
	processed := st.ByStatus[200] + st.LostReplies
	if st.Invites != processed || st.CandidateErrors != processed || len(b.sb.Invites()) != processed {
		t.Errorf("stats %+v: want %d invites and candidate errors", st, processed)
	}
	if st.InjectedFailures != st.ByStatus[500]+st.ByStatus[503] || st.LostReplies != st.ByStatus[504] {
		t.Errorf("stats %+v", st)
	}
	if st.DuplicateInvites != 0 {
		t.Errorf("DuplicateInvites %d", st.DuplicateInvites)
	}
}
