package callback

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
)

// TestPublicFollowsTheRegistries: only global unicast addresses are public, per
// the IANA IPv4 and IPv6 special-purpose address registries (the first and last
// address of each block, and the addresses just outside it), and an IPv6
// address that embeds an IPv4 one (mapped, NAT64, 6to4) is public only when the
// IPv4 address is.
func TestPublicFollowsTheRegistries(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		// IPv4: global unicast, including the blocks the registry marks globally
		// reachable (AS112 192.31.196.0/24 and 192.175.48.0/24, AMT 192.52.193.0/24).
		"1.1.1.1": true, "8.8.8.8": true, "93.184.216.34": true, "223.255.255.255": true,
		"192.31.196.1": true, "192.52.193.1": true, "192.175.48.1": true,
		"9.255.255.255": true, "11.0.0.0": true, "100.63.255.255": true, "100.128.0.0": true,
		"126.255.255.255": true, "128.0.0.0": true, "169.253.255.255": true, "169.255.0.0": true,
		"172.15.255.255": true, "172.32.0.0": true, "191.255.255.255": true, "192.0.1.255": true,
		"192.0.3.0": true, "192.88.98.255": true, "192.88.100.0": true, "192.167.255.255": true,
		"192.169.0.0": true, "198.17.255.255": true, "198.20.0.0": true, "198.51.99.255": true,
		"198.51.101.0": true, "203.0.112.255": true, "203.0.114.0": true,
		// IPv4 special-purpose blocks.
		"0.0.0.0": false, "0.255.255.255": false, // this network, 0.0.0.0/8
		"10.0.0.0": false, "10.255.255.255": false, // private
		"100.64.0.0": false, "100.127.255.255": false, // shared address space (CGNAT)
		"127.0.0.1": false, "127.255.255.255": false, // loopback
		"169.254.0.0": false, "169.254.169.254": false, "169.254.255.255": false, // link-local
		"172.16.0.0": false, "172.31.255.255": false, // private
		"192.0.0.0": false, "192.0.0.8": false, "192.0.0.9": false, "192.0.0.170": false, "192.0.0.255": false, // IETF protocol assignments
		"192.0.2.0": false, "192.0.2.2": false, "192.0.2.255": false, // TEST-NET-1
		"192.88.99.0": false, "192.88.99.255": false, // 6to4 relay anycast (deprecated)
		"192.168.0.0": false, "192.168.255.255": false, // private
		"198.18.0.0": false, "198.19.255.255": false, // benchmarking
		"198.51.100.0": false, "198.51.100.255": false, // TEST-NET-2
		"203.0.113.0": false, "203.0.113.255": false, // TEST-NET-3
		"224.0.0.1": false, "239.255.255.255": false, // multicast
		"240.0.0.0": false, "250.1.2.3": false, "255.255.255.254": false, "255.255.255.255": false, // reserved, broadcast

		// IPv6: global unicast (2000::/3 outside the special blocks).
		"2606:4700:4700::1111": true, "2a00:1450:4001:80b::200e": true, "2001:200::1": true,
		"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff": true, "2001:db9::": true, "2620:4f:8000::1": true,
		"3ffe:ffff::1": true, "3fff:1000::": true,
		// IPv6 special-purpose blocks, and what lies outside 2000::/3.
		"::": false, "::1": false,
		"100::": false, "100::ffff:ffff:ffff:ffff": false, // discard-only
		"100:0:0:1::1": false,                                                                  // dummy prefix
		"2001::":       false, "2001::1": false, "2001:0:4136:e378:8000:63bf:3fff:fdd2": false, // Teredo
		"2001:1::1": false, "2001:2::1": false, "2001:3::1": false, "2001:10::1": false, "2001:20::1": false, "2001:1ff::1": false, // IETF protocol assignments
		"2001:db8::": false, "2001:db8:ffff::1": false, // documentation
		"3fff::": false, "3fff:fff::1": false, // documentation
		"5f00::1": false, "4000::1": false, "1fff::1": false, "e000::1": false,
		"fc00::1": false, "fd00::2": false, "fdff::1": false, // unique local
		"fe80::1": false, "fe80::1%eth0": false, "febf::1": false, // link-local
		"fec0::1": false,                   // site-local (deprecated)
		"ff02::1": false, "ff0e::1": false, // multicast
		// IPv6 forms that embed an IPv4 address: the IPv4 address decides.
		"::ffff:8.8.8.8": true, "::ffff:127.0.0.1": false, "::ffff:192.0.2.2": false, "::ffff:0.0.0.0": false, "::ffff:198.18.0.1": false,
		"::8.8.8.8": false, "::127.0.0.1": false, "::192.0.2.2": false, "::10.0.0.1": false, // IPv4-compatible (deprecated)
		"64:ff9b::8.8.8.8": true, "64:ff9b::127.0.0.1": false, "64:ff9b::192.0.2.2": false, "64:ff9b::10.0.0.1": false,
		"64:ff9b::169.254.169.254": false, "64:ff9b::240.0.0.1": false, "64:ff9b::1:0:0:8.8.8.8": false,
		"64:ff9b:1::8.8.8.8": false, "64:ff9b:1::127.0.0.1": false, "64:ff9b:1:ffff::1": false, // local-use NAT64
		"2002:808:808::1": true, "2002:7f00:1::1": false, "2002:c000:202::1": false, "2002:a00:1::1": false,
		"2002:c612:1::1": false, "2002:f000:1::1": false, "2002::1": false,
	} {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if got := Public(ip); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
		for _, allowPrivate := range []bool{false, true} {
			u := "http://" + netip.AddrPortFrom(ip.WithZone(""), 443).String() + "/cb"
			err := ValidateURL(u, allowPrivate)
			if wantRefused := !want && !allowPrivate; errors.Is(err, ErrPrivateTarget) != wantRefused || (err != nil && !wantRefused) {
				t.Errorf("ValidateURL(%s, allowPrivate %v): %v, want refused %v", u, allowPrivate, err, wantRefused)
			}
		}
	}
}

// TestDialRefusesThisHostsOwnAddresses: a callback is not delivered to an
// address of this host that is not loopback (however it is addressed), at
// connect time, while AllowPrivate still reaches it.
func TestDialRefusesThisHostsOwnAddresses(t *testing.T) {
	t.Parallel()
	hits := make(chan struct{}, 100)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits <- struct{}{} }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	var own []netip.Addr
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			own = append(own, p.Addr())
		}
	}
	if len(own) == 0 {
		t.Skip("this host has no address but loopback and link-local ones")
	}
	refused, allowed := newSender(t, false), newSender(t, true)
	for _, ip := range own {
		target := net.JoinHostPort(ip.String(), strconv.Itoa(port))
		conn, err := refused.http.Transport.(*http.Transport).DialContext(context.Background(), "tcp", target)
		if err == nil {
			conn.Close()
		}
		if !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("dial %s (this host's own): %v, want ErrPrivateTarget", target, err)
		}
		if _, err := refused.Send(context.Background(), "http://"+target+"/cb", "", Event{ID: "x"}); !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("send to %s (this host's own): %v, want ErrPrivateTarget", target, err)
		}
		if _, err := allowed.Send(context.Background(), "http://"+target+"/cb", "", Event{ID: "x"}); err != nil {
			t.Errorf("send to %s with AllowPrivate: %v", target, err)
		}
	}
	if got, want := len(hits), len(own); got != want {
		t.Errorf("this host's own addresses were reached %d times, want %d (with AllowPrivate only)", got, want)
	}
}

func newSender(t *testing.T, allowPrivate bool) *Sender {
	t.Helper()
	s, err := New(Config{Secret: "k3y", AllowPrivate: allowPrivate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
