package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// PKIStore holds the fleet PKI's rows: every issued certificate with its
// revocation, each principal's issuance count and revocation watermark, the
// revocation change counter, the CRL number and join tokens. Package pki
// adapts it to pki.Registry; the contracts are pki's.
type PKIStore interface {
	// RecordIssued stores a certificate; ErrConflict if the serial exists.
	// For a principal's certificate (Kind set) it first takes the
	// principal's row (creating it; a row lock on PostgreSQL), numbers the
	// certificate, and checks b in the same transaction: ErrRevoked if
	// b.RenewedFrom is revoked or not newer than the principal's revocation
	// watermark, ErrNotFound if it is not a certificate of this principal;
	// for b.JoinToken, ConsumeJoinToken's checks and errors. A refused call
	// changes nothing.
	RecordIssued(ctx context.Context, c CertRow, b IssueBasis) error
	// GetIssued returns one certificate or ErrNotFound.
	GetIssued(ctx context.Context, serial string) (CertRow, error)
	// ListIssued returns certificates matching kind and id ("" matches all),
	// ordered by NotBefore then Serial, at most limit (0: all).
	ListIssued(ctx context.Context, kind, id string, limit int) ([]CertRow, error)
	// RevokeCert marks a certificate revoked and bumps the revocation
	// version in the same transaction. Revoking a revoked certificate
	// changes nothing and returns changed=false. ErrNotFound if absent.
	RevokeCert(ctx context.Context, serial string, reason int, at time.Time) (CertRow, bool, error)
	// RevokePrincipal, in one transaction holding the principal's row (as
	// RecordIssued takes it), sets the principal's revocation watermark to
	// its issuance count, revokes every certificate of the principal not
	// revoked yet, spends a vehicle's unused join tokens (marks them used at
	// at), and bumps the revocation version if it revoked any certificate.
	RevokePrincipal(ctx context.Context, kind, id string, reason int, at time.Time) (PrincipalRevocation, error)
	// RevocationVersion returns the revocation change counter.
	RevocationVersion(ctx context.Context) (int64, error)
	// ListRevokedCerts returns revoked certificates with NotAfter > activeAt,
	// ordered by Serial.
	ListRevokedCerts(ctx context.Context, activeAt time.Time) ([]CertRow, error)
	// NextCRLNumber returns a CRL number greater than any returned before,
	// by any replica.
	NextCRLNumber(ctx context.Context) (int64, error)
	// CreateJoinToken stores a token; ErrConflict if the hash exists.
	CreateJoinToken(ctx context.Context, t JoinTokenRow) error
	// GetJoinToken returns a token without consuming it, or ErrNotFound.
	GetJoinToken(ctx context.Context, hash []byte) (JoinTokenRow, error)
}

// IssueBasis is what authorizes recording a principal's new certificate.
// RecordIssued checks it in the transaction that records the certificate.
type IssueBasis struct {
	// RenewedFrom is the serial of the certificate presented for a renewal.
	RenewedFrom string
	// JoinToken is the hash of the join token an enrollment consumes, at
	// Now. Of concurrent calls with one token at most one succeeds. The
	// checks, in this order: ErrNotFound (no such hash), ErrTokenUsed,
	// ErrTokenExpired (Now >= ExpiresAt).
	JoinToken []byte
	Now       time.Time
}

// PrincipalRevocation is what RevokePrincipal did.
type PrincipalRevocation struct {
	// Revoked are the certificates this call revoked, ordered by NotBefore
	// then Serial.
	Revoked []CertRow
	// TokensSpent counts the unused join tokens it spent.
	TokensSpent int
}

// Join token sentinels.
var (
	ErrTokenUsed    = errors.New("store: token already used")
	ErrTokenExpired = errors.New("store: token expired")
)

// ErrRevoked: the certificate a renewal presents is revoked, or predates its
// principal's revocation.
var ErrRevoked = errors.New("store: certificate revoked")

// CertRow is an issued certificate.
type CertRow struct {
	Serial      string
	Kind        string
	ID          string
	Profile     string
	NotBefore   time.Time
	NotAfter    time.Time
	IssuerKeyID string
	DER         []byte
	RevokedAt   time.Time // zero: not revoked
	Reason      int       // RFC 5280 CRLReason
}

// JoinTokenRow is a one-time enrollment token, stored by hash only.
type JoinTokenRow struct {
	Hash      []byte
	VehicleID string
	// Carrier is the carrier the enrollment registers the vehicle under
	// ("": none).
	Carrier   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: unused
}

// tokenKind is the principal kind join_tokens.vehicle_id names: revoking a
// principal of this kind spends its unused tokens.
const tokenKind = "vehicle"

// sortCertRows orders rows as ListIssued does: NotBefore, then Serial.
func sortCertRows(rows []CertRow) {
	slices.SortFunc(rows, func(a, b CertRow) int {
		return cmp.Or(a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.Serial, b.Serial))
	})
}
