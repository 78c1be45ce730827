package pki

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// joinTokenPrefix marks join tokens so secret scanners and humans recognize
// them; the version lets the format change without ambiguity.
const joinTokenPrefix = "fwjoin1_"

// JoinToken is a newly created join token. Secret is shown once to the
// operator who created it and never stored: the Registry keeps its SHA-256.
type JoinToken struct {
	Secret    string
	VehicleID string
	ExpiresAt time.Time
	// ID is a non-secret handle (the first 8 bytes of the hash, hex) that
	// events carry to correlate creation and use.
	ID string
}

// String redacts the secret, so a JoinToken printed by mistake leaks nothing.
func (t JoinToken) String() string {
	return fmt.Sprintf("JoinToken{ID:%s VehicleID:%s ExpiresAt:%s Secret:%s}", t.ID, t.VehicleID,
		t.ExpiresAt.UTC().Format(time.RFC3339), event.Redacted)
}

// GoString redacts the secret for %#v too.
func (t JoinToken) GoString() string { return t.String() }

// HashJoinToken checks the token's syntax and returns its hash: SHA-256 over
// the 32 decoded random bytes. Errors carry codes.TokenMalformed.
func HashJoinToken(secret string) (TokenHash, error) {
	rest, ok := strings.CutPrefix(secret, joinTokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(JoinTokenBytes) {
		return TokenHash{}, refusal(http.StatusUnauthorized, codes.TokenMalformed, "not a join token", nil)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != JoinTokenBytes {
		return TokenHash{}, refusal(http.StatusUnauthorized, codes.TokenMalformed, "not a join token", nil)
	}
	return sha256.Sum256(raw), nil
}

func tokenID(h TokenHash) string { return hex.EncodeToString(h[:8]) }

// CreateJoinToken creates a single-use token that authorizes one enrollment
// of vehicleID. ttl 0 takes Config.JoinTokenTTL; more than MaxJoinTokenTTL
// is refused. The secret is in the result only.
func (ca *CA) CreateJoinToken(ctx context.Context, vehicleID string, ttl time.Duration, by principal.Principal) (JoinToken, error) {
	return ca.CreateCarrierJoinToken(ctx, vehicleID, "", ttl, by)
}

// CreateCarrierJoinToken is CreateJoinToken for a vehicle of carrier: the
// enrollment the token authorizes registers the vehicle under it ("": none).
// The carrier has the syntax of a principal id.
func (ca *CA) CreateCarrierJoinToken(ctx context.Context, vehicleID, carrier string, ttl time.Duration, by principal.Principal) (JoinToken, error) {
	v, err := principal.New(principal.Vehicle, vehicleID)
	if err != nil {
		return JoinToken{}, refusal(http.StatusBadRequest, codes.IssueInvalid, "not a valid vehicle id", err)
	}
	if carrier != "" && !principal.ValidID(carrier) {
		return JoinToken{}, refusal(http.StatusBadRequest, codes.IssueInvalid, "not a valid carrier id", nil)
	}
	if ttl == 0 {
		ttl = ca.cfg.JoinTokenTTL
	}
	if ttl < 0 || ttl > MaxJoinTokenTTL {
		return JoinToken{}, refusal(http.StatusBadRequest, codes.IssueInvalid, fmt.Sprintf("join token TTL must be at most %v", MaxJoinTokenTTL), nil)
	}
	raw := make([]byte, JoinTokenBytes)
	_, _ = rand.Read(raw)
	secret := joinTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256(raw)
	clear(raw)
	now := ca.now().UTC().Truncate(time.Second)
	rec := JoinTokenRecord{Hash: hash, VehicleID: vehicleID, Carrier: carrier, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := ca.reg.CreateJoinToken(ctx, rec); err != nil {
		return JoinToken{}, storeError(err) // ErrConflict would mean a 256-bit collision
	}
	id := tokenID(hash)
	if err := ca.ev.emit(ctx, event.ClassPKI, "join_create", event.Accept, event.SeverityInfo, codes.JoinTokenCreated, by, v.String(),
		map[string]any{"join_id": id, "expires_at": rec.ExpiresAt, "carrier": carrier}); err != nil {
		return JoinToken{}, err
	}
	return JoinToken{Secret: secret, VehicleID: vehicleID, ExpiresAt: rec.ExpiresAt, ID: id}, nil
}

// tokenRefusal maps a Registry join-token error to its refusal.
func tokenRefusal(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return refusal(http.StatusUnauthorized, codes.TokenUnknown, "unknown join token", err)
	case errors.Is(err, ErrTokenUsed):
		return refusal(http.StatusUnauthorized, codes.TokenUsed, "this join token was already used", err)
	case errors.Is(err, ErrTokenExpired):
		return refusal(http.StatusUnauthorized, codes.TokenExpired, "this join token has expired", err)
	default:
		return storeError(err)
	}
}
