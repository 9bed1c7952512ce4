package httpapi_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// TestThrottleClient: a request counts under the last address of the trusted
// header when one is configured and readable, else under the connection's; an
// IPv6 client under its /64.
func TestThrottleClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, value, remote, want string
	}{
		{"remote address", "", "", "203.0.113.9:4000", "203.0.113.9"},
		{"header not trusted", "", "", "10.0.0.2:4000", "10.0.0.2"},
		{"X-Forwarded-For: the proxy's entry, last", "X-Forwarded-For", "198.51.100.7, 203.0.113.9", "10.0.0.2:4000", "203.0.113.9"},
		{"header name in any case", "x-real-ip", "203.0.113.9", "10.0.0.2:4000", "203.0.113.9"},
		{"Forwarded", "Forwarded", `for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"`, "10.0.0.2:4000", "2001:db8:cafe::/64"},
		{"IPv4 in IPv6", "X-Real-IP", "::ffff:203.0.113.9", "10.0.0.2:4000", "203.0.113.9"},
		{"IPv6 remote", "", "", "[2001:db8::1]:4000", "2001:db8::/64"},
		{"header missing", "X-Real-IP", "", "10.0.0.2:4000", "10.0.0.2"},
		{"header unreadable", "X-Real-IP", "unknown", "10.0.0.2:4000", "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := httpapi.NewAuthThrottle(httpapi.ThrottleConfig{ProxyHeader: tt.header})
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.value != "" {
				r.Header.Set(tt.header, tt.value)
			}
			if got := th.Client(r); got != tt.want {
				t.Errorf("client %q, want %q", got, tt.want)
			}
		})
	}
}

// TestThrottleFailures: a client gets Burst failures, then a wait until its
// next; when the map is full, clients whose failures have worn off are
// forgotten first, and a client still held back is kept.
func TestThrottleFailures(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	th := httpapi.NewAuthThrottle(httpapi.ThrottleConfig{Rate: 1, Burst: 3, MaxClients: 2, Now: func() time.Time { return now }})
	for i := range 3 {
		if wait := th.Failed("a"); wait != 0 {
			t.Fatalf("failure %d: wait %s", i+1, wait)
		}
	}
	if wait := th.Failed("a"); wait != time.Second {
		t.Fatalf("failure 4: wait %s, want 1s", wait)
	}
	th.Failed("b")
	now = now.Add(time.Second) // b's failure has worn off; a has one failure left
	th.Failed("c")             // the map is full: b goes, a stays
	if w1, w2 := th.Failed("a"), th.Failed("a"); w1 != 0 || w2 != time.Second {
		t.Errorf("a after a second: waits %s, %s; want 0, 1s (a remembered)", w1, w2)
	}
}
