package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/argon2"
)

// KeyEncrypter protects CA private keys at rest (a key-encryption key, KEK).
// Encrypt and Decrypt must authenticate aad: the CA passes the key's role and
// key id, so a ciphertext moved to another key file does not decrypt.
// Decrypt returns an error wrapping ErrKeyDecrypt for a wrong KEK or an
// altered ciphertext. An HSM or a cloud KMS fits behind this interface.
type KeyEncrypter interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// The fwkey1 format, written by both built-in KeyEncrypters:
//
//	"fwkey1" | mode (1 byte) | mode parameters | nonce (12) | AES-256-GCM ciphertext+tag
//
// mode 1, passphrase: parameters are salt (16) | time (u32 BE) | memory KiB
// (u32 BE) | threads (u8), and the AES key is Argon2id(passphrase, salt).
// mode 2, key file: no parameters; the AES key is the file's 32 bytes.
// The GCM additional data is the header (everything before the nonce)
// followed by the caller's aad, so the parameters are authenticated too.
const (
	kekMagic          = "fwkey1"
	kekModePassphrase = 1
	kekModeKeyFile    = 2
	kekSaltLen        = 16
	kekNonceLen       = 12
	kekKeyLen         = 32
)

// PassphraseKEK derives a fresh AES-256-GCM key per encryption from a
// passphrase with Argon2id and a random salt. It is the production default
// for a CA directory on disk: the passphrase comes from the operator or a
// secret manager at start, never from a file next to the keys.
type PassphraseKEK struct {
	passphrase []byte
	time       uint32
	memoryKiB  uint32
	threads    uint8
}

// NewPassphraseKEK returns a PassphraseKEK with the Argon2 defaults from
// limits.go. An empty passphrase is refused.
func NewPassphraseKEK(passphrase []byte) (*PassphraseKEK, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("pki: empty passphrase")
	}
	return &PassphraseKEK{passphrase: bytes.Clone(passphrase), time: Argon2Time, memoryKiB: Argon2MemoryKiB, threads: Argon2Threads}, nil
}

// Encrypt implements KeyEncrypter.
func (k *PassphraseKEK) Encrypt(plaintext, aad []byte) ([]byte, error) {
	hdr := make([]byte, 0, len(kekMagic)+1+kekSaltLen+9)
	hdr = append(hdr, kekMagic...)
	hdr = append(hdr, kekModePassphrase)
	salt := make([]byte, kekSaltLen)
	_, _ = rand.Read(salt)
	hdr = append(hdr, salt...)
	hdr = binary.BigEndian.AppendUint32(hdr, k.time)
	hdr = binary.BigEndian.AppendUint32(hdr, k.memoryKiB)
	hdr = append(hdr, k.threads)
	key := argon2.IDKey(k.passphrase, salt, k.time, k.memoryKiB, k.threads, kekKeyLen)
	return seal(key, hdr, plaintext, aad)
}

// Decrypt implements KeyEncrypter.
func (k *PassphraseKEK) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	hdrLen := len(kekMagic) + 1 + kekSaltLen + 9
	if len(ciphertext) < hdrLen || string(ciphertext[:len(kekMagic)]) != kekMagic {
		return nil, fmt.Errorf("%w: not an fwkey1 blob", ErrKeyDecrypt)
	}
	if ciphertext[len(kekMagic)] != kekModePassphrase {
		return nil, fmt.Errorf("%w: key was not encrypted with a passphrase", ErrKeyDecrypt)
	}
	p := ciphertext[len(kekMagic)+1:]
	salt := p[:kekSaltLen]
	t := binary.BigEndian.Uint32(p[kekSaltLen:])
	m := binary.BigEndian.Uint32(p[kekSaltLen+4:])
	th := p[kekSaltLen+8]
	if t == 0 || t > MaxArgon2Time || m < 8*uint32(th) || m > MaxArgon2Memory || th == 0 || th > MaxArgon2Threads {
		return nil, fmt.Errorf("%w: Argon2 parameters out of bounds", ErrKeyDecrypt)
	}
	key := argon2.IDKey(k.passphrase, salt, t, m, th, kekKeyLen)
	return open(key, ciphertext[:hdrLen], ciphertext[hdrLen:], aad)
}

// KeyFileKEK encrypts with a random 256-bit key read from a file of mode
// 0600. It is for development and for hosts whose disk encryption and access
// control already protect the key file: anyone who can read both the key file
// and the CA directory has the CA keys.
type KeyFileKEK struct{ key []byte }

// CreateKeyFile writes a new random 32-byte key file with mode 0600. It
// refuses to overwrite an existing file.
func CreateKeyFile(path string) error {
	key := make([]byte, kekKeyLen)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("pki: create key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return fmt.Errorf("pki: write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pki: write key file: %w", err)
	}
	return f.Close()
}

// LoadKeyFileKEK reads a key file written by CreateKeyFile. It refuses a file
// readable or writable by group or others, as ssh does for private keys.
func LoadKeyFileKEK(path string) (*KeyFileKEK, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pki: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pki: key file %s has mode %v; want 0600", path, st.Mode().Perm())
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("pki: key file %s is not a regular file", path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: key file: %w", err)
	}
	if len(key) != kekKeyLen {
		return nil, fmt.Errorf("pki: key file %s holds %d bytes; want %d", path, len(key), kekKeyLen)
	}
	return &KeyFileKEK{key: key}, nil
}

// Encrypt implements KeyEncrypter.
func (k *KeyFileKEK) Encrypt(plaintext, aad []byte) ([]byte, error) {
	return seal(k.key, append([]byte(kekMagic), kekModeKeyFile), plaintext, aad)
}

// Decrypt implements KeyEncrypter.
func (k *KeyFileKEK) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	hdrLen := len(kekMagic) + 1
	if len(ciphertext) < hdrLen || string(ciphertext[:len(kekMagic)]) != kekMagic {
		return nil, fmt.Errorf("%w: not an fwkey1 blob", ErrKeyDecrypt)
	}
	if ciphertext[len(kekMagic)] != kekModeKeyFile {
		return nil, fmt.Errorf("%w: key was not encrypted with a key file", ErrKeyDecrypt)
	}
	return open(k.key, ciphertext[:hdrLen], ciphertext[hdrLen:], aad)
}

func seal(key, hdr, plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, kekNonceLen)
	_, _ = rand.Read(nonce)
	out := append(bytes.Clone(hdr), nonce...)
	return aead.Seal(out, nonce, plaintext, append(bytes.Clone(hdr), aad...)), nil
}

func open(key, hdr, rest, aad []byte) ([]byte, error) {
	if len(rest) < kekNonceLen+16 {
		return nil, fmt.Errorf("%w: truncated", ErrKeyDecrypt)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, rest[:kekNonceLen], rest[kekNonceLen:], append(bytes.Clone(hdr), aad...))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key or altered file", ErrKeyDecrypt)
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
