package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Frame-signing keys are stored as store.VehicleKey: Material is the PKIX
// (SubjectPublicKeyInfo) DER of an Ed25519 or ES256 public key, or the
// HS256 secret, sealed (secrets.go).

// VerifierFor turns a stored key into a frame.Verifier, under the same
// registration rules as when it was added (small-order Ed25519 keys, bad
// curves and short secrets are refused). A sealed secret must be opened
// first (OpenVehicleKey): its sealed bytes are never a key.
func VerifierFor(k store.VehicleKey) (frame.Verifier, error) {
	if k.Sealed {
		return nil, fmt.Errorf("ingest: stored key %s/%s is sealed; open it first", k.VehicleID, k.KID)
	}
	switch frame.Alg(k.Alg) {
	case frame.AlgHS256:
		return frame.NewHS256Key(k.Material)
	case frame.AlgEd25519, frame.AlgES256:
		pub, err := x509.ParsePKIXPublicKey(k.Material)
		if err != nil {
			return nil, fmt.Errorf("ingest: stored key %s/%s: %v", k.VehicleID, k.KID, err)
		}
		v, err := frame.NewVerifier(pub)
		if err != nil {
			return nil, err
		}
		if v.Alg() != frame.Alg(k.Alg) {
			return nil, fmt.Errorf("ingest: stored key %s/%s is not a %s key", k.VehicleID, k.KID, k.Alg)
		}
		return v, nil
	}
	return nil, fmt.Errorf("ingest: stored key %s/%s has unknown alg %q", k.VehicleID, k.KID, k.Alg)
}

// DefaultKID derives a key id from a public key: "k-" and the first 16
// bytes of the SHA-256 of its PKIX DER, base64url (24 characters).
func DefaultKID(pkix []byte) string {
	h := sha256.Sum256(pkix)
	return "k-" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// keyCache keeps verifiers and vehicle statuses for KeyCacheTTL.
type keyCache struct {
	mu       sync.Mutex
	keys     map[[2]string]cachedKey
	vehicles map[string]cachedVehicle
	now      func() time.Time
	ttl      time.Duration
}

type cachedKey struct {
	v       frame.Verifier
	status  string
	fetched time.Time
}

type cachedVehicle struct {
	status  store.VehicleStatus
	fetched time.Time
}

// KeyStore is the store's part the key lookups need.
type KeyStore interface {
	GetVehicle(ctx context.Context, id string) (store.Vehicle, error)
	GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error)
}

func newKeyCache(now func() time.Time, ttl time.Duration) *keyCache {
	return &keyCache{keys: map[[2]string]cachedKey{}, vehicles: map[string]cachedVehicle{}, now: now, ttl: ttl}
}

// vehicleStatus returns the registry status, or "" if the vehicle is unknown.
func (c *keyCache) vehicleStatus(ctx context.Context, st KeyStore, id string) (store.VehicleStatus, error) {
	now := c.now()
	c.mu.Lock()
	cv, ok := c.vehicles[id]
	c.mu.Unlock()
	if ok && now.Sub(cv.fetched) < c.ttl {
		return cv.status, nil
	}
	v, err := st.GetVehicle(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil // not cached: an enrollment must take effect at once
	case err != nil:
		return "", err
	}
	c.mu.Lock()
	c.vehicles[id] = cachedVehicle{status: v.Status, fetched: now}
	c.mu.Unlock()
	return v.Status, nil
}

// key returns the verifier under (vehicle, kid) and its status; ok=false if
// there is none.
func (c *keyCache) key(ctx context.Context, st KeyStore, vehicle, kid string) (frame.Verifier, string, bool, error) {
	now := c.now()
	k := [2]string{vehicle, kid}
	c.mu.Lock()
	ck, ok := c.keys[k]
	c.mu.Unlock()
	if ok && now.Sub(ck.fetched) < c.ttl {
		return ck.v, ck.status, true, nil
	}
	sk, err := st.GetVehicleKey(ctx, vehicle, kid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, "", false, nil
	case err != nil:
		return nil, "", false, err
	}
	v, err := VerifierFor(sk)
	if sk.Alg == store.SecretAlg {
		clear(sk.Material) // the verifier holds its own copy; keep no other
	}
	if err != nil {
		return nil, "", false, err
	}
	c.mu.Lock()
	c.keys[k] = cachedKey{v: v, status: sk.Status, fetched: now}
	c.mu.Unlock()
	return v, sk.Status, true, nil
}
