package pki

import (
	"net/http"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Peer returns the principal of the client certificate the request's
// connection was verified with: PrincipalFromChains over
// r.TLS.VerifiedChains, so VerifiedChains[0][0] and nothing else. ok is
// false on a connection without a verified chain (plain HTTP, or a vehicle
// that has no certificate yet and may only enroll). HTTP handlers on the
// vehicle and TMS listeners take their caller's identity from here.
func Peer(r *http.Request) (p principal.Principal, ok bool) {
	if r.TLS == nil {
		return principal.Principal{}, false
	}
	p, err := PrincipalFromChains(r.TLS.VerifiedChains)
	if err != nil {
		return principal.Principal{}, false
	}
	return p, true
}
