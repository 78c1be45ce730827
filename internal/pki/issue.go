package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// IssueRequest asks for a leaf certificate. The principal's kind selects the
// profile.
type IssueRequest struct {
	Subject   principal.Principal
	PublicKey crypto.PublicKey // ECDSA P-256 or Ed25519
	// DNSNames and IPAddresses: gateway certificates only.
	DNSNames    []string
	IPAddresses []net.IP
	// Lifetime 0 takes the profile's configured lifetime; otherwise it must
	// not exceed the profile's maximum.
	Lifetime time.Duration
	// RequestedBy is the operator (or system) asking; the event's actor.
	RequestedBy principal.Principal
}

// Issued is a newly issued certificate.
type Issued struct {
	Certificate *x509.Certificate
	// Chain is the DER chain to present: the leaf, then its intermediate.
	Chain  [][]byte
	Record IssuedCert
}

// ChainPEM returns Chain as concatenated PEM certificates.
func (is *Issued) ChainPEM() []byte {
	var out []byte
	for _, der := range is.Chain {
		out = append(out, certPEM(der)...)
	}
	return out
}

// TLSCertificate pairs the chain with its private key.
func (is *Issued) TLSCertificate(key crypto.Signer) tls.Certificate {
	return tls.Certificate{Certificate: is.Chain, PrivateKey: key, Leaf: is.Certificate}
}

// Issue issues a certificate directly, for operators (TMS clients, operator
// and gateway certificates, or a vehicle without a join token). It emits
// cert_issued, or issue_invalid for a refused request.
func (ca *CA) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	spec, err := ca.checkIssueRequest(req)
	if err != nil {
		_ = ca.ev.emit(ctx, event.ClassPKI, "issue", event.Reject, event.SeverityLow, codes.IssueInvalid,
			req.RequestedBy, req.Subject.String(), map[string]any{"reason": problemDetail(err)})
		return nil, err
	}
	return ca.issue(ctx, req, spec, "issue", codes.CertIssued, IssueBasis{})
}

// IssueWithNewKey generates a key of alg and issues a certificate for it;
// for the CLI and tests. The key is returned to the caller only.
func (ca *CA) IssueWithNewKey(ctx context.Context, req IssueRequest, alg KeyAlgorithm) (*Issued, crypto.Signer, error) {
	key, err := GenerateKey(alg)
	if err != nil {
		return nil, nil, err
	}
	req.PublicKey = key.Public()
	is, err := ca.Issue(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return is, key, nil
}

func (ca *CA) checkIssueRequest(req IssueRequest) (profileSpec, error) {
	invalid := func(detail string) (profileSpec, error) {
		return profileSpec{}, refusal(http.StatusBadRequest, codes.IssueInvalid, detail, nil)
	}
	if _, err := principal.New(req.Subject.Kind, req.Subject.ID); err != nil {
		return invalid("the subject is not a valid principal")
	}
	spec, ok := profiles[req.Subject.Kind]
	if !ok {
		return invalid("no certificate profile for principal kind " + string(req.Subject.Kind))
	}
	if req.Lifetime < 0 || req.Lifetime > spec.maxLife {
		return invalid(fmt.Sprintf("lifetime must be at most %v for %s certificates", spec.maxLife, spec.profile))
	}
	if !spec.sans && (len(req.DNSNames) > 0 || len(req.IPAddresses) > 0) {
		return invalid("only gateway certificates carry DNS or IP names")
	}
	if len(req.DNSNames)+len(req.IPAddresses) > MaxGatewaySANs {
		return invalid(fmt.Sprintf("at most %d DNS and IP names", MaxGatewaySANs))
	}
	if _, err := keyAlgorithmOf(req.PublicKey); err != nil {
		return invalid("the key must be ECDSA P-256 or Ed25519")
	}
	return spec, nil
}

// issue signs, records and announces a leaf. The certificate is returned only
// once it is durably recorded and its event is written: a certificate the
// Registry does not know could never be revoked. The Registry checks basis
// in the transaction that records it (see Registry.RecordIssued); a refusal
// there is returned as the refusal the caller reports, and the signed
// certificate, never recorded, is dropped.
func (ca *CA) issue(ctx context.Context, req IssueRequest, spec profileSpec, activity, code string, basis IssueBasis) (*Issued, error) {
	return ca.issueAltered(ctx, req, spec, activity, code, basis, nil)
}

// issueAltered is issue with alter, when not nil, changing the leaf's
// template before it is signed and returning attributes for its event: the
// drill forgery only (IssueDrillCACertificate).
func (ca *CA) issueAltered(ctx context.Context, req IssueRequest, spec profileSpec, activity, code string, basis IssueBasis,
	alter func(*x509.Certificate) map[string]any) (*Issued, error) {
	st := ca.state.Load()
	issuer := st.issuing
	now := ca.now()
	lifetime := req.Lifetime
	if lifetime == 0 {
		lifetime = ca.defaultLifetime(req.Subject.Kind)
	}
	tmpl, err := ca.leafTemplate(req.Subject, spec, lifetime, req.DNSNames, req.IPAddresses, issuer, now)
	if err != nil {
		return nil, err
	}
	var extra map[string]any
	if alter != nil {
		extra = alter(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.cert, req.PublicKey, issuer.signer)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new certificate: %v", err)
	}
	rec := IssuedCert{
		Serial: serialOf(cert), Kind: req.Subject.Kind, ID: req.Subject.ID, Profile: spec.profile,
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), IssuerKeyID: issuer.kid, DER: der,
	}
	if err := ca.reg.RecordIssued(ctx, rec, basis); err != nil {
		return nil, recordRefusal(err, basis)
	}
	alg, _ := keyAlgorithmOf(req.PublicKey)
	attrs := map[string]any{"serial": rec.Serial, "profile": string(spec.profile), "not_after": rec.NotAfter,
		"issuer_key_id": issuer.kid, "key_alg": string(alg)}
	sev := event.SeverityInfo
	for k, v := range extra {
		attrs[k], sev = v, event.SeverityMedium
	}
	if err := ca.ev.emit(ctx, event.ClassPKI, activity, event.Accept, sev, code, req.RequestedBy, req.Subject.String(), attrs); err != nil {
		return nil, err
	}
	return &Issued{Certificate: cert, Chain: [][]byte{der, issuer.cert.Raw}, Record: rec}, nil
}

// recordRefusal maps what RecordIssued refused to the refusal of the request
// whose basis it checked.
func recordRefusal(err error, basis IssueBasis) error {
	switch {
	case basis.JoinToken != nil && !errors.Is(err, ErrConflict):
		return tokenRefusal(err)
	case basis.RenewedFrom != "" && errors.Is(err, ErrRevoked):
		return refusal(http.StatusForbidden, codes.RenewCertRevoked, "the presented certificate is revoked", err)
	case basis.RenewedFrom != "" && errors.Is(err, ErrNotFound):
		return refusal(http.StatusForbidden, codes.RenewCertUnknown, "the presented certificate was not issued by this CA", err)
	}
	return storeError(err)
}

// ParseCertificatePEM parses the first PEM certificate in b.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemCertificate {
		return nil, fmt.Errorf("pki: no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}
