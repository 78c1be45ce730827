package pki

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The secrets key seals the secrets the gateway keeps outside the CA
// directory: HS256 frame-signing secrets in the store (package ingest). It
// is a random 256-bit AES-GCM key kept in the CA directory as
// SecretsKeyFile, encrypted under the KEK exactly as the CA keys are
// (fwkey1, additional data binding it to role "secrets" and its key id), so
// the store holds only sealed secrets and whoever reads it (or a backup of
// it) without the KEK learns none. It seals with the fwkey1 key-file mode:
//
//	"fwkey1" | 2 | nonce (12) | AES-256-GCM(secret, aad = header | caller's aad)
//
// Why a key of its own rather than the KEK: a PassphraseKEK derives its AES
// key with Argon2id at every call (64 MiB; ~190 ms on a 2-core host), which a
// frame-key lookup cannot afford; the KEK opens the secrets key once per
// process. Replicas that share a store must share it, like the CA
// directory it lives in. Losing it loses every sealed secret (the vehicles
// then need new HS256 keys): back it up with the CA directory.
const SecretsKeyFile = "secrets.key"

const keyRoleSecrets = "secrets"

// OpenSecretsKey loads the secrets key of the CA directory dir with kek, or,
// if dir has none, makes one (created reports it). Two processes creating
// it at once end with one key: the file is created exclusively and the
// loser loads the winner's. A wrong KEK or an altered file is an error
// wrapping ErrKeyDecrypt; nothing is replaced.
func OpenSecretsKey(dir string, kek KeyEncrypter) (key KeyEncrypter, created bool, err error) {
	if kek == nil {
		return nil, false, errors.New("pki: the secrets key needs a KEK")
	}
	path := filepath.Join(dir, SecretsKeyFile)
	key, err = loadSecretsKey(path, kek)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	raw := make([]byte, kekKeyLen)
	_, _ = rand.Read(raw)
	defer clear(raw)
	var id [16]byte
	_, _ = rand.Read(id[:])
	out, err := encryptKeyPEM(kek, keyRoleSecrets, hex.EncodeToString(id[:]), raw)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("pki: create %s: %w", dir, err)
	}
	switch err := CreateFileExclusive(path, out, 0o600); {
	case errors.Is(err, fs.ErrExist): // another process made it first
		key, err := loadSecretsKey(path, kek)
		return key, false, err
	case err != nil:
		return nil, false, fmt.Errorf("pki: write the secrets key: %w", err)
	}
	return &KeyFileKEK{key: bytes32(raw)}, true, nil
}

func loadSecretsKey(path string, kek KeyEncrypter) (KeyEncrypter, error) {
	raw, err := decryptKeyFile(path, kek, keyRoleSecrets, "")
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	if len(raw) != kekKeyLen {
		return nil, fmt.Errorf("pki: %s: the secrets key is %d bytes; want %d", path, len(raw), kekKeyLen)
	}
	return &KeyFileKEK{key: bytes32(raw)}, nil
}

// bytes32 copies a 32-byte key out of a buffer its caller clears.
func bytes32(b []byte) []byte { return append(make([]byte, 0, kekKeyLen), b...) }
