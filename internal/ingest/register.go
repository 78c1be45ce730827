package ingest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// ErrBadKID reports a key id outside the protocol's form (docs/PROTOCOL.md:
// 1 to 64 characters of [A-Za-z0-9._:-]).
var ErrBadKID = errors.New("ingest: kid must be 1 to 64 characters of [A-Za-z0-9._:-]")

// NewVehicleKey checks a frame-signing key offered for registration (by an
// operator or at enrollment) under the same rules frame applies
// (docs/PROTOCOL.md, "Keys") and returns the row to store:
//
//   - Ed25519 and ES256: material is a PEM file holding exactly one
//     "PUBLIC KEY" block (PKIX), or the raw key (32 bytes for Ed25519, a
//     65-byte uncompressed SEC 1 point for ES256). Small-order and
//     non-canonical Ed25519 points, and other curves, are refused. The row
//     holds the key's PKIX DER.
//   - HS256: material is the raw secret, 32 to 64 bytes.
//
// kid empty derives one: DefaultKID for public keys, a random "h-..." id for
// HS256 (a kid derived from a secret would be a hash of it). Refusals carry
// frame.CodeBadKey (frame.CodeOf) or are ErrBadKID; the secret never appears
// in an error.
func NewVehicleKey(vehicleID string, alg frame.Alg, material []byte, kid string, now time.Time) (store.VehicleKey, error) {
	k := store.VehicleKey{VehicleID: vehicleID, Alg: string(alg), Status: store.KeyActive, CreatedAt: now.UTC()}
	switch alg {
	case frame.AlgHS256:
		if _, err := frame.NewHS256Key(material); err != nil {
			return store.VehicleKey{}, err
		}
		k.Material = bytes.Clone(material)
		if kid == "" {
			var b [12]byte
			_, _ = rand.Read(b[:])
			kid = "h-" + base64.RawURLEncoding.EncodeToString(b[:])
		}
	case frame.AlgEd25519, frame.AlgES256:
		v, err := parsePublic(alg, material)
		if err != nil {
			return store.VehicleKey{}, err
		}
		der, err := marshalVerifier(v)
		if err != nil {
			return store.VehicleKey{}, err
		}
		k.Material = der
		if kid == "" {
			kid = DefaultKID(der)
		}
	default:
		return store.VehicleKey{}, fmt.Errorf("ingest: alg %q is not Ed25519, ES256 or HS256", alg)
	}
	if !ValidKID(kid) {
		return store.VehicleKey{}, ErrBadKID
	}
	k.KID = kid
	return k, nil
}

// ValidKID reports whether kid has the protocol's form: 1 to frame.MaxKIDLen
// characters of [A-Za-z0-9._:-].
func ValidKID(kid string) bool {
	if kid == "" || len(kid) > frame.MaxKIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func parsePublic(alg frame.Alg, material []byte) (frame.Verifier, error) {
	if bytes.HasPrefix(bytes.TrimSpace(material), []byte("-----BEGIN")) {
		return frame.ParsePublicKeyPEM(alg, material)
	}
	switch alg {
	case frame.AlgEd25519:
		return frame.NewEd25519PublicKey(material)
	default: // ES256
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), material)
		if err != nil {
			return nil, badKey("the ES256 key is neither a PEM PUBLIC KEY nor a 65-byte uncompressed P-256 point")
		}
		return frame.NewES256PublicKey(pub)
	}
}

// badKey returns a refusal carrying frame.CodeBadKey with msg.
func badKey(msg string) error {
	_, coded := frame.NewVerifier(nil) // frame's own bad_key error
	return fmt.Errorf("%s: %w", msg, coded)
}

// marshalVerifier returns a registered public key's PKIX DER, the stored
// form VerifierFor reads back.
func marshalVerifier(v frame.Verifier) ([]byte, error) {
	var pub any
	switch k := v.(type) {
	case *frame.Ed25519PublicKey:
		pub = ed25519.PublicKey(k.Bytes())
	case *frame.ES256PublicKey:
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Bytes())
		if err != nil {
			return nil, fmt.Errorf("ingest: re-encode ES256 key: %v", err)
		}
		pub = p
	default:
		return nil, fmt.Errorf("ingest: %T is not a public key", v)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ingest: encode public key: %v", err)
	}
	return der, nil
}
