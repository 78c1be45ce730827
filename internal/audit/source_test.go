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
// event and a command with two transitions (items in this order: frame
// V/0/1, frame V/0/2, event ev-1, command c-1, c-1/1, c-1/2), sequences them
// as one leaf and returns the checkpoint saved then.
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
// covers (frames, events, commands, transitions) edited or deleted directly
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
