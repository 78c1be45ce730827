package frame

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
)

// Verifier is a registered frame-verification key: *Ed25519PublicKey,
// *ES256PublicKey or *HS256Key. The interface is sealed, so every
// verification goes through this package's checks.
type Verifier interface {
	// Alg is the algorithm the key is registered for; an envelope naming
	// another alg is refused (Envelope.Verify).
	Alg() Alg
	// Verify checks sig over the frame bytes. It returns nil or an *Error
	// with CodeBadSignature.
	Verify(frame, sig []byte) error

	isVerifier()
}

// Signer is a frame-signing key: *Ed25519Signer, *ES256Signer or *HS256Key.
// The interface is sealed; sign frames with Sign.
type Signer interface {
	Alg() Alg

	sign(frame []byte) ([]byte, error)
}

// NewVerifier registers a public key: an ed25519.PublicKey becomes an
// *Ed25519PublicKey, an *ecdsa.PublicKey an *ES256PublicKey, under the same
// rules as their constructors. HS256 secrets go through NewHS256Key.
func NewVerifier(pub crypto.PublicKey) (Verifier, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return NewEd25519PublicKey(k)
	case *ecdsa.PublicKey:
		return NewES256PublicKey(k)
	}
	return nil, newError(CodeBadKey, "", "public key is neither Ed25519 nor ECDSA P-256")
}

// ParsePublicKeyPEM registers a public key from a PEM file holding exactly
// one "PUBLIC KEY" block (PKIX, RFC 5280 SubjectPublicKeyInfo) and nothing
// else. The key must be for alg (Ed25519 or ES256).
func ParsePublicKeyPEM(alg Alg, pemBytes []byte) (Verifier, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" || len(block.Headers) != 0 {
		return nil, newError(CodeBadKey, "", `not a PEM "PUBLIC KEY" block`)
	}
	if len(trimSpace(rest)) != 0 {
		return nil, newError(CodeBadKey, "", "data after the PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, newError(CodeBadKey, "", "not a PKIX public key")
	}
	v, err := NewVerifier(pub)
	if err != nil {
		return nil, err
	}
	if v.Alg() != alg {
		return nil, newError(CodeBadKey, "", "the key is not for "+string(alg))
	}
	return v, nil
}

// errUnusableKey is what a nil or zero-value key (not made by its
// constructor) answers: it fails closed.
func errUnusableKey() error {
	return newError(CodeBadSignature, "", "key was not made by its constructor")
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}
