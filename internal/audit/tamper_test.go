package audit_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// want is a finding a tamper case must produce: its kind, leaf and item
// position (-1: not about one item).
type want struct {
	kind audit.FindingKind
	leaf uint64
	pos  int
}

// sqlStep is one statement run straight on the database, bypassing the
// store, in each engine's dialect.
type sqlStep struct{ sqlite, pg string }

func same(q string) sqlStep { return sqlStep{q, q} }

var forged = strings.Repeat("ab", 32) // a 32-byte hash, as hex

// TestAttackAuditRowTamper: on both engines, a log of 6 leaves of 4 items
// each, an auditor's checkpoint saved at size 4, then rows edited,
// deleted, inserted, reordered and truncated directly with SQL; Verify
// names each with its index. Without the checks in verify.go every case
// but the clean one fails.
func TestAttackAuditRowTamper(t *testing.T) {
	hexBlob := sqlStep{"X'" + forged + "'", "'\\x" + forged + "'::bytea"}
	cases := []struct {
		name   string
		steps  []sqlStep
		want   []want
		source bool // verify with the items' Source
	}{
		{name: "clean"},
		{name: "edit item hash",
			steps: []sqlStep{{`UPDATE audit_items SET hash=` + hexBlob.sqlite + ` WHERE leaf=2 AND pos=1`, `UPDATE audit_items SET hash=` + hexBlob.pg + ` WHERE leaf=2 AND pos=1`}},
			want:  []want{{audit.FindLeafMismatch, 2, -1}, {audit.FindRootMismatch, 6, -1}}},
		{name: "edit item hash named by source", source: true,
			steps: []sqlStep{{`UPDATE audit_items SET hash=` + hexBlob.sqlite + ` WHERE leaf=2 AND pos=1`, `UPDATE audit_items SET hash=` + hexBlob.pg + ` WHERE leaf=2 AND pos=1`}},
			want:  []want{{audit.FindItemEdited, 2, 1}, {audit.FindLeafMismatch, 2, -1}}},
		{name: "edit item ref",
			steps: []sqlStep{same(`UPDATE audit_items SET ref='ref-999' WHERE leaf=5 AND pos=0`)},
			want:  []want{{audit.FindLeafMismatch, 5, -1}}},
		{name: "edit saved-range item", // below the saved checkpoint: both roots differ
			steps: []sqlStep{same(`UPDATE audit_items SET kind='event' WHERE leaf=0 AND pos=0`)},
			want:  []want{{audit.FindLeafMismatch, 0, -1}, {audit.FindRootMismatch, 4, -1}, {audit.FindRootMismatch, 6, -1}}},
		{name: "delete item",
			steps: []sqlStep{same(`DELETE FROM audit_items WHERE leaf=1 AND pos=2`)},
			want:  []want{{audit.FindItemDeleted, 1, 2}, {audit.FindLeafMismatch, 1, -1}}},
		{name: "delete last item of a leaf",
			steps: []sqlStep{same(`DELETE FROM audit_items WHERE leaf=3 AND pos=3`)},
			want:  []want{{audit.FindItemDeleted, 3, 3}}},
		{name: "unsequence item", // set back to pending: gone from its leaf
			steps: []sqlStep{same(`UPDATE audit_items SET leaf=NULL, pos=NULL WHERE leaf=4 AND pos=0`)},
			want:  []want{{audit.FindItemDeleted, 4, 0}}},
		{name: "insert item into a leaf",
			steps: []sqlStep{{`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created_us) VALUES('event','forged',` + hexBlob.sqlite + `,3,4,0)`,
				`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created) VALUES('event','forged',` + hexBlob.pg + `,3,4,now())`}},
			want: []want{{audit.FindItemInserted, 3, 4}}},
		{name: "insert item beyond the log",
			steps: []sqlStep{{`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created_us) VALUES('event','forged',` + hexBlob.sqlite + `,9,0,0)`,
				`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created) VALUES('event','forged',` + hexBlob.pg + `,9,0,now())`}},
			want: []want{{audit.FindItemInserted, 9, 0}}},
		{name: "insert leaf beyond the log",
			steps: []sqlStep{{`INSERT INTO audit_leaves(idx,items,sequenced_us) VALUES(6,1,0)`, `INSERT INTO audit_leaves(idx,items,sequenced) VALUES(6,1,now())`}},
			want:  []want{{audit.FindLeafInserted, 6, -1}}},
		{name: "reorder items within a leaf",
			steps: []sqlStep{
				same(`UPDATE audit_items SET pos=-1 WHERE leaf=3 AND pos=0`),
				same(`UPDATE audit_items SET pos=0 WHERE leaf=3 AND pos=2`),
				same(`UPDATE audit_items SET pos=2 WHERE leaf=3 AND pos=-1`)},
			want: []want{{audit.FindItemReordered, 3, 0}, {audit.FindItemReordered, 3, 2}, {audit.FindLeafMismatch, 3, -1}}},
		{name: "reorder leaves",
			steps: []sqlStep{
				same(`UPDATE audit_items SET leaf=100 WHERE leaf=1`),
				same(`UPDATE audit_items SET leaf=1 WHERE leaf=4`),
				same(`UPDATE audit_items SET leaf=4 WHERE leaf=100`)},
			want: []want{{audit.FindLeafReordered, 1, -1}, {audit.FindLeafReordered, 4, -1}}},
		{name: "delete leaf row",
			steps: []sqlStep{same(`DELETE FROM audit_leaves WHERE idx=2`)},
			want:  []want{{audit.FindLeafDeleted, 2, -1}}},
		{name: "edit leaf count",
			steps: []sqlStep{same(`UPDATE audit_leaves SET items=5 WHERE idx=0`)},
			want:  []want{{audit.FindItemDeleted, 0, 4}}},
		{name: "edit stored node",
			steps: []sqlStep{{`UPDATE audit_nodes SET hash=` + hexBlob.sqlite + ` WHERE level=1 AND idx=2`, `UPDATE audit_nodes SET hash=` + hexBlob.pg + ` WHERE level=1 AND idx=2`}},
			want:  []want{{audit.FindNodeMismatch, 2, -1}}},
		{name: "truncate the log",
			steps: []sqlStep{
				same(`DELETE FROM audit_items WHERE leaf >= 3`),
				same(`DELETE FROM audit_leaves WHERE idx >= 3`),
				same(`DELETE FROM audit_nodes WHERE (level=0 AND idx >= 3) OR (level=1 AND idx >= 1) OR level >= 2`),
				same(`DELETE FROM audit_checkpoints WHERE size > 3`)},
			want: []want{{audit.FindTruncated, 3, -1}}},
		{name: "truncate leaves only",
			steps: []sqlStep{same(`DELETE FROM audit_items WHERE leaf >= 5`), same(`DELETE FROM audit_leaves WHERE idx >= 5`)},
			want:  []want{{audit.FindLeafDeleted, 5, -1}, {audit.FindLeafMismatch, 5, -1}}},
		{name: "forge the latest checkpoint",
			steps: []sqlStep{{`UPDATE audit_checkpoints SET root=` + hexBlob.sqlite + ` WHERE size=6`, `UPDATE audit_checkpoints SET root=` + hexBlob.pg + ` WHERE size=6`}},
			want:  []want{{audit.FindCheckpoint, 6, -1}}},
		{name: "forge the latest checkpoint's note",
			steps: []sqlStep{{`UPDATE audit_checkpoints SET note=` + hexBlob.sqlite + ` WHERE size=6`, `UPDATE audit_checkpoints SET note=` + hexBlob.pg + ` WHERE size=6`}},
			want:  []want{{audit.FindCheckpoint, 6, -1}}},
		{name: "edit the source row", source: true,
			steps: nil, // the frame's stored bytes change; the log's rows do not
			want:  []want{{audit.FindItemEdited, 2, 3}}},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := newTestLog(t, e)
				items := l.batches(t, 4, 4)
				saved := l.checkpointAt(t, 4)
				items = append(items, l.batches(t, 2, 4)...)
				for _, s := range c.steps {
					storetest.Exec(t, l.cfg, s.sqlite, s.pg)
				}
				if c.name == "edit the source row" {
					it := items[2*4+3]
					l.src[it.Kind+"/"+audit.Kind(it.Ref)] = sha256.Sum256([]byte("edited payload"))
				}
				opts := audit.VerifyOptions{}
				if c.source {
					opts.Source = l.src
				}
				r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, opts)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]want, len(r.Findings))
				for i, f := range r.Findings {
					got[i] = want{f.Kind, f.Leaf, f.Pos}
				}
				if len(c.want) == 0 && !r.OK() {
					t.Fatalf("findings on a clean log:\n%s", list(r))
				}
				for _, w := range c.want {
					if !slices.Contains(got, w) {
						t.Errorf("missing %s at leaf %d pos %d; findings:\n%s", w.kind, w.leaf, w.pos, list(r))
					}
				}
				if len(c.want) > 0 && r.OK() {
					t.Fatal("the tampered log verifies")
				}
			})
		}
	})
}

func list(r *audit.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

// growingStore is a VerifyStore whose log grows by one sequenced leaf
// right after Verify first reads the latest checkpoint: a live gateway's
// sequencer going on while an auditor verifies.
type growingStore struct {
	audit.VerifyStore
	grow  func()
	grown bool
}

func (g *growingStore) LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error) {
	c, err := g.VerifyStore.LatestAuditCheckpoint(ctx)
	if !g.grown {
		g.grown = true
		g.grow()
	}
	return c, err
}

// TestVerifyWhileTheLogGrows: leaves sequenced (with their signed
// checkpoint) while Verify reads are not reported as inserted rows; a leaf
// row inserted beyond every signed checkpoint still is.
func TestVerifyWhileTheLogGrows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		l.batches(t, 4, 2)
		saved := l.checkpointAt(t, 2)
		v, err := note.NewVerifier(l.key.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		g := &growingStore{VerifyStore: l.st, grow: func() { l.batches(t, 1, 3) }}
		r, err := audit.Verify(ctx, g, v, saved, audit.VerifyOptions{Source: l.src})
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() || r.Current.Size != 4 {
			t.Fatalf("verify while a step committed: size %d, findings %+v", r.Current.Size, r.Findings)
		}
		// The log now has 5 signed leaves; a leaf row beyond them is found.
		storetest.Exec(t, l.cfg, `INSERT INTO audit_leaves(idx,items,sequenced_us) VALUES(5,1,0)`,
			`INSERT INTO audit_leaves(idx,items,sequenced) VALUES(5,1,now())`)
		r, err = audit.Verify(ctx, l.st, v, saved, audit.VerifyOptions{Source: l.src})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Fatalf("a leaf row beyond every checkpoint was not reported: %+v", r.Findings)
		}
	})
}

// pageCounter is a VerifyStore that records the largest page it was
// asked for and returned.
type pageCounter struct {
	audit.VerifyStore
	maxItems, maxLeaves int
	itemCalls           int
}

func (p *pageCounter) AuditItems(ctx context.Context, from, to uint64, after *store.AuditItemKey, limit int) ([]store.AuditItem, error) {
	out, err := p.VerifyStore.AuditItems(ctx, from, to, after, limit)
	p.maxItems, p.itemCalls = max(p.maxItems, limit, len(out)), p.itemCalls+1
	return out, err
}

func (p *pageCounter) AuditLeaves(ctx context.Context, from, to uint64, limit int) ([]store.AuditLeaf, error) {
	out, err := p.VerifyStore.AuditLeaves(ctx, from, to, limit)
	p.maxLeaves = max(p.maxLeaves, limit, len(out))
	return out, err
}

// TestVerifyAcrossPages: on both engines, Verify reading 2 leaves and 3
// items at a time (leaves of 1 to 7 items straddle the item pages) never
// asks for or gets more than a page, reads every item once, and finds
// exactly what it finds reading everything at once, clean or tampered.
func TestVerifyAcrossPages(t *testing.T) {
	cases := []struct {
		name  string
		steps []sqlStep
	}{
		{name: "clean"},
		{name: "edit an item straddling pages", steps: []sqlStep{same(`UPDATE audit_items SET ref='forged' WHERE leaf=3 AND pos=4`)}},
		{name: "delete the first item of a page", steps: []sqlStep{same(`DELETE FROM audit_items WHERE leaf=1 AND pos=2`)}},
		{name: "delete a leaf row", steps: []sqlStep{same(`DELETE FROM audit_leaves WHERE idx=2`)}},
		{name: "insert rows beyond", steps: []sqlStep{
			{`INSERT INTO audit_leaves(idx,items,sequenced_us) VALUES(9,1,0)`, `INSERT INTO audit_leaves(idx,items,sequenced) VALUES(9,1,now())`},
			{`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created_us) VALUES('event','f1',X'` + forged + `',7,0,0),('event','f2',X'` + forged + `',7,1,0),('event','f3',X'` + forged + `',7,2,0),('event','f4',X'` + forged + `',8,0,0)`,
				`INSERT INTO audit_items(kind,ref,hash,leaf,pos,created) VALUES('event','f1','\x` + forged + `'::bytea,7,0,now()),('event','f2','\x` + forged + `'::bytea,7,1,now()),('event','f3','\x` + forged + `'::bytea,7,2,now()),('event','f4','\x` + forged + `'::bytea,8,0,now())`}}},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := newTestLog(t, e)
				total := 0
				for _, per := range []int{1, 5, 2, 7, 3} {
					l.batches(t, 1, per)
					total += per
				}
				saved := l.checkpointAt(t, 2)
				for _, s := range c.steps {
					storetest.Exec(t, l.cfg, s.sqlite, s.pg)
				}
				whole, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{Source: l.src})
				if err != nil {
					t.Fatal(err)
				}
				pc := &pageCounter{VerifyStore: l.st}
				paged, err := audit.Verify(ctx, pc, l.key.Verifier(), saved, audit.WithPages(audit.VerifyOptions{Source: l.src}, 2, 3))
				if err != nil {
					t.Fatal(err)
				}
				if pc.maxItems > 3 || pc.maxLeaves > 2 || pc.itemCalls < total/3 {
					t.Fatalf("pages: up to %d items, %d leaves, %d item reads", pc.maxItems, pc.maxLeaves, pc.itemCalls)
				}
				if c.name == "clean" && (!paged.OK() || paged.Items != total || paged.Leaves != 5) {
					t.Fatalf("clean log, paged: %d items, %d leaves:\n%s", paged.Items, paged.Leaves, list(paged))
				}
				if c.name != "clean" && paged.OK() {
					t.Fatal("the tampered log verifies, paged")
				}
				if list(paged) != list(whole) || paged.Items != whole.Items || paged.Leaves != whole.Leaves {
					t.Fatalf("paged:\n%s(%d items)\nwhole:\n%s(%d items)", list(paged), paged.Items, list(whole), whole.Items)
				}
			})
		}
	})
}
