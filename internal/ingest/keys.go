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

// keyCache keeps verifiers and vehicle statuses read from the registry.
// An entry is reused for KeyCacheTTL after it was read, as the promise
// requires; past that only while the cache follows the registry change feed
// (keyfeed.go), which drops exactly the vehicles that changed. A vehicle or
// key that is not found is never cached: an enrollment takes effect at once.
type keyCache struct {
	mu       sync.Mutex
	vehicles map[string]cachedVehicle
	keys     map[string]map[string]cachedKey // vehicle → kid → key
	now      func() time.Time
	ttl      time.Duration
	feed     feedState  // guarded by mu
	pollMu   sync.Mutex // one poll of the feed at a time
}

type cachedKey struct {
	v      frame.Verifier
	status string
	read   readStamp
}

type cachedVehicle struct {
	status store.VehicleStatus
	read   readStamp
}

// readStamp is when an entry was read, and whether the feed vouches for it
// past KeyCacheTTL: only if no change was applied while it was being read
// (a read that raced a change may hold what the change replaced).
type readStamp struct {
	at       time.Time
	followed bool
}

// KeyStore is the store's part the key lookups need.
type KeyStore interface {
	GetVehicle(ctx context.Context, id string) (store.Vehicle, error)
	GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error)
}

func newKeyCache(now func() time.Time, ttl time.Duration) *keyCache {
	return &keyCache{vehicles: map[string]cachedVehicle{}, keys: map[string]map[string]cachedKey{}, now: now, ttl: ttl}
}

// begin is a lookup's start, under mu: the time and the stamp its entry
// gets if it has to read the store.
func (c *keyCache) begin() (time.Time, uint64) { return c.now(), c.feed.gen }

// stamp is the readStamp of a read begun at (now, gen), under mu.
func (c *keyCache) stamp(now time.Time, gen uint64) readStamp {
	return readStamp{at: now, followed: gen == c.feed.gen}
}

// vehicleStatus returns the registry status, or "" if the vehicle is unknown.
func (c *keyCache) vehicleStatus(ctx context.Context, st KeyStore, id string) (store.VehicleStatus, error) {
	c.mu.Lock()
	now, gen := c.begin()
	cv, ok := c.vehicles[id]
	if ok && c.fresh(cv.read, now) {
		c.mu.Unlock()
		return cv.status, nil
	}
	c.mu.Unlock()
	v, err := st.GetVehicle(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil // not cached: an enrollment must take effect at once
	case err != nil:
		return "", err
	}
	c.mu.Lock()
	c.vehicles[id] = cachedVehicle{status: v.Status, read: c.stamp(now, gen)}
	c.mu.Unlock()
	return v.Status, nil
}

// key returns the verifier under (vehicle, kid) and its status; ok=false if
// there is none.
func (c *keyCache) key(ctx context.Context, st KeyStore, vehicle, kid string) (frame.Verifier, string, bool, error) {
	c.mu.Lock()
	now, gen := c.begin()
	ck, ok := c.keys[vehicle][kid]
	if ok && c.fresh(ck.read, now) {
		c.mu.Unlock()
		return ck.v, ck.status, true, nil
	}
	c.mu.Unlock()
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
	ks := c.keys[vehicle]
	if ks == nil {
		ks = map[string]cachedKey{}
		c.keys[vehicle] = ks
	}
	ks[kid] = cachedKey{v: v, status: sk.Status, read: c.stamp(now, gen)}
	c.mu.Unlock()
	return v, sk.Status, true, nil
}
