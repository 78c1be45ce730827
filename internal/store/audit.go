package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrLeaseHeld reports that another replica holds a lease right now (the
// audit sequencer's, an event stream consumer's), or that the caller lost
// the lease it had: the call did nothing; try again later.
var ErrLeaseHeld = errors.New("store: another holder has the lease")

// ErrAuditInconsistent reports a stored audit log that does not match its
// latest checkpoint (rows deleted or edited): the sequencer refuses to go
// on, since continuing would fork the log. It calls for `audit verify`
// and a security event, not a retry.
var ErrAuditInconsistent = errors.New("store: the audit log does not match its latest checkpoint")

// AuditStore holds the audit log (issue 21, package internal/audit): items
// waiting to be sequenced, the leaves and the RFC 6962 node hashes the
// sequencer wrote, the signed checkpoints and the log key. The store knows
// rows and transactions; the tree math and the signing are the audit
// package's, run inside the sequencer's transaction through an AuditStep.
type AuditStore interface {
	// AppendAuditItems durably records items as pending (ID, Leaf and Pos
	// are ignored), in a transaction of their own. The store's own rows
	// (frames, events, commands and their transitions) append theirs in
	// the transaction that writes the row (audit_items.go).
	AppendAuditItems(ctx context.Context, items []AuditItem) error
	// SequenceAudit runs one sequencer step in one transaction: under the
	// sequencer lease (PostgreSQL: a transaction-scoped advisory lock,
	// ErrLeaseHeld when another replica holds it; SQLite: the one writer),
	// it reads the latest checkpoint's size and up to limit pending items
	// oldest id first (SQLite: at most MaxCommitRows, the writer's bound on
	// one commit), calls step, and stores what step returns: the leaves
	// (their indexes must run on from the size, with no gap), the nodes, the
	// items' leaf and position (the pending items in the order read, leaf by
	// leaf) and the checkpoint. Either all of it commits or nothing does.
	// With no pending item it returns a zero AuditSequenced and does not
	// call step. A store whose leaves do not end at the latest checkpoint
	// is refused (fail closed: the sequencer would fork the log).
	SequenceAudit(ctx context.Context, limit int, step AuditStep) (AuditSequenced, error)

	// AuditItems returns a page of the sequenced items whose leaf is in
	// [from, to), ordered by leaf, position and id, as stored (duplicates
	// included): those after the key after (nil: from the first), at most
	// limit of them (limit must be 1 to MaxAuditItemsPage). The next page
	// starts after the last item's Key. A reader's memory is bounded by a
	// page, whatever the rows hold.
	AuditItems(ctx context.Context, from, to uint64, after *AuditItemKey, limit int) ([]AuditItem, error)
	// FindAuditItems returns the items of kind with reference ref, oldest
	// first, pending or sequenced (an item appended twice is there twice).
	FindAuditItems(ctx context.Context, kind, ref string) ([]AuditItem, error)
	// PendingAuditItems counts the items not yet sequenced.
	PendingAuditItems(ctx context.Context) (int64, error)
	// AuditLeaves returns the first limit leaf rows (1 to
	// MaxAuditItemsPage) with index in [from, to), by index. The next page
	// starts at the last one's index + 1.
	AuditLeaves(ctx context.Context, from, to uint64, limit int) ([]AuditLeaf, error)
	// AuditNodes returns the stored hashes of ids, in their order; a
	// missing node is a nil hash.
	AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error)
	// LatestAuditCheckpoint returns the checkpoint of the largest size, or
	// ErrNotFound if there is none.
	LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error)
	// AuditCheckpointAt returns the checkpoint of size, or ErrNotFound.
	AuditCheckpointAt(ctx context.Context, size uint64) (AuditCheckpoint, error)

	// AddAuditLogKey stores the log key if the store has none; ErrConflict
	// if it has one (another replica made it first: read that one),
	// ErrClearSecret if k.Sealed is empty.
	AddAuditLogKey(ctx context.Context, k AuditLogKey) error
	// GetAuditLogKey returns the log key or ErrNotFound.
	GetAuditLogKey(ctx context.Context) (AuditLogKey, error)
}

// AuditItem is one audited item. Hash is the SHA-256 of the item's exact
// stored bytes; Kind and Ref name it. Leaf and Pos are set once it is
// sequenced.
type AuditItem struct {
	ID        int64 // assigned by the store: append order, never a leaf index
	Kind      string
	Ref       string
	Hash      []byte
	Sequenced bool
	Leaf      uint64
	Pos       int
	CreatedAt time.Time
}

// AuditItemKey is an item's place in AuditItems' order: the cursor of
// the next page.
type AuditItemKey struct {
	Leaf uint64
	Pos  int
	ID   int64
}

// Key is the item's AuditItemKey.
func (it AuditItem) Key() *AuditItemKey { return &AuditItemKey{Leaf: it.Leaf, Pos: it.Pos, ID: it.ID} }

// auditItemsQuery checks AuditItems' arguments and returns the bounds of
// the keyset condition (leaf, pos, id) > (aLeaf, aPos, aID): before every
// item of the range when after is nil (even a row edited to a negative
// position or id).
func auditItemsQuery(from, to uint64, after *AuditItemKey, limit int) (lo, hi, aLeaf, aPos, aID int64, err error) {
	if limit < 1 || limit > MaxAuditItemsPage {
		return 0, 0, 0, 0, 0, fmt.Errorf("store: audit items page of %d (1 to %d)", limit, MaxAuditItemsPage)
	}
	lo, hi = int64(min(from, 1<<63-1)), int64(min(to, 1<<63-1))
	aLeaf, aPos, aID = lo, math.MinInt64, math.MinInt64
	if after != nil {
		aLeaf, aPos, aID = int64(min(after.Leaf, 1<<63-1)), int64(after.Pos), after.ID
	}
	return lo, hi, aLeaf, aPos, aID, nil
}

// checkAuditLeavesLimit checks AuditLeaves' limit.
func checkAuditLeavesLimit(limit int) error {
	if limit < 1 || limit > MaxAuditItemsPage {
		return fmt.Errorf("store: audit leaves page of %d (1 to %d)", limit, MaxAuditItemsPage)
	}
	return nil
}

// AuditLeaf is a leaf row: the number of items it covers. Its hash is the
// level-0 node.
type AuditLeaf struct {
	Index       uint64
	Items       int
	SequencedAt time.Time
}

// AuditNodeID names a node of the tree: level 0 is the leaves.
type AuditNodeID struct {
	Level uint
	Index uint64
}

// AuditNode is a node and its hash.
type AuditNode struct {
	AuditNodeID
	Hash []byte
}

// AuditCheckpoint is a signed checkpoint: Note is the signed note's exact
// bytes; Size and Root repeat its body for queries.
type AuditCheckpoint struct {
	Size      uint64
	Root      []byte
	Note      []byte
	CreatedAt time.Time
}

// AuditLogKey is the log's note key: Verifier is the public verifier key
// string; Sealed the private signer key as the caller sealed it.
type AuditLogKey struct {
	Origin    string
	Verifier  string
	Sealed    []byte
	CreatedAt time.Time
}

// AuditTree is what a sequencer step sees of the tree in its transaction:
// the latest checkpoint's size and root (nil: empty tree), and Nodes to
// read stored node hashes (nil for a missing one) in the same transaction.
type AuditTree struct {
	Size  uint64
	Root  []byte
	Nodes func(ids []AuditNodeID) ([][]byte, error)
}

// AuditStep computes, inside the sequencer's transaction, what the pending
// items add to the tree. It must not keep tree or pending.
type AuditStep func(tree AuditTree, pending []AuditItem) (AuditAppend, error)

// AuditAppend is a step's result: new leaves (Items each, consecutive
// pending items in the order given), every node they complete, and the
// checkpoint of the new size.
type AuditAppend struct {
	Leaves     []AuditLeaf
	Nodes      []AuditNode
	Checkpoint AuditCheckpoint
}

// AuditSequenced reports a step: the leaves it added and how many items
// they cover; zero if there was nothing pending.
type AuditSequenced struct {
	Leaves     int
	Items      int
	Checkpoint AuditCheckpoint
}

// checkAuditAppend holds a step's result to the contract before anything is
// written: leaves run on from size with no gap, cover at most the pending
// items, and the checkpoint is of the new size. A step that breaks this is
// a bug; the store refuses it rather than write a gap or a fork.
func checkAuditAppend(size uint64, pending int, a AuditAppend) (used int, err error) {
	if len(a.Leaves) == 0 {
		return 0, errors.New("store: audit step returned no leaf")
	}
	for i, l := range a.Leaves {
		if l.Index != size+uint64(i) {
			return 0, fmt.Errorf("store: audit leaf %d where %d was next", l.Index, size+uint64(i))
		}
		if l.Items <= 0 {
			return 0, fmt.Errorf("store: audit leaf %d covers no item", l.Index)
		}
		used += l.Items
	}
	if used > pending {
		return 0, fmt.Errorf("store: audit leaves cover %d items of %d pending", used, pending)
	}
	if a.Checkpoint.Size != size+uint64(len(a.Leaves)) || len(a.Checkpoint.Note) == 0 || len(a.Checkpoint.Root) == 0 {
		return 0, fmt.Errorf("store: audit checkpoint of size %d after %d leaves", a.Checkpoint.Size, size+uint64(len(a.Leaves)))
	}
	return used, nil
}

// checkAuditItems refuses items the log cannot hold.
func checkAuditItems(items []AuditItem) error {
	for _, it := range items {
		if it.Kind == "" || it.Ref == "" || len(it.Hash) == 0 {
			return fmt.Errorf("store: audit item %q/%q: kind, ref and hash are required", it.Kind, it.Ref)
		}
	}
	return nil
}
