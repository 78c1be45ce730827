package pkitest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// NewKEK returns a KEK read from a fresh key file (TEST ONLY).
func NewKEK(t testing.TB) pki.KeyEncrypter {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	if err := pki.CreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	kek, err := pki.LoadKeyFileKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// NewCA initialises a CA in a fresh directory under a fresh KEK (NewKEK)
// and loads it with cfg and deps, deps.KEK set to that KEK.
func NewCA(t testing.TB, cfg pki.Config, deps pki.Deps) *pki.CA {
	t.Helper()
	deps.KEK = NewKEK(t)
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := pki.Init(pki.InitConfig{Dir: dir}, deps.KEK); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Load(context.Background(), dir, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
