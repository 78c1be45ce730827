package authz

import (
	"mime"
	"net/http"
	"net/netip"
	"strings"

	"github.com/fifthwheel/fifthwheel/codes"
)

// The front door: where a request may come from, how often, and how its
// bearer token travels. The guard runs these after the token and the live
// account are known, so each refusal is attributed to a principal.

// sourceAllowed reports whether remoteAddr (http.Request.RemoteAddr, the
// TCP peer: never a forwarded-for header) falls in one of allowed; an
// empty list allows any. An address that does not parse is refused when a
// list is set.
func sourceAllowed(allowed []netip.Prefix, remoteAddr string) bool {
	if len(allowed) == 0 {
		return true
	}
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(remoteAddr); err == nil {
		ip = a
	} else {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// bearer returns the access token of r, carried as RFC 6750 §2.1 says:
// exactly one "Authorization: Bearer <b64token>" header. It returns code
// AccessTokenMissing when there is none (no Authorization header, or one of
// another scheme), and another access_token_* code when the token is
// carried wrongly:
//
//   - an access_token query parameter (§2.3) or a form-encoded body (§2.2):
//     the gateway takes the header only, a token in a URL ends up in logs,
//     and §2 forbids more than one method in a request; the body is never
//     read to look;
//   - more than one Authorization header, or a header over
//     MaxAuthorizationBytes (refused before it is parsed);
//   - a token that is not the b64token syntax.
func bearer(r *http.Request) (raw, code, detail string) {
	if _, ok := r.URL.Query()["access_token"]; ok {
		return "", codes.AccessTokenMalformed, "an access token in the query string is not accepted"
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/x-www-form-urlencoded" {
			return "", codes.AccessTokenMalformed, "a form-encoded body (which may carry an access token) is not accepted"
		}
	}
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", codes.AccessTokenMissing, "no Authorization header"
	case len(vals) > 1:
		return "", codes.AccessTokenMalformed, "more than one Authorization header"
	case len(vals[0]) > MaxAuthorizationBytes:
		return "", codes.AccessTokenTooLarge, "the Authorization header is over its size limit"
	}
	scheme, tok, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", codes.AccessTokenMissing, "the Authorization header is not of the Bearer scheme"
	}
	tok = strings.TrimLeft(tok, " ")
	if !b64token(tok) {
		return "", codes.AccessTokenMalformed, "the bearer token is not of the b64token syntax"
	}
	return tok, "", ""
}

// b64token reports whether s is RFC 6750 §2.1's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
