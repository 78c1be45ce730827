package audit

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// StatementPrefix starts the first line of every statement the log key
// signs besides checkpoints (a forensic bundle's manifest, issue 21). It is
// domain separation: a checkpoint's first line is its origin, and no valid
// origin starts with it (ValidOrigin), so a statement can never be read as
// a checkpoint, nor a checkpoint as a statement. A statement's second line
// is never a decimal size either, so log.ParseCheckpoint refuses it too.
const StatementPrefix = "fifthwheel-statement/"

// ErrStatement reports a signed statement that does not verify: bad
// signature, another signer, another header, or malformed.
var ErrStatement = errors.New("audit: statement does not verify")

// SignStatement signs text, whose first line is header (which must start
// with StatementPrefix), as a signed note with the log key. text must end
// in a newline and contain no blank line.
func (k *LogKey) SignStatement(header, text string) ([]byte, error) {
	if err := checkStatement(header, text); err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, k.signer)
}

// OpenStatement verifies a signed statement against the log's verifier key
// and returns its text. The first line must be header; the note must carry
// exactly the log's signature, in strict base64.
func OpenStatement(signed []byte, v note.Verifier, header string) (string, error) {
	if err := canonicalSigs(signed); err != nil {
		return "", fmt.Errorf("%w: %v", ErrStatement, err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrStatement, err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		return "", fmt.Errorf("%w: %d signatures, %d unknown", ErrStatement, len(n.Sigs), len(n.UnverifiedSigs))
	}
	if err := checkStatement(header, n.Text); err != nil {
		return "", fmt.Errorf("%w: %v", ErrStatement, err)
	}
	return n.Text, nil
}

func checkStatement(header, text string) error {
	if !strings.HasPrefix(header, StatementPrefix) || strings.ContainsAny(header, "\n\r") {
		return fmt.Errorf("audit: a statement header must start with %q", StatementPrefix)
	}
	first, _, ok := strings.Cut(text, "\n")
	if !ok || first != header {
		return fmt.Errorf("audit: the statement does not start with %q", header)
	}
	return nil
}
