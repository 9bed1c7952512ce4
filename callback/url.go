package callback

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrPrivateTarget is returned for a callback URL, or an address it resolves to,
// that is loopback, private, link-local, or otherwise not on the public Internet,
// while such targets are not allowed.
var ErrPrivateTarget = errors.New("callback target is not a public address")

// MaxURLLength bounds a callback URL.
const MaxURLLength = 2048

// ValidateURL checks a batch's callback URL when the batch is accepted: http or
// https, a host, no user info or fragment, and unless allowPrivate no host that
// names a loopback, private or link-local address or localhost. A host name is
// checked again, with the addresses it resolves to, when the callback is sent.
func ValidateURL(raw string, allowPrivate bool) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("callback_url: longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("callback_url: not a URL: %v", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("callback_url: must be https:// (or http://), got %q", u.Scheme+"://")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("callback_url: has no host")
	case u.User != nil:
		return errors.New("callback_url: must not hold a user name or password (the callback is signed instead)")
	case u.Fragment != "":
		return errors.New("callback_url: must not have a #fragment")
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("callback_url: %w: %s (set BULKINVITE_CALLBACK_ALLOW_PRIVATE=true to allow it)", ErrPrivateTarget, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !Public(ip) {
		return fmt.Errorf("callback_url: %w: %s (set BULKINVITE_CALLBACK_ALLOW_PRIVATE=true to allow it)", ErrPrivateTarget, ip)
	}
	return nil
}

// Public reports whether ip is on the public Internet: not unspecified,
// loopback, private (RFC 1918, fc00::/7), link-local, multicast, CGNAT
// (100.64.0.0/10) or an IPv4 address inside IPv6 that is one of those.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsLoopback(), ip.IsPrivate(),
		ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		return false
	case ip.Is4() && cgnat.Contains(ip), ip.Is4() && ip.As4()[0] == 0:
		return false
	}
	return true
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// checkAddr is a net.Dialer Control function that refuses a connection to an
// address that is not public: the host name of a callback URL may resolve to one
// (or be made to, between the check at acceptance and the request).
func checkAddr(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !Public(ip) {
		return fmt.Errorf("%w: %s", ErrPrivateTarget, ip)
	}
	return nil
}
