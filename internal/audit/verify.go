package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// VerifyStore is what Verify reads.
type VerifyStore interface {
	NodeReader
	AuditItems(ctx context.Context, from, to uint64, after *store.AuditItemKey, limit int) ([]store.AuditItem, error)
	AuditLeaves(ctx context.Context, from, to uint64, limit int) ([]store.AuditLeaf, error)
	LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
}

// Source gives the current SHA-256 of an item's stored bytes (the frame or
// event row it refers to), found false if the row is gone. With a Source,
// Verify names an edited item by its position, not only its leaf.
type Source interface {
	ItemHash(ctx context.Context, kind Kind, ref string) (hash [sha256.Size]byte, found bool, err error)
}

// FindingKind says what Verify found wrong.
type FindingKind string

// The findings. Leaf is the leaf index a finding is about; Pos the item's
// position in that leaf, or -1.
const (
	// The latest stored checkpoint's signature does not verify, or its
	// columns disagree with its signed body.
	FindCheckpoint FindingKind = "checkpoint_invalid"
	// The log is smaller than the saved checkpoint (Leaf: current size).
	FindTruncated FindingKind = "log_truncated"
	// The latest checkpoint does not extend the saved one (Leaf: saved size).
	FindNotConsistent FindingKind = "not_consistent"
	// A leaf below the checkpoint's size has no row.
	FindLeafDeleted FindingKind = "leaf_deleted"
	// A leaf row, or an item, beyond the checkpoint's size.
	FindLeafInserted FindingKind = "leaf_inserted"
	// A leaf's items do not hash to its stored (signed-over) leaf hash.
	FindLeafMismatch FindingKind = "leaf_mismatch"
	// A leaf's items hash to another leaf's stored hash: leaves reordered
	// (Detail names the other leaf).
	FindLeafReordered FindingKind = "leaf_reordered"
	// A position of a leaf has no item (the leaf row says how many).
	FindItemDeleted FindingKind = "item_deleted"
	// An item beyond the leaf's count, or a second item at a position.
	FindItemInserted FindingKind = "item_inserted"
	// Items of a leaf out of their append order.
	FindItemReordered FindingKind = "item_reordered"
	// An item's hash differs from its stored bytes' (Source), or its row
	// is malformed.
	FindItemEdited FindingKind = "item_edited"
	// An item's stored row (frame, event) is gone (Source).
	FindItemSourceMissing FindingKind = "item_source_missing"
	// A stored tree node is missing or is not the hash of its children:
	// proofs served from it would be wrong (Leaf: the node's index).
	FindNodeMismatch FindingKind = "node_mismatch"
	// The items recompute to another root than the checkpoint signed
	// (Leaf: the checkpoint's size).
	FindRootMismatch FindingKind = "root_mismatch"
)

// Finding is one thing Verify found wrong.
type Finding struct {
	Kind   FindingKind
	Leaf   uint64
	Pos    int // -1: not about one item
	Level  uint
	ItemID int64 // the item row's id, 0: none
	Detail string
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s leaf=%d", f.Kind, f.Leaf)
	if f.Pos >= 0 {
		s += fmt.Sprintf(" pos=%d", f.Pos)
	}
	if f.Level > 0 {
		s += fmt.Sprintf(" level=%d", f.Level)
	}
	if f.ItemID != 0 {
		s += fmt.Sprintf(" item=%d", f.ItemID)
	}
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Report is Verify's result.
type Report struct {
	Saved, Current Checkpoint
	Leaves         uint64 // leaves recomputed
	Items          int    // items read
	Findings       []Finding
	// Capped reports that more than MaxFindings were found; the rest are
	// not listed.
	Capped bool
}

// OK reports whether Verify found nothing wrong.
func (r *Report) OK() bool { return len(r.Findings) == 0 && !r.Capped }

// MaxFindings bounds a report: a wholesale rewrite is reported by its
// first findings, not by millions of them.
const MaxFindings = 10000

func (r *Report) add(f Finding) {
	if len(r.Findings) >= MaxFindings {
		r.Capped = true
		return
	}
	r.Findings = append(r.Findings, f)
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	Source Source // nil: items are checked against the leaves only
	// leafPage and itemPage are VerifyPage and VerifyItemPage when zero;
	// tests make them small (export_test.go) so a small log spans
	// several pages.
	leafPage, itemPage int
}

func (o VerifyOptions) leaves() uint64 {
	if o.leafPage <= 0 {
		return VerifyPage
	}
	return uint64(o.leafPage)
}

// Verify checks the log in st against saved, a signed checkpoint an auditor
// kept, trusting only v: (a) the latest stored checkpoint is signed and
// extends saved (a consistency proof from the stored nodes, checked with
// the upstream verifier); (b) every leaf recomputed from its stored items
// matches the stored leaf hash, and the tree recomputed from the items has
// the roots both checkpoints signed; (c) every stored node is the hash of
// its children. Every edited, deleted, inserted or reordered row is a
// Finding with its index. An error means Verify could not run (a saved
// checkpoint that does not verify, a store that cannot be read), never that
// it found tampering.
func Verify(ctx context.Context, st VerifyStore, v note.Verifier, saved []byte, opts VerifyOptions) (*Report, error) {
	sv, err := OpenCheckpoint(saved, v)
	if err != nil {
		return nil, fmt.Errorf("audit: the saved checkpoint: %w", err)
	}
	r := &Report{Saved: sv, Current: Checkpoint{Origin: sv.Origin}}
	row, err := st.LatestAuditCheckpoint(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		cur, err := OpenCheckpoint(row.Note, v)
		if err != nil {
			r.add(Finding{Kind: FindCheckpoint, Leaf: row.Size, Pos: -1, Detail: err.Error()})
			// Go on with the row's columns: the leaves still get checked.
			cur = Checkpoint{Origin: sv.Origin, Size: row.Size, Hash: row.Root}
		} else if cur.Size != row.Size || !bytes.Equal(cur.Hash, row.Root) {
			r.add(Finding{Kind: FindCheckpoint, Leaf: row.Size, Pos: -1, Detail: "the row's size or root differ from its signed body"})
		}
		r.Current = cur
	}
	cur := r.Current
	switch {
	case cur.Size < sv.Size:
		r.add(Finding{Kind: FindTruncated, Leaf: cur.Size, Pos: -1, Detail: fmt.Sprintf("the log has %d leaves, the saved checkpoint %d", cur.Size, sv.Size)})
	case cur.Size == sv.Size:
		if !bytes.Equal(cur.Hash, sv.Hash) {
			r.add(Finding{Kind: FindNotConsistent, Leaf: sv.Size, Pos: -1, Detail: "same size, another root: a fork"})
		}
	default:
		p, err := ConsistencyProof(ctx, st, sv.Size, cur.Size)
		if err == nil {
			err = proof.VerifyConsistency(hasher, sv.Size, cur.Size, p, sv.Hash, cur.Hash)
		}
		if err != nil {
			r.add(Finding{Kind: FindNotConsistent, Leaf: sv.Size, Pos: -1, Detail: err.Error()})
		}
	}
	if err := r.recompute(ctx, st, v, opts); err != nil {
		return nil, err
	}
	return r, nil
}

// recompute walks the leaves [0, Current.Size) a page at a time, then
// reports every leaf or item row beyond.
func (r *Report) recompute(ctx context.Context, st VerifyStore, v note.Verifier, opts VerifyOptions) error {
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	size := r.Current.Size
	per := opts.leaves()
	for lo := uint64(0); lo < size; lo += per {
		hi := min(lo+per, size)
		if err := r.page(ctx, st, opts, rng, lo, hi); err != nil {
			return err
		}
	}
	if size > 0 {
		if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, r.Current.Hash) {
			r.add(Finding{Kind: FindRootMismatch, Leaf: size, Pos: -1, Detail: "the items recompute to another root than the latest checkpoint signed"})
		}
	}
	// Rows beyond the signed tree: nothing may be there. A live gateway
	// goes on sequencing while Verify reads, but a step stores its leaf,
	// items and checkpoint in one transaction: so the rows are read first,
	// then the latest checkpoint again, and only rows beyond a newer
	// checkpoint that verifies under v (or beyond the one checked above)
	// are reported. A forged newer checkpoint row cannot hide them: it
	// must verify.
	//
	// The rows come in index order and only the last MaxFindings of each
	// kind are kept (the ones beyond the horizon are the last): memory is
	// bounded whatever was inserted; a dropped one beyond the horizon
	// marks the report Capped.
	leaves, items := newLastFindings(), newLastFindings()
	for lo := size; ; {
		page, err := st.AuditLeaves(ctx, lo, math.MaxUint64, int(per))
		if err != nil {
			return err
		}
		for _, l := range page {
			leaves.add(Finding{Kind: FindLeafInserted, Leaf: l.Index, Pos: -1, Detail: "a leaf row beyond the checkpoint"})
		}
		if len(page) < int(per) || page[len(page)-1].Index == math.MaxUint64 {
			break
		}
		lo = page[len(page)-1].Index + 1
	}
	pager := newItemPager(st, size, math.MaxUint64, opts.itemPage)
	for {
		it, ok, err := pager.next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		items.add(Finding{Kind: FindItemInserted, Leaf: it.Leaf, Pos: it.Pos, ItemID: it.ID, Detail: "an item in a leaf beyond the checkpoint"})
	}
	horizon := size
	if leaves.seen || items.seen {
		if row, err := st.LatestAuditCheckpoint(ctx); err == nil && row.Size > size {
			if cp, err := OpenCheckpoint(row.Note, v); err == nil && cp.Size == row.Size && bytes.Equal(cp.Hash, row.Root) {
				horizon = cp.Size
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	for _, l := range []*lastFindings{leaves, items} {
		if l.dropped && l.maxDropped >= horizon {
			r.Capped = true
		}
		for _, f := range l.list() {
			if f.Leaf >= horizon {
				r.add(f)
			}
		}
	}
	return nil
}

// lastFindings keeps the last MaxFindings findings added, in order.
type lastFindings struct {
	ring       []Finding
	next       int
	seen       bool
	dropped    bool
	maxDropped uint64
}

func newLastFindings() *lastFindings { return &lastFindings{} }

func (l *lastFindings) add(f Finding) {
	l.seen = true
	if len(l.ring) < MaxFindings {
		l.ring = append(l.ring, f)
		return
	}
	old := l.ring[l.next]
	l.dropped, l.maxDropped = true, max(l.maxDropped, old.Leaf)
	l.ring[l.next] = f
	l.next = (l.next + 1) % MaxFindings
}

func (l *lastFindings) list() []Finding {
	return append(slices.Clone(l.ring[l.next:]), l.ring[:l.next]...)
}

// itemPager reads the items of the leaves [from, to) in AuditItems'
// order, one page at a time: a reader's memory is a page, not the range.
type itemPager struct {
	st       VerifyStore
	from, to uint64
	per      int
	buf      []store.AuditItem
	after    *store.AuditItemKey
	done     bool
}

func newItemPager(st VerifyStore, from, to uint64, per int) *itemPager {
	if per <= 0 {
		per = VerifyItemPage
	}
	return &itemPager{st: st, from: from, to: to, per: per}
}

// peek returns the next item without taking it.
func (p *itemPager) peek(ctx context.Context) (store.AuditItem, bool, error) {
	if len(p.buf) == 0 && !p.done {
		page, err := p.st.AuditItems(ctx, p.from, p.to, p.after, p.per)
		if err != nil {
			return store.AuditItem{}, false, err
		}
		if len(page) < p.per {
			p.done = true
		}
		if len(page) > 0 {
			p.after = page[len(page)-1].Key()
		}
		p.buf = page
	}
	if len(p.buf) == 0 {
		return store.AuditItem{}, false, nil
	}
	return p.buf[0], true, nil
}

func (p *itemPager) next(ctx context.Context) (store.AuditItem, bool, error) {
	it, ok, err := p.peek(ctx)
	if ok {
		p.buf = p.buf[1:]
	}
	return it, ok, err
}

// leaf returns the items of leaf i (the pager must not be past it): at
// most MaxLeafItems of them, the most a leaf covers; the rows beyond are
// reported inserted and not kept.
func (r *Report) leafItems(ctx context.Context, p *itemPager, i uint64) ([]store.AuditItem, error) {
	var rows []store.AuditItem
	for {
		it, ok, err := p.peek(ctx)
		if err != nil || !ok || it.Leaf != i {
			return rows, err
		}
		_, _, _ = p.next(ctx)
		if len(rows) >= MaxLeafItems {
			r.add(Finding{Kind: FindItemInserted, Leaf: i, Pos: it.Pos, ItemID: it.ID, Detail: fmt.Sprintf("beyond the %d items a leaf covers at most", MaxLeafItems)})
			continue
		}
		rows = append(rows, it)
	}
}

func (r *Report) page(ctx context.Context, st VerifyStore, opts VerifyOptions, rng *compact.Range, lo, hi uint64) error {
	leafRows, err := st.AuditLeaves(ctx, lo, hi, int(hi-lo))
	if err != nil {
		return err
	}
	count := make(map[uint64]int, len(leafRows))
	for _, l := range leafRows {
		count[l.Index] = l.Items
	}
	items := newItemPager(st, lo, hi, opts.itemPage)
	// The stored leaf hashes of the page, to compare and to spot leaves
	// that changed places.
	ids := make([]store.AuditNodeID, 0, hi-lo)
	for i := lo; i < hi; i++ {
		ids = append(ids, store.AuditNodeID{Level: 0, Index: i})
	}
	stored, err := st.AuditNodes(ctx, ids)
	if err != nil {
		return err
	}
	storedAt := make(map[[sha256.Size]byte]uint64, len(stored))
	for k, h := range stored {
		if len(h) == sha256.Size {
			storedAt[[sha256.Size]byte(h)] = lo + uint64(k)
		}
	}
	var made []compact.NodeID
	visit := func(id compact.NodeID, _ []byte) {
		if id.Level > 0 {
			made = append(made, id)
		}
	}
	for i := lo; i < hi; i++ {
		leafItems, err := r.leafItems(ctx, items, i)
		if err != nil {
			return err
		}
		r.Items += len(leafItems)
		n, ok := count[i]
		if !ok {
			r.add(Finding{Kind: FindLeafDeleted, Leaf: i, Pos: -1})
			n = len(leafItems)
		}
		rows, err := r.checkItems(ctx, opts, i, n, leafItems)
		if err != nil {
			return err
		}
		r.Leaves++
		var lh []byte
		if data, err := leafOf(rows); err != nil {
			r.add(Finding{Kind: FindItemEdited, Leaf: i, Pos: -1, Detail: err.Error()})
		} else {
			lh = LeafHash(data)
		}
		if got := stored[i-lo]; len(lh) == 0 || !bytes.Equal(lh, got) {
			f := Finding{Kind: FindLeafMismatch, Leaf: i, Pos: -1, Detail: "the items do not hash to the stored leaf hash"}
			if got == nil {
				f.Detail = "no stored leaf hash"
			}
			if j, moved := storedAt[[sha256.Size]byte(padHash(lh))]; moved && len(lh) > 0 {
				f = Finding{Kind: FindLeafReordered, Leaf: i, Pos: -1, Detail: fmt.Sprintf("holds the items of leaf %d", j)}
			}
			r.add(f)
		}
		if len(lh) == 0 {
			lh = make([]byte, sha256.Size) // keep the tree's shape; the root will not match
		}
		if err := rng.Append(lh, visit); err != nil {
			return err
		}
		if rng.End() == r.Saved.Size {
			if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, r.Saved.Hash) {
				r.add(Finding{Kind: FindRootMismatch, Leaf: r.Saved.Size, Pos: -1, Detail: "the items recompute to another root than the saved checkpoint"})
			}
		}
	}
	return r.checkNodes(ctx, st, made)
}

// padHash keeps a map lookup safe for a hash of the wrong length.
func padHash(h []byte) []byte {
	if len(h) == sha256.Size {
		return h
	}
	return make([]byte, sha256.Size)
}

// checkItems checks one leaf's item rows (ordered by position, then id)
// against its count n and their append order, and returns the rows the
// leaf is recomputed from: as stored, in position order.
func (r *Report) checkItems(ctx context.Context, opts VerifyOptions, leaf uint64, n int, rows []store.AuditItem) ([]store.AuditItem, error) {
	next := 0
	for k, it := range rows {
		switch {
		case it.Pos >= n || it.Pos < 0:
			r.add(Finding{Kind: FindItemInserted, Leaf: leaf, Pos: it.Pos, ItemID: it.ID, Detail: fmt.Sprintf("position beyond the leaf's %d items", n)})
		case k > 0 && rows[k-1].Pos == it.Pos:
			r.add(Finding{Kind: FindItemInserted, Leaf: leaf, Pos: it.Pos, ItemID: it.ID, Detail: "a second item at this position"})
		default:
			for ; next < it.Pos; next++ {
				r.add(Finding{Kind: FindItemDeleted, Leaf: leaf, Pos: next})
			}
			next = it.Pos + 1
		}
	}
	for ; next < n; next++ {
		r.add(Finding{Kind: FindItemDeleted, Leaf: leaf, Pos: next})
	}
	// The sequencer puts a leaf's items in id order: an item whose id is
	// not where that order puts it was moved.
	byID := slices.Clone(rows)
	slices.SortFunc(byID, func(a, b store.AuditItem) int { return compareInt64(a.ID, b.ID) })
	for k := range rows {
		if rows[k].ID != byID[k].ID {
			r.add(Finding{Kind: FindItemReordered, Leaf: leaf, Pos: rows[k].Pos, ItemID: rows[k].ID, Detail: "out of append order"})
		}
	}
	if opts.Source != nil {
		for _, it := range rows {
			h, found, err := opts.Source.ItemHash(ctx, Kind(it.Kind), it.Ref)
			switch {
			case err != nil:
				return nil, err
			case !found:
				r.add(Finding{Kind: FindItemSourceMissing, Leaf: leaf, Pos: it.Pos, ItemID: it.ID, Detail: it.Kind + " " + it.Ref})
			case !bytes.Equal(h[:], it.Hash):
				r.add(Finding{Kind: FindItemEdited, Leaf: leaf, Pos: it.Pos, ItemID: it.ID, Detail: it.Kind + " " + it.Ref + ": its stored bytes hash otherwise"})
			}
		}
	}
	return rows, nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkNodes checks the stored nodes the recomputation completed: each
// must exist and be the hash of its stored children, or proofs served
// from them are wrong.
func (r *Report) checkNodes(ctx context.Context, st NodeReader, made []compact.NodeID) error {
	if len(made) == 0 {
		return nil
	}
	ids := make([]store.AuditNodeID, 0, 3*len(made))
	for _, id := range made {
		ids = append(ids, store.AuditNodeID{Level: id.Level, Index: id.Index},
			store.AuditNodeID{Level: id.Level - 1, Index: 2 * id.Index},
			store.AuditNodeID{Level: id.Level - 1, Index: 2*id.Index + 1})
	}
	hs, err := st.AuditNodes(ctx, ids)
	if err != nil {
		return err
	}
	for k, id := range made {
		h, left, right := hs[3*k], hs[3*k+1], hs[3*k+2]
		if len(h) != sha256.Size || len(left) != sha256.Size || len(right) != sha256.Size ||
			!bytes.Equal(h, hasher.HashChildren(left, right)) {
			r.add(Finding{Kind: FindNodeMismatch, Leaf: id.Index, Level: id.Level, Pos: -1, Detail: "missing, or not the hash of its children"})
		}
	}
	return nil
}
