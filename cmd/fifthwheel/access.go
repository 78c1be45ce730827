package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// The operator's input for TMS access settings, checked before anything is
// opened or changed: a bad value is a usage error and changes nothing.

// maxAllowedSources bounds a client's source allow-list: a handful of
// egress ranges is the use; a long list is a mistake (or a paste of a
// routing table) that every request would pay for.
const maxAllowedSources = 64

// parseRoles parses a comma-separated role list ("" or only commas: none)
// into role names, each known to package authz, without duplicates, in
// authz's documentation order.
func parseRoles(list string) ([]string, error) {
	var rs []authz.Role
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		r, ok := authz.ParseRole(s)
		if !ok {
			return nil, &usageError{err: fmt.Errorf("unknown role %q: the roles are %s", s, roleNames())}
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	var out []string
	for _, r := range authz.Roles { // canonical order
		if slices.Contains(rs, r) {
			out = append(out, string(r))
		}
	}
	return out, nil
}

func roleNames() string {
	var n []string
	for _, r := range authz.Roles {
		n = append(n, string(r))
	}
	return strings.Join(n, ", ")
}

// parseSources parses CIDR prefixes into their normalized form (masked:
// 192.0.2.7/24 is 192.0.2.0/24; IPv4-mapped IPv6 unmapped), without
// duplicates, sorted.
func parseSources(in []string) ([]string, error) {
	if len(in) > maxAllowedSources {
		return nil, &usageError{err: fmt.Errorf("at most %d --allow-source ranges", maxAllowedSources)}
	}
	var ps []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, &usageError{err: fmt.Errorf("--allow-source %q: not a CIDR prefix (for one address, write 192.0.2.7/32 or 2001:db8::7/128)", s)}
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out, nil
}

// parseHours checks a daily window "HH:MM-HH:MM" in UTC (from before to, or
// wrapping midnight when from is later; equal ends are refused as
// ambiguous) and returns it in its canonical form. "any" and "" are "any
// time" ("").
func parseHours(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "any" {
		return "", nil
	}
	bad := &usageError{err: fmt.Errorf("--hours %q: want HH:MM-HH:MM in UTC (00:00 to 23:59, for example 06:00-20:00, or 22:00-06:00 across midnight), or any", s)}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return "", bad
	}
	f, ok1 := minuteOfDay(from)
	t, ok2 := minuteOfDay(to)
	if !ok1 || !ok2 || f == t {
		return "", bad
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", f/60, f%60, t/60, t%60), nil
}

func minuteOfDay(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// parseCarrier checks a carrier id: the syntax of principal ids.
func parseCarrier(s string) (string, error) {
	if !principal.ValidID(s) {
		return "", &usageError{err: fmt.Errorf("--carrier %q: must be 1 to %d characters of [A-Za-z0-9._-], not starting with '.' or '-'", s, principal.MaxIDLen)}
	}
	return s, nil
}

// listOrDash prints a list for humans: "-" for none.
func listOrDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
