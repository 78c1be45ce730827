package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestCommandConformance: the command store (command.go) on both engines:
// tenders, commands and their transitions, the conditional state change
// that decides races, the per-vehicle cmd_seq, approvals, Idempotency-Key
// records and the webhook outbox.
func TestCommandConformance(t *testing.T) {
	cases := []struct {
		name string
		f    func(t *testing.T, e storetest.Engine)
	}{
		{"tenders", testTenders},
		{"tender_revise", testTenderRevise},
		{"tender_cancel", testTenderCancel},
		{"tender_commands", testTenderCommands},
		{"tender_migration_runs_again", testTenderMigrationAgain},
		{"create_get_list", testCommandCreateGetList},
		{"transition_is_conditional", testCommandTransitionConditional},
		{"queue_assigns_cmd_seq", testCommandQueue},
		{"approvals", testCommandApprovals},
		{"idempotency", testIdempotency},
		{"idempotency_with_create_is_atomic", testIdempotencyWithCreate},
		{"webhook_outbox", testWebhookOutbox},
		{"webhook_claims_are_disjoint", testWebhookClaimsDisjoint},
		{"migration_runs_again", testCommandMigrationAgain},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.f(t, e) })
		}
	})
}

var cmdT0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// newCmd is a pending command of vehicle for carrier.
func newCmd(id, vehicle, carrier string) store.Command {
	return store.Command{ID: id, Vehicle: vehicle, Carrier: carrier, RequestedBy: "urn:fifthwheel:client:acme", Type: "route_update",
		Payload: []byte(`{"waypoints":[]}`), RiskClass: "elevated", ApprovalsRequired: 1, State: store.CommandPendingApproval,
		ExpiresAt: cmdT0.Add(time.Hour), CreatedAt: cmdT0}
}

func mustCreate(t *testing.T, st store.Store, c store.Command) {
	t.Helper()
	if err := st.CreateCommand(ctx, c, c.RequestedBy, "requested", nil); err != nil {
		t.Fatalf("CreateCommand %s: %v", c.ID, err)
	}
}

func step(id string, from, to store.CommandState, actor string) store.CommandTransition {
	return store.CommandTransition{ID: id, From: from, To: to, At: cmdT0.Add(time.Minute), Actor: actor, Reason: "test"}
}

// approveAndQueue moves a created command to queued.
func approveAndQueue(t *testing.T, st store.Store, id string) store.Command {
	t.Helper()
	if _, err := st.TransitionCommand(ctx, step(id, store.CommandPendingApproval, store.CommandApproved, "urn:fifthwheel:operator:ann")); err != nil {
		t.Fatal(err)
	}
	c, err := st.QueueCommand(ctx, step(id, store.CommandApproved, store.CommandQueued, "urn:fifthwheel:system:gateway"), []byte("nonce-"+id), cmdT0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testTenders(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	tn := store.Tender{Client: "acme", ID: "T-1", Carrier: "acme-freight", Purpose: "original", Body: []byte(`{"tender_id":"T-1"}`),
		Answer: "decline", Reasons: []string{"hazmat_not_permitted", "weight_over_limit"}, Created: cmdT0}
	if err := st.CreateTender(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	tn.Revision, tn.Updated = 1, cmdT0 // as stored: the original
	if err := st.CreateTender(ctx, tn, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same tender id twice: %v, want ErrConflict", err)
	}
	// Another client may use the same tender id.
	other := tn
	other.Client, other.Reasons, other.Answer = "globex", nil, "accept"
	if err := st.CreateTender(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTender(ctx, "acme", "T-1")
	if err != nil || !reflect.DeepEqual(got, tn) {
		t.Fatalf("GetTender = %+v, %v; want %+v", got, err, tn)
	}
	if got, err := st.GetTender(ctx, "globex", "T-1"); err != nil || got.Answer != "accept" || got.Reasons != nil {
		t.Fatalf("GetTender of the other client = %+v, %v", got, err)
	}
	if _, err := st.GetTender(ctx, "acme", "T-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing tender: %v", err)
	}
}

func testCommandCreateGetList(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	c := newCmd("c1", "TRK-1", "acme-freight")
	c.TenderID = "T-1"
	mustCreate(t, st, c)
	if err := st.CreateCommand(ctx, c, "x", "again", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate command id: %v, want ErrConflict", err)
	}
	got, err := st.GetCommand(ctx, "c1")
	want := c
	want.UpdatedAt = c.CreatedAt
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetCommand = %+v, %v\nwant %+v", got, err, want)
	}
	if _, err := st.GetCommand(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing command: %v", err)
	}
	trs, err := st.CommandTransitions(ctx, "c1")
	if err != nil || len(trs) != 1 || trs[0].From != "" || trs[0].To != store.CommandPendingApproval || trs[0].Actor != c.RequestedBy ||
		trs[0].Reason != "requested" || !trs[0].At.Equal(cmdT0) {
		t.Fatalf("first transition = %+v, %v", trs, err)
	}

	for i, v := range []struct{ vehicle, carrier string }{{"TRK-1", "acme-freight"}, {"TRK-2", "acme-freight"}, {"TRK-9", "globex"}, {"TRK-1", "acme-freight"}} {
		c := newCmd(fmt.Sprintf("c%d", i+2), v.vehicle, v.carrier)
		c.ExpiresAt = cmdT0.Add(time.Duration(i+1) * time.Minute)
		mustCreate(t, st, c)
	}
	// c2..c5 exist; c3 is approved.
	if _, err := st.TransitionCommand(ctx, step("c3", store.CommandPendingApproval, store.CommandApproved, "urn:fifthwheel:operator:ann")); err != nil {
		t.Fatal(err)
	}
	idsOf := func(cs []store.Command, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	acme := store.OnlyCarrier("acme-freight")
	for _, tc := range []struct {
		name string
		f    store.CommandFilter
		want []string
	}{
		{"zero scope selects none", store.CommandFilter{}, nil},
		{"all carriers", store.CommandFilter{Scope: store.AllCarriers()}, []string{"c1", "c2", "c3", "c4", "c5"}},
		{"one carrier", store.CommandFilter{Scope: acme}, []string{"c1", "c2", "c3", "c5"}},
		{"carrier and vehicle", store.CommandFilter{Scope: acme, Vehicle: "TRK-1"}, []string{"c1", "c2", "c5"}},
		{"other carrier's vehicle", store.CommandFilter{Scope: acme, Vehicle: "TRK-9"}, nil},
		{"state", store.CommandFilter{Scope: acme, State: store.CommandApproved}, []string{"c3"}},
		{"cursor", store.CommandFilter{Scope: acme, After: "c2", Limit: 1}, []string{"c3"}},
		{"next page", store.CommandFilter{Scope: acme, After: "c3", Limit: 1}, []string{"c5"}},
		{"expiring", store.CommandFilter{Scope: store.AllCarriers(), ExpiresBy: cmdT0.Add(2 * time.Minute)}, []string{"c2", "c3"}},
	} {
		if got := idsOf(st.ListCommands(ctx, tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// A delivered command is not what the expiry sweep selects.
	approveAndQueue(t, st, "c2")
	if _, err := st.TransitionCommand(ctx, step("c2", store.CommandQueued, store.CommandDelivered, "urn:fifthwheel:gateway:gw-1")); err != nil {
		t.Fatal(err)
	}
	if got := idsOf(st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), ExpiresBy: cmdT0.Add(2 * time.Minute)})); !slices.Equal(got, []string{"c3"}) {
		t.Errorf("expiring after c2 was delivered: %v, want [c3]", got)
	}
}

func testCommandTransitionConditional(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	mustCreate(t, st, newCmd("c1", "TRK-1", "acme-freight"))
	// From the wrong state: ErrConflict, nothing changes.
	if _, err := st.TransitionCommand(ctx, step("c1", store.CommandApproved, store.CommandCancelled, "x")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("transition from a state the command is not in: %v, want ErrConflict", err)
	}
	if _, err := st.TransitionCommand(ctx, step("nope", store.CommandPendingApproval, store.CommandApproved, "x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("transition of a missing command: %v, want ErrNotFound", err)
	}
	if _, err := st.TransitionCommand(ctx, step("c1", store.CommandApproved, store.CommandQueued, "x")); err == nil {
		t.Fatal("TransitionCommand queued a command (QueueCommand must)")
	}
	if c, _ := st.GetCommand(ctx, "c1"); c.State != store.CommandPendingApproval || !c.UpdatedAt.Equal(cmdT0) {
		t.Fatalf("refused transitions changed the command: %+v", c)
	}
	if trs, _ := st.CommandTransitions(ctx, "c1"); len(trs) != 1 {
		t.Fatalf("refused transitions were recorded: %+v", trs)
	}
	approveAndQueue(t, st, "c1")
	tr := step("c1", store.CommandQueued, store.CommandDelivered, "urn:fifthwheel:gateway:gw-1")
	tr.DeliveredBy = "gw-1"
	c, err := st.TransitionCommand(ctx, tr)
	if err != nil || c.State != store.CommandDelivered || c.DeliveredBy != "gw-1" || c.CmdSeq != 1 {
		t.Fatalf("delivered: %+v, %v", c, err)
	}
	tr = step("c1", store.CommandDelivered, store.CommandRejected, "urn:fifthwheel:vehicle:TRK-1")
	tr.Verdict, tr.AnswerReason = "rejected", "route_infeasible"
	c, err = st.TransitionCommand(ctx, tr)
	if err != nil || c.State != store.CommandRejected || c.DeliveredBy != "gw-1" || c.Verdict != "rejected" || c.AnswerReason != "route_infeasible" {
		t.Fatalf("answered: %+v, %v", c, err)
	}
	trs, err := st.CommandTransitions(ctx, "c1")
	var path []store.CommandState
	for _, tr := range trs {
		path = append(path, tr.To)
	}
	want := []store.CommandState{store.CommandPendingApproval, store.CommandApproved, store.CommandQueued, store.CommandDelivered, store.CommandRejected}
	if err != nil || !slices.Equal(path, want) || trs[4].Actor != "urn:fifthwheel:vehicle:TRK-1" || trs[4].From != store.CommandDelivered {
		t.Fatalf("transitions: %+v, %v", trs, err)
	}
}

func testCommandQueue(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	if n, err := st.LastCmdSeq(ctx, "TRK-1"); err != nil || n != 0 {
		t.Fatalf("LastCmdSeq of a vehicle without commands = %d, %v", n, err)
	}
	for i, v := range []string{"TRK-1", "TRK-2", "TRK-1", "TRK-1"} {
		mustCreate(t, st, newCmd(fmt.Sprintf("c%d", i), v, "acme-freight"))
	}
	var seqs []int64
	for i := 3; i >= 0; i-- { // queued out of creation order
		c := approveAndQueue(t, st, fmt.Sprintf("c%d", i))
		if c.State != store.CommandQueued || !bytes.Equal(c.Nonce, []byte(fmt.Sprintf("nonce-c%d", i))) || !c.IssuedAt.Equal(cmdT0.Add(2*time.Minute)) {
			t.Fatalf("queued: %+v", c)
		}
		seqs = append(seqs, c.CmdSeq)
	}
	// c3, c2 (TRK-1, TRK-1), c1 (TRK-2), c0 (TRK-1).
	if !slices.Equal(seqs, []int64{1, 2, 1, 3}) {
		t.Fatalf("cmd_seqs = %v, want [1 2 1 3]", seqs)
	}
	if n, _ := st.LastCmdSeq(ctx, "TRK-1"); n != 3 {
		t.Fatalf("LastCmdSeq = %d, want 3", n)
	}
	q, err := st.ListQueuedCommands(ctx, "TRK-1", 0)
	if err != nil || len(q) != 3 || q[0].ID != "c3" || q[1].ID != "c2" || q[2].ID != "c0" {
		t.Fatalf("ListQueuedCommands in cmd_seq order: %+v, %v", q, err)
	}
	// Queueing again (the state is no longer approved) is refused and
	// takes no number.
	if _, err := st.QueueCommand(ctx, step("c0", store.CommandApproved, store.CommandQueued, "x"), []byte("n"), cmdT0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("queueing a queued command: %v, want ErrConflict", err)
	}
	if n, _ := st.LastCmdSeq(ctx, "TRK-1"); n != 3 {
		t.Fatalf("a refused queueing moved the counter to %d", n)
	}
	if c, _ := st.GetCommand(ctx, "c0"); c.CmdSeq != 3 || string(c.Nonce) != "nonce-c0" {
		t.Fatalf("a refused queueing changed the command: %+v", c)
	}
}

func testCommandApprovals(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	mustCreate(t, st, newCmd("c1", "TRK-1", "acme-freight"))
	a := store.Approval{Command: "c1", Approver: "urn:fifthwheel:operator:ann", At: cmdT0, ExpiresAt: cmdT0.Add(15 * time.Minute)}
	if err := st.AddApproval(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Approver, b.At = "urn:fifthwheel:operator:bob", cmdT0.Add(time.Second)
	if err := st.AddApproval(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.AddApproval(ctx, store.Approval{Command: "nope", Approver: "x", At: cmdT0, ExpiresAt: cmdT0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("approval of a missing command: %v, want ErrNotFound", err)
	}
	got, err := st.ListApprovals(ctx, "c1")
	if err != nil || !reflect.DeepEqual(got, []store.Approval{a, b}) {
		t.Fatalf("ListApprovals = %+v, %v", got, err)
	}
	// Again before it expired: refused, the first kept.
	again := a
	again.At, again.ExpiresAt = a.ExpiresAt.Add(-time.Second), a.ExpiresAt.Add(time.Hour)
	if err := st.AddApproval(ctx, again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second approval while the first counts: %v, want ErrConflict", err)
	}
	// Once it expired, the approver renews it.
	renew := a
	renew.At, renew.ExpiresAt = a.ExpiresAt, a.ExpiresAt.Add(15*time.Minute)
	if err := st.AddApproval(ctx, renew); err != nil {
		t.Fatalf("renewing an expired approval: %v", err)
	}
	got, err = st.ListApprovals(ctx, "c1")
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[1], renew) {
		t.Fatalf("ListApprovals after a renewal = %+v, %v", got, err)
	}
	// The history keeps every approval: the one the renewal replaced too
	// (its audit item's row), not the refused one.
	hist, err := st.ApprovalHistory(ctx, "c1")
	if err != nil || !reflect.DeepEqual(hist, []store.Approval{a, b, renew}) {
		t.Fatalf("ApprovalHistory = %+v, %v; want a, b, the renewal", hist, err)
	}
}

// TestAttackOnePrincipalApprovingTwice (store level): the second approval
// by the same principal is refused by the unique key, even when both race,
// on both engines, so it cannot be counted twice by any replica.
func TestAttackOnePrincipalApprovingTwice(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		other := storetest.OpenConfig(t, cfg) // another replica
		mustCreate(t, st, newCmd("c1", "TRK-1", "acme-freight"))
		a := store.Approval{Command: "c1", Approver: "urn:fifthwheel:operator:ann", At: cmdT0, ExpiresAt: cmdT0.Add(15 * time.Minute)}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []store.Store{st, other} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.AddApproval(ctx, a) }()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflict++
			default:
				t.Fatalf("AddApproval: %v", err)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("two racing approvals by one principal: %d stored, %d refused; want 1 and 1", ok, conflict)
		}
		if got, _ := st.ListApprovals(ctx, "c1"); len(got) != 1 {
			t.Fatalf("approvals stored: %+v", got)
		}
	})
}

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func testIdempotency(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	r := store.IdempotencyRecord{Client: "acme", Key: "k-1", RequestSHA256: sha("body"), Status: 201, Body: []byte(`{"id":"c1"}`), Created: cmdT0}
	if _, err := st.GetIdempotency(ctx, "acme", "k-1", sha("body")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
	if err := st.PutIdempotency(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetIdempotency(ctx, "acme", "k-1", sha("body"))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("GetIdempotency = %+v, %v; want %+v", got, err, r)
	}
	if err := st.PutIdempotency(ctx, r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same key and request again: %v, want ErrConflict", err)
	}
	// Another client's key of the same name is its own.
	o := r
	o.Client, o.RequestSHA256 = "globex", sha("other")
	if err := st.PutIdempotency(ctx, o); err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneIdempotency(ctx, cmdT0)
	if err != nil || n != 0 {
		t.Fatalf("prune before the records: %d, %v", n, err)
	}
	if n, err := st.PruneIdempotency(ctx, cmdT0.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("prune after the records: %d, %v", n, err)
	}
}

// TestAttackIdempotencyKeyReusedWithAnotherBody (store level): a key stored
// for one request body, offered with another, is the distinct
// ErrIdempotencyKeyReused (409 idempotency_key_reused), never the stored
// response and never a second write, on both engines.
func TestAttackIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		r := store.IdempotencyRecord{Client: "acme", Key: "k-1", RequestSHA256: sha(`{"amount":1}`), Status: 201, Body: []byte(`{"id":"c1"}`), Created: cmdT0}
		if err := st.PutIdempotency(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetIdempotency(ctx, "acme", "k-1", sha(`{"amount":2}`)); !errors.Is(err, store.ErrIdempotencyKeyReused) {
			t.Fatalf("Get with another body: %v, want ErrIdempotencyKeyReused", err)
		}
		o := r
		o.RequestSHA256, o.Body = sha(`{"amount":2}`), []byte(`{"id":"c2"}`)
		if err := st.PutIdempotency(ctx, o); !errors.Is(err, store.ErrIdempotencyKeyReused) {
			t.Fatalf("Put with another body: %v, want ErrIdempotencyKeyReused", err)
		}
		c := newCmd("c2", "TRK-1", "acme-freight")
		if err := st.CreateCommand(ctx, c, "x", "y", &o); !errors.Is(err, store.ErrIdempotencyKeyReused) {
			t.Fatalf("CreateCommand under a reused key: %v, want ErrIdempotencyKeyReused", err)
		}
		if _, err := st.GetCommand(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a command was stored under a reused key: %v", err)
		}
		if got, err := st.GetIdempotency(ctx, "acme", "k-1", r.RequestSHA256); err != nil || string(got.Body) != `{"id":"c1"}` {
			t.Fatalf("the first response changed: %+v, %v", got, err)
		}
	})
}

// testIdempotencyWithCreate: a command and its key land together or not
// at all; two racing creates under one key (a TMS retry racing the
// original, on two replicas) store exactly one command.
func testIdempotencyWithCreate(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	other := storetest.OpenConfig(t, cfg)
	rec := func(id string) *store.IdempotencyRecord {
		return &store.IdempotencyRecord{Client: "acme", Key: "k-1", RequestSHA256: sha("body"), Status: 201, Body: []byte(`{"id":"` + id + `"}`), Created: cmdT0}
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range []store.Store{st, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			errs[i] = s.CreateCommand(ctx, newCmd(id, "TRK-1", "acme-freight"), "x", "y", rec(id))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatal("both creates under one key succeeded")
			}
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("the losing create: %v, want ErrConflict", err)
		}
	}
	if won < 0 {
		t.Fatal("neither create succeeded")
	}
	all, _ := st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers()})
	if len(all) != 1 || all[0].ID != fmt.Sprintf("c%d", won) {
		t.Fatalf("commands stored: %+v (winner c%d)", all, won)
	}
	if got, err := st.GetIdempotency(ctx, "acme", "k-1", sha("body")); err != nil || string(got.Body) != fmt.Sprintf(`{"id":"c%d"}`, won) {
		t.Fatalf("the stored response is not the winner's: %+v, %v", got, err)
	}
	// A tender under a used key is refused and not stored.
	tn := store.Tender{Client: "acme", ID: "T-1", Carrier: "c", Purpose: "original", Body: []byte(`{}`), Answer: "accept", Created: cmdT0}
	if err := st.CreateTender(ctx, tn, rec("x")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateTender under a used key: %v, want ErrConflict", err)
	}
	if _, err := st.GetTender(ctx, "acme", "T-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the tender was stored: %v", err)
	}
}

func testWebhookOutbox(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	var ids []int64
	for i := range 3 {
		id, err := st.EnqueueWebhook(ctx, store.WebhookMessage{Client: "acme", EventType: "command.transition", Body: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			NextAttemptAt: cmdT0.Add(time.Duration(i) * time.Second), CreatedAt: cmdT0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] >= ids[1] || ids[1] >= ids[2] {
		t.Fatalf("ids not increasing: %v", ids)
	}
	lease := 30 * time.Second
	got, err := st.ClaimWebhooks(ctx, cmdT0.Add(time.Second), lease, 10)
	if err != nil || len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] || got[0].Attempts != 1 ||
		!got[0].NextAttemptAt.Equal(cmdT0.Add(time.Second+lease)) || string(got[1].Body) != `{"n":1}` || got[0].Client != "acme" {
		t.Fatalf("claim of the due messages: %+v, %v", got, err)
	}
	// Claimed messages are leased: not claimed again until the lease ends.
	if got, err := st.ClaimWebhooks(ctx, cmdT0.Add(3*time.Second), lease, 10); err != nil || len(got) != 1 || got[0].ID != ids[2] {
		t.Fatalf("claim during the lease: %+v, %v", got, err)
	}
	if err := st.MarkWebhookDelivered(ctx, ids[0], cmdT0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.RescheduleWebhook(ctx, ids[1], cmdT0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkWebhookDead(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := st.RescheduleWebhook(ctx, ids[0], cmdT0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rescheduling a delivered message: %v, want ErrNotFound", err)
	}
	for _, f := range []func() error{
		func() error { return st.MarkWebhookDelivered(ctx, 1<<40, cmdT0) },
		func() error { return st.MarkWebhookDead(ctx, 1<<40) },
	} {
		if err := f(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown message: %v, want ErrNotFound", err)
		}
	}
	// Much later: only the rescheduled one is due (delivered and dead
	// ones never are), on its second attempt.
	got, err = st.ClaimWebhooks(ctx, cmdT0.Add(time.Hour), lease, 10)
	if err != nil || len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 2 {
		t.Fatalf("claim much later: %+v, %v", got, err)
	}
}

// tenderDispatch is a dispatch of client's tender made from revision rev.
func tenderDispatch(id, vehicle, client, tender string, rev int64) store.Command {
	c := newCmd(id, vehicle, "acme-freight")
	c.Type, c.RequestedBy, c.TenderID, c.TenderRevision = "dispatch", client, tender, rev
	return c
}

// testTenderRevise: a change replaces the tender with its next revision
// and keeps the replaced one; a stale revision, a cancelled tender and a
// dispatched one refuse, changing nothing; a dispatch made from a stale
// revision is not stored.
func testTenderRevise(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	orig := store.Tender{Client: "acme", ID: "T-1", Carrier: "acme-freight", Purpose: "original", Body: []byte(`{"v":1}`),
		Answer: "accept", Created: cmdT0}
	if err := st.CreateTender(ctx, orig, nil); err != nil {
		t.Fatal(err)
	}
	t1 := cmdT0.Add(time.Minute)
	rev := store.Tender{Client: "acme", ID: "T-1", Carrier: "acme-freight", Purpose: "change", Body: []byte(`{"v":2}`),
		Answer: "decline", Reasons: []string{"respond_by_passed"}, Revision: 2, Updated: t1}
	idem := &store.IdempotencyRecord{Client: "acme", Key: "chg", RequestSHA256: sha("chg"), Status: 200, Body: []byte(`{}`), Created: t1}
	if err := st.ReviseTender(ctx, rev, idem); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTender(ctx, "acme", "T-1")
	want := rev
	want.Created = cmdT0
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the change: %+v, %v; want %+v", got, err, want)
	}
	hist, err := st.TenderRevisions(ctx, "acme", "T-1")
	orig.Revision, orig.Updated = 1, cmdT0
	if err != nil || len(hist) != 1 || !reflect.DeepEqual(hist[0], orig) {
		t.Fatalf("history: %+v, %v; want [%+v]", hist, err, orig)
	}
	if r, err := st.GetIdempotency(ctx, "acme", "chg", sha("chg")); err != nil || r.Status != 200 {
		t.Fatalf("the change's idempotency record: %+v, %v", r, err)
	}
	// A stale revision (a second change racing the first), an unknown tender.
	stale := rev
	stale.Body = []byte(`{"v":"stale"}`)
	if err := st.ReviseTender(ctx, stale, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a change from a stale revision: %v, want ErrConflict", err)
	}
	unknown := rev
	unknown.ID = "T-9"
	if err := st.ReviseTender(ctx, unknown, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a change of an unknown tender: %v, want ErrNotFound", err)
	}
	// The same key with another request: nothing changes.
	next := rev
	next.Revision, next.Body = 3, []byte(`{"v":3}`)
	reused := *idem
	reused.RequestSHA256 = sha("other")
	if err := st.ReviseTender(ctx, next, &reused); !errors.Is(err, store.ErrIdempotencyKeyReused) {
		t.Fatalf("a change under a reused key: %v", err)
	}
	// A dispatch made from a superseded revision is not stored.
	if err := st.CreateCommand(ctx, tenderDispatch("d-stale", "TRK-1", "acme", "T-1", 1), "acme", "requested", nil); !errors.Is(err, store.ErrTenderChanged) {
		t.Fatalf("a dispatch from revision 1 of a tender at 2: %v, want ErrTenderChanged", err)
	}
	if _, err := st.GetCommand(ctx, "d-stale"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused dispatch was stored: %v", err)
	}
	// Another client's dispatch of its own tender of the same id does not
	// count; this client's does, and a change is then refused.
	if err := st.CreateCommand(ctx, tenderDispatch("d-globex", "TRK-2", "globex", "T-1", 0), "globex", "requested", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.ReviseTender(ctx, next, nil); err != nil {
		t.Fatalf("a change with only another client's dispatch of the id: %v", err)
	}
	if err := st.CreateCommand(ctx, tenderDispatch("d-1", "TRK-1", "acme", "T-1", 3), "acme", "requested", nil); err != nil {
		t.Fatal(err)
	}
	after := next
	after.Revision, after.Body = 4, []byte(`{"v":4}`)
	if err := st.ReviseTender(ctx, after, nil); !errors.Is(err, store.ErrTenderDispatched) {
		t.Fatalf("a change after dispatch: %v, want ErrTenderDispatched", err)
	}
	if got, _ := st.GetTender(ctx, "acme", "T-1"); got.Revision != 3 || string(got.Body) != `{"v":3}` {
		t.Fatalf("the refused change changed the tender: %+v", got)
	}
	if hist, _ := st.TenderRevisions(ctx, "acme", "T-1"); len(hist) != 2 || hist[1].Revision != 2 || string(hist[1].Body) != `{"v":2}` {
		t.Fatalf("history: %+v", hist)
	}
}

// testTenderCancel: a cancel marks the tender once (a second keeps the
// first's time and actor); a cancelled tender takes no change and no
// dispatch.
func testTenderCancel(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	if err := st.CreateTender(ctx, store.Tender{Client: "acme", ID: "T-1", Carrier: "c", Purpose: "original", Body: []byte(`{}`),
		Answer: "accept", Created: cmdT0}, nil); err != nil {
		t.Fatal(err)
	}
	at := cmdT0.Add(time.Minute)
	got, done, err := st.CancelTender(ctx, "acme", "T-1", "urn:fifthwheel:client:acme", at)
	if err != nil || !done || !got.Cancelled.Equal(at) || got.CancelledBy != "urn:fifthwheel:client:acme" || got.Revision != 1 {
		t.Fatalf("cancel: %+v, %v, %v", got, done, err)
	}
	got, done, err = st.CancelTender(ctx, "acme", "T-1", "urn:fifthwheel:client:other", at.Add(time.Minute))
	if err != nil || done || !got.Cancelled.Equal(at) || got.CancelledBy != "urn:fifthwheel:client:acme" {
		t.Fatalf("second cancel: %+v, %v, %v", got, done, err)
	}
	if _, _, err := st.CancelTender(ctx, "acme", "T-9", "x", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of an unknown tender: %v", err)
	}
	if _, _, err := st.CancelTender(ctx, "globex", "T-1", "x", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of another client's tender: %v", err)
	}
	if err := st.ReviseTender(ctx, store.Tender{Client: "acme", ID: "T-1", Carrier: "c", Purpose: "change", Body: []byte(`{}`),
		Answer: "accept", Revision: 2, Updated: at}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a change of a cancelled tender: %v, want ErrConflict", err)
	}
	if err := st.CreateCommand(ctx, tenderDispatch("d-1", "TRK-1", "acme", "T-1", 1), "acme", "requested", nil); !errors.Is(err, store.ErrTenderChanged) {
		t.Fatalf("a dispatch of a cancelled tender: %v, want ErrTenderChanged", err)
	}
}

// testTenderCommands: a tender's commands are its client's dispatches of
// it and the commands carrying its id on those vehicles, not another
// client's tender of the same id.
func testTenderCommands(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	mustCreate(t, st, tenderDispatch("c1", "TRK-1", "acme", "T-1", 0))
	ru := newCmd("c2", "TRK-1", "acme-freight")
	ru.TenderID, ru.RequestedBy = "T-1", "urn:fifthwheel:client:acme-ops"
	mustCreate(t, st, ru)
	mustCreate(t, st, tenderDispatch("c3", "TRK-2", "globex", "T-1", 0))
	other := newCmd("c4", "TRK-1", "acme-freight")
	other.TenderID = "T-9"
	mustCreate(t, st, other)
	ids := func(cs []store.Command) (out []string) {
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if cs, err := st.TenderCommands(ctx, "acme", "T-1", "", 0); err != nil || !slices.Equal(ids(cs), []string{"c1", "c2"}) {
		t.Fatalf("TenderCommands = %v, %v; want [c1 c2]", ids(cs), err)
	}
	if cs, err := st.TenderCommands(ctx, "acme", "T-1", "c1", 1); err != nil || !slices.Equal(ids(cs), []string{"c2"}) {
		t.Fatalf("TenderCommands after c1 = %v, %v; want [c2]", ids(cs), err)
	}
	if cs, err := st.TenderCommands(ctx, "acme", "T-2", "", 0); err != nil || len(cs) != 0 {
		t.Fatalf("TenderCommands of a tender without any = %v, %v", ids(cs), err)
	}
}

// testTenderMigrationAgain: migration 0020 runs again on a store that has
// it and keeps revisions, history and cancels.
func testTenderMigrationAgain(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn := store.Tender{Client: "acme", ID: "T-1", Carrier: "c", Purpose: "original", Body: []byte(`{}`), Answer: "accept", Created: cmdT0}
	if err := st.CreateTender(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	tn.Purpose, tn.Revision, tn.Updated = "change", 2, cmdT0.Add(time.Minute)
	if err := st.ReviseTender(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CancelTender(ctx, "acme", "T-1", "x", cmdT0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 20`, `DELETE FROM schema_migrations WHERE version >= 20`)
	st = storetest.OpenConfig(t, cfg)
	got, err := st.GetTender(ctx, "acme", "T-1")
	if err != nil || got.Revision != 2 || got.Cancelled.IsZero() || !got.Updated.Equal(tn.Updated) {
		t.Fatalf("tender after the migration ran again: %+v, %v", got, err)
	}
	if hist, err := st.TenderRevisions(ctx, "acme", "T-1"); err != nil || len(hist) != 1 {
		t.Fatalf("history after the migration ran again: %+v, %v", hist, err)
	}
}

// TestAttackDispatchRacingTenderChange: a dispatch made from revision 1
// and a change to revision 2 of the same tender, from two store handles
// (two replicas), race: exactly one wins on both engines, round after
// round, so a truck never gets a superseded load and a change never
// rewrites a dispatched one.
func TestAttackDispatchRacingTenderChange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		a := storetest.OpenConfig(t, cfg)
		b := storetest.OpenConfig(t, cfg)
		const rounds = 20
		wins := map[string]int{}
		for r := range rounds {
			id := fmt.Sprintf("T-%02d", r)
			if err := a.CreateTender(ctx, store.Tender{Client: "acme", ID: id, Carrier: "c", Purpose: "original", Body: []byte(`{}`),
				Answer: "accept", Created: cmdT0}, nil); err != nil {
				t.Fatal(err)
			}
			var dErr, cErr error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				dErr = a.CreateCommand(ctx, tenderDispatch("d-"+id, "TRK-1", "acme", id, 1), "acme", "requested", nil)
			}()
			go func() {
				defer wg.Done()
				<-start
				cErr = b.ReviseTender(ctx, store.Tender{Client: "acme", ID: id, Carrier: "c", Purpose: "change", Body: []byte(`{"v":2}`),
					Answer: "accept", Revision: 2, Updated: cmdT0}, nil)
			}()
			close(start)
			wg.Wait()
			tn, _ := a.GetTender(ctx, "acme", id)
			_, gerr := a.GetCommand(ctx, "d-"+id)
			switch {
			case dErr == nil && errors.Is(cErr, store.ErrTenderDispatched):
				wins["dispatch"]++
				if tn.Revision != 1 {
					t.Fatalf("round %d: the dispatch won but the tender is at revision %d", r, tn.Revision)
				}
			case cErr == nil && errors.Is(dErr, store.ErrTenderChanged):
				wins["change"]++
				if tn.Revision != 2 || !errors.Is(gerr, store.ErrNotFound) {
					t.Fatalf("round %d: the change won but the tender is at %d and the dispatch is %v", r, tn.Revision, gerr)
				}
			default:
				t.Fatalf("round %d: dispatch %v, change %v: want exactly one to win", r, dErr, cErr)
			}
		}
		t.Logf("wins over %d rounds: %v", rounds, wins)
	})
}

// testCommandMigrationAgain: migration 0010 runs again on a store that has
// it and keeps its rows and counters.
func testCommandMigrationAgain(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, newCmd("c1", "TRK-1", "acme-freight"))
	approveAndQueue(t, st, "c1")
	st.Close()
	storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 10`, `DELETE FROM schema_migrations WHERE version >= 10`)
	st = storetest.OpenConfig(t, cfg)
	if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if c, err := st.GetCommand(ctx, "c1"); err != nil || c.CmdSeq != 1 || c.State != store.CommandQueued {
		t.Fatalf("command after the migration ran again: %+v, %v", c, err)
	}
	if n, _ := st.LastCmdSeq(ctx, "TRK-1"); n != 1 {
		t.Fatalf("counter after the migration ran again: %d", n)
	}
}

// TestAttackCancelRacingDelivery (store level): a cancel and a delivery of
// the same queued command, from two store handles (two replicas), race:
// exactly one wins, the other gets ErrConflict, and the command's state and
// transitions are the winner's alone, on both engines, round after round.
func TestAttackCancelRacingDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		a := storetest.OpenConfig(t, cfg)
		b := storetest.OpenConfig(t, cfg)
		const rounds = 20
		wins := map[store.CommandState]int{}
		for r := range rounds {
			id := fmt.Sprintf("c%02d", r)
			mustCreate(t, a, newCmd(id, "TRK-1", "acme-freight"))
			approveAndQueue(t, a, id)
			tos := []store.CommandState{store.CommandCancelled, store.CommandDelivered}
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, s := range []store.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					tr := step(id, store.CommandQueued, tos[i], "urn:fifthwheel:operator:ann")
					if tos[i] == store.CommandDelivered {
						tr.DeliveredBy = "gw-2"
					}
					_, errs[i] = s.TransitionCommand(ctx, tr)
				}()
			}
			close(start)
			wg.Wait()
			var winner store.CommandState
			for i, err := range errs {
				switch {
				case err == nil:
					if winner != "" {
						t.Fatalf("round %d: both the cancel and the delivery won", r)
					}
					winner = tos[i]
				case !errors.Is(err, store.ErrConflict):
					t.Fatalf("round %d: the loser got %v, want ErrConflict", r, err)
				}
			}
			if winner == "" {
				t.Fatalf("round %d: neither won", r)
			}
			wins[winner]++
			c, _ := a.GetCommand(ctx, id)
			trs, _ := a.CommandTransitions(ctx, id)
			if c.State != winner || len(trs) != 4 || trs[3].To != winner || (winner == store.CommandCancelled) != (c.DeliveredBy == "") {
				t.Fatalf("round %d: winner %s but the command is %+v with transitions %+v", r, winner, c, trs)
			}
		}
		t.Logf("wins over %d rounds: %v", rounds, wins)
	})
}

// TestAttackCmdSeqReusedUnderConcurrentQueueing: commands of one vehicle
// queued at once from two store handles (two replicas) get distinct
// cmd_seqs, exactly 1..n, on both engines: the counter is never read and
// written apart.
func TestAttackCmdSeqReusedUnderConcurrentQueueing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		a := storetest.OpenConfig(t, cfg)
		b := storetest.OpenConfig(t, cfg)
		const n = 24
		for i := range n {
			id := fmt.Sprintf("c%02d", i)
			mustCreate(t, a, newCmd(id, "TRK-1", "acme-freight"))
			if _, err := a.TransitionCommand(ctx, step(id, store.CommandPendingApproval, store.CommandApproved, "x")); err != nil {
				t.Fatal(err)
			}
		}
		seqs := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			s := []store.Store{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.QueueCommand(ctx, step(fmt.Sprintf("c%02d", i), store.CommandApproved, store.CommandQueued, "x"), []byte{byte(i)}, cmdT0)
				seqs[i], errs[i] = c.CmdSeq, err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("queue c%02d: %v", i, err)
			}
		}
		sorted := slices.Clone(seqs)
		slices.Sort(sorted)
		for i, s := range sorted {
			if s != int64(i+1) {
				t.Fatalf("cmd_seqs %v: want each of 1..%d exactly once", sorted, n)
			}
		}
		if last, _ := a.LastCmdSeq(ctx, "TRK-1"); last != n {
			t.Fatalf("LastCmdSeq = %d, want %d", last, n)
		}
	})
}

// TestPostgresQueueNotifies: queueing a command notifies CommandsChannel
// with the vehicle id, once, at commit; a refused queueing does not.
func TestPostgresQueueNotifies(t *testing.T) {
	cfg := storetest.PostgresConfig(t)
	st := storetest.OpenConfig(t, cfg)
	conn, err := pgx.Connect(ctx, cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+store.CommandsChannel); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, newCmd("c1", "TRK-7", "acme-freight"))
	if _, err := st.TransitionCommand(ctx, step("c1", store.CommandPendingApproval, store.CommandApproved, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.QueueCommand(ctx, step("c1", store.CommandPendingApproval, store.CommandQueued, "x"), nil, cmdT0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("queue from the wrong state: %v", err)
	}
	if _, err := st.QueueCommand(ctx, step("c1", store.CommandApproved, store.CommandQueued, "x"), []byte("n"), cmdT0); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	note, err := conn.WaitForNotification(wctx)
	if err != nil || note.Channel != store.CommandsChannel || note.Payload != "TRK-7" {
		t.Fatalf("notification = %+v, %v; want %s with payload TRK-7", note, err, store.CommandsChannel)
	}
	wctx2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if note, err := conn.WaitForNotification(wctx2); err == nil {
		t.Fatalf("a second notification: %+v", note)
	}
}

// testWebhookClaimsDisjoint: replicas claiming at once never take the same
// message (a webhook is not sent twice by two replicas within a lease).
func testWebhookClaimsDisjoint(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	handles := []store.Store{storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)}
	const n = 40
	for i := range n {
		if _, err := handles[0].EnqueueWebhook(ctx, store.WebhookMessage{Client: "acme", EventType: "e", Body: []byte("{}"), NextAttemptAt: cmdT0, CreatedAt: cmdT0}); err != nil {
			t.Fatal(i, err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := handles[w%2].ClaimWebhooks(ctx, cmdT0, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("message %d claimed %d times", id, k)
		}
	}
}

// TestPostgresListenPayload: ListenPayload hands over "" once subscribed,
// then each notification's payload (the vehicle a command was queued for).
func TestPostgresListenPayload(t *testing.T) {
	st := storetest.OpenConfig(t, storetest.PostgresConfig(t))
	n, ok := st.(store.PayloadNotifier)
	if !ok {
		t.Fatal("the PostgreSQL store is not a PayloadNotifier")
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan string, 4)
	done := make(chan error, 1)
	go func() { done <- n.ListenPayload(lctx, store.CommandsChannel, func(p string) { got <- p }) }()
	select {
	case p := <-got:
		if p != "" {
			t.Fatalf("first call %q; want \"\" (subscribed)", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never subscribed")
	}
	mustCreate(t, st, newCmd("c1", "TRK-9", "acme-freight"))
	if _, err := st.TransitionCommand(ctx, step("c1", store.CommandPendingApproval, store.CommandApproved, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.QueueCommand(ctx, step("c1", store.CommandApproved, store.CommandQueued, "x"), []byte("n"), cmdT0); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "TRK-9" {
			t.Fatalf("payload %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
