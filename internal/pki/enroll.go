package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Enroll issues a vehicle's first certificate in exchange for a join token
// and a CSR naming that vehicle. Checks run cheapest first and nothing is
// written until all pass: a refused CSR leaves the token usable. The token
// is consumed in the transaction that records the certificate, so of
// concurrent enrollments with one token exactly one succeeds, and an
// enrollment racing a revocation of the vehicle either is revoked by it or,
// its token spent by it, refused (token_used). Emits cert_enrolled, or one
// refusal event whose code the returned error carries (see CodeOf).
//
// source is the requester's event.SourceOf (or ""). A refusal made before
// the token is known to be a live one (malformed token or CSR, unknown,
// used or expired token) is about a peer that has not proven who it is: its
// event carries source, so the gateway aggregates a flood of them per
// source and window. Later refusals name the token's vehicle, one event
// each.
func (ca *CA) Enroll(ctx context.Context, joinToken string, csrBytes []byte, source string) (*Issued, error) {
	var vehicle principal.Principal
	attrs := map[string]any{}
	refuse := func(err error) (*Issued, error) {
		sev := event.SeverityLow
		if c := CodeOf(err); c == codes.CSRIdentityMismatch || c == codes.TokenUsed {
			sev = event.SeverityMedium // a token used twice or for someone else may be stolen
		}
		_ = ca.ev.emitFrom(ctx, source, event.ClassPKI, "enroll", event.Reject, sev, CodeOf(err), vehicle, vehicle.String(), attrs)
		return nil, err
	}

	hash, err := HashJoinToken(joinToken)
	if err != nil {
		return refuse(err)
	}
	attrs["join_id"] = tokenID(hash)
	csr, err := ParseCSR(csrBytes)
	if err != nil {
		return refuse(err)
	}
	rec, err := ca.reg.GetJoinToken(ctx, hash)
	if err != nil {
		return refuse(tokenRefusal(err))
	}
	vehicle = principal.Principal{Kind: principal.Vehicle, ID: rec.VehicleID}
	now := ca.now()
	switch {
	case !rec.UsedAt.IsZero():
		return refuse(tokenRefusal(ErrTokenUsed))
	case !now.Before(rec.ExpiresAt):
		return refuse(tokenRefusal(ErrTokenExpired))
	}
	source = "" // a live token: the refusals below are about its vehicle
	if err := checkCSRIdentity(csr, vehicle); err != nil {
		return refuse(err)
	}
	is, err := ca.issue(ctx, IssueRequest{Subject: vehicle, PublicKey: csr.PublicKey, RequestedBy: vehicle},
		profiles[principal.Vehicle], "enroll", codes.CertEnrolled, IssueBasis{JoinToken: &hash, Now: now.UTC()})
	if err != nil {
		return refuse(err)
	}
	return is, nil
}

// Renew issues a new certificate, possibly for a new key, to the holder of a
// still valid one. verifiedChains is tls.ConnectionState.VerifiedChains of
// the connection the request came on, through a ServerTLSConfig listener (so
// chains end at a trusted intermediate); the identity is its [0][0] and the
// CSR must name exactly that identity. The old certificate is not revoked: it
// expires on its own, and a session still using it is not cut. Refused if
// the presented certificate or its intermediate is revoked (checked in the
// Registry, not a cache), the certificate is expired or unknown to the
// Registry, or it is a gateway's. The presented certificate is checked again
// in the transaction that records the new one, serialized with
// RevokePrincipal: a renewal racing a revocation of its principal is either
// revoked by it or refused, never issued past it. Emits cert_renewed or one
// refusal event.
func (ca *CA) Renew(ctx context.Context, verifiedChains [][]*x509.Certificate, csrBytes []byte) (*Issued, error) {
	var p principal.Principal
	attrs := map[string]any{}
	refuse := func(err error) (*Issued, error) {
		sev := event.SeverityLow
		if CodeOf(err) == codes.RenewCertRevoked {
			sev = event.SeverityHigh // a revoked key is being used
		}
		_ = ca.ev.emit(ctx, event.ClassPKI, "renew", event.Reject, sev, CodeOf(err), p, p.String(), attrs)
		return nil, err
	}
	p, err := PrincipalFromChains(verifiedChains)
	if err != nil {
		return refuse(err)
	}
	chain := verifiedChains[0]
	leaf := chain[0]
	serial := serialOf(leaf)
	attrs["serial"] = serial
	spec, ok := profiles[p.Kind]
	if !ok || !renewable(p.Kind) {
		return refuse(refusal(http.StatusForbidden, codes.RenewKindNotAllowed, "this certificate kind is not renewed online", nil))
	}
	now := ca.now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return refuse(refusal(http.StatusUnauthorized, codes.RenewCertExpired, "the presented certificate is not valid now", nil))
	}
	if !ca.trust.Trusts(chain[len(chain)-1]) {
		return refuse(refusal(http.StatusForbidden, codes.CertIssuerNotTrusted, "the presented certificate's issuer is no longer trusted", nil))
	}
	for i, c := range chain {
		rec, err := ca.reg.GetIssued(ctx, serialOf(c))
		if errors.Is(err, ErrNotFound) || (err == nil && !bytes.Equal(rec.DER, c.Raw)) {
			return refuse(refusal(http.StatusForbidden, codes.RenewCertUnknown, "the presented certificate was not issued by this CA", err))
		}
		if err != nil {
			return refuse(storeError(err))
		}
		if rec.Revoked() {
			if i > 0 {
				attrs["revoked_serial"] = rec.Serial
			}
			return refuse(refusal(http.StatusForbidden, codes.RenewCertRevoked, "the presented certificate is revoked", nil))
		}
	}
	csr, err := ParseCSR(csrBytes)
	if err != nil {
		return refuse(err)
	}
	if err := checkCSRIdentity(csr, p); err != nil {
		return refuse(err)
	}
	is, err := ca.issue(ctx, IssueRequest{Subject: p, PublicKey: csr.PublicKey, RequestedBy: p}, spec, "renew", codes.CertRenewed,
		IssueBasis{RenewedFrom: serial})
	if err != nil {
		return refuse(err)
	}
	return is, nil
}

// renewable kinds renew themselves online; gateway certificates come from an
// operator.
func renewable(k principal.Kind) bool {
	return k == principal.Vehicle || k == principal.Client || k == principal.Operator
}
