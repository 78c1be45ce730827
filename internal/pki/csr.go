package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ParseCSR parses and checks a certificate signing request from an
// untrusted peer, DER or PEM ("CERTIFICATE REQUEST"), in this order:
// size (codes.CSRTooLarge), syntax (codes.CSRMalformed), key type
// (codes.CSRKeyType: ECDSA P-256 or Ed25519 only), self-signature
// (codes.CSRBadSignature). The identity it names is checked separately by
// checkCSRIdentity. Only the public key of a CSR ever reaches a certificate.
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	if len(b) > MaxCSRBytes {
		return nil, refusal(http.StatusRequestEntityTooLarge, codes.CSRTooLarge, "the certificate request is too large", nil)
	}
	der := b
	if trimmed := bytes.TrimSpace(b); bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		blk, rest := pem.Decode(trimmed)
		if blk == nil || blk.Type != "CERTIFICATE REQUEST" || len(bytes.TrimSpace(rest)) != 0 || len(blk.Headers) != 0 {
			return nil, refusal(http.StatusBadRequest, codes.CSRMalformed, "expected one PEM CERTIFICATE REQUEST block", nil)
		}
		der = blk.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refusal(http.StatusBadRequest, codes.CSRMalformed, "the certificate request cannot be parsed", err)
	}
	if _, err := keyAlgorithmOf(csr.PublicKey); err != nil {
		return nil, refusal(http.StatusBadRequest, codes.CSRKeyType, "the key must be ECDSA P-256 or Ed25519", nil)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refusal(http.StatusBadRequest, codes.CSRBadSignature, "the certificate request's signature is invalid", err)
	}
	return csr, nil
}

// checkCSRIdentity checks that csr names p and nobody else: exactly one URI
// SAN equal to p's URI (byte for byte), no DNS, IP or email SANs, and a
// common name that is empty or equal to p's id.
func checkCSRIdentity(csr *x509.CertificateRequest, p principal.Principal) error {
	uris, err := uriSANs(csr.Extensions)
	ok := err == nil && len(uris) == 1 && uris[0] == p.String() &&
		len(csr.DNSNames) == 0 && len(csr.IPAddresses) == 0 && len(csr.EmailAddresses) == 0 &&
		(csr.Subject.CommonName == "" || csr.Subject.CommonName == p.ID)
	if !ok {
		return refusal(http.StatusForbidden, codes.CSRIdentityMismatch,
			"the certificate request must name exactly "+p.String(), err)
	}
	return nil
}
