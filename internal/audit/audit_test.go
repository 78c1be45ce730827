package audit_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	fproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestLogProofsUpstream: a log of 11 leaves on each engine; every
// checkpoint parses with formats' log.ParseCheckpoint under the printed
// verifier key, every leaf's inclusion proof and every pair of checkpoints'
// consistency proof from the stored nodes pass the upstream verifiers, and
// item proofs verify offline.
func TestLogProofsUpstream(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		items := l.batches(t, 11, 3)
		v, err := note.NewVerifier(l.key.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		h := rfc6962.DefaultHasher
		cps := map[uint64]*log.Checkpoint{}
		for size := uint64(1); size <= 11; size++ {
			signed := l.checkpointAt(t, size)
			cp, _, _, err := log.ParseCheckpoint(signed, origin, v)
			if err != nil || cp.Size != size {
				t.Fatalf("checkpoint %d: %+v, %v", size, cp, err)
			}
			if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
				t.Fatal(err)
			}
			cps[size] = cp
		}
		for size := uint64(1); size <= 11; size++ {
			for leaf := range size {
				p, err := audit.InclusionProof(ctx, l.st, leaf, size)
				if err != nil {
					t.Fatal(err)
				}
				lh, err := l.st.AuditNodes(ctx, []store.AuditNodeID{{Level: 0, Index: leaf}})
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(h, leaf, size, lh[0], p, cps[size].Hash); err != nil {
					t.Fatalf("inclusion of %d in %d: %v", leaf, size, err)
				}
			}
			for s1 := uint64(1); s1 <= size; s1++ {
				p, err := audit.ConsistencyProof(ctx, l.st, s1, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(h, s1, size, p, cps[s1].Hash, cps[size].Hash); err != nil {
					t.Fatalf("consistency %d -> %d: %v", s1, size, err)
				}
			}
		}
		// Item proofs: every item, against the latest checkpoint.
		latest := l.checkpointAt(t, 11)
		cp, err := audit.OpenCheckpoint(latest, v)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			leaf, pos := uint64(i/3), i%3
			b, err := audit.ItemProof(ctx, l.st, leaf, pos, cp, latest)
			if err != nil {
				t.Fatal(err)
			}
			var tp fproof.TLogProof
			if err := tp.Unmarshal(b); err != nil || tp.Index != leaf {
				t.Fatalf("tlog-proof: %+v, %v", tp, err)
			}
			if _, gl, gp, err := audit.VerifyItemProof(b, it, v); err != nil || gl != leaf || gp != pos {
				t.Fatalf("item %d: leaf %d pos %d, %v", i, gl, gp, err)
			}
			// Another item's proof does not prove this one.
			if i > 0 {
				if _, _, _, err := audit.VerifyItemProof(b, items[i-1], v); !errors.Is(err, audit.ErrProof) {
					t.Fatalf("item %d's proof proved item %d: %v", i, i-1, err)
				}
			}
		}
		// A clean log verifies from every saved checkpoint.
		for _, size := range []uint64{1, 5, 11} {
			r, err := audit.Verify(ctx, l.st, v, l.checkpointAt(t, size), audit.VerifyOptions{Source: l.src})
			if err != nil || !r.OK() || r.Leaves != 11 || r.Items != 33 {
				t.Fatalf("Verify since %d: %+v, %v", size, r, err)
			}
		}
	})
}

// TestAttackItemProofTampered: a proof with any byte flipped, an item
// that is not the one proven, and a proof under another log's key are all
// refused.
func TestAttackItemProofTampered(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	items := l.batches(t, 3, 4)
	signed := l.checkpointAt(t, 3)
	cp, err := audit.OpenCheckpoint(signed, l.key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.ItemProof(ctx, l.st, 1, 2, cp, signed)
	if err != nil {
		t.Fatal(err)
	}
	it := items[1*4+2]
	if _, _, _, err := audit.VerifyItemProof(b, it, l.key.Verifier()); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, _, _, err := audit.VerifyItemProof(c, it, l.key.Verifier()); err == nil {
			// A flip inside base64 padding or a note's ignored bits could in
			// principle decode the same; none may prove.
			t.Fatalf("byte %d flipped (%q): still proves", i, b[max(0, i-10):min(len(b), i+10)])
		}
	}
	forged := it
	forged.Hash = sha256.Sum256([]byte("forged"))
	if _, _, _, err := audit.VerifyItemProof(b, forged, l.key.Verifier()); !errors.Is(err, audit.ErrProof) {
		t.Fatalf("a forged item: %v", err)
	}
	other := newTestLog(t, storetest.Engines()[0])
	if _, _, _, err := audit.VerifyItemProof(b, it, other.key.Verifier()); !errors.Is(err, audit.ErrCheckpoint) {
		t.Fatalf("another log's key: %v", err)
	}
}

// TestLogKeyShared: a second replica (another handle on the same store)
// loads the key the first made, so both sign as one log; the sealed key is
// bound to its origin, and a store's key for another origin is refused.
func TestLogKeyShared(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		r2 := *l
		r2.open(t)
		if r2.key.VerifierKey() != l.key.VerifierKey() {
			t.Fatalf("replicas disagree on the key: %s vs %s", r2.key.VerifierKey(), l.key.VerifierKey())
		}
		rec, err := l.st.GetAuditLogKey(ctx)
		if err != nil || bytes.Contains(rec.Sealed, []byte("PRIVATE+KEY")) {
			t.Fatalf("the key is not sealed: %v", err)
		}
		if _, err := audit.LoadOrCreateKey(ctx, l.st, l.sealer, "another.origin/audit", time.Now()); !errors.Is(err, audit.ErrKeyOrigin) {
			t.Fatalf("another origin: %v", err)
		}
		if _, err := audit.LoadOrCreateKey(ctx, l.st, sealtest.New(t), origin, time.Now()); err == nil {
			t.Fatal("the key opened under another secrets key")
		}
	})
}

// TestAttackBadItemsRefused: items the log cannot hold are refused before
// anything is stored.
func TestAttackBadItemsRefused(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	long := make([]byte, audit.MaxRefLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for name, it := range map[string]audit.Item{
		"unknown kind":  {Kind: "bogus", Ref: "x"},
		"empty ref":     {Kind: audit.KindFrame},
		"oversized ref": {Kind: audit.KindFrame, Ref: string(long)},
		"invalid utf-8": {Kind: audit.KindFrame, Ref: "\xff"},
	} {
		if err := l.seq.Append(ctx, l.item(), it); !errors.Is(err, audit.ErrBadItem) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n, err := l.st.PendingAuditItems(ctx); err != nil || n != 0 {
		t.Fatalf("pending after refusals: %d, %v", n, err)
	}
}

// TestAttackCheckpointSignatureMalleated: a checkpoint whose signature is
// re-encoded with base64's unused bits set decodes to the same signature;
// it is refused all the same, so no second byte string of a checkpoint
// verifies.
func TestAttackCheckpointSignatureMalleated(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	l.batches(t, 1, 1)
	signed := l.checkpointAt(t, 1)
	if _, err := audit.OpenCheckpoint(signed, l.key.Verifier()); err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	// The signature (4-byte key hash + 64) is 68 bytes: base64 "...X=",
	// whose last character X carries 2 unused bits.
	i := bytes.LastIndex(signed, []byte("=\n")) - 1
	m := bytes.Clone(signed)
	m[i] = alphabet[strings.IndexByte(alphabet, m[i])^1]
	if _, err := audit.OpenCheckpoint(m, l.key.Verifier()); !errors.Is(err, audit.ErrCheckpoint) {
		t.Fatalf("a malleated signature: %v", err)
	}
}
