package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	fproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// NodeReader reads stored node hashes.
type NodeReader interface {
	AuditNodes(ctx context.Context, ids []store.AuditNodeID) ([][]byte, error)
}

// ErrNodeMissing reports a node a proof needs that the store lacks or
// holds malformed: rows deleted or edited (use errors.Is).
var ErrNodeMissing = errors.New("audit: a stored tree node is missing")

// fetch reads the nodes a proof needs and rehashes them into the proof. A
// node the store lacks is an error, never a guess.
func fetch(ctx context.Context, st NodeReader, n proof.Nodes) ([][]byte, error) {
	hs, err := st.AuditNodes(ctx, storeIDs(n.IDs))
	if err != nil {
		return nil, err
	}
	for i, h := range hs {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("%w: node %d/%d is missing or malformed", ErrNodeMissing, n.IDs[i].Level, n.IDs[i].Index)
		}
	}
	return n.Rehash(hs, hasher.HashChildren)
}

// InclusionProof is the RFC 6962 inclusion proof of leaf in the tree of
// size leaves, from the stored nodes.
func InclusionProof(ctx context.Context, st NodeReader, leaf, size uint64) ([][]byte, error) {
	n, err := proof.Inclusion(leaf, size)
	if err != nil {
		return nil, fmt.Errorf("audit: %v", err)
	}
	return fetch(ctx, st, n)
}

// ConsistencyProof is the RFC 6962 consistency proof from size1 to size2,
// from the stored nodes.
func ConsistencyProof(ctx context.Context, st NodeReader, size1, size2 uint64) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("audit: %v", err)
	}
	return fetch(ctx, st, n)
}

// ProofStore is what an item proof is built from.
type ProofStore interface {
	NodeReader
	AuditItems(ctx context.Context, from, to uint64, after *store.AuditItemKey, limit int) ([]store.AuditItem, error)
}

// itemProofDomain starts a C2SP tlog-proof's extra data as we write it:
//
//	"fifthwheel/audit/item-proof/v1" 0x00 || uint32 big-endian position || leaf data
//
// so the proof carries the item's batch (every item digest of its leaf, in
// order) and its position in it.
const itemProofDomain = "fifthwheel/audit/item-proof/v1\x00"

// ItemProof returns the proof that the item at (leaf, pos) is in the log as
// of the signed checkpoint: a C2SP tlog-proof (index = the leaf, the
// RFC 6962 inclusion proof, the checkpoint) whose extra data is the item's
// position and its leaf's bytes.
func ItemProof(ctx context.Context, st ProofStore, leaf uint64, pos int, cp Checkpoint, signed []byte) ([]byte, error) {
	// One read of at most one more than a leaf covers: a leaf with more
	// rows than that was tampered with, and is not read further.
	rows, err := st.AuditItems(ctx, leaf, leaf+1, nil, MaxLeafItems+1)
	if err != nil {
		return nil, err
	}
	if len(rows) > MaxLeafItems {
		return nil, fmt.Errorf("audit: leaf %d has more than %d items", leaf, MaxLeafItems)
	}
	if pos < 0 || pos >= len(rows) || rows[pos].Pos != pos {
		return nil, fmt.Errorf("audit: leaf %d has no item at position %d", leaf, pos)
	}
	data, err := leafOf(rows)
	if err != nil {
		return nil, err
	}
	incl, err := InclusionProof(ctx, st, leaf, cp.Size)
	if err != nil {
		return nil, err
	}
	// Check before handing it out: a proof from tampered rows is an error
	// here, not a surprise for the auditor.
	if err := proof.VerifyInclusion(hasher, leaf, cp.Size, LeafHash(data), incl, cp.Hash); err != nil {
		return nil, fmt.Errorf("audit: leaf %d does not prove against the checkpoint: %v", leaf, err)
	}
	p := fproof.TLogProof{Index: leaf, Checkpoint: signed, Hashes: make([][sha256.Size]byte, len(incl))}
	for i, h := range incl {
		copy(p.Hashes[i][:], h)
	}
	extra := append([]byte(itemProofDomain), binary.BigEndian.AppendUint32(nil, uint32(pos))...)
	p.ExtraData = append(extra, data...)
	return p.Marshal(), nil
}

// ErrProof reports an item proof that does not prove the item.
var ErrProof = errors.New("audit: item proof does not verify")

// VerifyItemProof checks, offline, that it is in the log whose key v is:
// the checkpoint's signature, the item's digest at its position in the
// batch, and the leaf's inclusion under the checkpoint's root. It returns
// the checkpoint and the item's leaf index and position.
func VerifyItemProof(b []byte, it Item, v note.Verifier) (cp Checkpoint, leaf uint64, pos int, err error) {
	var p fproof.TLogProof
	if err := p.Unmarshal(b); err != nil {
		return cp, 0, 0, fmt.Errorf("%w: %v", ErrProof, err)
	}
	// One proof, one encoding: base64's unused bits and the like must not
	// give a second byte string that proves the same thing.
	if !bytes.Equal(p.Marshal(), b) {
		return cp, 0, 0, fmt.Errorf("%w: not in canonical form", ErrProof)
	}
	if cp, err = OpenCheckpoint(p.Checkpoint, v); err != nil {
		return cp, 0, 0, err
	}
	rest, ok := cutPrefix(p.ExtraData, itemProofDomain)
	if !ok || len(rest) < 4 {
		return cp, 0, 0, fmt.Errorf("%w: no batch", ErrProof)
	}
	pos64 := binary.BigEndian.Uint32(rest)
	data := rest[4:]
	ds, err := ParseLeafData(data)
	if err != nil {
		return cp, 0, 0, fmt.Errorf("%w: %v", ErrProof, err)
	}
	if uint64(pos64) >= uint64(len(ds)) {
		return cp, 0, 0, fmt.Errorf("%w: position %d of %d", ErrProof, pos64, len(ds))
	}
	if d := it.Digest(); !bytes.Equal(d[:], ds[pos64][:]) {
		return cp, 0, 0, fmt.Errorf("%w: the item is not at position %d of its batch", ErrProof, pos64)
	}
	hs := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hs[i] = p.Hashes[i][:]
	}
	if err := proof.VerifyInclusion(hasher, p.Index, cp.Size, LeafHash(data), hs, cp.Hash); err != nil {
		return cp, 0, 0, fmt.Errorf("%w: %v", ErrProof, err)
	}
	return cp, p.Index, int(pos64), nil
}
