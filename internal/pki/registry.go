package pki

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Registry is the persistence the CA needs. internal/store implements it on
// SQLite and PostgreSQL; MemRegistry implements it in memory; every
// implementation must pass pkitest.RunRegistryConformance.
//
// General rules for implementations:
//   - A method returns only once its write is durable (committed and, on
//     SQLite, fsynced). A method that cannot complete returns an error other
//     than the sentinels below; the CA then fails closed.
//   - The sentinels (ErrNotFound, ErrConflict, ErrRevoked, ErrTokenUsed,
//     ErrTokenExpired)
//     are returned so that errors.Is matches them; wrapping is allowed.
//   - Times are passed in UTC with whole-second precision (the CA truncates
//     them); an engine must store at least whole seconds and return them in
//     UTC. A zero time.Time means "not set" (NULL).
//   - Serials are the canonical form SerialString produces: 32 lowercase hex
//     digits. Implementations compare them as opaque strings.
//   - Several gateway replicas may call any method concurrently on the same
//     database; the atomicity each method states must hold across them.
type Registry interface {
	RevocationSource

	// RecordIssued durably stores a newly issued certificate (RevokedAt zero,
	// Reason 0). It returns ErrConflict, and changes nothing, if a row with
	// the same Serial exists.
	//
	// For a principal's certificate (Kind set) it is serialized with
	// RevokePrincipal on the same principal, on every replica (the
	// principal's row is locked in both transactions), and checks basis in
	// the transaction that records the certificate, so that a certificate is
	// either recorded before a revocation of its principal (which then
	// revokes it) or refused after it:
	//   - basis.RenewedFrom must name a certificate of the same principal,
	//     not revoked and issued after the principal's last RevokePrincipal;
	//     otherwise ErrRevoked (ErrNotFound if no certificate of this
	//     principal has that serial).
	//   - basis.JoinToken is consumed in the same transaction, at basis.Now:
	//     ErrNotFound (no such hash), ErrTokenUsed (used, or spent by a
	//     revocation), ErrTokenExpired (Now >= ExpiresAt), checked in this
	//     order. Of concurrent calls with one token at most one succeeds.
	// The order of issuance is the Registry's own (a per-principal count),
	// never NotBefore, which is second-granular and back-dated. A refused
	// call changes nothing.
	RecordIssued(ctx context.Context, c IssuedCert, basis IssueBasis) error

	// GetIssued returns the certificate with this serial, revoked or not, or
	// ErrNotFound.
	GetIssued(ctx context.Context, serial string) (IssuedCert, error)

	// ListIssued returns the certificates matching f, ordered by NotBefore
	// ascending, then Serial ascending. Revoked and expired ones are
	// included. A zero filter matches every row.
	ListIssued(ctx context.Context, f IssuedFilter) ([]IssuedCert, error)

	// Revoke marks the certificate revoked at time at with reason, in one
	// transaction that also increments the revocation version (see
	// RevocationVersion), and returns the row as stored with changed true.
	//
	// It is idempotent: if the certificate is already revoked, it changes
	// nothing (the first RevokedAt and Reason are kept, the version is not
	// incremented) and returns the stored row with changed false and a nil
	// error. Two concurrent Revoke calls for one serial see exactly one
	// changed=true. It returns ErrNotFound if no certificate has the serial.
	Revoke(ctx context.Context, serial string, reason RevocationReason, at time.Time) (c IssuedCert, changed bool, err error)

	// RevokePrincipal revokes a principal: in one transaction, serialized
	// with RecordIssued on that principal, it records that every certificate
	// of p issued so far is revoked (the principal's revocation watermark),
	// revokes each of them not revoked yet (expired ones included) at time
	// at with reason, spends a vehicle's unused join tokens, and increments
	// the revocation version if it revoked any certificate. It returns what
	// it revoked. A certificate recorded after it (an operator's issue, an
	// enrollment with a join token created after it) is not affected; no
	// renewal of a certificate issued before it can be recorded after it.
	// Calling it again moves the watermark to the principal's certificates
	// issued since.
	RevokePrincipal(ctx context.Context, p principal.Principal, reason RevocationReason, at time.Time) (PrincipalRevocation, error)

	// NextCRLNumber returns a CRL number strictly greater than every number
	// it returned before, to any caller on any replica, even across
	// restarts, and at least 1. Gaps are allowed (a PostgreSQL sequence or
	// an UPDATE ... RETURNING on a counter row both fit); repeats and
	// decreases are not (RFC 5280 §5.2.3).
	NextCRLNumber(ctx context.Context) (int64, error)

	// CreateJoinToken stores a new, unused join token. It returns
	// ErrConflict, and changes nothing, if a token with the same Hash exists.
	// UsedAt in t is ignored (stored as not set).
	CreateJoinToken(ctx context.Context, t JoinTokenRecord) error

	// GetJoinToken returns the token with this hash without consuming it,
	// whatever its state (used or expired), or ErrNotFound. The CA uses it to
	// check a CSR against the token's vehicle before it signs anything, so
	// that a refused CSR does not burn the token; RecordIssued consumes it.
	GetJoinToken(ctx context.Context, hash TokenHash) (JoinTokenRecord, error)
}

// RevocationSource is the part of the Registry the RevocationSet polls.
type RevocationSource interface {
	// RevocationVersion returns a counter that increases (by any amount)
	// whenever a certificate becomes revoked, in the same transaction as the
	// revocation, and never decreases, also across restarts. A reader that
	// sees version v and then calls ListRevoked sees every revocation
	// counted in v. It is 0 before the first revocation. It is polled every
	// 200 ms by every replica, so it must be a single indexed read.
	RevocationVersion(ctx context.Context) (int64, error)

	// ListRevoked returns every revoked certificate whose NotAfter is after
	// activeAt (expired certificates need no revocation entry), ordered by
	// Serial ascending.
	ListRevoked(ctx context.Context, activeAt time.Time) ([]RevokedCert, error)
}

// Profile names a certificate profile: what a certificate may be used for and
// for how long.
type Profile string

// The profiles. A leaf's profile follows from its principal kind.
const (
	ProfileVehicle       Profile = "vehicle"        // clientAuth, urn:fifthwheel:vehicle:<id>
	ProfileClient        Profile = "client"         // clientAuth, urn:fifthwheel:client:<id> (TMS)
	ProfileOperator      Profile = "operator"       // clientAuth, urn:fifthwheel:operator:<id>
	ProfileGateway       Profile = "gateway"        // serverAuth, urn:fifthwheel:gateway:<id> + DNS/IP SANs
	ProfileIntermediate  Profile = "intermediate"   // online issuing CA; Kind is empty, ID is its key id
	ProfileOCSPResponder Profile = "ocsp-responder" // delegated OCSP signer; Kind is empty, ID is its issuer's key id
)

// IssuedCert is one certificate as the Registry stores it.
type IssuedCert struct {
	Serial      string         // SerialString form, primary key
	Kind        principal.Kind // empty for CA and responder certificates
	ID          string         // principal id; the key id for CA and responder certificates
	Profile     Profile
	NotBefore   time.Time
	NotAfter    time.Time
	IssuerKeyID string // KeyID of the signing CA's public key
	DER         []byte // the certificate
	// RevokedAt is zero while the certificate is not revoked.
	RevokedAt time.Time
	Reason    RevocationReason
}

// Principal returns the certificate's principal (zero for CA certificates).
func (c IssuedCert) Principal() principal.Principal {
	if c.Kind == "" {
		return principal.Principal{}
	}
	return principal.Principal{Kind: c.Kind, ID: c.ID}
}

// Revoked reports whether the certificate is revoked.
func (c IssuedCert) Revoked() bool { return !c.RevokedAt.IsZero() }

// IssueBasis is what authorizes recording a principal's new certificate;
// RecordIssued checks it in the transaction that records the certificate.
// The zero IssueBasis is an operator's issue (or a CA certificate).
type IssueBasis struct {
	// RenewedFrom is the serial of the certificate a renewal presents.
	RenewedFrom string
	// JoinToken, for an enrollment, is the token consumed at Now.
	JoinToken *TokenHash
	Now       time.Time
}

// PrincipalRevocation is what RevokePrincipal did.
type PrincipalRevocation struct {
	// Revoked are the certificates this call revoked, ordered by NotBefore
	// then Serial.
	Revoked []IssuedCert
	// TokensSpent counts the unused join tokens it spent (vehicles only).
	TokensSpent int
}

// IssuedFilter selects certificates; zero fields match everything.
type IssuedFilter struct {
	Kind  principal.Kind
	ID    string
	Limit int // 0: no limit
}

// RevokedCert is one entry of the revocation list.
type RevokedCert struct {
	Serial      string
	IssuerKeyID string
	NotAfter    time.Time
	RevokedAt   time.Time
	Reason      RevocationReason
}

// RevocationReason is an RFC 5280 §5.3.1 CRLReason code.
type RevocationReason int

// The reasons fifthwheel uses. certificateHold (6) is deliberately absent:
// revocation is final; suspend a vehicle in the vehicle registry instead.
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonPrivilegeWithdrawn   RevocationReason = 9
)

var reasonNames = map[RevocationReason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "key_compromise",
	ReasonCACompromise:         "ca_compromise",
	ReasonAffiliationChanged:   "affiliation_changed",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessation_of_operation",
	ReasonPrivilegeWithdrawn:   "privilege_withdrawn",
}

// String returns the reason's snake_case name.
func (r RevocationReason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseReason parses a snake_case reason name, as the CLI takes it.
func ParseReason(s string) (RevocationReason, error) {
	for r, n := range reasonNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("pki: unknown revocation reason %q", s)
}

// TokenHash is the SHA-256 of a join token's secret string; only the hash is
// stored.
type TokenHash [sha256.Size]byte

// JoinTokenRecord is a join token as the Registry stores it.
type JoinTokenRecord struct {
	Hash      TokenHash // primary key
	VehicleID string
	// Carrier is the carrier the enrollment registers the vehicle under
	// ("": none).
	Carrier   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}
