package pki

import (
	"context"
	"errors"
	"net/http"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// Reason codes: stable, matched by clients and detection rules, never reused
// for another meaning. Each is the Code of exactly one kind of event and, for
// refusals, of the *problem.Error returned.
//
// Handshake refusals come from two places. crypto/tls refuses some without
// running any of our code (no client certificate, a chain that does not
// verify against the trusted intermediates, an expired or not yet valid
// certificate, TLS 1.2 or older, a CertificateVerify that does not match the
// certificate); the server observes those only as the error returned by
// tls.Conn.Handshake and reports them with ReportHandshake. Everything after
// chain verification is refused by the listener's VerifyConnection, which
// emits its own event; ReportHandshake recognizes those and does not emit a
// second one. tls_accepted is emitted by ReportHandshake, once the peer has
// proven possession of its key.
const (
	// Handshakes (class authentication), refused by crypto/tls.
	CodeTLSNoClientCert     = "tls_no_client_cert"
	CodeTLSUnknownAuthority = "tls_unknown_authority" // not chained to a trusted intermediate (other CA, root-issued, retired intermediate)
	CodeTLSCertExpired      = "tls_cert_expired"
	CodeTLSCertNotYetValid  = "tls_cert_not_yet_valid"
	CodeTLSBadCertificate   = "tls_bad_certificate" // other chain verification failures (EKU, constraints, signature)
	CodeTLSProtocolVersion  = "tls_protocol_version"
	CodeTLSBadSignature     = "tls_bad_signature"    // CertificateVerify failed: a certificate presented without its key
	CodeTLSHandshakeFailed  = "tls_handshake_failed" // anything else: timeouts, resets, malformed records

	// Handshakes (class authentication), refused by VerifyConnection.
	CodeTLSNoVerifiedChain   = "tls_no_verified_chain"
	CodeCertIssuerNotTrusted = "cert_issuer_not_trusted" // a resumed session whose intermediate was retired since
	CodeCertNoIdentity       = "cert_no_identity"        // no, several or malformed urn:fifthwheel URI SANs
	CodeCertProfileMismatch  = "cert_profile_mismatch"   // EKU, CN or CA flag inconsistent with the kind
	CodeTLSKindNotAllowed    = "tls_kind_not_allowed"    // e.g. a vehicle certificate on the TMS listener
	CodeTLSCertRevoked       = "tls_cert_revoked"        // leaf or intermediate serial is revoked
	CodeRevocationStale      = "revocation_stale"        // revocation data older than MaxAge: fail closed

	// Handshake accepted and live connections (class authentication).
	CodeTLSAccepted          = "tls_accepted"
	CodeEventSinkFailed      = "event_sink_failed" // the accept event could not be recorded: refused, no event
	CodeSessionClosedRevoked = "session_closed_revoked"
	// CodeSessionClosedSuspended: a live connection of a vehicle an
	// operator suspended or retired was closed (SuspensionWatch).
	CodeSessionClosedSuspended = "session_closed_suspended"

	// Issuance and revocation (class pki).
	CodeCertIssued          = "cert_issued"
	CodeCertEnrolled        = "cert_enrolled"
	CodeCertRenewed         = "cert_renewed"
	CodeCertRevoked         = "cert_revoked"
	CodeCertAlreadyRevoked  = "cert_already_revoked"
	CodePrincipalRevoked    = "principal_revoked" // a vehicle, client or operator revoked as a whole (pki revoke --vehicle)
	CodeJoinTokenCreated    = "join_token_created"
	CodeIntermediateAdded   = "intermediate_added"
	CodeIntermediateIssuing = "intermediate_issuing"
	CodeIntermediateRetired = "intermediate_retired"
	CodeCRLPublished        = "crl_published"

	// Issuance refusals (class pki).
	CodeIssueInvalid        = "issue_invalid" // bad principal, lifetime, SANs or key in an operator request
	CodeCSRTooLarge         = "csr_too_large"
	CodeCSRMalformed        = "csr_malformed"
	CodeCSRBadSignature     = "csr_bad_signature"
	CodeCSRKeyType          = "csr_key_type" // RSA, P-384 and anything else but ECDSA P-256 and Ed25519
	CodeCSRIdentityMismatch = "csr_identity_mismatch"
	CodeTokenMalformed      = "token_malformed"
	CodeTokenUnknown        = "token_unknown"
	CodeTokenUsed           = "token_used"
	CodeTokenExpired        = "token_expired"
	CodeRenewCertRevoked    = "renew_cert_revoked"
	CodeRenewCertExpired    = "renew_cert_expired"
	CodeRenewCertUnknown    = "renew_cert_unknown"
	CodeRenewKindNotAllowed = "renew_kind_not_allowed" // gateway certificates are issued by operators only
	CodeCertUnknown         = "cert_unknown"           // revocation of a serial the Registry does not know

	// Any path whose store read or write failed: fail closed.
	CodeStoreUnavailable = "store_unavailable"
)

// Sentinel errors, matched with errors.Is. The Registry ones are part of the
// Registry contract; implementations return them (wrapped or not).
var (
	// ErrNotFound: no row with that key.
	ErrNotFound = errors.New("pki: not found")
	// ErrConflict: a row with that key already exists.
	ErrConflict = errors.New("pki: already exists")
	// ErrTokenUsed: the join token was already consumed.
	ErrTokenUsed = errors.New("pki: join token already used")
	// ErrTokenExpired: the join token's expiry has passed.
	ErrTokenExpired = errors.New("pki: join token expired")

	// ErrRevocationStale: the RevocationSet's data is older than its MaxAge
	// (or was never loaded); callers must refuse.
	ErrRevocationStale = errors.New("pki: revocation data is stale")
	// ErrRevoked: a certificate in the chain is revoked; from the
	// Registry's RecordIssued, the certificate a renewal presents is revoked
	// or predates its principal's revocation.
	ErrRevoked = errors.New("pki: certificate revoked")
	// ErrKeyDecrypt: a CA key could not be decrypted (wrong passphrase or
	// key file, or the file was altered).
	ErrKeyDecrypt = errors.New("pki: cannot decrypt key")
)

// CodeOf returns the reason code of an error returned by this package, or
// problem.Internal for an error that carries none.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	if he, ok := errors.AsType[*HandshakeError](err); ok {
		return he.Code
	}
	return problem.From(err).Code
}

// refusal builds the typed error a refusal returns. cause is for logs only.
func refusal(status int, code, detail string, cause error) error {
	return problem.Wrap(cause, status, code, detail)
}

func storeError(cause error) error {
	return refusal(http.StatusServiceUnavailable, CodeStoreUnavailable, "the certificate registry is unavailable", cause)
}

// emitter wraps an event.Emitter with the fields every pki event shares.
type emitter struct{ em event.Emitter }

func (e emitter) emit(ctx context.Context, class event.Class, activity string, verdict event.Verdict, sev event.Severity,
	code string, actor principal.Principal, resource string, attrs map[string]any) error {
	return e.emitFrom(ctx, "", class, activity, verdict, sev, code, actor, resource, attrs)
}

// emitFrom emits an event about a peer that has not proven who it is, from
// source (event.SourceOf its address): the gateway's emitter aggregates such
// events per source and window. An empty source emits as emit does.
func (e emitter) emitFrom(ctx context.Context, source string, class event.Class, activity string, verdict event.Verdict,
	sev event.Severity, code string, actor principal.Principal, resource string, attrs map[string]any) error {
	return e.em.Emit(ctx, event.Event{
		Class: class, Activity: activity, Verdict: verdict, Severity: sev, Code: code,
		Actor: actor, Resource: resource, Source: source, Attrs: attrs,
	})
}

// problemDetail is the client-safe detail of a refusal, for event attributes.
func problemDetail(err error) string { return problem.From(err).Detail }
