package enroll

import "github.com/fifthwheel/fifthwheel/internal/pki"

// MaxBodyBytes bounds an enroll or renew body: a CSR is at most
// pki.MaxCSRBytes, a PEM public key a few hundred bytes, the token 52.
// Twice the CSR limit leaves room for JSON escaping of the PEM text.
const MaxBodyBytes = 2*pki.MaxCSRBytes + 1<<10

// Renewal rate per principal (certificate identity), per gateway replica.
const (
	// DefaultRenewPerMinute: a truck renews once per certificate life (at
	// 2/3 of 24 h) and retries a failure after 30 s at the earliest
	// (agent back-off); two a minute sustained is far above that, while a
	// loop renewing a stolen certificate is held to the same two instead of
	// the CA's signing speed.
	DefaultRenewPerMinute = 2
	// DefaultRenewBurst lets an operator or a truck retry by hand a few
	// times in a row without waiting.
	DefaultRenewBurst = 5
)
