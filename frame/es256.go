package frame

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ES256PublicKey is a registered ECDSA P-256 frame-verification key. Not
// comparable with ==; use Equal.
type ES256PublicKey struct {
	_   [0]func()
	pub *ecdsa.PublicKey
}

// NewES256PublicKey registers an ECDSA public key. It refuses, with
// CodeBadKey, a key on another curve than P-256 or not on the curve. The
// key is copied.
func NewES256PublicKey(pub *ecdsa.PublicKey) (*ES256PublicKey, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, newError(CodeBadKey, "", "ECDSA public key is not on P-256")
	}
	b, err := pub.Bytes()
	if err != nil {
		return nil, newError(CodeBadKey, "", "ECDSA public key is not a valid P-256 point")
	}
	return newES256PublicKeyBytes(b)
}

func newES256PublicKeyBytes(uncompressed []byte) (*ES256PublicKey, error) {
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), uncompressed)
	if err != nil {
		return nil, newError(CodeBadKey, "", "ECDSA public key is not a valid P-256 point")
	}
	return &ES256PublicKey{pub: k}, nil
}

func (*ES256PublicKey) Alg() Alg    { return AlgES256 }
func (*ES256PublicKey) isVerifier() {}

// Bytes returns the key as an uncompressed SEC 1 point (65 bytes).
func (k *ES256PublicKey) Bytes() []byte {
	if k.pub == nil {
		return nil
	}
	b, err := k.pub.Bytes()
	if err != nil {
		panic("frame: internal error: registered ES256 key does not encode")
	}
	return b
}

// Equal reports whether k and o are the same key.
func (k *ES256PublicKey) Equal(o *ES256PublicKey) bool {
	return o != nil && k.pub.Equal(o.pub)
}

func (k *ES256PublicKey) String() string {
	return "ES256PublicKey(" + base64.RawURLEncoding.EncodeToString(k.Bytes()) + ")"
}

// Verify checks an ES256 signature over frame: IEEE P1363 r||s, exactly 64
// bytes (RFC 7518 §3.4), with 0 < r, s < n checked by crypto/ecdsa.
func (k *ES256PublicKey) Verify(frame, sig []byte) error {
	if k == nil || k.pub == nil {
		return errUnusableKey()
	}
	if len(sig) != 64 {
		return newError(CodeBadSignature, "", "ES256 signature is not 64 bytes")
	}
	h := sha256.Sum256(frame)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(k.pub, h[:], r, s) {
		return newError(CodeBadSignature, "", "ES256 signature does not verify")
	}
	return nil
}

// ES256Signer signs frames with a P-256 key held by a crypto.Signer: an
// *ecdsa.PrivateKey, or a secure element or TPM behind that interface,
// returning ASN.1 DER signatures as crypto.Signer implementations do.
// Not comparable with ==; never printed (String, Format and LogValue
// redact). ECDSA signatures are randomized: signing the same frame twice
// gives different signatures, both valid.
type ES256Signer struct {
	_      [0]func()
	signer crypto.Signer
	pub    *ES256PublicKey
}

// NewES256Signer wraps s, whose Public() must be an *ecdsa.PublicKey that
// NewES256PublicKey accepts.
func NewES256Signer(s crypto.Signer) (*ES256Signer, error) {
	if s == nil {
		return nil, newError(CodeBadKey, "", "no signer")
	}
	pub, ok := s.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, newError(CodeBadKey, "", "signer's key is not ECDSA")
	}
	k, err := NewES256PublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &ES256Signer{signer: s, pub: k}, nil
}

func (*ES256Signer) Alg() Alg { return AlgES256 }

// Public returns the verification key to register for this signer.
func (s *ES256Signer) Public() *ES256PublicKey { return s.pub }

// sign hashes frame with SHA-256, has the crypto.Signer sign the digest,
// converts its DER signature to P1363 and verifies the result.
func (s *ES256Signer) sign(frame []byte) ([]byte, error) {
	if s == nil || s.signer == nil || s.pub == nil {
		return nil, newError(CodeBadKey, "", "signer was not made by NewES256Signer")
	}
	h := sha256.Sum256(frame)
	der, err := s.signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("frame: ES256 signer: %v", err)
	}
	sig, err := derToP1363(der)
	if err != nil {
		return nil, fmt.Errorf("frame: ES256 signer: %v", err)
	}
	if err := s.pub.Verify(frame, sig); err != nil {
		return nil, fmt.Errorf("frame: ES256 signer produced a signature that does not verify")
	}
	return sig, nil
}

// The redacting methods have value receivers so that a copied ES256Signer
// value is redacted too.
func (s ES256Signer) String() string                { return "ES256Signer(REDACTED)" }
func (s ES256Signer) GoString() string              { return s.String() }
func (s ES256Signer) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }
func (s ES256Signer) LogValue() slog.Value          { return slog.StringValue(s.String()) }

// derToP1363 converts a strict DER ECDSA-Sig-Value (SEQUENCE of two
// INTEGERs, minimal lengths and encodings, nothing trailing) to 64-byte
// r||s. r and s must be positive and fit 32 bytes; their range below n is
// left to verification.
func derToP1363(der []byte) ([]byte, error) {
	var (
		r, s  = new(big.Int), new(big.Int)
		inner cryptobyte.String
	)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, fmt.Errorf("signature is not a DER ECDSA-Sig-Value")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return nil, fmt.Errorf("signature r or s is out of range")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}
