package pki

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// cheapKEK is a PassphraseKEK with small Argon2 parameters, so the format
// tests run fast; TestPassphraseCA exercises the real ones.
func cheapKEK(pass string) *PassphraseKEK {
	return &PassphraseKEK{passphrase: []byte(pass), time: 1, memoryKiB: 64, threads: 1}
}

func TestPassphraseKEK(t *testing.T) {
	k := cheapKEK("s3cret")
	aad := []byte("role\x00kid")
	ct, err := k.Encrypt([]byte("key material"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Decrypt(ct, aad); err != nil || string(pt) != "key material" {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	ct2, _ := k.Encrypt([]byte("key material"), aad)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two encryptions are identical: salt or nonce reused")
	}
	hdr := len(kekMagic) + 1 + kekSaltLen
	for name, tc := range map[string]struct {
		kek KeyEncrypter
		ct  []byte
		aad []byte
	}{
		"wrong passphrase":       {cheapKEK("guess"), ct, aad},
		"other additional data":  {k, ct, []byte("role\x00other")},
		"flipped ciphertext bit": {k, flip(ct, len(ct)-1), aad},
		"flipped salt bit":       {k, flip(ct, hdr-1), aad},
		"lowered time parameter": {k, setByte(ct, hdr+3, 2), aad}, // authenticated: fails even if in bounds
		"memory out of bounds":   {k, setByte(ct, hdr+4, 0xff), aad},
		"truncated":              {k, ct[:hdr+5], aad},
		"key-file blob":          {k, append([]byte(kekMagic), kekModeKeyFile, 0, 0), aad},
		"not fwkey1":             {k, []byte("-----BEGIN EC PRIVATE KEY-----"), aad},
	} {
		if _, err := tc.kek.Decrypt(tc.ct, tc.aad); !errors.Is(err, ErrKeyDecrypt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewPassphraseKEK(nil); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}

func TestKeyFileKEK(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kek")
	if err := CreateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := CreateKeyFile(p); err == nil {
		t.Fatal("CreateKeyFile overwrote a key")
	}
	k, err := LoadKeyFileKEK(p)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := k.Encrypt([]byte("x"), []byte("a"))
	if pt, err := k.Decrypt(ct, []byte("a")); err != nil || string(pt) != "x" {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ct, []byte("b")); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatal("additional data not authenticated")
	}
	if _, err := cheapKEK("x").Decrypt(ct, []byte("a")); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatal("passphrase KEK opened a key-file blob")
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFileKEK(p); err == nil {
		t.Fatal("world-readable key file accepted")
	}
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("tooshort"), 0o600)
	if _, err := LoadKeyFileKEK(short); err == nil {
		t.Fatal("short key file accepted")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func setByte(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}
