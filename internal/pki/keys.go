package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// KeyAlgorithm names a key type the CA generates and accepts.
type KeyAlgorithm string

// The allowed key algorithms. Everything else (RSA of any size, other
// curves) is refused: two algorithms keep the verification paths few and
// fast, and both have constant-time Go implementations.
const (
	ECDSAP256 KeyAlgorithm = "ECDSA-P256" // the CA default
	Ed25519   KeyAlgorithm = "Ed25519"
)

// GenerateKey returns a new private key of the given algorithm.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	default:
		return nil, fmt.Errorf("pki: unsupported key algorithm %q", alg)
	}
}

// errKeyType is returned by keyAlgorithmOf for keys outside the allow-list.
var errKeyType = errors.New("pki: key type not allowed (want ECDSA P-256 or Ed25519)")

// keyAlgorithmOf returns the algorithm of an allowed public key, or errKeyType.
func keyAlgorithmOf(pub crypto.PublicKey) (KeyAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ECDSAP256, nil
		}
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return Ed25519, nil
		}
	}
	return "", errKeyType
}

// KeyID identifies a public key: the first 16 bytes of the SHA-256 of its
// DER SubjectPublicKeyInfo, as 32 lowercase hex digits. It names CA keys in
// file names, ca.json and IssuedCert.IssuerKeyID.
func KeyID(pub crypto.PublicKey) (string, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("pki: key id: %v", err)
	}
	return keyIDFromSPKI(spki), nil
}

func keyIDFromSPKI(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:16])
}

// newSerial returns a random positive serial of exactly SerialBits bits.
func newSerial() *big.Int {
	var b [SerialBits / 8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[0] |= 0x80
	return new(big.Int).SetBytes(b[:])
}

// SerialString is the canonical text form of a serial: lowercase hex without
// leading zeros (32 digits for serials this CA issues). The Registry, events
// and the RevocationSet all use it.
func SerialString(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}
