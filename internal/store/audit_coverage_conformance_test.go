package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// wantOneItem fails unless exactly one audit item of kind and ref is
// stored, with the SHA-256 of stored as its hash.
func wantOneItem(t *testing.T, st store.Store, kind, ref string, stored []byte) {
	t.Helper()
	got, err := st.FindAuditItems(ctx, kind, ref)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(stored)
	if len(got) != 1 || !bytes.Equal(got[0].Hash, h[:]) {
		t.Fatalf("audit items %s %q = %+v, want one with hash %x", kind, ref, got, h)
	}
}

func wantNoItem(t *testing.T, st store.Store, kind, ref string) {
	t.Helper()
	if got, err := st.FindAuditItems(ctx, kind, ref); err != nil || len(got) != 0 {
		t.Fatalf("audit items %s %q = %+v, %v; want none", kind, ref, got, err)
	}
}

// TestAuditCoverageConformance: every stored frames row, security event,
// command and command transition has its audit item from the same
// transaction, on both engines; what is not stored (a duplicate, a replay,
// a refused transition, a rolled-back event) has none; heartbeats keep no
// frames row and have no item (docs/AUDIT.md says what covers them).
func TestAuditCoverageConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := cmdT0

		// Frames, with an event riding on one; a heartbeat; a re-send.
		f1, f2 := rec("V1", 0, 1, "a"), rec("V1", 0, 2, "b")
		f2.Events = []store.EventRow{ev("ev-frame", "plausibility", "V1", t0)}
		hb := rec("V1", 0, 3, "hb")
		hb.Kind = store.HeartbeatKind
		out, err := st.AppendFrames(ctx, []store.FrameRecord{f1, f2, hb}, 0)
		if err != nil || out[0] != store.AppendStored || out[1] != store.AppendStored {
			t.Fatalf("append: %v, %v", out, err)
		}
		wantOneItem(t, st, store.AuditKindFrame, store.FrameAuditRef("V1", 0, 1), f1.Raw)
		wantOneItem(t, st, store.AuditKindFrame, "V1/0/2", f2.Raw)
		wantOneItem(t, st, store.AuditKindEvent, "ev-frame", f2.Events[0].Body)
		wantNoItem(t, st, store.AuditKindFrame, "V1/0/3")
		if out := appendOne(t, st, f1, 0); out != store.AppendDuplicate {
			t.Fatalf("re-send: %v", out)
		}
		wantOneItem(t, st, store.AuditKindFrame, "V1/0/1", f1.Raw) // still one
		replay := rec("V1", 0, 1, "other bytes")
		if out := appendOne(t, st, replay, 0); out != store.AppendReplay {
			t.Fatalf("replay: %v", out)
		}
		wantOneItem(t, st, store.AuditKindFrame, "V1/0/1", f1.Raw)

		// Events; a batch refused for a duplicate id leaves no item.
		e1 := ev("ev-1", "auth_failed", "x", t0)
		if err := st.AppendEvents(ctx, []store.EventRow{e1}); err != nil {
			t.Fatal(err)
		}
		wantOneItem(t, st, store.AuditKindEvent, "ev-1", e1.Body)
		if got, err := st.GetEvent(ctx, "ev-1"); err != nil || got.ID != "ev-1" || !bytes.Equal(got.Body, e1.Body) || !got.Time.Equal(e1.Time) || got.Code != e1.Code {
			t.Fatalf("GetEvent = %+v, %v", got, err)
		}
		if _, err := st.GetEvent(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetEvent of a missing id: %v", err)
		}
		if err := st.AppendEvents(ctx, []store.EventRow{ev("ev-2", "c", "x", t0), e1}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate event id: %v", err)
		}
		wantNoItem(t, st, store.AuditKindEvent, "ev-2")
		wantOneItem(t, st, store.AuditKindEvent, "ev-1", e1.Body)

		// Commands: creation (the command and transition 1), each transition.
		c := newCmd("cmd-1", "V1", "acme-freight")
		mustCreate(t, st, c)
		wantOneItem(t, st, store.AuditKindCommand, "cmd-1", store.CommandAuditBytes(c))
		first := store.CommandTransition{ID: "cmd-1", To: c.State, At: c.CreatedAt, Actor: c.RequestedBy, Reason: "requested"}
		wantOneItem(t, st, store.AuditKindCommand, "cmd-1/1", store.TransitionAuditBytes(first, 1))
		if got, err := st.GetCommand(ctx, "cmd-1"); err != nil || !bytes.Equal(store.CommandAuditBytes(got), store.CommandAuditBytes(c)) {
			t.Fatalf("the command read back hashes otherwise: %v", err)
		}
		approveAndQueue(t, st, "cmd-1")
		trs, err := st.CommandTransitions(ctx, "cmd-1")
		if err != nil || len(trs) != 3 {
			t.Fatalf("transitions: %+v, %v", trs, err)
		}
		for i, tr := range trs {
			n := int64(i + 1)
			wantOneItem(t, st, store.AuditKindCommand, store.TransitionAuditRef("cmd-1", n), store.TransitionAuditBytes(tr, n))
		}
		if _, err := st.TransitionCommand(ctx, step("cmd-1", store.CommandApproved, store.CommandCancelled, "x")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale transition: %v", err)
		}
		wantNoItem(t, st, store.AuditKindCommand, "cmd-1/4")
		// What the vehicle receives: cmd_seq, nonce and issue time, from
		// the queueing's commit.
		queued, err := st.GetCommand(ctx, "cmd-1")
		if err != nil || queued.CmdSeq != 1 || len(queued.Nonce) == 0 {
			t.Fatalf("queued: %+v, %v", queued, err)
		}
		wantOneItem(t, st, store.AuditKindCommand, store.CommandIssueRef("cmd-1"), store.CommandPartBytes(queued, "issue"))
		wantNoItem(t, st, store.AuditKindCommand, store.CommandDeliveryRef("cmd-1"))
		// The delivery (by which replica) and the vehicle's answer.
		dl := step("cmd-1", store.CommandQueued, store.CommandDelivered, "urn:fifthwheel:system:gateway")
		dl.DeliveredBy = "replica-a"
		if _, err := st.TransitionCommand(ctx, dl); err != nil {
			t.Fatal(err)
		}
		delivered, _ := st.GetCommand(ctx, "cmd-1")
		wantOneItem(t, st, store.AuditKindCommand, store.CommandDeliveryRef("cmd-1"), store.CommandPartBytes(delivered, "delivery"))
		wantNoItem(t, st, store.AuditKindCommand, store.CommandAnswerRef("cmd-1"))
		an := step("cmd-1", store.CommandDelivered, store.CommandRejected, "urn:fifthwheel:vehicle:V1")
		an.Verdict, an.AnswerReason = "rejected", "unsafe_route"
		if _, err := st.TransitionCommand(ctx, an); err != nil {
			t.Fatal(err)
		}
		answered, _ := st.GetCommand(ctx, "cmd-1")
		if answered.Verdict != "rejected" || answered.AnswerReason != "unsafe_route" || answered.DeliveredBy != "replica-a" {
			t.Fatalf("answered: %+v", answered)
		}
		wantOneItem(t, st, store.AuditKindCommand, store.CommandAnswerRef("cmd-1"), store.CommandPartBytes(answered, "answer"))
		wantOneItem(t, st, store.AuditKindCommand, store.CommandDeliveryRef("cmd-1"), store.CommandPartBytes(answered, "delivery"))
		if !bytes.Contains(store.CommandPartBytes(answered, "issue"), []byte(`"cmd_seq":1`)) {
			t.Fatalf("issue bytes: %s", store.CommandPartBytes(answered, "issue"))
		}

		// Approvals: each from its own commit; a refused duplicate has none,
		// a renewal of an expired one is another item.
		c2 := newCmd("cmd-2", "V1", "acme-freight")
		mustCreate(t, st, c2)
		a := store.Approval{Command: "cmd-2", Approver: "urn:fifthwheel:operator:bob", At: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := st.AddApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
		wantOneItem(t, st, store.AuditKindApproval, store.ApprovalAuditRef(a), store.ApprovalAuditBytes(a))
		again := a
		again.At = t0.Add(time.Second)
		if err := st.AddApproval(ctx, again); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second approval: %v", err)
		}
		wantNoItem(t, st, store.AuditKindApproval, store.ApprovalAuditRef(again))
		if err := st.AddApproval(ctx, store.Approval{Command: "nope", Approver: a.Approver, At: t0, ExpiresAt: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("approval of no command: %v", err)
		}
		renew := store.Approval{Command: "cmd-2", Approver: a.Approver, At: t0.Add(2 * time.Minute), ExpiresAt: t0.Add(3 * time.Minute)}
		if err := st.AddApproval(ctx, renew); err != nil {
			t.Fatal(err)
		}
		wantOneItem(t, st, store.AuditKindApproval, store.ApprovalAuditRef(renew), store.ApprovalAuditBytes(renew))
		got, err := st.ListApprovals(ctx, "cmd-2")
		if err != nil || len(got) != 1 || !bytes.Equal(store.ApprovalAuditBytes(got[0]), store.ApprovalAuditBytes(renew)) {
			t.Fatalf("the approval read back hashes otherwise: %+v, %v", got, err)
		}
	})
}

func TestApprovalAuditRef(t *testing.T) {
	a := store.Approval{Command: "c-1", Approver: "urn:fifthwheel:operator:a/b", At: time.UnixMicro(1733400000123456)}
	ref := store.ApprovalAuditRef(a)
	if ref != "c-1/1733400000123456/urn:fifthwheel:operator:a/b" {
		t.Fatalf("ref %q", ref)
	}
	cmd, at, who, ok := store.ParseApprovalAuditRef(ref)
	if !ok || cmd != "c-1" || at != 1733400000123456 || who != a.Approver {
		t.Fatalf("parsed %q %d %q %v", cmd, at, who, ok)
	}
	for _, bad := range []string{"", "c-1", "c-1/", "c-1/12", "c-1/12/", "/12/x", "c-1/012/x", "c-1/+12/x", "c-1/x/y"} {
		if _, _, _, ok := store.ParseApprovalAuditRef(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	for ref, want := range map[string]string{"c/issue": "issue", "c/delivery": "delivery", "c/answer": "answer", "c/1": "", "issue": "", "/issue": "", "c/issues": ""} {
		_, part, ok := store.CommandPart(ref)
		if part != want || ok != (want != "") {
			t.Errorf("CommandPart(%q) = %q, %v", ref, part, ok)
		}
	}
}
