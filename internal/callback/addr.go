package callback

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Public reports whether ip is a global unicast address per the IANA IPv4 and
// IPv6 Special-Purpose Address Registries: IPv4 outside their blocks that are
// not globally reachable, multicast and 240.0.0.0/4; IPv6 inside 2000::/3 and
// outside those blocks. An IPv6 address that embeds an IPv4 address is judged
// by it (the embedded address is where the packets go): IPv4-mapped
// (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16). The deprecated
// IPv4-compatible form (::/96), local-use NAT64 (64:ff9b:1::/48) and Teredo
// (2001::/32) are never public. Whole blocks are refused even where the
// registry marks a few anycast service addresses inside them as reachable
// (192.0.0.9, 192.0.0.10, 2001:1::1/128 ...): no callback has business there.
func Public(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if v4, ok := embeddedIPv4(ip); ok {
		return publicIPv4(v4)
	}
	if ip.Is4() {
		return publicIPv4(ip)
	}
	if !ip.Is6() || !globalUnicast6.Contains(ip) {
		return false
	}
	for _, p := range special6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func publicIPv4(ip netip.Addr) bool {
	for _, p := range special4 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries to: mapped,
// NAT64 well-known prefix, 6to4.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap(), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// special4 are the IPv4 blocks that are not global unicast: the registry's
// blocks not globally reachable, multicast, and the reserved 240.0.0.0/4
// (which holds the limited broadcast address).
var special4 = prefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (CGNAT)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments (DS-Lite, NAT64 discovery ...)
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
)

// special6 are the blocks inside 2000::/3 that are not global unicast; all
// else outside 2000::/3 (::1, ::, ::/96, 64:ff9b:1::/48, 100::/64, fc00::/7,
// fe80::/10, ff00::/8 ...) is refused by Public already. 2002::/16 (6to4) is
// judged by its embedded IPv4 address before.
var special6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, ORCHID, benchmarking ...
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// guard decides at connect time whether a callback may reach an address: a
// net.Dialer Control function, since a callback URL's host name may resolve to
// any address (or be made to, between the check at acceptance and the request).
type guard struct {
	// ownAddrs lists this host's addresses (net.InterfaceAddrs).
	ownAddrs func() ([]net.Addr, error)
}

// control refuses a connection to an address that is not Public or is one of
// this host's own (a public address of this host reaches its own services).
func (g guard) control(_, address string, _ syscall.RawConn) error {
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
	own, err := g.own(ip)
	if err != nil {
		return fmt.Errorf("list this host's addresses: %w", err)
	}
	if own {
		return fmt.Errorf("%w: %s is this host's own address", ErrPrivateTarget, ip)
	}
	return nil
}

// own reports whether ip, or the IPv4 address it embeds, is one of this host's.
func (g guard) own(ip netip.Addr) (bool, error) {
	addrs, err := g.ownAddrs()
	if err != nil {
		return false, err
	}
	ip = ip.WithZone("")
	v4, embeds := embeddedIPv4(ip)
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		mine := p.Addr().Unmap()
		if mine == ip || embeds && mine == v4 {
			return true, nil
		}
	}
	return false, nil
}
