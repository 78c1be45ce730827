package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"unicode/utf8"
)

// cutMark ends a value that was cut.
const cutMark = "…"

// BoundString returns s cut to at most MaxAttrValueBytes bytes (at a UTF-8
// boundary, ending in "…"), for a string copied into an event from input
// that proves nothing: crypto/tls's error text, an unverified serial, a
// request's method or path.
func BoundString(s string) string { return cut(s, MaxAttrValueBytes) }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len(cutMark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + cutMark
}

// BoundStrings puts vals, copied from input that proves nothing (the URI
// SANs of a certificate that did not verify), into attrs[key], bounded: the
// first MaxAttrValues values, each through BoundString. When anything was
// left out or cut, attrs[key+"_count"] holds how many values there were and
// attrs[key+"_sha256"] the SHA-256 over all of them, whole (each preceded by
// its length as 8 bytes big-endian), so a detection rule can still tell one
// forged certificate from another. Nothing is put for no values.
func BoundStrings(attrs map[string]any, key string, vals []string) {
	if len(vals) == 0 {
		return
	}
	kept := vals[:min(len(vals), MaxAttrValues)]
	out := make([]string, len(kept))
	bounded := len(kept) < len(vals)
	for i, v := range kept {
		out[i] = BoundString(v)
		bounded = bounded || out[i] != v
	}
	attrs[key] = out
	if !bounded {
		return
	}
	h := sha256.New()
	var n [8]byte
	for _, v := range vals {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	attrs[key+"_count"] = len(vals)
	attrs[key+"_sha256"] = hex.EncodeToString(h.Sum(nil))
}

// SourceOf is the source an event about an unauthenticated peer is
// aggregated under (Event.Source), and the key a per-source limit counts
// by, from the peer's address ("ip:port", or an IP): the IPv4 address, or
// the /64 prefix of an IPv6 address, which is one subscriber's allocation
// (counted address by address, one host could be 2^64 sources). An address
// that is not an IP (a unix socket, a test's fake) is "invalid"; the result
// is at most 43 bytes.
func SourceOf(addr string) string {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(addr); err == nil {
		ip = a
	} else {
		return "invalid"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // never fails for an IPv6 address
	return p.String()
}
