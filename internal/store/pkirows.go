package store

import (
	"context"
	"errors"
	"time"
)

// PKIStore holds the fleet PKI's rows: every issued certificate with its
// revocation, the revocation change counter, the CRL number and join tokens.
// Package pki adapts it to pki.Registry; the contracts are pki's.
type PKIStore interface {
	// RecordIssued stores a certificate; ErrConflict if the serial exists.
	RecordIssued(ctx context.Context, c CertRow) error
	// GetIssued returns one certificate or ErrNotFound.
	GetIssued(ctx context.Context, serial string) (CertRow, error)
	// ListIssued returns certificates matching kind and id ("" matches all),
	// ordered by NotBefore then Serial, at most limit (0: all).
	ListIssued(ctx context.Context, kind, id string, limit int) ([]CertRow, error)
	// RevokeCert marks a certificate revoked and bumps the revocation
	// version in the same transaction. Revoking a revoked certificate
	// changes nothing and returns changed=false. ErrNotFound if absent.
	RevokeCert(ctx context.Context, serial string, reason int, at time.Time) (CertRow, bool, error)
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
	// ConsumeJoinToken marks a token used, atomically: of concurrent calls
	// at most one succeeds. Errors, in this order: ErrNotFound, ErrTokenUsed,
	// ErrTokenExpired (now >= ExpiresAt).
	ConsumeJoinToken(ctx context.Context, hash []byte, now time.Time) (JoinTokenRow, error)
}

// Join token sentinels.
var (
	ErrTokenUsed    = errors.New("store: token already used")
	ErrTokenExpired = errors.New("store: token expired")
)

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
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: unused
}
