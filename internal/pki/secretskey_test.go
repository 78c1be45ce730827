package pki

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func testKEK(t *testing.T) KeyEncrypter {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kek")
	if err := CreateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyFileKEK(p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSecretsKey: made once (0600, encrypted under the KEK), then loaded as
// the same key; what it sealed opens only with it and only under the same
// additional data.
func TestSecretsKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	kek := testKEK(t)
	k1, created, err := OpenSecretsKey(dir, kek)
	if err != nil || !created {
		t.Fatalf("first open: created %v, %v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretsKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets key file: %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, SecretsKeyFile))
	if !bytes.Contains(b, []byte("BEGIN "+pemEncryptedKey)) {
		t.Fatalf("not an encrypted key file:\n%s", b)
	}
	k2, created, err := OpenSecretsKey(dir, kek)
	if err != nil || created {
		t.Fatalf("second open: created %v, %v", created, err)
	}
	secret := []byte("a 32-byte HS256 secret, test only")
	sealed, err := k1.Encrypt(secret, []byte("row-1"))
	if err != nil || bytes.Contains(sealed, secret) {
		t.Fatalf("seal: %v", err)
	}
	if got, err := k2.Decrypt(sealed, []byte("row-1")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the reloaded key does not open what the first sealed: %v", err)
	}
	if _, err := k2.Decrypt(sealed, []byte("row-2")); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatalf("opened under another row's additional data: %v", err)
	}
}

// TestSecretsKeyWrongKEKFailsClosed: another KEK cannot load the secrets key
// (a clear error wrapping ErrKeyDecrypt) and does not replace it; an
// altered file is refused too.
func TestSecretsKeyWrongKEKFailsClosed(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := OpenSecretsKey(dir, testKEK(t)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SecretsKeyFile)
	before, _ := os.ReadFile(path)
	_, created, err := OpenSecretsKey(dir, testKEK(t))
	if !errors.Is(err, ErrKeyDecrypt) || created {
		t.Fatalf("wrong KEK: created %v, %v; want ErrKeyDecrypt", created, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a wrong KEK replaced the secrets key")
	}
	if err := os.WriteFile(path, []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenSecretsKey(dir, testKEK(t)); err == nil {
		t.Fatal("a file that is not a secrets key was accepted")
	}
}

// TestSecretsKeyConcurrentCreate: processes starting together on a fresh
// CA directory end with one secrets key.
func TestSecretsKeyConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	kek := testKEK(t)
	const n = 8
	keys := make([]KeyEncrypter, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, _, err := OpenSecretsKey(dir, kek)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	sealed, err := keys[0].Encrypt([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if _, err := k.Decrypt(sealed, nil); err != nil {
			t.Fatalf("creator %d holds another key: %v", i, err)
		}
	}
}
