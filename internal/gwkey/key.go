package gwkey

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Key is one gateway frame-signing key. Not comparable with ==; never
// printed (String names its kid).
type Key struct {
	_      [0]func()
	signer *frame.Ed25519Signer
	kid    string
	pub    []byte // PEM "PUBLIC KEY"
}

// NewKey wraps an Ed25519 crypto.Signer (a key from the set, an HSM, or a
// test key).
func NewKey(s crypto.Signer) (*Key, error) {
	fs, err := frame.NewEd25519Signer(s)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &Key{signer: fs, kid: KeyID(der), pub: pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der})}, nil
}

// KeyID derives the kid of a gateway key from its PKIX DER: "gw-" and the
// unpadded base64url of the first 16 bytes of its SHA-256. Package agent
// derives the same (agent.GatewayKeyID) when a pinned key comes without a
// kid.
func KeyID(spkiDER []byte) string {
	h := sha256.Sum256(spkiDER)
	return "gw-" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// KID returns the key id frames are signed under.
func (k *Key) KID() string { return k.kid }

// PublicKeyPEM returns the public key as PEM "PUBLIC KEY", for vehicles to
// pin.
func (k *Key) PublicKeyPEM() []byte { return bytes.Clone(k.pub) }

// Verifier returns the public key as a frame verifier.
func (k *Key) Verifier() frame.Verifier { return k.signer.Public() }

// SignFrame signs f under the key's kid (frame.Sign).
func (k *Key) SignFrame(f *frame.Frame) ([]byte, error) { return frame.Sign(k.signer, k.kid, f) }

// String redacts.
func (k *Key) String() string { return "gwkey.Key(" + k.kid + ")" }
