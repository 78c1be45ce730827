package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// CredentialPolicy is what VerifyCredential checks a credential against.
type CredentialPolicy struct {
	// Trust is the set of trusted intermediates (a loaded CA's Trust, or
	// LoadTrust of its directory). Required.
	Trust *Trust
	// Revocations is consulted for the leaf and its intermediate; a stale
	// one refuses (codes.RevocationStale). Required.
	Revocations RevocationChecker
	// Allowed lists the principal kinds accepted. Required.
	Allowed []principal.Kind
	// Now is the verification time; zero means time.Now().
	Now time.Time
}

// VerifyCredential checks a credential held outside a TLS handshake (the
// CLI's operator credential, --as DIR) with the listeners' policy, so a
// certificate a listener would refuse is refused here too, with the same
// reason code:
//
//  1. the chain (cred.Certificate: the leaf, then any intermediates) is
//     verified for client authentication against Trust's intermediates,
//     never the root, exactly as crypto/tls does with ServerTLSConfig's
//     ClientCAs: a leaf the root signed directly, one from a retired
//     intermediate or another CA is codes.TLSUnknownAuthority, a leaf without
//     the clientAuth EKU codes.TLSBadCertificate, one outside its validity
//     codes.TLSCertExpired or codes.TLSCertNotYetValid;
//  2. then the checks of a listener's VerifyConnection (chainPolicy.check):
//     profile (codes.CertNoIdentity, codes.CertProfileMismatch), kind
//     (codes.TLSKindNotAllowed), revocation of the leaf and its intermediate
//     (codes.TLSCertRevoked, codes.RevocationStale).
//
// Proof of possession is the caller's: tls.X509KeyPair, which built cred,
// checks that the private key matches the leaf. It returns the principal
// and the verified leaf; a refusal's code is CodeOf(err). It emits no event:
// the caller's action is what gets recorded.
func VerifyCredential(cred tls.Certificate, pol CredentialPolicy) (principal.Principal, *x509.Certificate, error) {
	if pol.Trust == nil || pol.Revocations == nil || len(pol.Allowed) == 0 {
		return principal.Principal{}, nil, errors.New("pki: VerifyCredential needs Trust, Revocations and allowed kinds")
	}
	now := pol.Now
	if now.IsZero() {
		now = time.Now()
	}
	if len(cred.Certificate) == 0 {
		return principal.Principal{}, nil, refusal(http.StatusUnauthorized, codes.TLSNoClientCert, "the credential holds no certificate", nil)
	}
	certs := make([]*x509.Certificate, len(cred.Certificate))
	for i, der := range cred.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return principal.Principal{}, nil, refusal(http.StatusForbidden, codes.TLSBadCertificate, "a certificate of the credential does not parse", err)
		}
		certs[i] = c
	}
	// What crypto/tls does with a client's certificates under
	// RequireAndVerifyClientCert (processCertsFromClient).
	opts := x509.VerifyOptions{Roots: pol.Trust.Pool(), Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return principal.Principal{}, nil, refusal(http.StatusForbidden, chainErrorCode(err, certs[0], now),
			"the certificate does not chain to a trusted intermediate for client authentication now", err)
	}
	allowed := make(map[principal.Kind]bool, len(pol.Allowed))
	for _, k := range pol.Allowed {
		allowed[k] = true
	}
	p, r := chainPolicy{trust: pol.Trust, allowed: allowed, revocations: pol.Revocations}.check(chains, now)
	if r != nil {
		status, detail := http.StatusForbidden, "the certificate is refused ("+r.code+")"
		switch r.code {
		case codes.TLSCertRevoked:
			detail = "the certificate or its issuer is revoked"
		case codes.TLSKindNotAllowed:
			detail = "a " + string(p.Kind) + " certificate is not accepted here"
		case codes.RevocationStale:
			status, detail = http.StatusServiceUnavailable, "the revocation data is not fresh"
		}
		return principal.Principal{}, nil, refusal(status, r.code, detail, nil)
	}
	return p, chains[0][0], nil
}
