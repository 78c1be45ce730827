// Package sealtest is the sealer the tests of packages that keep sealed
// secrets in the store use in place of the gateway's secrets key (the
// token-signing keys, the audit log key, webhook secrets): AES-256-GCM
// under a random key, the nonce in front. Tests only: the key lives in
// memory and dies with the test.
package sealtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"testing"
)

// GCM seals with AES-256-GCM; it has the Encrypt and Decrypt methods of
// the packages' Sealer interfaces.
type GCM struct{ aead cipher.AEAD }

// New returns a sealer under a fresh random key.
func New(t testing.TB) GCM {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	g, err := FromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// FromKey returns a sealer under key (16, 24 or 32 bytes): for a test
// whose child process must open what its parent sealed.
func FromKey(key []byte) (GCM, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return GCM{}, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return GCM{}, err
	}
	return GCM{a}, nil
}

// Encrypt seals p, bound to aad.
func (g GCM) Encrypt(p, aad []byte) ([]byte, error) {
	n := make([]byte, g.aead.NonceSize())
	rand.Read(n)
	return g.aead.Seal(n, n, p, aad), nil
}

// Decrypt opens what Encrypt sealed with the same aad.
func (g GCM) Decrypt(c, aad []byte) ([]byte, error) {
	if len(c) < g.aead.NonceSize() {
		return nil, errors.New("sealtest: ciphertext too short")
	}
	return g.aead.Open(nil, c[:g.aead.NonceSize()], c[g.aead.NonceSize():], aad)
}
