package callback

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrPrivateTarget is returned for a callback URL, or an address it resolves to,
// that is not a global unicast address (Public) or is one of this host's own,
// while such targets are not allowed.
var ErrPrivateTarget = errors.New("callback target is not a public address")

// MaxURLLength bounds a callback URL.
const MaxURLLength = 2048

// ValidateURL checks a batch's callback URL when the batch is accepted: http or
// https, a host, no user info or fragment, and unless allowPrivate no host that
// is localhost or an address that is not Public. A host name is checked again,
// with the addresses it resolves to, when the callback is sent.
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
