package pki

import (
	"context"
	"errors"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// Reason codes are package codes'. pki's refusals return them in a
// *problem.Error, and each is the code of exactly one kind of event.
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
// codes.Internal for an error that carries none.
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
	return refusal(http.StatusServiceUnavailable, codes.StoreUnavailable, "the certificate registry is unavailable", cause)
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
