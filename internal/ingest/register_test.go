package ingest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

func pubPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ed25519PEMRaw wraps 32 raw bytes, valid point or not, in a PKIX PEM block.
func ed25519PEMRaw(raw []byte) []byte {
	der := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, raw...)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestNewVehicleKey: every registration form is stored as what VerifierFor
// reads back, and each refusal the protocol lists is refused as bad_key.
func TestNewVehicleKey(t *testing.T) {
	now := time.Now()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecRaw, _ := ecPriv.PublicKey.Bytes()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	secret := bytes.Repeat([]byte{7}, 32)
	smallOrder, _ := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000")

	for _, tc := range []struct {
		name     string
		alg      frame.Alg
		material []byte
		kid      string
		wantKID  string // "" any; "derived" DefaultKID
	}{
		{"Ed25519 PEM", frame.AlgEd25519, pubPEM(t, edPub), "", "derived"},
		{"Ed25519 raw", frame.AlgEd25519, edPub, "truck-1:2026", "truck-1:2026"},
		{"ES256 PEM", frame.AlgES256, pubPEM(t, &ecPriv.PublicKey), "", "derived"},
		{"ES256 raw SEC1", frame.AlgES256, ecRaw, "es", "es"},
		{"HS256 secret", frame.AlgHS256, secret, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewVehicleKey("truck-1", tc.alg, tc.material, tc.kid, now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifierFor(k); err != nil {
				t.Fatalf("stored form does not read back: %v", err)
			}
			switch tc.wantKID {
			case "derived":
				if k.KID != DefaultKID(k.Material) {
					t.Fatalf("kid %q, want the derived one", k.KID)
				}
			case "":
				if !strings.HasPrefix(k.KID, "h-") || strings.Contains(k.KID, hex.EncodeToString(secret[:4])) {
					t.Fatalf("HS256 kid %q", k.KID)
				}
			default:
				if k.KID != tc.wantKID {
					t.Fatalf("kid %q", k.KID)
				}
			}
		})
	}

	for _, tc := range []struct {
		name     string
		alg      frame.Alg
		material []byte
		kid      string
	}{
		{"small-order Ed25519 key forges signatures", frame.AlgEd25519, ed25519PEMRaw(smallOrder), ""},
		{"small-order Ed25519 key, raw", frame.AlgEd25519, smallOrder, ""},
		{"Ed25519 alg with an ES256 key", frame.AlgEd25519, pubPEM(t, &ecPriv.PublicKey), ""},
		{"P-384 key", frame.AlgES256, pubPEM(t, &p384.PublicKey), ""},
		{"ES256 garbage", frame.AlgES256, []byte("not a key"), ""},
		{"short HS256 secret", frame.AlgHS256, secret[:31], ""},
		{"long HS256 secret", frame.AlgHS256, bytes.Repeat([]byte{1}, 65), ""},
		{"PEM with trailing data", frame.AlgEd25519, append(pubPEM(t, edPub), "junk"...), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVehicleKey("truck-1", tc.alg, tc.material, tc.kid, now)
			if frame.CodeOf(err) != frame.CodeBadKey {
				t.Fatalf("got %v (code %q), want bad_key", err, frame.CodeOf(err))
			}
			if strings.Contains(err.Error(), string(secret[:31])) {
				t.Fatal("error repeats the secret")
			}
		})
	}
	if _, err := NewVehicleKey("truck-1", frame.AlgEd25519, edPub, "bad kid!", now); !errors.Is(err, ErrBadKID) {
		t.Fatalf("bad kid: %v", err)
	}
	if _, err := NewVehicleKey("truck-1", "none", edPub, "", now); err == nil {
		t.Fatal("alg none accepted")
	}
}
