package session

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
)

func testKEK(t *testing.T) pki.KeyEncrypter { return pkitest.NewKEK(t) }

// TestGatewayKeyLifecycle: made once, encrypted at rest, loaded again
// unchanged; a wrong KEK, a loose file mode or an edited file are refused.
func TestGatewayKeyLifecycle(t *testing.T) {
	dir := t.TempDir()
	kek := testKEK(t)
	k, created, err := LoadOrCreateGatewayKey(dir, kek)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if !strings.HasPrefix(k.KID(), "gw-") {
		t.Fatalf("kid %q", k.KID())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, GatewayKeyFile))
	if st, _ := os.Stat(filepath.Join(dir, GatewayKeyFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	// The seed never appears in the clear.
	if bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Fatal("private key stored in the clear")
	}
	pubFile, _ := os.ReadFile(filepath.Join(dir, GatewayPublicKeyFile))
	if !bytes.Equal(pubFile, k.PublicKeyPEM()) {
		t.Fatal("public key file differs")
	}
	k2, created, err := LoadOrCreateGatewayKey(dir, kek)
	if err != nil || created || k2.KID() != k.KID() {
		t.Fatalf("reload: %v %v %v", created, err, k2)
	}
	// Signatures of the reloaded key verify with the first one's public key.
	h := &Handler{d: Deps{Key: k2}, now: time.Now}
	env, err := h.sign("truck-1", &frame.Ready{Nonce: make([]byte, 16)})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := frame.ParseEnvelope(env)
	if err := e.Verify(k.Verifier()); err != nil || e.KID != k.KID() {
		t.Fatalf("reloaded key does not sign as the original: %v", err)
	}

	if _, err := LoadGatewayKey(dir, testKEK(t)); !errors.Is(err, pki.ErrKeyDecrypt) {
		t.Fatalf("wrong KEK: %v", err)
	}
	edited := bytes.Replace(raw, []byte(k.KID()), []byte("gw-AAAAAAAAAAAAAAAAAAAAAA"), -1)
	os.WriteFile(filepath.Join(dir, GatewayKeyFile), edited, 0o600)
	if _, err := LoadGatewayKey(dir, kek); err == nil {
		t.Fatal("a key file with another kid loaded")
	}
	os.WriteFile(filepath.Join(dir, GatewayKeyFile), raw, 0o644)
	os.Chmod(filepath.Join(dir, GatewayKeyFile), 0o644)
	if _, err := LoadGatewayKey(dir, kek); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Fatalf("a world-readable key file loaded: %v", err)
	}
	if _, err := LoadGatewayKey(t.TempDir(), kek); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v", err)
	}
}

// TestGatewayKeyIDAgrees: the agent derives the same kid from the public
// key alone, so a vehicle can pin the PEM file by itself.
func TestGatewayKeyIDAgrees(t *testing.T) {
	k, _, err := LoadOrCreateGatewayKey(t.TempDir(), testKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(k.PublicKeyPEM())
	if _, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	kid, err := agent.GatewayKeyID(k.PublicKeyPEM())
	if err != nil || kid != k.KID() || GatewayKeyID(blk.Bytes) != kid {
		t.Fatalf("agent derives %q (%v), gateway %q", kid, err, k.KID())
	}
}

// TestWireConstantsAgree: the agent and the gateway use the same paths,
// subprotocol and close codes.
func TestWireConstantsAgree(t *testing.T) {
	if agent.SessionPath != Path || agent.Subprotocol != Subprotocol {
		t.Fatal("path or subprotocol differ")
	}
	for _, p := range [][2]int{
		{int(agent.CloseGoodbye), int(CloseGoodbye)}, {int(agent.CloseGoingAway), int(CloseGoingAway)},
		{int(agent.CloseTryAgainLater), int(CloseTryAgainLater)}, {int(agent.CloseCommLost), int(CloseCommLost)},
		{int(agent.CloseSuperseded), int(CloseSuperseded)}, {int(agent.CloseHandshakeTimeout), int(CloseHandshakeTimeout)},
		{int(agent.CloseRevoked), int(CloseRevoked)}, {int(agent.CloseProtocol), int(CloseProtocol)},
		{int(agent.CloseRefused), int(CloseRefused)},
	} {
		if p[0] != p[1] {
			t.Fatalf("close code %d vs %d", p[0], p[1])
		}
	}
}
