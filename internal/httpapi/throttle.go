package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultThrottleClients bounds the client addresses an AuthThrottle remembers.
const DefaultThrottleClients = 10000

// ThrottleConfig tunes an AuthThrottle. Zero fields take the documented defaults.
type ThrottleConfig struct {
	// Rate and Burst are the failed authentications each client address may
	// make per second, and at once. Defaults 1 and 10.
	Rate  float64
	Burst int
	// ProxyHeader names the request header that holds the client's address, as
	// the reverse proxy in front of serve sets it (X-Forwarded-For, X-Real-IP,
	// Forwarded): the last address it lists is the one the proxy saw. Set it only
	// when every request comes through that proxy, or a client can name any
	// address it likes. A request without the header counts under the
	// connection's address. Default "": the connection's remote address.
	ProxyHeader string
	// MaxClients bounds the client addresses remembered. Default 10000.
	MaxClients int
	// Now tells the time, for tests. Default time.Now.
	Now func() time.Time
}

// AuthThrottle limits failed authentications per client address. It never
// blocks a correct token: it decides only what a wrong one is answered (401
// while the address has failures left, 429 after). Guessing is kept out by the
// tokens' length (MinTokenLength); the throttle makes a flood of wrong tokens
// cheap to answer and plain to see. One AuthThrottle may serve the API and the
// dashboard's sign-in together. Safe for concurrent use.
type AuthThrottle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// NewAuthThrottle returns an AuthThrottle with cfg's limits.
func NewAuthThrottle(cfg ThrottleConfig) *AuthThrottle {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultFailedAuthRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultFailedAuthBurst
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultThrottleClients
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.ProxyHeader = http.CanonicalHeaderKey(strings.TrimSpace(cfg.ProxyHeader))
	return &AuthThrottle{cfg: cfg, clients: map[string]*rate.Limiter{}}
}

// Client returns the address r's failures count under: its client's address
// (ClientAddr). An IPv6 address counts under its /64, which one client usually
// holds whole.
func (t *AuthThrottle) Client(r *http.Request) string {
	if a, ok := t.addr(r); ok {
		return clientKey(a)
	}
	return r.RemoteAddr
}

// ClientAddr returns the address of r's client: the last address of the
// trusted proxy header when there is one, else the connection's remote address.
func (t *AuthThrottle) ClientAddr(r *http.Request) string {
	if a, ok := t.addr(r); ok {
		return a.String()
	}
	return r.RemoteAddr
}

func (t *AuthThrottle) addr(r *http.Request) (netip.Addr, bool) {
	if t.cfg.ProxyHeader != "" {
		if vs := r.Header.Values(t.cfg.ProxyHeader); len(vs) > 0 {
			if a, ok := lastAddr(vs[len(vs)-1]); ok {
				return a, true
			}
		}
	}
	return parseAddr(r.RemoteAddr)
}

// Failed counts a failed authentication of client. It returns 0 while the
// client has failures left, else how long until it has one again (answer 429
// with that Retry-After).
func (t *AuthThrottle) Failed(client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	l := t.clients[client]
	if l == nil {
		t.makeRoom(now)
		l = rate.NewLimiter(rate.Limit(t.cfg.Rate), t.cfg.Burst)
		t.clients[client] = l
	}
	res := l.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return wait
	}
	return 0
}

// makeRoom keeps the map within MaxClients: it forgets the clients whose
// failures have all worn off (forgetting them changes nothing), and if that is
// not enough, every client.
func (t *AuthThrottle) makeRoom(now time.Time) {
	if len(t.clients) < t.cfg.MaxClients {
		return
	}
	for c, l := range t.clients {
		if l.TokensAt(now) >= float64(t.cfg.Burst) {
			delete(t.clients, c)
		}
	}
	if len(t.clients) >= t.cfg.MaxClients {
		clear(t.clients)
	}
}

// lastAddr returns the last address a proxy header lists: "a, b" (X-Forwarded-For),
// "a" (X-Real-IP) or `for=a;proto=https, for="[b]:1"` (Forwarded).
func lastAddr(v string) (netip.Addr, bool) {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	for part := range strings.SplitSeq(v, ";") {
		if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "for") {
			v = val
			break
		}
	}
	return parseAddr(strings.Trim(strings.TrimSpace(v), `"`))
}

// parseAddr reads "ip", "ip:port" or "[ip]:port".
func parseAddr(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// clientKey is the key of a client address: the IPv4 address, or the /64 of
// an IPv6 one.
func clientKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
