package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

func TestAdminStatsRequestsInvites(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	before := time.Now()
	b.inviteReq(t, request(demoSet, "one@example.com", "two@example.com"))
	b.invite(t, InactiveKey, seedSampleRequest)
	b.invite(t, "", seedSampleRequest)

	var st Stats
	b.getJSON(t, PathStats, &st)
	if !reflect.DeepEqual(st, b.sb.Stats()) {
		t.Errorf("GET stats %+v, Stats() %+v", st, b.sb.Stats())
	}
	want := Stats{Requests: 3, ByStatus: map[int]int{200: 1, 403: 1, 401: 1}, Candidates: 2, Invites: 2, Submissions: 2}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats %+v, want %+v (admin requests do not count)", st, want)
	}

	var recs []RequestRecord
	body := b.getJSON(t, PathRequests, &recs)
	noKeyIn(t, body, DefaultKey, InactiveKey)
	if len(recs) != 3 {
		t.Fatalf("%d records: %s", len(recs), body)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.At.Before(before.Add(-time.Second)) || r.Method != http.MethodPost || r.Path != payload.InvitePath {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if recs[0].Status != 200 || recs[0].Candidates != 2 || recs[0].Key != "fl_live_sandbox.****" || recs[0].KeyID == "" {
		t.Errorf("record 0: %+v", recs[0])
	}
	if recs[1].Status != 403 || recs[1].Key != "fl_live_inactive.****" {
		t.Errorf("record 1: %+v", recs[1])
	}
	if recs[2].Status != 401 || recs[2].Key != "" {
		t.Errorf("record 2: %+v", recs[2])
	}
	if got := MaxInWindow(recs, time.Hour); got != 3 {
		t.Errorf("MaxInWindow %d", got)
	}

	var invs []Invite
	b.getJSON(t, PathInvites, &invs)
	if len(invs) != 2 || invs[0].Email != "one@example.com" || invs[1].Email != "two@example.com" ||
		invs[0].Target != demoSet || invs[0].Request != 1 || !payload.IsUUID(invs[0].InvitationID) {
		t.Errorf("invites %+v", invs)
	}

	// Reset clears everything but keys and faults.
	if r := b.do(t, http.MethodPost, PathReset, "", nil); r.status != http.StatusOK {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	st = Stats{}
	b.getJSON(t, PathStats, &st)
	if !reflect.DeepEqual(st, Stats{ByStatus: map[int]int{}}) {
		t.Errorf("after reset: %+v", st)
	}
	if body := b.getJSON(t, PathRequests, &recs); strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("requests after reset: %s", body)
	}
	if body := b.getJSON(t, PathInvites, &invs); strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("invites after reset: %s", body)
	}
	if n := b.sb.InviteCount(demoSet, "one@example.com"); n != 0 {
		t.Errorf("InviteCount after reset: %d", n)
	}
	if r := b.invite(t, InactiveKey, seedSampleRequest); r.status != http.StatusForbidden {
		t.Errorf("key state after reset: %d", r.status)
	}
}

func TestAdminFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	r := b.do(t, http.MethodPost, PathFaults, "", []byte(`{"fail_rate":1,"latency":"1ms"}`))
	if r.status != http.StatusOK {
		t.Fatalf("POST faults: %d %s", r.status, r.body)
	}
	var f Faults
	b.getJSON(t, PathFaults, &f)
	if f != (Faults{FailRate: 1, Latency: time.Millisecond}) || b.sb.Faults() != f {
		t.Errorf("faults %+v", f)
	}
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status < 500 {
		t.Errorf("with fail_rate 1: status %d", r.status)
	}

	for _, bad := range []struct{ body, names string }{
		{`{"fail_rat":1}`, "fail_rat"},
		{`{"fail_rate":2}`, "FailRate"},
		{`{"lost_reply_mode":"often"}`, "LostReplyMode"},
		{`not json`, "faults"},
	} {
		r := b.do(t, http.MethodPost, PathFaults, "", []byte(bad.body))
		if r.status != http.StatusBadRequest {
			t.Errorf("POST faults %s: status %d", bad.body, r.status)
			continue
		}
		if e := r.errorBody(t); !strings.Contains(e.Message, bad.names) {
			t.Errorf("POST faults %s: message %q does not name %s", bad.body, e.Message, bad.names)
		}
	}
	if b.sb.Faults() != f {
		t.Errorf("a rejected POST changed the faults: %+v", b.sb.Faults())
	}

	// An empty object clears every fault.
	if r := b.do(t, http.MethodPost, PathFaults, "", []byte(`{}`)); r.status != http.StatusOK {
		t.Fatalf("POST faults {}: %d", r.status)
	}
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("after clearing faults: status %d", r.status)
	}
}

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	var keys []keyStateBody
	body := b.getJSON(t, PathKeys, &keys)
	noKeyIn(t, body, DefaultKey, InactiveKey, ExpiredKey, DeletedKey, NoScopeKey)
	if len(keys) != 5 {
		t.Errorf("keys %s", body)
	}

	set := func(key string, state KeyState) reply {
		t.Helper()
		return b.do(t, http.MethodPost, PathKeys, "", []byte(`{"key":"`+key+`","state":"`+string(state)+`"}`))
	}
	// Deactivate the default key, then fix it.
	r := set(DefaultKey, KeyInactive)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "fl_live_sandbox.****") {
		t.Fatalf("POST keys: %d %s", r.status, r.body)
	}
	noKeyIn(t, r.body, DefaultKey)
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusForbidden {
		t.Errorf("inactive: status %d", r.status)
	}
	set(DefaultKey, KeyDeleted)
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusUnauthorized {
		t.Errorf("deleted: status %d", r.status)
	}
	set(DefaultKey, KeyActive)
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("active again: status %d", r.status)
	}

	// A new key, as created at the vendor.
	const rotated = "fl_live_rotated.new-secret"
	if r := b.invite(t, rotated, seedSampleRequest); r.status != http.StatusUnauthorized {
		t.Errorf("unknown key: status %d", r.status)
	}
	set(rotated, KeyActive)
	if r := b.invite(t, rotated, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("added key: status %d", r.status)
	}

	for _, bad := range []struct{ body, names string }{
		{`{"key":"` + DefaultKey + `","state":"asleep"}`, "state"},
		{`{"key":"sk_live_x.secret-zzz","state":"active"}`, "not of the form"},
		{`{"key":"` + DefaultKey + `","state":"active","extra":1}`, "extra"},
	} {
		r := b.do(t, http.MethodPost, PathKeys, "", []byte(bad.body))
		if r.status != http.StatusBadRequest {
			t.Errorf("POST keys %s: status %d", bad.body, r.status)
			continue
		}
		if e := r.errorBody(t); !strings.Contains(e.Message, bad.names) {
			t.Errorf("POST keys %s: message %q does not say %q", bad.body, e.Message, bad.names)
		}
		noKeyIn(t, r.body, DefaultKey, "sk_live_x.secret-zzz")
	}
}

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tests := []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodGet, AdminPrefix + "nope", 404, ""},
		{http.MethodGet, PathReset, 405, "POST"},
		{http.MethodPost, PathStats, 405, "GET"},
		{http.MethodDelete, PathFaults, 405, "GET, POST"},
	}
	for _, tt := range tests {
		r := b.do(t, tt.method, tt.path, "", nil)
		if r.status != tt.want || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tt.method, tt.path, r.status, r.header.Get("Allow"), tt.want, tt.allow)
		}
		r.errorBody(t)
	}
	if st := b.sb.Stats(); st.Requests != 0 {
		t.Errorf("admin requests counted: %+v", st)
	}
}

func TestMaxInWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []RequestRecord {
		out := make([]RequestRecord, len(ms))
		for i, m := range ms {
			out[i].At = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		recs []RequestRecord
		want int
	}{
		{"none", nil, 0},
		{"one", at(0), 1},
		{"spread", at(0, 1000, 2000, 3000), 1},
		{"just under a second", at(0, 999), 2},
		{"burst in the middle", at(0, 1500, 1600, 1700, 2400, 2600), 4},
		{"unsorted", at(2600, 0, 1700, 1500, 2400, 1600), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MaxInWindow(tt.recs, time.Second); got != tt.want {
				t.Errorf("MaxInWindow = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestStatsInFlight: Stats.InFlight counts the requests received and not yet
// answered, whichever way they end, and a Reset does not forget them.
func TestStatsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{Latency: time.Hour}})
	body, err := json.Marshal(request(demoSet, "slow@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := b.doErr(ctx, http.MethodPost, payload.InvitePath, DefaultKey, "application/json", body)
			errc <- err
		}()
	}
	eventually(t, "two requests in flight", func() bool { return b.sb.Stats().InFlight == 2 })
	var st Stats
	b.getJSON(t, PathStats, &st)
	if st.InFlight != 2 {
		t.Errorf("GET stats: in_flight %d, want 2", st.InFlight)
	}
	for _, r := range b.sb.Requests() {
		if r.Status != -1 {
			t.Errorf("request %d in flight has status %d, want -1", r.Seq, r.Status)
		}
	}
	b.sb.Reset()
	if n := b.sb.Stats().InFlight; n != 2 {
		t.Errorf("after Reset: in flight %d, want 2", n)
	}

	// One gets its answer (the latency is lifted), the other's client goes away.
	if err := b.sb.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := b.inviteReq(t, request(demoSet, "fast@example.com")); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if n := b.sb.Stats().InFlight; n != 2 {
		t.Errorf("after an answered request: in flight %d, want 2", n)
	}
	cancel()
	for range 2 {
		if err := <-errc; err == nil {
			t.Error("a client got an answer within an hour's latency")
		}
	}
	eventually(t, "no request in flight", func() bool { return b.sb.Stats().InFlight == 0 })
}
