package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a checkpoint's body: the log's origin, its size in leaves
// and its RFC 6962 root (C2SP tlog-checkpoint).
type Checkpoint = log.Checkpoint

// SignCheckpoint returns the signed note of the checkpoint (origin, size,
// root): the C2SP tlog-checkpoint body signed by the log key.
func (k *LogKey) SignCheckpoint(size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: k.origin, Size: size, Hash: root}.Marshal()
	return note.Sign(&note.Note{Text: string(body)}, k.signer)
}

// ErrCheckpoint reports a checkpoint that does not verify: bad signature,
// another origin, or a malformed body.
var ErrCheckpoint = errors.New("audit: checkpoint does not verify")

// OpenCheckpoint verifies a signed checkpoint against the log's verifier
// key and returns its body. The origin must be the key's name.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	if err := canonicalSigs(signed); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	cp, _, n, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	// The log's signature and nothing else: note.Open would accept extra
	// lines from unknown signers, a second byte string of one checkpoint.
	// (Witness cosignatures, when they come, are verified, not ignored.)
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		return Checkpoint{}, fmt.Errorf("%w: %d signatures, %d unknown", ErrCheckpoint, len(n.Sigs), len(n.UnverifiedSigs))
	}
	if len(cp.Hash) != hasher.Size() {
		return Checkpoint{}, fmt.Errorf("%w: root of %d bytes", ErrCheckpoint, len(cp.Hash))
	}
	return *cp, nil
}

// canonicalSigs refuses a signed note whose signature lines are not
// strict base64: note.Open ignores base64's unused bits, which would let a
// flipped byte leave a checkpoint that still verifies.
func canonicalSigs(signed []byte) error {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return errors.New("no signature block")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(signed[i+2:]), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "\u2014" {
			return errors.New("malformed signature line")
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(f[2]); err != nil {
			return errors.New("signature not in strict base64")
		}
	}
	return nil
}

// NewVerifier parses a verifier key string, as `audit key` prints it.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %v", err)
	}
	return v, nil
}
