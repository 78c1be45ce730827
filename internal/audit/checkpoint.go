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
//
// Witness cosignatures: a C2SP signed note may carry signature lines from
// other keys (witnesses cosigning the checkpoint, c2sp.org/tlog-cosignature).
// They are accepted and ignored, as note.Open does: what OpenCheckpoint
// proves is the log's signature, and a witness's line says nothing an
// auditor relies on here. What is refused: no valid signature by the log
// key (only unknown signers), two lines of one key (note.Open would skip
// the second unverified), a line not in strict base64, more than
// MaxCheckpointSignatures lines.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	if err := canonicalSigs(signed); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	cp, _, n, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	// The verifier list is the log's key alone: one verified signature,
	// the log's; any other line is an unknown signer's, ignored.
	if len(n.Sigs) != 1 {
		return Checkpoint{}, fmt.Errorf("%w: %d signatures by the log key", ErrCheckpoint, len(n.Sigs))
	}
	if len(cp.Hash) != hasher.Size() {
		return Checkpoint{}, fmt.Errorf("%w: root of %d bytes", ErrCheckpoint, len(cp.Hash))
	}
	return *cp, nil
}

// canonicalSigs refuses a signed note whose signature lines are not
// strict base64 (note.Open ignores base64's unused bits, which would let a
// flipped byte leave a checkpoint that still verifies), that has two lines
// of one key (name and key hash: note.Open verifies the first and skips
// the rest), or more than MaxCheckpointSignatures lines.
func canonicalSigs(signed []byte) error {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return errors.New("no signature block")
	}
	lines := strings.Split(strings.TrimSuffix(string(signed[i+2:]), "\n"), "\n")
	if len(lines) > MaxCheckpointSignatures {
		return fmt.Errorf("%d signature lines, at most %d", len(lines), MaxCheckpointSignatures)
	}
	seen := make(map[string]bool, len(lines))
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "\u2014" {
			return errors.New("malformed signature line")
		}
		sig, err := base64.StdEncoding.Strict().DecodeString(f[2])
		if err != nil {
			return errors.New("signature not in strict base64")
		}
		if len(sig) < 5 {
			return errors.New("signature too short")
		}
		key := f[1] + "+" + string(sig[:4])
		if seen[key] {
			return fmt.Errorf("two signatures of key %q", f[1])
		}
		seen[key] = true
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
