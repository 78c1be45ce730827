package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// ErrRefusedAddress: the webhook's host resolved to an address the Sender
// does not dial (package doc, "Outbound requests").
var ErrRefusedAddress = errors.New("webhook: refused a non-global address")

// ErrBadURL: a webhook URL that is not an absolute https URL with a host,
// without user information, of at most MaxURL bytes.
var ErrBadURL = errors.New("webhook: the URL must be https://host[:port]/path, without user information")

// ValidateURL checks a webhook URL's form (not its address: that is
// checked on every connection).
func ValidateURL(raw string) error {
	if len(raw) > MaxURL {
		return ErrBadURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return ErrBadURL
	}
	return nil
}

// nonGlobal are special-purpose ranges beyond what netip's predicates
// name (IANA special-purpose registries), refused like private ones.
var nonGlobal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may map to a private IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
}

// globalUnicast reports whether a is an address the Sender may dial
// without AllowPrivate.
func globalUnicast(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonGlobal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// dialControl is the dialer's Control hook: it sees the address about to
// be connected, after DNS resolution, so a name that resolves (or is
// rebound) to an internal address is refused.
func dialControl(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRefusedAddress, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRefusedAddress, err)
		}
		if !allowPrivate && !globalUnicast(a) {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, a)
		}
		return nil
	}
}
