package frame

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// Ed25519 verification here is ZIP-215 (ed25519consensus: cofactored
// equation, S < L required, A and R decoded leniently) plus one rule of
// our own: A and R must be canonical encodings. ZIP-215 alone accepts
// Wycheproof tc151 (R encodes y = 1 with the sign bit of x set), which
// RFC 8032 and crypto/ed25519 refuse; requiring canonical encodings makes
// all three agree on every Wycheproof case. The single path (Verify) and
// the batch path (BatchVerifier) run the same pre-checks and the same
// cofactored equation, so they never disagree about a signature.

// Ed25519PublicKey is a registered Ed25519 frame-verification key. Its
// encoding is canonical and it is not of small order (checked by
// NewEd25519PublicKey). Not comparable with ==; use Equal.
type Ed25519PublicKey struct {
	_   [0]func()
	pub ed25519.PublicKey
}

// NewEd25519PublicKey registers an Ed25519 public key. It refuses, with
// CodeBadKey, a key that is not 32 bytes, not a point, not the canonical
// encoding of its point, of small order (with such a key anyone can make
// signatures that verify for many messages), or with a small-order
// component (not in the prime-order subgroup; no key generator produces
// one, and such keys are where cofactored and cofactorless verifiers
// disagree). The bytes are copied.
func NewEd25519PublicKey(pub []byte) (*Ed25519PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, newError(CodeBadKey, "", "Ed25519 public key is not 32 bytes")
	}
	p, ok := canonicalPoint(pub)
	if !ok {
		return nil, newError(CodeBadKey, "", "Ed25519 public key is not a canonical point encoding")
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, newError(CodeBadKey, "", "Ed25519 public key has small order")
	}
	if !primeOrder(p) {
		return nil, newError(CodeBadKey, "", "Ed25519 public key has a small-order component")
	}
	return &Ed25519PublicKey{pub: bytes.Clone(pub)}, nil
}

// canonicalPoint decodes b as an edwards25519 point and reports whether b
// is that point's canonical encoding. Point.SetBytes accepts non-canonical
// encodings (y >= p, or x = 0 with the sign bit set); re-encoding with
// Bytes and comparing refuses them.
func canonicalPoint(b []byte) (*edwards25519.Point, bool) {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, false
	}
	return p, bytes.Equal(p.Bytes(), b)
}

// primeOrder reports whether [L]p is the identity, L the group order.
func primeOrder(p *edwards25519.Point) bool {
	// L-1 = 2^252 + 27742317777372353535851937790883648492, little-endian.
	lMinus1 := [32]byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(lMinus1[:])
	if err != nil {
		panic("frame: internal error: L-1 is not a canonical scalar")
	}
	q := new(edwards25519.Point).ScalarMult(s, p)
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}

// canonicalEncoding is canonicalPoint without decoding the point, for the
// hot path (decoding R costs about 10% of a verification, and the equation
// decodes it again). For every b that decodes to a point it gives the same
// answer as canonicalPoint (TestCanonicalEncodingMatchesDecoding and
// FuzzCanonicalEncoding prove it); a b that does not decode fails the
// equation anyway. The non-canonical encodings of a point are exactly: y
// encoded as y+p (only possible for y < 19), and x = 0, which happens only
// for y = 1 and y = p-1, with the sign bit set.
func canonicalEncoding(b []byte) bool {
	if len(b) != 32 {
		return false
	}
	// y (255 bits, little-endian) >= p = 2^255-19 iff bytes 1..30 are all
	// 0xff, the top byte without the sign bit is 0x7f, and byte 0 >= 0xed.
	high := b[31]&0x7f == 0x7f
	mid := true
	for _, c := range b[1:31] {
		if c != 0xff {
			mid = false
			break
		}
	}
	if high && mid && b[0] >= 0xed {
		return false // y >= p
	}
	if b[31]&0x80 == 0 {
		return true
	}
	// Sign bit set: refuse y = p-1 and y = 1, whose x is 0.
	if high && mid && b[0] == 0xec {
		return false
	}
	if b[0] == 1 && b[31]&0x7f == 0 {
		for _, c := range b[1:31] {
			if c != 0 {
				return true
			}
		}
		return false
	}
	return true
}

func (*Ed25519PublicKey) Alg() Alg    { return AlgEd25519 }
func (*Ed25519PublicKey) isVerifier() {}

// Bytes returns a copy of the 32-byte public key.
func (k *Ed25519PublicKey) Bytes() []byte { return bytes.Clone(k.pub) }

// Equal reports whether k and o are the same key.
func (k *Ed25519PublicKey) Equal(o *Ed25519PublicKey) bool {
	return o != nil && bytes.Equal(k.pub, o.pub)
}

func (k *Ed25519PublicKey) String() string {
	return "Ed25519PublicKey(" + base64.RawURLEncoding.EncodeToString(k.pub) + ")"
}

// Verify checks an Ed25519 signature over frame: 64 bytes, canonical R,
// then the ZIP-215 equation (which also requires S < L).
func (k *Ed25519PublicKey) Verify(frame, sig []byte) error {
	if k == nil || len(k.pub) != ed25519.PublicKeySize {
		return errUnusableKey()
	}
	if err := ed25519Precheck(sig); err != nil {
		return err
	}
	if !ed25519consensus.Verify(k.pub, frame, sig) {
		return newError(CodeBadSignature, "", "Ed25519 signature does not verify")
	}
	return nil
}

// ed25519Precheck is the part of verification shared by the single and
// batch paths before the equation: length and canonical R. (A is checked
// once, at registration.)
func ed25519Precheck(sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return newError(CodeBadSignature, "", "Ed25519 signature is not 64 bytes")
	}
	if !canonicalEncoding(sig[:32]) {
		return newError(CodeBadSignature, "", "Ed25519 signature R is not a canonical point encoding")
	}
	return nil
}

// Ed25519Signer signs frames with an Ed25519 key held by a crypto.Signer:
// an ed25519.PrivateKey, or a secure element or TPM behind that interface.
// Not comparable with ==; never printed (String, Format and LogValue redact).
type Ed25519Signer struct {
	_      [0]func()
	signer crypto.Signer
	pub    *Ed25519PublicKey
	// inProcess: signer is an ed25519.PrivateKey (crypto/ed25519 in this
	// process), whose signatures are not re-verified; see sign.
	inProcess bool
}

// NewEd25519Signer wraps s, whose Public() must be an ed25519.PublicKey that
// NewEd25519PublicKey accepts.
func NewEd25519Signer(s crypto.Signer) (*Ed25519Signer, error) {
	if s == nil {
		return nil, newError(CodeBadKey, "", "no signer")
	}
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, newError(CodeBadKey, "", "signer's key is not Ed25519")
	}
	k, err := NewEd25519PublicKey(pub)
	if err != nil {
		return nil, err
	}
	_, inProcess := s.(ed25519.PrivateKey)
	return &Ed25519Signer{signer: s, pub: k, inProcess: inProcess}, nil
}

func (*Ed25519Signer) Alg() Alg { return AlgEd25519 }

// Public returns the verification key to register for this signer.
func (s *Ed25519Signer) Public() *Ed25519PublicKey { return s.pub }

// sign signs pure Ed25519 (crypto.Hash(0)). A signature from an external
// signer (secure element, TPM, KMS) is verified before it is returned, so a
// faulty or mismatched device never gets a signature onto the wire that the
// gateway would refuse. An in-process ed25519.PrivateKey is not re-checked:
// its public key was derived from it at construction, and the check would
// double the cost of every gateway ack and every vehicle frame (measured in
// docs/PERFORMANCE.md, "Frame verification").
func (s *Ed25519Signer) sign(frame []byte) ([]byte, error) {
	if s == nil || s.signer == nil || s.pub == nil {
		return nil, newError(CodeBadKey, "", "signer was not made by NewEd25519Signer")
	}
	sig, err := s.signer.Sign(rand.Reader, frame, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("frame: Ed25519 signer: %v", err)
	}
	if s.inProcess {
		return sig, nil
	}
	if err := s.pub.Verify(frame, sig); err != nil {
		return nil, fmt.Errorf("frame: Ed25519 signer produced a signature that does not verify")
	}
	return sig, nil
}

// The redacting methods have value receivers so that a copied Ed25519Signer
// value is redacted too.
func (s Ed25519Signer) String() string                { return "Ed25519Signer(REDACTED)" }
func (s Ed25519Signer) GoString() string              { return s.String() }
func (s Ed25519Signer) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }
func (s Ed25519Signer) LogValue() slog.Value          { return slog.StringValue(s.String()) }
