package frame

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

// smallOrderPoints are the canonical encodings of the eight points of
// order 1, 2, 4 and 8 on edwards25519.
var smallOrderPoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

// refusedEd25519Keys are public keys registration must refuse, with why.
func refusedEd25519Keys(t testing.TB) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for i, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil || !bytes.Equal(p.Bytes(), b) ||
			new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Fatalf("test table: %s is not a canonical small-order point", h)
		}
		m[fmt.Sprintf("small order point %d", i)] = b
	}
	// Non-canonical encodings: y = p (the point y = 0) and the identity
	// with the sign bit set.
	m["non-canonical y = p"], _ = hex.DecodeString("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	m["non-canonical identity with sign bit"], _ = hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000080")
	// Not a point: y = 2 has no x.
	m["not on the curve"], _ = hex.DecodeString("0200000000000000000000000000000000000000000000000000000000000000")
	m["31 bytes"] = make([]byte, 31)
	// A real key plus a point of order 8: mixed order.
	honest, _ := new(edwards25519.Point).SetBytes(testEd25519Priv().Public().(ed25519.PublicKey))
	t8, _ := hex.DecodeString(smallOrderPoints[4])
	tp, _ := new(edwards25519.Point).SetBytes(t8)
	m["mixed order (key + order-8 point)"] = new(edwards25519.Point).Add(honest, tp).Bytes()
	return m
}

func TestEd25519KeyRegistration(t *testing.T) {
	for name, b := range refusedEd25519Keys(t) {
		if _, err := NewEd25519PublicKey(b); CodeOf(err) != CodeBadKey {
			t.Errorf("%s: got %v, want bad_key", name, err)
		}
	}
	if _, err := NewEd25519PublicKey(testEd25519Priv().Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	for range 32 {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		if _, err := NewEd25519PublicKey(pub); err != nil {
			t.Fatalf("generated key refused: %v", err)
		}
	}
}

func TestES256KeyRegistration(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewES256PublicKey(&p384.PublicKey); CodeOf(err) != CodeBadKey {
		t.Errorf("P-384 key: got %v, want bad_key", err)
	}
	good := testES256Priv(t).PublicKey
	//lint:ignore SA1019 an off-curve point can only be expressed through the deprecated X and Y fields
	off := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Add(good.X, big.NewInt(1)), Y: good.Y}
	if _, err := NewES256PublicKey(off); CodeOf(err) != CodeBadKey {
		t.Errorf("point off the curve: got %v, want bad_key", err)
	}
	if _, err := NewES256PublicKey(nil); CodeOf(err) != CodeBadKey {
		t.Errorf("nil key: got %v, want bad_key", err)
	}
}

func TestHS256KeyRegistration(t *testing.T) {
	for _, n := range []int{0, 16, 31, 65, 128} {
		if _, err := NewHS256Key(make([]byte, n)); CodeOf(err) != CodeBadKey {
			t.Errorf("%d-byte secret: got %v, want bad_key", n, err)
		}
	}
	for _, n := range []int{32, 48, 64} {
		if _, err := NewHS256Key(make([]byte, n)); err != nil {
			t.Errorf("%d-byte secret refused: %v", n, err)
		}
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := newTestKeys(t)
	edDER, _ := x509.MarshalPKIXPublicKey(testEd25519Priv().Public())
	esDER, _ := x509.MarshalPKIXPublicKey(&testES256Priv(t).PublicKey)
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edDER})
	esPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: esDER})

	v, err := ParsePublicKeyPEM(AlgEd25519, edPEM)
	if err != nil || !v.(*Ed25519PublicKey).Equal(k.ed.Public()) {
		t.Fatalf("Ed25519 PEM: %v", err)
	}
	v, err = ParsePublicKeyPEM(AlgES256, esPEM)
	if err != nil || !v.(*ES256PublicKey).Equal(k.es.Public()) {
		t.Fatalf("ES256 PEM: %v", err)
	}
	for name, in := range map[string][]byte{
		"alg mismatch":   edPEM, // parsed as ES256 below
		"two blocks":     append(append([]byte{}, esPEM...), esPEM...),
		"private key":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}),
		"not PEM":        []byte("hello"),
		"garbage in PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
	} {
		if _, err := ParsePublicKeyPEM(AlgES256, in); CodeOf(err) != CodeBadKey {
			t.Errorf("%s: got %v, want bad_key", name, err)
		}
	}
	if _, err := ParsePublicKeyPEM(AlgHS256, edPEM); CodeOf(err) != CodeBadKey {
		t.Errorf("HS256 from a PEM public key: got %v", err)
	}
}

// TestKeysNotComparable: key types must not be comparable with ==, which
// would compare pointers or (for values) secrets in variable time.
func TestKeysNotComparable(t *testing.T) {
	for _, v := range []any{Ed25519PublicKey{}, ES256PublicKey{}, HS256Key{}, Ed25519Signer{}, ES256Signer{}} {
		if reflect.TypeOf(v).Comparable() {
			t.Errorf("%T is comparable", v)
		}
	}
	a, _ := NewHS256Key(bytes.Repeat([]byte{1}, 32))
	b, _ := NewHS256Key(bytes.Repeat([]byte{1}, 32))
	c, _ := NewHS256Key(bytes.Repeat([]byte{2}, 32))
	if !a.Equal(b) || a.Equal(c) || a.Equal(nil) {
		t.Error("HS256Key.Equal is wrong")
	}
}

// TestSecretsNeverPrinted formats every secret-holding type every way a
// log line or error could, and looks for the secret.
func TestSecretsNeverPrinted(t *testing.T) {
	k := newTestKeys(t)
	secret := testHS256Secret()
	edPriv := testEd25519Priv()
	needles := [][]byte{secret, edPriv.Seed()}
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	for _, v := range []any{k.hs, *k.hs, k.ed, *k.ed, k.es, *k.es, struct{ K *HS256Key }{k.hs}} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, f+"\n", v)
		}
		log.Info("key", "k", v)
	}
	for _, n := range needles {
		for _, enc := range [][]byte{n, []byte(hex.EncodeToString(n)), []byte(strings.ToUpper(hex.EncodeToString(n))), []byte(fmt.Sprint(n))} {
			if bytes.Contains(out.Bytes(), enc) {
				t.Fatalf("secret material printed:\n%s", out.String())
			}
		}
	}
	// Errors from verification carry no secret or signature bytes.
	err := k.hs.Verify([]byte("x"), secret)
	if strings.Contains(err.Error(), hex.EncodeToString(secret)) {
		t.Fatal("error echoes the tag")
	}
}

// TestES256Malleable documents why frames are never de-duplicated on
// envelope bytes: (r, n-s) is a second valid signature.
func TestES256Malleable(t *testing.T) {
	k := newTestKeys(t)
	env1, err := Sign(k.es, testKIDES256, sampleTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ParseEnvelope(env1)
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(e.Sig[32:])
	s.Sub(n, s)
	sig2 := append(bytes.Clone(e.Sig[:32]), s.FillBytes(make([]byte, 32))...)
	e2 := &Envelope{Alg: e.Alg, KID: e.KID, Sig: sig2, frame: e.frame}
	if err := e2.Verify(k.es.Public()); err != nil {
		t.Fatalf("(r, n-s) refused: %v", err)
	}
	if bytes.Equal(e.Encode(), e2.Encode()) {
		t.Fatal("malleated envelope has the same bytes")
	}
}

func TestBatchVerifierFindsBadOnes(t *testing.T) {
	k := newTestKeys(t)
	var b BatchVerifier
	var want []Code
	for i := range 40 {
		f := sampleTelemetry()
		f.Seq = uint64(i)
		alg := []Alg{AlgEd25519, AlgEd25519, AlgEd25519, AlgES256, AlgHS256}[i%5]
		envB, err := Sign(k.signers[alg], k.kids[alg], f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseEnvelope(envB)
		if err != nil {
			t.Fatal(err)
		}
		code := Code("")
		switch i {
		case 7, 22: // flip a signature bit
			e.Sig[5] ^= 0x40
			code = CodeBadSignature
		case 13: // tamper the frame
			e.frame[len(e.frame)-3] ^= 1
			code = CodeBadSignature
		case 30: // verify with the wrong key type
			b.Add(e, k.hs)
			want = append(want, CodeAlgMismatch)
			continue
		}
		b.Add(e, k.byKID[e.KID])
		want = append(want, code)
	}
	errs := b.Verify()
	if len(errs) != len(want) {
		t.Fatalf("%d results for %d envelopes", len(errs), len(want))
	}
	for i, err := range errs {
		if CodeOf(err) != want[i] {
			t.Errorf("item %d: got %v, want %q", i, err, want[i])
		}
	}
	if b.Len() != 0 {
		t.Error("Verify did not empty the batch")
	}
}

// failingSigner is a secure element that breaks.
type failingSigner struct {
	crypto.Signer
	mode string
}

func (f failingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	switch f.mode {
	case "error":
		return nil, errors.New("device unplugged")
	case "garbage":
		return []byte{0x30, 0x00}, nil
	default: // wrong key
		other := ed25519.NewKeyFromSeed(make([]byte, 32))
		if _, ok := f.Signer.(*ecdsa.PrivateKey); ok {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return k.Sign(r, d, o)
		}
		return other.Sign(r, d, o)
	}
}

func TestSignerFaultsNeverReachTheWire(t *testing.T) {
	for _, mode := range []string{"error", "garbage", "wrong key"} {
		ed, err := NewEd25519Signer(failingSigner{testEd25519Priv(), mode})
		if err != nil {
			t.Fatal(err)
		}
		if env, err := Sign(ed, testKIDEd25519, sampleTelemetry()); err == nil {
			t.Errorf("Ed25519 %s: signed %s", mode, env)
		}
		es, err := NewES256Signer(failingSigner{testES256Priv(t), mode})
		if err != nil {
			t.Fatal(err)
		}
		if env, err := Sign(es, testKIDES256, sampleTelemetry()); err == nil {
			t.Errorf("ES256 %s: signed %s", mode, env)
		}
	}
	if _, err := NewEd25519Signer(testES256Priv(t)); CodeOf(err) != CodeBadKey {
		t.Errorf("Ed25519 signer from an ECDSA key: %v", err)
	}
	if _, err := NewES256Signer(testEd25519Priv()); CodeOf(err) != CodeBadKey {
		t.Errorf("ES256 signer from an Ed25519 key: %v", err)
	}
}

func TestSignRefusesInvalidFrames(t *testing.T) {
	k := newTestKeys(t)
	f := sampleTelemetry()
	f.TS = f.TS.Add(500) // sub-millisecond
	if _, err := Sign(k.ed, testKIDEd25519, f); CodeOf(err) != CodeBadTS {
		t.Errorf("sub-millisecond ts: %v", err)
	}
	f = sampleTelemetry()
	f.Body.(*Telemetry).GNSS.Lat = math.NaN()
	if _, err := Sign(k.ed, testKIDEd25519, f); CodeOf(err) != CodeSchema {
		t.Errorf("NaN lat: %v", err)
	}
	f = sampleTelemetry()
	f.Body = nil
	if _, err := Sign(k.ed, testKIDEd25519, f); CodeOf(err) != CodeMissingMember {
		t.Errorf("no body: %v", err)
	}
	if _, err := Sign(k.ed, "bad kid", sampleTelemetry()); CodeOf(err) != CodeBadKID {
		t.Errorf("bad kid: %v", err)
	}
}

// canonicalEdgeEncodings returns encodings around every boundary of
// canonicalEncoding: y near 0, 1, p-1 and 2^255, each with both signs.
func canonicalEdgeEncodings() [][]byte {
	var out [][]byte
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for _, base := range []*big.Int{big.NewInt(0), new(big.Int).Sub(p, big.NewInt(40))} {
		for d := range 60 {
			y := new(big.Int).Add(base, big.NewInt(int64(d)))
			if y.BitLen() > 255 {
				continue
			}
			le := reverse(y.FillBytes(make([]byte, 32)))
			out = append(out, le)
			neg := bytes.Clone(le)
			neg[31] |= 0x80
			out = append(out, neg)
		}
	}
	return out
}

func TestCanonicalEncodingMatchesDecoding(t *testing.T) {
	in := canonicalEdgeEncodings()
	for range 2000 {
		b := make([]byte, 32)
		rand.Read(b)
		in = append(in, b)
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		in = append(in, pub)
	}
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		in = append(in, b)
	}
	decoded := 0
	for _, b := range in {
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil {
			continue // not a point: the equation refuses it either way
		}
		decoded++
		_, want := canonicalPoint(b)
		if got := canonicalEncoding(b); got != want {
			t.Errorf("%x: canonicalEncoding %v, decode and re-encode %v", b, got, want)
		}
	}
	t.Logf("%d encodings that decode compared", decoded)
}

func FuzzCanonicalEncoding(f *testing.F) {
	for _, b := range canonicalEdgeEncodings() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 32 {
			if canonicalEncoding(b) {
				t.Fatal("accepted a wrong length")
			}
			return
		}
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil {
			return
		}
		if _, want := canonicalPoint(b); canonicalEncoding(b) != want {
			t.Fatalf("%x: disagree", b)
		}
	})
}

// TestZeroKeysFailClosed: keys not made by their constructors never verify
// or sign. A zero HS256Key in particular has an empty secret anyone knows.
func TestZeroKeysFailClosed(t *testing.T) {
	k := newTestKeys(t)
	env, _ := Sign(k.hs, testKIDHS256, sampleTelemetry())
	e, _ := ParseEnvelope(env)
	emptyMAC := (&HS256Key{secret: []byte{}}).mac(e.Frame())
	for name, v := range map[string]Verifier{
		"zero HS256Key":         &HS256Key{},
		"nil HS256Key":          (*HS256Key)(nil),
		"zero Ed25519PublicKey": &Ed25519PublicKey{},
		"nil Ed25519PublicKey":  (*Ed25519PublicKey)(nil),
		"zero ES256PublicKey":   &ES256PublicKey{},
		"nil ES256PublicKey":    (*ES256PublicKey)(nil),
	} {
		if err := v.Verify(e.Frame(), emptyMAC); err == nil {
			t.Errorf("%s verified", name)
		}
		var b BatchVerifier
		b.add(batchItem{v: v, frame: e.Frame(), sig: make([]byte, 64)})
		b.add(batchItem{v: v, frame: e.Frame(), sig: make([]byte, 64)})
		for _, err := range b.Verify() {
			if err == nil {
				t.Errorf("%s verified in a batch", name)
			}
		}
	}
	for name, s := range map[string]Signer{"zero HS256Key": &HS256Key{}, "zero Ed25519Signer": &Ed25519Signer{}, "zero ES256Signer": &ES256Signer{}} {
		if _, err := Sign(s, "k", sampleTelemetry()); err == nil {
			t.Errorf("%s signed", name)
		}
	}
	if (&HS256Key{}).Equal(&HS256Key{}) {
		t.Error("two zero HS256Keys are Equal")
	}
	if _, err := Sign(k.ed, "k", nil); err == nil {
		t.Error("signed a nil frame")
	}
}
