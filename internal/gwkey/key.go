package gwkey

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Key is one gateway signing key, of one purpose (a frame key or a
// command key). Not comparable with ==; never
// printed (String names its kid).
type Key struct {
	_      [0]func()
	signer *frame.Ed25519Signer
	kid    string
	pub    []byte // PEM "PUBLIC KEY"
	// command: a command key, which signs commands only.
	command bool
}

// NewKey wraps an Ed25519 crypto.Signer (a key from the set, an HSM, or a
// test key) as a frame key: Frame.NewKey.
func NewKey(s crypto.Signer) (*Key, error) { return Frame.NewKey(s) }

// NewKey wraps an Ed25519 crypto.Signer as a key of purpose p: its kid
// carries p's prefix.
func (p Purpose) NewKey(s crypto.Signer) (*Key, error) {
	fs, err := frame.NewEd25519Signer(s)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &Key{signer: fs, kid: p.keyID(der), command: p.command, pub: pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der})}, nil
}

// KeyID derives the kid of a gateway key from its PKIX DER: "gw-" and the
// unpadded base64url of the first 16 bytes of its SHA-256. Package agent
// derives the same (agent.GatewayKeyID) when a pinned key comes without a
// kid.
func KeyID(spkiDER []byte) string { return Frame.keyID(spkiDER) }

// KID returns the key id frames are signed under.
func (k *Key) KID() string { return k.kid }

// PublicKeyPEM returns the public key as PEM "PUBLIC KEY", for vehicles to
// pin.
func (k *Key) PublicKeyPEM() []byte { return bytes.Clone(k.pub) }

// Verifier returns the public key as a frame verifier.
func (k *Key) Verifier() frame.Verifier { return k.signer.Public() }

// SignFrame signs f under the key's kid (frame.Sign). A command key
// refuses: it signs commands only.
func (k *Key) SignFrame(f *frame.Frame) ([]byte, error) {
	if k.command {
		return nil, errors.New("gwkey: a command key signs commands only")
	}
	return frame.Sign(k.signer, k.kid, f)
}

// SignCommand signs a command frame under the key's kid
// (frame.SignCommand, which refuses any kid but a command key's).
func (k *Key) SignCommand(f *frame.Frame) ([]byte, error) {
	return frame.SignCommand(k.signer, k.kid, f)
}

// String redacts.
func (k *Key) String() string { return "gwkey.Key(" + k.kid + ")" }
