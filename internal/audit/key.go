package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Sealer seals the log's private key at rest: the gateway's secrets key,
// the same one that seals the token-signing keys (authz.Sealer's shape).
// Decrypt must authenticate aad.
type Sealer interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// KeyStore is where the log key lives: the store, sealed, so every replica
// that becomes the sequencer signs with the same key.
type KeyStore interface {
	AddAuditLogKey(ctx context.Context, k store.AuditLogKey) error
	GetAuditLogKey(ctx context.Context) (store.AuditLogKey, error)
}

// sealAAD binds a sealed log key to its purpose and origin, so a sealed
// token key or another log's key does not open as this one.
func sealAAD(origin string) []byte { return []byte("fifthwheel audit log key\x00" + origin) }

// LogKey is the log's signed-note key (Ed25519). It cannot be compared
// with ==; it is safe for concurrent use.
type LogKey struct {
	_        [0]func() // incomparable
	origin   string
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// Origin is the log's origin line, also the key's name.
func (k *LogKey) Origin() string { return k.origin }

// VerifierKey is the public key as a signed-note verifier key string
// ("origin+hash+base64"): what `audit key` prints and auditors trust.
func (k *LogKey) VerifierKey() string { return k.vkey }

// Verifier verifies the log's signatures.
func (k *LogKey) Verifier() note.Verifier { return k.verifier }

// ErrKeyOrigin reports a stored log key of another origin than the one
// configured: the gateway refuses to sign as a log it is not.
var ErrKeyOrigin = errors.New("audit: the stored log key is for another origin")

// ValidOrigin reports whether origin can be a log's origin and key name.
func ValidOrigin(origin string) error {
	if origin == "" || len(origin) > MaxOriginLen || strings.ContainsAny(origin, "+ \t\n\r") {
		return fmt.Errorf("audit: origin %q: 1 to %d bytes, no '+' or white space", origin, MaxOriginLen)
	}
	// Domain separation from signed statements (statement.go).
	if strings.HasPrefix(origin, StatementPrefix) {
		return fmt.Errorf("audit: origin %q: may not start with %q", origin, StatementPrefix)
	}
	return nil
}

// LoadOrCreateKey returns the store's log key, making, sealing and storing
// one first if the store has none. Two replicas racing both read the key
// the first one stored.
func LoadOrCreateKey(ctx context.Context, ks KeyStore, sealer Sealer, origin string, now time.Time) (*LogKey, error) {
	if err := ValidOrigin(origin); err != nil {
		return nil, err
	}
	rec, err := ks.GetAuditLogKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		skey, vkey, gerr := note.GenerateKey(rand.Reader, origin)
		if gerr != nil {
			return nil, gerr
		}
		sealed, serr := sealer.Encrypt([]byte(skey), sealAAD(origin))
		if serr != nil {
			return nil, fmt.Errorf("audit: sealing the log key: %v", serr)
		}
		err = ks.AddAuditLogKey(ctx, store.AuditLogKey{Origin: origin, Verifier: vkey, Sealed: sealed, CreatedAt: now})
		if err == nil || errors.Is(err, store.ErrConflict) {
			rec, err = ks.GetAuditLogKey(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit: log key: %w", err)
	}
	if rec.Origin != origin {
		return nil, fmt.Errorf("%w: stored %q, configured %q", ErrKeyOrigin, rec.Origin, origin)
	}
	skey, err := sealer.Decrypt(rec.Sealed, sealAAD(origin))
	if err != nil {
		return nil, fmt.Errorf("audit: opening the log key: %v", err)
	}
	return newLogKey(origin, string(skey), rec.Verifier)
}

// newLogKey pairs a signer and its verifier, refusing a pair that does not
// match (a verifier row swapped in the database).
func newLogKey(origin, skey, vkey string) (*LogKey, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: log key: %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: log verifier key: %v", err)
	}
	if s.Name() != origin || v.Name() != origin || s.KeyHash() != v.KeyHash() {
		return nil, errors.New("audit: the log's signer and verifier keys do not match")
	}
	// The key hash covers the name and the public key, not the private
	// key: sign a probe to be sure the pair really matches.
	probe, err := note.Sign(&note.Note{Text: "probe\n"}, s)
	if err == nil {
		_, err = note.Open(probe, note.VerifierList(v))
	}
	if err != nil {
		return nil, errors.New("audit: the log's signer does not match its verifier key")
	}
	return &LogKey{origin: origin, signer: s, verifier: v, vkey: vkey}, nil
}
