package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// cosign returns a witness's C2SP tlog-cosignature/v1 line over a signed
// checkpoint's text, written from the spec (c2sp.org/tlog-cosignature),
// not from a library: key hash = SHA-256(name || "\n" || 0x04 || public
// key)[:4]; signed message = "cosignature/v1\ntime <t>\n" || the note's
// text; signature = timestamp (uint64, big-endian) || Ed25519 signature.
func cosign(t *testing.T, name string, signed []byte) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text := signed[:bytes.LastIndex(signed, []byte("\n\n"))+1]
	const ts = 1764892800
	msg := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", ts)), text...)
	h := sha256.Sum256(append([]byte(name+"\n\x04"), pub...))
	sig := append(h[:4:4], binary.BigEndian.AppendUint64(nil, ts)...)
	sig = append(sig, ed25519.Sign(priv, msg)...)
	return []byte("\u2014 " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n")
}

// noteSig returns a plain Ed25519 signed-note line over signed's text by
// a fresh key named name.
func noteSig(t *testing.T, name string, signed []byte) []byte {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	text := signed[:bytes.LastIndex(signed, []byte("\n\n"))+1]
	n, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n[bytes.LastIndex(n, []byte("\n\n"))+2:]
}

// TestCheckpointWitnessCosignaturesIgnored: a checkpoint carrying, besides
// the log's, a witness's tlog-cosignature/v1 line and another key's plain
// note signature opens as the same checkpoint (the extra lines are
// ignored, whatever their order), `audit verify --since` it passes
// (Verify), and an item proof whose checkpoint is cosigned verifies (what
// forensics verify checks for each bundled item).
func TestCheckpointWitnessCosignaturesIgnored(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	items := l.batches(t, 3, 2)
	signed := l.checkpointAt(t, 3)
	want, err := audit.OpenCheckpoint(signed, l.key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	split := bytes.LastIndex(signed, []byte("\n\n")) + 2
	wit, other := cosign(t, "witness.example/w1", signed), noteSig(t, "witness.example/w2", signed)
	for name, m := range map[string][]byte{
		"log, witness, other": append(append(bytes.Clone(signed), wit...), other...),
		"witness first":       append(append(bytes.Clone(signed[:split]), wit...), signed[split:]...),
	} {
		got, err := audit.OpenCheckpoint(m, l.key.Verifier())
		if err != nil || got.Size != want.Size || !bytes.Equal(got.Hash, want.Hash) || got.Origin != want.Origin {
			t.Fatalf("%s: %+v, %v", name, got, err)
		}
		r, err := audit.Verify(ctx, l.st, l.key.Verifier(), m, audit.VerifyOptions{Source: l.src})
		if err != nil || !r.OK() {
			t.Fatalf("%s: verify --since a cosigned checkpoint: %v\n%s", name, err, list(r))
		}
		p, err := audit.ItemProof(ctx, l.st, 1, 1, got, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, leaf, pos, err := audit.VerifyItemProof(p, items[3], l.key.Verifier()); err != nil || leaf != 1 || pos != 1 {
			t.Fatalf("%s: item proof under a cosigned checkpoint: %d/%d, %v", name, leaf, pos, err)
		}
	}
}

// TestAttackCheckpointWithoutLogSignature: the log's checkpoint text
// signed only by other keys (a witness, a key named like the log) is
// refused: extra lines are ignored only beside the log's own signature.
func TestAttackCheckpointWithoutLogSignature(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	l.batches(t, 1, 1)
	signed := l.checkpointAt(t, 1)
	body := signed[:bytes.LastIndex(signed, []byte("\n\n"))+2]
	for name, m := range map[string][]byte{
		"witness only":          append(bytes.Clone(body), cosign(t, "witness.example/w1", signed)...),
		"impostor of the log":   append(bytes.Clone(body), noteSig(t, l.key.Origin(), signed)...),
		"witness and impostor":  append(append(bytes.Clone(body), cosign(t, "witness.example/w1", signed)...), noteSig(t, l.key.Origin(), signed)...),
		"no signature line":     bytes.Clone(body),
		"log signature removed": append(bytes.Clone(body), noteSig(t, "witness.example/w2", signed)...),
	} {
		if _, err := audit.OpenCheckpoint(m, l.key.Verifier()); !errors.Is(err, audit.ErrCheckpoint) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := audit.Verify(ctx, l.st, l.key.Verifier(), m, audit.VerifyOptions{}); err == nil {
			t.Errorf("%s: verify --since accepted it", name)
		}
	}
}

// TestAttackCheckpointDuplicateLogKeyLine: a second line with the log
// key's name and key hash but a forged signature: note.Open verifies the
// first and skips it, so the checkpoint would have another byte string
// that opens; OpenCheckpoint refuses two lines of one key. So does it
// two identical witness lines, and more lines than MaxCheckpointSignatures.
func TestAttackCheckpointDuplicateLogKeyLine(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	l.batches(t, 1, 1)
	signed := l.checkpointAt(t, 1)
	line := signed[bytes.LastIndex(signed, []byte("\n\n"))+2:]
	f := strings.Fields(string(line))
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	forged := append(bytes.Clone(signed), []byte("\u2014 "+f[1]+" "+base64.StdEncoding.EncodeToString(sig)+"\n")...)
	if _, err := note.Open(forged, note.VerifierList(l.key.Verifier())); err != nil {
		t.Fatalf("note.Open refused it (the test's premise): %v", err)
	}
	wit := cosign(t, "witness.example/w1", signed)
	many := bytes.Clone(signed)
	for i := range audit.MaxCheckpointSignatures {
		many = append(many, noteSig(t, fmt.Sprintf("witness.example/w%d", i), signed)...)
	}
	for name, m := range map[string][]byte{
		"second log line":       forged,
		"same witness twice":    append(append(bytes.Clone(signed), wit...), wit...),
		"too many cosignatures": many,
	} {
		if _, err := audit.OpenCheckpoint(m, l.key.Verifier()); !errors.Is(err, audit.ErrCheckpoint) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
