package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// fakeStep is a sequencer step without tree math: one leaf over every
// pending item it is given, a "node" per leaf, and a checkpoint whose root
// is the count of items so far. The store must not care what the hashes
// mean.
func fakeStep(seen *[]store.AuditItem, at time.Time) store.AuditStep {
	return func(tree store.AuditTree, pending []store.AuditItem) (store.AuditAppend, error) {
		*seen = append(*seen, pending...)
		h := sha256.Sum256(fmt.Appendf(nil, "leaf %d", tree.Size))
		return store.AuditAppend{
			Leaves:     []store.AuditLeaf{{Index: tree.Size, Items: len(pending), SequencedAt: at}},
			Nodes:      []store.AuditNode{{AuditNodeID: store.AuditNodeID{Level: 0, Index: tree.Size}, Hash: h[:]}},
			Checkpoint: store.AuditCheckpoint{Size: tree.Size + 1, Root: h[:], Note: fmt.Appendf(nil, "note %d", tree.Size+1), CreatedAt: at},
		}, nil
	}
}

func auditItems(prefix string, n int) []store.AuditItem {
	out := make([]store.AuditItem, n)
	for i := range out {
		h := sha256.Sum256(fmt.Appendf(nil, "%s %d", prefix, i))
		out[i] = store.AuditItem{Kind: "event", Ref: fmt.Sprintf("%s-%d", prefix, i), Hash: h[:]}
	}
	return out
}

// TestAuditConformance: the audit log's rows (migration 0013) on both
// engines: pending items, sequencer steps that commit all or nothing and
// never leave a gap, reads, and the log key.
func TestAuditConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
		var seen []store.AuditItem

		// Nothing pending: the step is not called, nothing is written.
		called := false
		if r, err := st.SequenceAudit(ctx, 10, func(store.AuditTree, []store.AuditItem) (store.AuditAppend, error) {
			called = true
			return store.AuditAppend{}, nil
		}); err != nil || called || r.Leaves != 0 {
			t.Fatalf("empty step: %+v, called %v, %v", r, called, err)
		}
		if _, err := st.LatestAuditCheckpoint(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("checkpoint of an empty log: %v", err)
		}
		if err := st.AppendAuditItems(ctx, []store.AuditItem{{Kind: "event", Ref: "x"}}); err == nil {
			t.Fatal("an item without a hash was stored")
		}

		// Pending in append order; a step takes at most limit, oldest first.
		if err := st.AppendAuditItems(ctx, auditItems("a", 5)); err != nil {
			t.Fatal(err)
		}
		if n, err := st.PendingAuditItems(ctx); err != nil || n != 5 {
			t.Fatalf("pending: %d, %v", n, err)
		}
		r, err := st.SequenceAudit(ctx, 3, fakeStep(&seen, at))
		if err != nil || r.Leaves != 1 || r.Items != 3 || r.Checkpoint.Size != 1 {
			t.Fatalf("step 1: %+v, %v", r, err)
		}
		for i, it := range seen {
			if it.Ref != fmt.Sprintf("a-%d", i) || it.Sequenced {
				t.Fatalf("pending item %d: %+v", i, it)
			}
		}
		r, err = st.SequenceAudit(ctx, 100, fakeStep(&seen, at))
		if err != nil || r.Items != 2 || r.Checkpoint.Size != 2 {
			t.Fatalf("step 2: %+v, %v", r, err)
		}
		// The step sees the tree it continues and reads nodes in its transaction.
		if err := st.AppendAuditItems(ctx, auditItems("b", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SequenceAudit(ctx, 10, func(tree store.AuditTree, p []store.AuditItem) (store.AuditAppend, error) {
			ns, err := tree.Nodes([]store.AuditNodeID{{Level: 0, Index: 1}, {Level: 3, Index: 0}})
			if err != nil {
				return store.AuditAppend{}, err
			}
			want := sha256.Sum256([]byte("leaf 1"))
			if tree.Size != 2 || !bytes.Equal(tree.Root, want[:]) || !bytes.Equal(ns[0], want[:]) || ns[1] != nil {
				return store.AuditAppend{}, fmt.Errorf("tree %d root %x, nodes %x", tree.Size, tree.Root, ns)
			}
			return fakeStep(&seen, at)(tree, p)
		}); err != nil {
			t.Fatal(err)
		}

		// Reads.
		items, err := st.AuditItems(ctx, 0, 3, nil, store.MaxAuditItemsPage)
		if err != nil || len(items) != 6 {
			t.Fatalf("AuditItems: %d, %v", len(items), err)
		}
		// Pages of any size give the same items, in the same order, each
		// starting after the last one's key, within the range asked.
		for _, per := range []int{1, 2, 4, 5} {
			var got []store.AuditItem
			var after *store.AuditItemKey
			for {
				page, err := st.AuditItems(ctx, 0, 3, after, per)
				if err != nil || len(page) > per {
					t.Fatalf("AuditItems page of %d: %d, %v", per, len(page), err)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = page[len(page)-1].Key()
			}
			if len(got) != len(items) {
				t.Fatalf("pages of %d: %d items, want %d", per, len(got), len(items))
			}
			for i := range got {
				if got[i].ID != items[i].ID {
					t.Fatalf("pages of %d: item %d is %d, want %d", per, i, got[i].ID, items[i].ID)
				}
			}
		}
		if page, err := st.AuditItems(ctx, 1, 2, nil, 10); err != nil || len(page) != 2 || page[0].Leaf != 1 || page[1].Leaf != 1 {
			t.Fatalf("AuditItems of leaf 1: %+v, %v", page, err)
		}
		if page, err := st.AuditItems(ctx, 1, 3, items[4].Key(), 10); err != nil || len(page) != 1 || page[0].ID != items[5].ID {
			t.Fatalf("AuditItems after item 4: %+v, %v", page, err)
		}
		for _, bad := range []int{0, -1, store.MaxAuditItemsPage + 1} {
			if _, err := st.AuditItems(ctx, 0, 3, nil, bad); err == nil {
				t.Fatalf("AuditItems with a page of %d: no error", bad)
			}
		}
		for i, it := range items {
			leaf, pos := uint64(0), i
			if i >= 3 {
				leaf, pos = 1, i-3
			}
			if i == 5 {
				leaf, pos = 2, 0
			}
			if !it.Sequenced || it.Leaf != leaf || it.Pos != pos || len(it.Hash) != 32 {
				t.Fatalf("item %d: %+v", i, it)
			}
		}
		if got, err := st.FindAuditItems(ctx, "event", "a-4"); err != nil || len(got) != 1 || got[0].Leaf != 1 || got[0].Pos != 1 {
			t.Fatalf("FindAuditItems: %+v, %v", got, err)
		}
		if got, err := st.FindAuditItems(ctx, "frame", "a-4"); err != nil || len(got) != 0 {
			t.Fatalf("FindAuditItems of another kind: %+v, %v", got, err)
		}
		leaves, err := st.AuditLeaves(ctx, 1, 10, 10)
		if err != nil || len(leaves) != 2 || leaves[0].Index != 1 || leaves[0].Items != 2 || !leaves[0].SequencedAt.Equal(at) {
			t.Fatalf("AuditLeaves: %+v, %v", leaves, err)
		}
		if l, err := st.AuditLeaves(ctx, 0, 10, 2); err != nil || len(l) != 2 || l[1].Index != 1 {
			t.Fatalf("AuditLeaves limited to 2: %+v, %v", l, err)
		}
		for _, bad := range []int{0, store.MaxAuditItemsPage + 1} {
			if _, err := st.AuditLeaves(ctx, 0, 10, bad); err == nil {
				t.Fatalf("AuditLeaves with a page of %d: no error", bad)
			}
		}
		if c, err := st.LatestAuditCheckpoint(ctx); err != nil || c.Size != 3 || string(c.Note) != "note 3" || !c.CreatedAt.Equal(at) {
			t.Fatalf("latest checkpoint: %+v, %v", c, err)
		}
		if c, err := st.AuditCheckpointAt(ctx, 1); err != nil || string(c.Note) != "note 1" {
			t.Fatalf("checkpoint 1: %+v, %v", c, err)
		}
		if _, err := st.AuditCheckpointAt(ctx, 9); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("checkpoint 9: %v", err)
		}

		// A step that breaks the contract writes nothing: a gap, an item
		// count beyond what is pending, a wrong checkpoint size, a failure.
		if err := st.AppendAuditItems(ctx, auditItems("c", 2)); err != nil {
			t.Fatal(err)
		}
		bad := map[string]func(store.AuditAppend) store.AuditAppend{
			"gap":             func(a store.AuditAppend) store.AuditAppend { a.Leaves[0].Index++; return a },
			"too many items":  func(a store.AuditAppend) store.AuditAppend { a.Leaves[0].Items = 3; return a },
			"checkpoint size": func(a store.AuditAppend) store.AuditAppend { a.Checkpoint.Size++; return a },
			"duplicate node": func(a store.AuditAppend) store.AuditAppend {
				a.Nodes = append(a.Nodes, store.AuditNode{AuditNodeID: store.AuditNodeID{Level: 0, Index: 1}, Hash: a.Nodes[0].Hash})
				return a
			},
		}
		for name, mutate := range bad {
			var ignored []store.AuditItem
			_, err := st.SequenceAudit(ctx, 10, func(tree store.AuditTree, p []store.AuditItem) (store.AuditAppend, error) {
				a, err := fakeStep(&ignored, at)(tree, p)
				return mutate(a), err
			})
			if err == nil {
				t.Fatalf("%s: the step was stored", name)
			}
			if n, _ := st.PendingAuditItems(ctx); n != 2 {
				t.Fatalf("%s: %d pending after a refused step", name, n)
			}
			if c, _ := st.LatestAuditCheckpoint(ctx); c.Size != 3 {
				t.Fatalf("%s: checkpoint %d after a refused step", name, c.Size)
			}
			if l, _ := st.AuditLeaves(ctx, 3, 100, 10); len(l) != 0 {
				t.Fatalf("%s: leaves %+v after a refused step", name, l)
			}
		}
		// Another handle (replica) continues the same tree.
		if r, err := storetest.OpenConfig(t, cfg).SequenceAudit(ctx, 10, fakeStep(&seen, at)); err != nil || r.Checkpoint.Size != 4 || r.Items != 2 {
			t.Fatalf("from another handle: %+v, %v", r, err)
		}

		// Leaves that do not end at the latest checkpoint: the sequencer is
		// refused (it would fork the log).
		storetest.Exec(t, cfg, `DELETE FROM audit_leaves WHERE idx=3`, `DELETE FROM audit_leaves WHERE idx=3`)
		if err := st.AppendAuditItems(ctx, auditItems("d", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SequenceAudit(ctx, 10, fakeStep(&seen, at)); !errors.Is(err, store.ErrAuditInconsistent) {
			t.Fatalf("sequencing over a truncated log: %v, want ErrAuditInconsistent", err)
		}

		// The log key: stored sealed, once.
		if _, err := st.GetAuditLogKey(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("key before one was made: %v", err)
		}
		if err := st.AddAuditLogKey(ctx, store.AuditLogKey{Origin: "o", Verifier: "o+1+AA"}); !errors.Is(err, store.ErrClearSecret) {
			t.Fatalf("an unsealed key: %v", err)
		}
		k := store.AuditLogKey{Origin: "o", Verifier: "o+1+AA", Sealed: []byte("sealed"), CreatedAt: at}
		if err := st.AddAuditLogKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		k2 := k
		k2.Sealed = []byte("another")
		if err := st.AddAuditLogKey(ctx, k2); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second key: %v", err)
		}
		if got, err := st.GetAuditLogKey(ctx); err != nil || string(got.Sealed) != "sealed" || got.Origin != "o" || got.Verifier != k.Verifier || !got.CreatedAt.Equal(at) {
			t.Fatalf("GetAuditLogKey: %+v, %v", got, err)
		}

		// Migration 0013 runs again and keeps the rows.
		st.Close()
		storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 13`, `DELETE FROM schema_migrations WHERE version >= 13`)
		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() || v < 13 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if got, err := st.GetAuditLogKey(ctx); err != nil || string(got.Sealed) != "sealed" {
			t.Fatalf("after the migration ran again: %+v, %v", got, err)
		}
	})
}
