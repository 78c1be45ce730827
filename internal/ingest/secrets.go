package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// HS256 secrets at rest. An HS256 frame key is a secret shared with the
// vehicle: whoever reads it can sign frames as that vehicle. The store keeps
// it only sealed (store.ErrClearSecret refuses the rest), under a
// SecretSealer: in the gateway, the secrets key of the CA directory, itself
// encrypted under the KEK (pki.OpenSecretsKey). The additional data binds a
// sealed secret to its vehicle and kid, so a sealed value copied to another
// row does not open. Secrets are opened only in memory, when a key is looked
// up to verify a frame (openKeys; the pipeline's key cache then holds the
// verifier, never the sealed or clear bytes in the store).
//
// Rows written before store schema version 5 hold their secret in the
// clear; SealClearSecrets seals them, and `fifthwheel serve` runs it on
// every start before it listens. Until then such a row still verifies: it
// is as readable as it ever was, and refusing it would only stop the
// vehicle.

// SecretSealer seals and opens secrets with authenticated additional data
// (pki.KeyEncrypter fits).
type SecretSealer interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// ErrNoSealer: a secret must be sealed or opened and no SecretSealer was
// given.
var ErrNoSealer = errors.New("ingest: HS256 secrets are sealed at rest and no secrets key was given")

// secretAAD binds a sealed secret to its row.
func secretAAD(vehicleID, kid string) []byte {
	return []byte("fifthwheel vehicle-secret v1\x00" + vehicleID + "\x00" + kid)
}

// SealVehicleKey returns k with its secret sealed under s, ready for
// store.AddVehicleKey. Public keys and secrets already sealed are returned
// as they are.
func SealVehicleKey(k store.VehicleKey, s SecretSealer) (store.VehicleKey, error) {
	if k.Alg != store.SecretAlg || k.Sealed {
		return k, nil
	}
	if s == nil {
		return store.VehicleKey{}, ErrNoSealer
	}
	sealed, err := s.Encrypt(k.Material, secretAAD(k.VehicleID, k.KID))
	if err != nil {
		return store.VehicleKey{}, fmt.Errorf("ingest: seal the secret of key %s/%s: %w", k.VehicleID, k.KID, err)
	}
	k.Material, k.Sealed = sealed, true
	return k, nil
}

// OpenVehicleKey returns k with its sealed secret opened (Material the raw
// secret, Sealed false), for VerifierFor. Other keys are returned as they
// are. A secret that does not open (another secrets key, an altered row) is
// an error wrapping the sealer's (pki.ErrKeyDecrypt): callers fail closed.
func OpenVehicleKey(k store.VehicleKey, s SecretSealer) (store.VehicleKey, error) {
	if !k.Sealed {
		return k, nil
	}
	if s == nil {
		return store.VehicleKey{}, ErrNoSealer
	}
	secret, err := s.Decrypt(k.Material, secretAAD(k.VehicleID, k.KID))
	if err != nil {
		return store.VehicleKey{}, fmt.Errorf("ingest: open the secret of key %s/%s: %w", k.VehicleID, k.KID, err)
	}
	k.Material, k.Sealed = secret, false
	return k, nil
}

// openKeys is a KeyStore whose keys are returned opened (OpenVehicleKey):
// what the pipeline's key cache looks keys up through.
type openKeys struct {
	KeyStore
	s SecretSealer
}

func (o openKeys) GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error) {
	k, err := o.KeyStore.GetVehicleKey(ctx, vehicleID, kid)
	if err != nil {
		return k, err
	}
	return OpenVehicleKey(k, o.s)
}

// SecretStore is what SealClearSecrets needs of the store.
type SecretStore interface {
	ListClearSecrets(ctx context.Context) ([]store.VehicleKey, error)
	SealVehicleKey(ctx context.Context, vehicleID, kid string, clear, sealed []byte) error
}

// SealClearSecrets seals every secret the store still holds in the clear
// (rows written before schema version 5) and returns how many it sealed. A
// row another process sealed meanwhile is skipped. Running it again seals
// nothing.
func SealClearSecrets(ctx context.Context, st SecretStore, s SecretSealer) (int, error) {
	keys, err := st.ListClearSecrets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		clearSecret := bytes.Clone(k.Material)
		sk, err := SealVehicleKey(k, s)
		if err != nil {
			return n, err
		}
		err = st.SealVehicleKey(ctx, k.VehicleID, k.KID, clearSecret, sk.Material)
		clear(clearSecret)
		clear(k.Material)
		switch {
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
