package pki

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Revoke revokes the certificate with this serial (any form ParseSerial
// takes) and emits cert_revoked, or cert_already_revoked if it was revoked
// before (the first revocation's time and reason stand). Revoking an
// intermediate's serial refuses every certificate chaining to it.
//
// Revoke changes the Registry only; listeners learn of it through their
// RevocationSet (call its Notify on this replica to skip the poll wait).
func (ca *CA) Revoke(ctx context.Context, serial string, reason RevocationReason, by principal.Principal) (IssuedCert, error) {
	s, err := ParseSerial(serial)
	if err != nil {
		return IssuedCert{}, refusal(http.StatusNotFound, codes.CertUnknown, "not a certificate serial", err)
	}
	if _, ok := reasonNames[reason]; !ok {
		return IssuedCert{}, refusal(http.StatusBadRequest, codes.IssueInvalid, "unsupported revocation reason", nil)
	}
	rec, changed, err := ca.reg.Revoke(ctx, s, reason, ca.now().UTC().Truncate(time.Second))
	if errors.Is(err, ErrNotFound) {
		_ = ca.ev.emit(ctx, event.ClassPKI, "revoke", event.Reject, event.SeverityLow, codes.CertUnknown, by, "",
			map[string]any{"serial": s})
		return IssuedCert{}, refusal(http.StatusNotFound, codes.CertUnknown, "no certificate with this serial", err)
	}
	if err != nil {
		return IssuedCert{}, storeError(err)
	}
	code, sev := codes.CertRevoked, event.SeverityMedium
	if !changed {
		code, sev = codes.CertAlreadyRevoked, event.SeverityInfo
	}
	if reason == ReasonKeyCompromise || reason == ReasonCACompromise {
		sev = event.SeverityHigh
	}
	resource := rec.Principal().String()
	if resource == "" {
		resource = "ca:" + rec.ID
	}
	if err := ca.ev.emit(ctx, event.ClassPKI, "revoke", event.Accept, sev, code, by, resource,
		map[string]any{"serial": s, "reason": rec.Reason.String(), "revoked_at": rec.RevokedAt, "profile": string(rec.Profile)}); err != nil {
		return rec, err
	}
	return rec, nil
}

// RevokePrincipal revokes a vehicle, TMS client or operator: every
// certificate it was issued so far, and every renewal of them from now on,
// in one Registry transaction (Registry.RevokePrincipal) that issuance is
// serialized with. So no certificate issued before or during the call
// survives it, whatever renewals race it on any replica; a vehicle's unused
// join tokens are spent too. A certificate issued afterwards on a new basis
// (an operator's issue, an enrollment with a join token created afterwards)
// re-provisions the principal.
//
// It emits cert_revoked for each certificate it revoked, then one
// principal_revoked. Listeners learn of it as of Revoke.
func (ca *CA) RevokePrincipal(ctx context.Context, p principal.Principal, reason RevocationReason, by principal.Principal) (PrincipalRevocation, error) {
	if _, err := principal.New(p.Kind, p.ID); err != nil || !renewable(p.Kind) {
		return PrincipalRevocation{}, refusal(http.StatusBadRequest, codes.IssueInvalid, "only a vehicle, TMS client or operator is revoked as a whole", err)
	}
	if _, ok := reasonNames[reason]; !ok {
		return PrincipalRevocation{}, refusal(http.StatusBadRequest, codes.IssueInvalid, "unsupported revocation reason", nil)
	}
	res, err := ca.reg.RevokePrincipal(ctx, p, reason, ca.now().UTC().Truncate(time.Second))
	if err != nil {
		return PrincipalRevocation{}, storeError(err)
	}
	sev := event.SeverityMedium
	if reason == ReasonKeyCompromise || reason == ReasonCACompromise {
		sev = event.SeverityHigh
	}
	for _, rec := range res.Revoked {
		if err := ca.ev.emit(ctx, event.ClassPKI, "revoke", event.Accept, sev, codes.CertRevoked, by, p.String(),
			map[string]any{"serial": rec.Serial, "reason": rec.Reason.String(), "revoked_at": rec.RevokedAt, "profile": string(rec.Profile)}); err != nil {
			return res, err
		}
	}
	if err := ca.ev.emit(ctx, event.ClassPKI, "revoke", event.Accept, sev, codes.PrincipalRevoked, by, p.String(),
		// join_spent: unused join tokens spent (a key naming "token" would be redacted).
		map[string]any{"reason": reason.String(), "certificates": len(res.Revoked), "join_spent": res.TokensSpent}); err != nil {
		return res, err
	}
	return res, nil
}
