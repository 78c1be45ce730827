package audit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// checkLog holds a log to what the sequencer promises: leaves 0..size-1
// with no gap, every appended item sequenced once, a checkpoint at every
// size, each consistent with the latest (upstream verifier), and Verify
// clean from the first.
func checkLog(t *testing.T, l *testLog, appended int) {
	t.Helper()
	latest, err := l.st.LatestAuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := l.st.AuditLeaves(ctx, 0, latest.Size+10, store.MaxAuditItemsPage)
	if err != nil || uint64(len(leaves)) != latest.Size {
		t.Fatalf("%d leaf rows for size %d: %v", len(leaves), latest.Size, err)
	}
	total := 0
	for i, lf := range leaves {
		if lf.Index != uint64(i) {
			t.Fatalf("gap: leaf %d at position %d", lf.Index, i)
		}
		total += lf.Items
	}
	items, err := l.st.AuditItems(ctx, 0, latest.Size, nil, store.MaxAuditItemsPage)
	if err != nil || len(items) != appended || total != appended {
		t.Fatalf("%d items sequenced, leaves count %d, %d appended: %v", len(items), total, appended, err)
	}
	if n, _ := l.st.PendingAuditItems(ctx); n != 0 {
		t.Fatalf("%d items still pending", n)
	}
	refs := map[string]bool{}
	for _, it := range items {
		if refs[it.Ref] {
			t.Fatalf("item %s sequenced twice", it.Ref)
		}
		refs[it.Ref] = true
	}
	cur, err := audit.OpenCheckpoint(latest.Note, l.key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	for size := uint64(1); size < latest.Size; size++ {
		c, err := l.st.AuditCheckpointAt(ctx, size)
		if err != nil {
			t.Fatalf("no checkpoint at %d: %v", size, err)
		}
		cp, err := audit.OpenCheckpoint(c.Note, l.key.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		p, err := audit.ConsistencyProof(ctx, l.st, size, latest.Size)
		if err == nil {
			err = proof.VerifyConsistency(rfc6962Hasher, size, latest.Size, p, cp.Hash, cur.Hash)
		}
		if err != nil {
			t.Fatalf("checkpoint %d is not consistent with %d (a fork): %v", size, latest.Size, err)
		}
	}
	r, err := audit.Verify(ctx, l.st, l.key.Verifier(), l.checkpointAt(t, 1), audit.VerifyOptions{Source: l.src})
	if err != nil || !r.OK() {
		t.Fatalf("Verify: %v\n%s", err, list(r))
	}
}

// TestAttackSequencerRaceNoFork: two gateways on one PostgreSQL database
// append and sequence at the same time; the lease lets one step through at
// a time, and the log has no gap, no item twice and no fork.
func TestAttackSequencerRaceNoFork(t *testing.T) {
	e := storetest.Engines()[1]
	a := newTestLog(t, e)
	b := *a // the second gateway: same database, its own pool and sequencer
	b.open(t)
	if a.key.VerifierKey() != b.key.VerifierKey() {
		t.Fatal("the gateways sign with different keys")
	}
	const rounds, per = 40, 7
	var mu sync.Mutex // the test's item counter and Source, not the log
	var wg sync.WaitGroup
	var held [2]int
	for g, l := range []*testLog{a, &b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				mu.Lock()
				batch := make([]audit.Item, per)
				for i := range batch {
					batch[i] = a.item()
				}
				mu.Unlock()
				if err := l.seq.Append(ctx, batch...); err != nil {
					t.Error(err)
					return
				}
				if _, err := l.seq.Step(ctx); errors.Is(err, store.ErrLeaseHeld) {
					held[g]++
				} else if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if _, _, err := a.seq.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("steps refused for a held lease: %v", held)
	checkLog(t, a, 2*rounds*per)
}

// TestAttackSequencerDiesMidStep: gateway A dies inside a step, holding
// the lease; while it holds it B's steps are refused (ErrLeaseHeld); once
// A's transaction is gone B takes over with no gap, and A's half-done step
// left nothing behind.
func TestAttackSequencerDiesMidStep(t *testing.T) {
	e := storetest.Engines()[1]
	a := newTestLog(t, e)
	b := *a
	b.open(t)
	a.batches(t, 3, 2)
	if err := a.seq.Append(ctx, a.item(), a.item()); err != nil {
		t.Fatal(err)
	}
	actx, die := context.WithCancel(ctx)
	defer die() // a failed check below must not leave A's step blocked
	inStep := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.st.SequenceAudit(actx, audit.MaxLeafItems, func(tree store.AuditTree, p []store.AuditItem) (store.AuditAppend, error) {
			close(inStep)
			<-actx.Done() // A stops here, mid-transaction, and dies
			return store.AuditAppend{}, actx.Err()
		})
		done <- err
	}()
	<-inStep
	if _, err := b.seq.Step(ctx); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("B stepped while A held the lease: %v", err)
	}
	die()
	if err := <-done; err == nil {
		t.Fatal("A's dead step committed")
	}
	var r store.AuditSequenced
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r, err = b.seq.Step(ctx); !errors.Is(err, store.ErrLeaseHeld) {
			break
		}
	}
	if err != nil || r.Checkpoint.Size != 4 || r.Items != 2 {
		t.Fatalf("B's takeover: %+v, %v", r, err)
	}
	checkLog(t, a, 8)
}

// TestSequencerAbortedStepLeavesVerifyingLog: on both engines, a step
// whose transaction fails after it wrote its leaf and items (a node row
// conflicts) leaves the log as it was: the items pending, Verify clean,
// and the next step sequences them.
func TestSequencerAbortedStepLeavesVerifyingLog(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		l.batches(t, 2, 3)
		if err := l.seq.Append(ctx, l.item(), l.item(), l.item()); err != nil {
			t.Fatal(err)
		}
		step := l.seq.StepFunc()
		_, err := l.st.SequenceAudit(ctx, audit.MaxLeafItems, func(tree store.AuditTree, p []store.AuditItem) (store.AuditAppend, error) {
			a, err := step(tree, p)
			// A node that already exists: the store fails after the leaf
			// row and the items' update, inside the same transaction.
			a.Nodes = append(a.Nodes, store.AuditNode{AuditNodeID: store.AuditNodeID{Level: 0, Index: 0}, Hash: a.Nodes[0].Hash})
			return a, err
		})
		if err == nil {
			t.Fatal("the conflicting step committed")
		}
		if n, _ := l.st.PendingAuditItems(ctx); n != 3 {
			t.Fatalf("%d pending after the aborted step, want 3", n)
		}
		r, err := audit.Verify(ctx, l.st, l.key.Verifier(), l.checkpointAt(t, 1), audit.VerifyOptions{Source: l.src})
		if err != nil || !r.OK() || r.Current.Size != 2 {
			t.Fatalf("after the aborted step: %v\n%s", err, list(r))
		}
		if n, items, err := l.seq.Drain(ctx); err != nil || n != 1 || items != 3 {
			t.Fatalf("Drain: %d, %d, %v", n, items, err)
		}
		checkLog(t, l, 9)
	})
}

// TestSequencerRunCheckpointsPromptly: Run, the loop a gateway will
// start, covers appended items with a signed checkpoint soon after they
// arrive (the issue asks for at most a second; the margin here is wide,
// for a loaded CI machine), and stops with its context.
func TestSequencerRunCheckpointsPromptly(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[0])
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.seq.Run(runCtx) }()
	for round := 1; round <= 3; round++ {
		if err := l.seq.Append(ctx, l.item(), l.item()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := l.st.LatestAuditCheckpoint(ctx)
			if err == nil && c.Size >= uint64(round) {
				if n, _ := l.st.PendingAuditItems(ctx); n == 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no checkpoint covers the items after 10 s (latest %+v, %v)", round, c, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	checkLog(t, l, 6)
}

// TestLeafOrderIsNotIDOrder: on PostgreSQL an item's BIGSERIAL id is taken
// when its transaction starts writing, not when it commits. An item whose
// transaction commits late, after a larger id was sequenced, goes into a
// later leaf: leaf order is the sequencer's, and the log still verifies.
func TestLeafOrderIsNotIDOrder(t *testing.T) {
	l := newTestLog(t, storetest.Engines()[1])
	late := l.item()
	conn, err := pgx.Connect(ctx, l.cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lateID int64
	if err := tx.QueryRow(ctx, `INSERT INTO audit_items(kind,ref,hash,created) VALUES($1,$2,$3,now()) RETURNING id`,
		string(late.Kind), late.Ref, late.Hash[:]).Scan(&lateID); err != nil {
		t.Fatal(err)
	}
	early := l.item()
	if err := l.seq.Append(ctx, early); err != nil {
		t.Fatal(err)
	}
	if r, err := l.seq.Step(ctx); err != nil || r.Items != 1 {
		t.Fatalf("step before the late commit: %+v, %v", r, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := l.seq.Step(ctx); err != nil || r.Items != 1 {
		t.Fatalf("step after the late commit: %+v, %v", r, err)
	}
	got, err := l.st.FindAuditItems(ctx, string(late.Kind), late.Ref)
	if err != nil || len(got) != 1 || got[0].ID != lateID || got[0].Leaf != 1 {
		t.Fatalf("the late item (id %d): %+v, %v", lateID, got, err)
	}
	if e, _ := l.st.FindAuditItems(ctx, string(early.Kind), early.Ref); len(e) != 1 || e[0].Leaf != 0 || e[0].ID <= lateID {
		t.Fatalf("the early item: %+v (late id %d)", e, lateID)
	}
	checkLog(t, l, 2)
}

// TestAttackSequencerRefusesTamperedTree: on both engines, a stored node
// of the tree's right border edited, or deleted, or a leaf row deleted:
// the sequencer refuses to append (it would sign a checkpoint that does
// not extend the last one) and leaves the items pending.
func TestAttackSequencerRefusesTamperedTree(t *testing.T) {
	hex := strings.Repeat("cd", 32)
	cases := map[string]sqlStep{
		"border node edited":  {`UPDATE audit_nodes SET hash=X'` + hex + `' WHERE level=1 AND idx=0`, `UPDATE audit_nodes SET hash='\x` + hex + `'::bytea WHERE level=1 AND idx=0`},
		"border node deleted": same(`DELETE FROM audit_nodes WHERE level=0 AND idx=2`),
		"last leaf deleted":   same(`DELETE FROM audit_leaves WHERE idx=2`),
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for name, step := range cases {
			t.Run(name, func(t *testing.T) {
				l := newTestLog(t, e)
				l.batches(t, 3, 2) // size 3: border nodes 1/0 and 0/2
				storetest.Exec(t, l.cfg, step.sqlite, step.pg)
				if err := l.seq.Append(ctx, l.item()); err != nil {
					t.Fatal(err)
				}
				if _, err := l.seq.Step(ctx); !errors.Is(err, store.ErrAuditInconsistent) {
					t.Fatalf("step over a tampered tree: %v, want ErrAuditInconsistent", err)
				}
				if c, _ := l.st.LatestAuditCheckpoint(ctx); c.Size != 3 {
					t.Fatalf("a checkpoint of size %d was signed", c.Size)
				}
				if n, _ := l.st.PendingAuditItems(ctx); n != 1 {
					t.Fatalf("%d pending", n)
				}
			})
		}
	})
}
