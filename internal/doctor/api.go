package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/bulkinvite/bulkinvite/internal/config"
)

// apiKey checks the key's shape (flowmingo.APIKey.Check), not whether the
// vendor takes it: that would take a request that acts.
func (r *run) apiKey() {
	if err := r.cfg.APIKey.Check(); err != nil {
		r.add(Check{Name: "api key", Status: Fail, Detail: err.Error(),
			Fix: "set FLOWMINGO_API_KEY, or FLOWMINGO_API_KEY_FILE to a file holding it alone: fl_live_<prefix>.<secret>"})
		return
	}
	r.add(Check{Name: "api key", Status: OK, Detail: r.cfg.APIKey.Masked() + " has the vendor's shape (whether the vendor accepts it shows at the first request)"})
}

// api sends a GET to the API's base URL, which invites nobody: any HTTP answer
// shows the URL reachable and, for https://, its certificate trusted.
func (r *run) api(ctx context.Context) {
	shown := config.RedactURL(r.cfg.APIURL)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.APIURL, nil)
	if err != nil {
		r.add(Check{Name: "api", Status: Fail, Detail: err.Error(), Fix: "set FLOWMINGO_API_URL to the vendor's https:// base URL"})
		return
	}
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		r.add(Check{Name: "api", Status: Fail, Detail: config.RedactURLs(err.Error()),
			Fix: "check FLOWMINGO_API_URL, DNS and the way out of this network (proxy, firewall); a certificate error needs the CA in the system's roots"})
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	u, _ := url.Parse(r.cfg.APIURL)
	switch {
	case resp.TLS != nil:
		r.add(Check{Name: "api", Status: OK, Detail: fmt.Sprintf("%s answers HTTP %d over %s, certificate trusted", shown, resp.StatusCode, tls.VersionName(resp.TLS.Version))})
	case r.cfg.CleartextAPIURL:
		r.add(Check{Name: "api", Status: Warn, Detail: fmt.Sprintf("%s answers HTTP %d in cleartext, to a host that is not loopback: the API key crosses the network unencrypted", shown, resp.StatusCode),
			Fix: "use the vendor's https:// URL, and unset BULKINVITE_ALLOW_INSECURE_API_URL"})
	default:
		r.add(Check{Name: "api", Status: OK, Detail: fmt.Sprintf("%s answers HTTP %d (plain http to loopback %s: a sandbox)", shown, resp.StatusCode, u.Hostname())})
	}
}
