package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// IssueDrillCACertificate issues, for the security drills only (internal/drill,
// ca-certificate-as-client), the certificate a misissuing CA would sign: one
// carrying vehicle v's exact identity (URI SAN, CN, clientAuth) from the
// issuing intermediate, but with basicConstraints CA:TRUE and keyCertSign.
// The listeners must refuse it (cert_profile_mismatch: "a CA certificate
// cannot authenticate a principal"); the drill shows that they do, on a
// certificate that chains to a trusted intermediate, so that no other check
// (unknown authority, expiry) refuses it first.
//
// It grants nothing the caller does not already hold (it runs with the CA's
// keys, which sign anything), and what it issues is kept harmless:
//
//   - its path length is 0, under an intermediate whose path length is 0:
//     anything it signs fails chain verification (RFC 5280 §4.2.1.9);
//   - it lives DrillForgeryLifetime at most;
//   - it is recorded in the Registry as v's certificate, like any other
//     (listed, revocable: RevokePrincipal of v revokes it), and announced
//     by cert_issued with attribute drill_forgery "ca_certificate".
//
// The key is generated here and returned to the caller only.
func (ca *CA) IssueDrillCACertificate(ctx context.Context, v principal.Principal, by principal.Principal) (*Issued, crypto.Signer, error) {
	if v.Kind != principal.Vehicle {
		return nil, nil, refusal(http.StatusBadRequest, codes.IssueInvalid, "the drill forgery names a vehicle", nil)
	}
	req := IssueRequest{Subject: v, Lifetime: DrillForgeryLifetime, RequestedBy: by}
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		return nil, nil, err
	}
	req.PublicKey = key.Public()
	spec, err := ca.checkIssueRequest(req)
	if err != nil {
		return nil, nil, err
	}
	is, err := ca.issueAltered(ctx, req, spec, "issue", codes.CertIssued, IssueBasis{}, func(t *x509.Certificate) map[string]any {
		t.IsCA = true
		t.KeyUsage |= x509.KeyUsageCertSign
		t.MaxPathLen, t.MaxPathLenZero = 0, true
		return map[string]any{"drill_forgery": "ca_certificate"}
	})
	if err != nil {
		return nil, nil, err
	}
	return is, key, nil
}
