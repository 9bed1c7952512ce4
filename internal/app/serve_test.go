package app_test

import (
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/app"
	"github.com/bulkinvite/bulkinvite/internal/config"
)

// TestHTTPConfigCarriesTheServeLimits: the serve settings reach the HTTP
// service's Config.
func TestHTTPConfigCarriesTheServeLimits(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.ServeMaxBody, c.ServeTokenRate, c.ServeTokenBurst = 4096, 7, 9
	c.ServeTokenInFlight, c.ServeSpoolLimit = 3, 8192
	hc := app.HTTPConfig(c)
	if hc.MaxBodyBytes != 4096 || hc.TokenRate != 7 || hc.TokenBurst != 9 {
		t.Errorf("body limit and rate: got %d, %g, %d; want 4096, 7, 9", hc.MaxBodyBytes, hc.TokenRate, hc.TokenBurst)
	}
	if hc.TokenInFlight != 3 || hc.SpoolLimit != 8192 {
		t.Errorf("TokenInFlight %d, SpoolLimit %d; want 3 and 8192", hc.TokenInFlight, hc.SpoolLimit)
	}
}
