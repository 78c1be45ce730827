package audit_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// gatewayRows stores, through the store as the gateway does, a frame, an
// event and a command with its transitions, approval, issue, delivery and
// answer (items in this order: frame V/0/1, frame V/0/2, event ev-1,
// command c-1, c-1/1, c-1/2, then those below), sequences them as one leaf and returns the checkpoint saved then.
func gatewayRows(t *testing.T, l *testLog) []byte {
	t.Helper()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var recs []store.FrameRecord
	for seq := int64(1); seq <= 2; seq++ {
		raw := []byte(fmt.Sprintf(`{"seq":%d}`, seq))
		h := sha256.Sum256(raw)
		recs = append(recs, store.FrameRecord{VehicleID: "V", Seq: seq, Kind: "telemetry", TS: at, ReceivedAt: at,
			Alg: "Ed25519", KID: "k", Hash: h[:], Raw: raw, Sig: []byte("s"), Verdict: "accepted"})
	}
	if _, err := l.st.AppendFrames(ctx, recs, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.st.AppendEvents(ctx, []store.EventRow{{ID: "ev-1", Time: at, Class: "system", Verdict: "info", Code: "x",
		Subject: "s", Body: []byte(`{"id":"ev-1"}`)}}); err != nil {
		t.Fatal(err)
	}
	c := store.Command{ID: "c-1", Vehicle: "V", Carrier: "acme", RequestedBy: "urn:x", Type: "route_update", Payload: []byte(`{}`),
		RiskClass: "elevated", ApprovalsRequired: 1, State: store.CommandPendingApproval, ExpiresAt: at.Add(time.Hour), CreatedAt: at}
	if err := l.st.CreateCommand(ctx, c, "urn:x", "requested", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.st.TransitionCommand(ctx, store.CommandTransition{ID: "c-1", From: store.CommandPendingApproval,
		To: store.CommandApproved, At: at, Actor: "urn:ann", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	// An approval (item 6), the queueing's issue (cmd_seq, nonce: items 7
	// transition, 8 issue), delivery (9 transition, 10 delivery) and the
	// vehicle's answer (11 transition, 12 answer).
	if err := l.st.AddApproval(ctx, store.Approval{Command: "c-1", Approver: "urn:ann", At: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.st.QueueCommand(ctx, store.CommandTransition{ID: "c-1", From: store.CommandApproved, To: store.CommandQueued, At: at,
		Actor: "urn:gw", Reason: "queued"}, []byte("nonce"), at); err != nil {
		t.Fatal(err)
	}
	if _, err := l.st.TransitionCommand(ctx, store.CommandTransition{ID: "c-1", From: store.CommandQueued, To: store.CommandDelivered, At: at,
		Actor: "urn:gw", Reason: "delivered", DeliveredBy: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.st.TransitionCommand(ctx, store.CommandTransition{ID: "c-1", From: store.CommandDelivered, To: store.CommandAccepted, At: at,
		Actor: "urn:v", Reason: "ok", Verdict: "accepted", AnswerReason: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.seq.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := l.st.LatestAuditCheckpoint(ctx)
	if err != nil || cp.Size != 1 {
		t.Fatalf("checkpoint: %+v, %v", cp, err)
	}
	return cp.Note
}

// TestAttackRowTamperNamedBySource: on both engines, the rows the log
// covers (frames, events, commands, transitions, approvals, a command's
// cmd_seq, nonce, delivery and answer) edited or deleted directly
// in the database, the log's own tables untouched: Verify with the store's
// Source names each tampered row by its leaf and position; without the
// Source nothing is found (the items still match their leaves), which is
// what the Source is for.
func TestAttackRowTamperNamedBySource(t *testing.T) {
	cases := []struct {
		name string
		sql  sqlStep
		want audit.FindingKind
		pos  int
	}{
		{"frame raw edited", sqlStep{`UPDATE frames SET raw=X'7b7d' WHERE seq=2`, `UPDATE frames SET raw='\x7b7d'::bytea WHERE seq=2`}, audit.FindItemEdited, 1},
		{"frame deleted", same(`DELETE FROM frames WHERE seq=1`), audit.FindItemSourceMissing, 0},
		{"event body edited", sqlStep{`UPDATE events SET body=X'7b7d' WHERE id='ev-1'`, `UPDATE events SET body='\x7b7d'::bytea WHERE id='ev-1'`}, audit.FindItemEdited, 2},
		{"event deleted", same(`DELETE FROM events WHERE id='ev-1'`), audit.FindItemSourceMissing, 2},
		{"command payload edited", sqlStep{`UPDATE commands SET payload=X'7b7d7d' WHERE id='c-1'`, `UPDATE commands SET payload='\x7b7d7d'::bytea WHERE id='c-1'`}, audit.FindItemEdited, 3},
		{"transition actor edited", same(`UPDATE command_transitions SET actor='urn:mallory' WHERE command_id='c-1' AND n=2`), audit.FindItemEdited, 5},
		{"approval expiry extended", sqlStep{`UPDATE approvals SET expires_us=expires_us+86400000000 WHERE command_id='c-1'`,
			`UPDATE approvals SET expires_at=expires_at+interval '1 day' WHERE command_id='c-1'`}, audit.FindItemEdited, 6},
		{"approval approver swapped", same(`UPDATE approvals SET approver='urn:mallory' WHERE command_id='c-1'`), audit.FindItemSourceMissing, 6},
		{"approval deleted", same(`DELETE FROM approvals WHERE command_id='c-1'`), audit.FindItemSourceMissing, 6},
		{"approval history expiry extended", sqlStep{`UPDATE approval_history SET expires_us=expires_us+86400000000 WHERE command_id='c-1'`,
			`UPDATE approval_history SET expires_at=expires_at+interval '1 day' WHERE command_id='c-1'`}, audit.FindItemEdited, 6},
		{"approval history deleted", same(`DELETE FROM approval_history WHERE command_id='c-1'`), audit.FindItemSourceMissing, 6},
		{"command cmd_seq edited", same(`UPDATE commands SET cmd_seq=7 WHERE id='c-1'`), audit.FindItemEdited, 8},
		{"command nonce edited", sqlStep{`UPDATE commands SET nonce=X'00' WHERE id='c-1'`, `UPDATE commands SET nonce='\x00'::bytea WHERE id='c-1'`}, audit.FindItemEdited, 8},
		{"command delivered_by edited", same(`UPDATE commands SET delivered_by='r2' WHERE id='c-1'`), audit.FindItemEdited, 10},
		{"vehicle answer edited", same(`UPDATE commands SET verdict='rejected' WHERE id='c-1'`), audit.FindItemEdited, 12},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := newTestLog(t, e)
				saved := gatewayRows(t, l)
				src := audit.StoreSource{Rows: l.st}
				if r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{Source: src}); err != nil || !r.OK() {
					t.Fatalf("untampered: %+v, %v", r, err)
				}
				storetest.Exec(t, l.cfg, c.sql.sqlite, c.sql.pg)
				r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{Source: src})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range r.Findings {
					got = append(got, f.String())
				}
				if len(r.Findings) != 1 || r.Findings[0].Kind != c.want || r.Findings[0].Leaf != 0 || r.Findings[0].Pos != c.pos {
					t.Fatalf("findings:\n%s\nwant one %s at leaf 0 pos %d", strings.Join(got, "\n"), c.want, c.pos)
				}
				if r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{}); err != nil || !r.OK() {
					t.Fatalf("without a Source the rows are not read: %+v, %v", r, err)
				}
			})
		}
	})
}

// purgeFrames purges every frame gatewayRows stored (their time is before
// the cut-off) through the store, as the gateway's retention does.
func purgeFrames(t *testing.T, st store.Store) {
	t.Helper()
	cut := time.Date(2026, 12, 5, 12, 0, 1, 0, time.UTC)
	n, more, err := st.PurgeFramePayloads(ctx, cut, cut, 0)
	if err != nil || n != 2 || more {
		t.Fatalf("purge = %d, %v, %v; want the 2 frames", n, more, err)
	}
}

// TestPurgedFramesStillVerify: on both engines, after retention purged the
// frames' payloads, Verify with the store's Source finds nothing (a purge
// is no tamper: the kept hash is the item's), and the frames' item proofs
// saved before the purge, and read again after it, still prove the items
// built from the kept hash.
func TestPurgedFramesStillVerify(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		saved := gatewayRows(t, l)
		cp, err := audit.OpenCheckpoint(saved, l.key.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		before := map[int][]byte{}
		for pos := 0; pos < 2; pos++ {
			if before[pos], err = audit.ItemProof(ctx, l.st, 0, pos, cp, saved); err != nil {
				t.Fatal(err)
			}
		}
		purgeFrames(t, l.st)
		src := audit.StoreSource{Rows: l.st}
		r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{Source: src})
		if err != nil || !r.OK() {
			t.Fatalf("after a purge: %+v, %v", r, err)
		}
		for pos := 0; pos < 2; pos++ {
			f, err := l.st.GetFrame(ctx, "V", 0, int64(pos+1))
			if err != nil || !f.Purged() || len(f.Raw) != 0 {
				t.Fatalf("frame %d not purged: %+v, %v", pos+1, f, err)
			}
			it := audit.Item{Kind: audit.KindFrame, Ref: store.FrameAuditRef("V", 0, int64(pos+1))}
			copy(it.Hash[:], f.Hash)
			after, err := audit.ItemProof(ctx, l.st, 0, pos, cp, saved)
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string][]byte{"saved before the purge": before[pos], "read after it": after} {
				if _, leaf, gotPos, err := audit.VerifyItemProof(p, it, l.key.Verifier()); err != nil || leaf != 0 || gotPos != pos {
					t.Fatalf("frame %d, proof %s: leaf %d pos %d, %v", pos+1, name, leaf, gotPos, err)
				}
			}
		}
	})
}

// TestAttackPurgedFrameRowTamperNamed: after a purge, the kept hash edited,
// or the payload of a row written back while it stays marked purged, is
// still named by Verify with the store's Source.
func TestAttackPurgedFrameRowTamperNamed(t *testing.T) {
	cases := []struct {
		name string
		sql  sqlStep
		want audit.FindingKind
		pos  int
	}{
		{"kept hash edited", sqlStep{`UPDATE frames SET hash=CAST(X'00' || substr(hash, 2) AS BLOB) WHERE seq=2`,
			`UPDATE frames SET hash=overlay(hash placing '\x00'::bytea from 1 for 1) WHERE seq=2`}, audit.FindItemEdited, 1},
		{"kept hash cut short", sqlStep{`UPDATE frames SET hash=substr(hash, 1, 16) WHERE seq=1`,
			`UPDATE frames SET hash=substring(hash from 1 for 16) WHERE seq=1`}, audit.FindItemEdited, 0},
		{"other bytes put back into a purged row", sqlStep{`UPDATE frames SET raw=X'7b7d' WHERE seq=2`,
			`UPDATE frames SET raw='\x7b7d'::bytea WHERE seq=2`}, audit.FindItemEdited, 1},
		{"purged row deleted", same(`DELETE FROM frames WHERE seq=1`), audit.FindItemSourceMissing, 0},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := newTestLog(t, e)
				saved := gatewayRows(t, l)
				purgeFrames(t, l.st)
				src := audit.StoreSource{Rows: l.st}
				storetest.Exec(t, l.cfg, c.sql.sqlite, c.sql.pg)
				r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{Source: src})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range r.Findings {
					got = append(got, f.String())
				}
				if len(r.Findings) != 1 || r.Findings[0].Kind != c.want || r.Findings[0].Leaf != 0 || r.Findings[0].Pos != c.pos {
					t.Fatalf("findings:\n%s\nwant one %s at leaf 0 pos %d", strings.Join(got, "\n"), c.want, c.pos)
				}
			})
		}
	})
}

// TestApprovalRenewalVerifies: renewing an expired approval replaces the
// row that counts (approvals), but the earlier approval's item still
// re-hashes from its history row (migration 0016): Verify with the
// store's Source finds nothing. Red when the Source reads the approvals
// table alone (the earlier item is then reported edited). The history row
// of the replaced approval edited afterwards is named.
func TestApprovalRenewalVerifies(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		l := newTestLog(t, e)
		at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		c := store.Command{ID: "c-1", Vehicle: "V", Carrier: "acme", RequestedBy: "urn:x", Type: "route_update", Payload: []byte(`{}`),
			RiskClass: "elevated", ApprovalsRequired: 1, State: store.CommandPendingApproval, ExpiresAt: at.Add(time.Hour), CreatedAt: at}
		if err := l.st.CreateCommand(ctx, c, "urn:x", "requested", nil); err != nil {
			t.Fatal(err)
		}
		for _, a := range []store.Approval{
			{Command: "c-1", Approver: "urn:ann", At: at, ExpiresAt: at.Add(time.Minute)},
			{Command: "c-1", Approver: "urn:ann", At: at.Add(2 * time.Minute), ExpiresAt: at.Add(3 * time.Minute)},
		} {
			if err := l.st.AddApproval(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := l.seq.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		cp, err := l.st.LatestAuditCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := audit.Verify(ctx, l.st, l.key.Verifier(), cp.Note, audit.VerifyOptions{Source: audit.StoreSource{Rows: l.st}})
		if err != nil {
			t.Fatal(err)
		}
		// Items: c-1, c-1/1, the first approval (2), the renewal (3).
		if len(r.Findings) != 0 {
			t.Fatalf("findings %+v after a renewal, want none", r.Findings)
		}
		storetest.Exec(t, l.cfg, `UPDATE approval_history SET expires_us=expires_us+1 WHERE at_us=?`,
			`UPDATE approval_history SET expires_at=expires_at+interval '1 microsecond' WHERE at=$1`, storetest.Timestamp(l.cfg, at))
		r, err = audit.Verify(ctx, l.st, l.key.Verifier(), cp.Note, audit.VerifyOptions{Source: audit.StoreSource{Rows: l.st}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Findings) != 1 || r.Findings[0].Kind != audit.FindItemEdited || r.Findings[0].Pos != 2 {
			t.Fatalf("findings %+v, want the replaced approval's item edited", r.Findings)
		}
	})
}
