package callback

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url          string
		allowPrivate bool
		want         string // "" = valid
		private      bool
	}{
		{"https://hooks.example.com/bulkinvite?token=x", false, "", false},
		{"http://hooks.example.com/done", false, "", false},
		{"ftp://hooks.example.com/", false, "must be https://", false},
		{"https:///path", false, "no host", false},
		{"https://user:pw@hooks.example.com/", false, "user name or password", false},
		{"https://hooks.example.com/#frag", false, "fragment", false},
		{"http://127.0.0.1:8080/cb", false, "127.0.0.1", true},
		{"http://localhost/cb", false, "localhost", true},
		{"http://api.localhost/cb", false, "api.localhost", true},
		{"http://10.1.2.3/cb", false, "10.1.2.3", true},
		{"http://192.168.0.10/cb", false, "192.168.0.10", true},
		{"http://169.254.169.254/latest/meta-data", false, "169.254.169.254", true},
		{"http://[::1]/cb", false, "::1", true},
		{"http://[fd00::1]/cb", false, "fd00::1", true},
		{"http://[::ffff:10.0.0.1]/cb", false, "10.0.0.1", true},
		{"http://100.64.1.1/cb", false, "100.64.1.1", true},
		{"http://0.0.0.0/cb", false, "0.0.0.0", true},
		{"http://127.0.0.1:8080/cb", true, "", false},
		{"https://" + strings.Repeat("a", 2100) + ".com/", false, "longer than", false},
	}
	for _, tt := range tests {
		err := ValidateURL(tt.url, tt.allowPrivate)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tt.url[:min(60, len(tt.url))], err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error with %q", tt.url[:min(60, len(tt.url))], err, tt.want)
		case tt.private != errors.Is(err, ErrPrivateTarget):
			t.Errorf("%s: %v: private %v", tt.url, err, tt.private)
		}
	}
}

func TestCheckAddrRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"93.184.216.34:443": true, "[64:ff9b::5db8:d822]:443": true, "[2606:2800:220:1:248:1893:25c8:1946]:443": true,
		"127.0.0.1:80": false, "10.0.0.7:443": false, "[::1]:80": false, "169.254.169.254:80": false,
		"192.0.2.2:80": false, "198.18.0.1:80": false, "[::ffff:127.0.0.1]:80": false, "[64:ff9b::7f00:1]:80": false, "[2002:c000:202::1]:80": false,
	} {
		err := guard{ownAddrs: noAddrs}.control("tcp", addr, nil)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want allowed %v", addr, err, ok)
		}
	}
	if !Public(netip.MustParseAddr("8.8.8.8")) || Public(netip.MustParseAddr("224.0.0.1")) {
		t.Error("Public misjudges 8.8.8.8 or multicast")
	}
}

func noAddrs() ([]net.Addr, error) { return nil, nil }

// TestCheckAddrRefusesThisHostsPublicAddress: a public address of this host is
// refused at connect time, and so is an IPv6 form that embeds it; another
// public address is not.
func TestCheckAddrRefusesThisHostsPublicAddress(t *testing.T) {
	t.Parallel()
	g := guard{ownAddrs: func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("93.184.216.34"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2606:2800:220:1::7"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}}
	for addr, ok := range map[string]bool{
		"93.184.216.34:443": false, "[::ffff:93.184.216.34]:443": false, "[64:ff9b::5db8:d822]:443": false,
		"[2002:5db8:d822::1]:443": false, "[2606:2800:220:1::7]:443": false,
		"93.184.216.35:443": true, "[2606:2800:220:1::8]:443": true, "8.8.8.8:53": true,
	} {
		err := g.control("tcp", addr, nil)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrPrivateTarget)) {
			t.Errorf("%s: %v, want allowed %v", addr, err, ok)
		}
	}
	failing := guard{ownAddrs: func() ([]net.Addr, error) { return nil, errors.New("no netlink") }}
	if err := failing.control("tcp", "8.8.8.8:53", nil); err == nil {
		t.Error("allowed a connection when this host's addresses could not be listed")
	}
}
