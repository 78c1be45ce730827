package session

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// The gateway's frame-signing key signs every frame the gateway sends a
// vehicle (challenge, ready, ack, nack, resume; later commands). Vehicles
// pin its public key (agent.Config.GatewayFrameKeys), so it is a key of its
// own: not the gateway's TLS key, not a CA key.
//
// Lifecycle: LoadOrCreateGatewayKey makes an Ed25519 key on the first start
// and keeps it in the data directory:
//
//	<dir>/gateway-frame-key.json  {"alg":"Ed25519","kid":"gw-…","private_key":"<fwkey1, base64>","public_key_pem":"…","v":1}
//	<dir>/gateway-frame-key.pem   the public key, to distribute to vehicles
//
// The private key (the 32-byte Ed25519 seed) is encrypted at rest by the
// same KeyEncrypter as the CA keys (pki.PassphraseKEK or pki.KeyFileKEK),
// with additional data binding it to its role and kid, so the file cannot
// be swapped for another key file. The JSON file is written with mode 0600
// (temporary file, fsync, rename, directory fsync). Replicas behind one
// load balancer must share the key (copy both files), or vehicles must pin
// each replica's key. Rotation: add the new public key to the vehicles'
// pinned keys first, then replace the files and restart; the kid names the
// key, so both verify during the overlap.
const (
	GatewayKeyFile       = "gateway-frame-key.json"
	GatewayPublicKeyFile = "gateway-frame-key.pem"
)

// GatewayKey is the gateway's frame-signing key. Not comparable with ==;
// never printed.
type GatewayKey struct {
	_      [0]func()
	signer *frame.Ed25519Signer
	kid    string
	pub    []byte // PEM
}

// NewGatewayKey wraps an Ed25519 crypto.Signer (an HSM, or a test key).
func NewGatewayKey(s crypto.Signer) (*GatewayKey, error) {
	fs, err := frame.NewEd25519Signer(s)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &GatewayKey{signer: fs, kid: GatewayKeyID(der),
		pub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// GatewayKeyID derives the kid of a gateway key from its PKIX DER:
// "gw-" and the unpadded base64url of the first 16 bytes of its SHA-256.
// Package agent derives the same when a pinned key comes without a kid.
func GatewayKeyID(spkiDER []byte) string {
	h := sha256.Sum256(spkiDER)
	return "gw-" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// KID returns the key id frames are signed under.
func (k *GatewayKey) KID() string { return k.kid }

// PublicKeyPEM returns the public key as PEM "PUBLIC KEY", for vehicles to
// pin.
func (k *GatewayKey) PublicKeyPEM() []byte { return bytes.Clone(k.pub) }

// Verifier returns the public key as a frame verifier.
func (k *GatewayKey) Verifier() frame.Verifier { return k.signer.Public() }

// String redacts.
func (k *GatewayKey) String() string { return "GatewayKey(" + k.kid + ")" }

type gatewayKeyFile struct {
	V          int    `json:"v"`
	Alg        string `json:"alg"`
	KID        string `json:"kid"`
	PublicPEM  string `json:"public_key_pem"`
	PrivateKey string `json:"private_key"`
}

func gatewayKeyAAD(kid string) []byte {
	return []byte("fifthwheel/session gateway-frame-key v1 " + kid)
}

// LoadOrCreateGatewayKey loads the gateway frame key from dir, or makes
// one if dir has none, encrypted with kek. created reports a new key: its
// public key (GatewayPublicKeyFile) must reach the vehicles before they can
// connect.
func LoadOrCreateGatewayKey(dir string, kek pki.KeyEncrypter) (k *GatewayKey, created bool, err error) {
	if kek == nil {
		return nil, false, errors.New("session: the gateway key needs a KeyEncrypter")
	}
	path := filepath.Join(dir, GatewayKeyFile)
	k, err = LoadGatewayKey(dir, kek)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("session: gateway key directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	k, err = NewGatewayKey(priv)
	if err != nil {
		return nil, false, err
	}
	ct, err := kek.Encrypt(priv.Seed(), gatewayKeyAAD(k.kid))
	if err != nil {
		return nil, false, fmt.Errorf("session: encrypt the gateway key: %w", err)
	}
	b, err := json.MarshalIndent(gatewayKeyFile{V: 1, Alg: string(frame.AlgEd25519), KID: k.kid,
		PublicPEM: string(k.pub), PrivateKey: base64.StdEncoding.EncodeToString(ct)}, "", "  ")
	if err != nil {
		return nil, false, err
	}
	// The public file first: a crash between the two leaves no key, and
	// the next start makes a new one.
	if err := atomicfile.Write(filepath.Join(dir, GatewayPublicKeyFile), k.pub, 0o644); err != nil {
		return nil, false, fmt.Errorf("session: write the gateway public key: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return nil, false, fmt.Errorf("session: write the gateway key: %w", err)
	}
	return k, true, nil
}

// LoadGatewayKey loads the key LoadOrCreateGatewayKey made. A missing file
// is an error wrapping fs.ErrNotExist; a file readable by group or others,
// a wrong KEK or an altered file are refused.
func LoadGatewayKey(dir string, kek pki.KeyEncrypter) (*GatewayKey, error) {
	path := filepath.Join(dir, GatewayKeyFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("session: gateway key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("session: gateway key file %s has mode %v; want a regular file of mode 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("session: gateway key: %w", err)
	}
	var f gatewayKeyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.V != 1 || f.Alg != string(frame.AlgEd25519) {
		return nil, fmt.Errorf("session: gateway key file %s is not a version 1 Ed25519 key file", path)
	}
	ct, err := base64.StdEncoding.DecodeString(f.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("session: gateway key file %s: private key is not base64", path)
	}
	seed, err := kek.Decrypt(ct, gatewayKeyAAD(f.KID))
	if err != nil {
		return nil, fmt.Errorf("session: gateway key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("session: gateway key file %s: wrong seed size", path)
	}
	k, err := NewGatewayKey(ed25519.NewKeyFromSeed(seed))
	clear(seed)
	if err != nil {
		return nil, err
	}
	if k.kid != f.KID || !bytes.Equal(k.pub, []byte(f.PublicPEM)) {
		return nil, fmt.Errorf("session: gateway key file %s: the private key does not match its kid and public key", path)
	}
	return k, nil
}
