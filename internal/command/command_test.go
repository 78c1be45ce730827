package command_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

var (
	requester = principal.Principal{Kind: principal.Client, ID: "acme"}
	ann       = principal.Principal{Kind: principal.Operator, ID: "ann"}
	bob       = principal.Principal{Kind: principal.Operator, ID: "bob"}
	eve       = principal.Principal{Kind: principal.Operator, ID: "eve"} // no approver role
	truck     = principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"}
)

// roles is the approver directory: who holds approver now.
type roles struct {
	mu  sync.Mutex
	m   map[principal.Principal]bool
	err error
}

func (r *roles) HoldsApprover(_ context.Context, p principal.Principal) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[p], r.err
}

func (r *roles) set(p principal.Principal, holds bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[p] = holds
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a service on a fresh store of one engine.
type env struct {
	st    store.Store
	svc   *command.Service
	roles *roles
	clk   *clock
}

func newEnv(t *testing.T, e storetest.Engine) *env {
	t.Helper()
	return newEnvOn(t, e.Open(t))
}

func newEnvOn(t *testing.T, st store.Store) *env {
	t.Helper()
	r := &roles{m: map[principal.Principal]bool{ann: true, bob: true, requester: true}}
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	svc, err := command.New(command.Config{}, command.Deps{Store: st, Approvers: r, Now: clk.now,
		Online: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, svc: svc, roles: r, clk: clk}
}

// hazmat is a dispatch of a hazmat load: two approvals.
func hazmat() command.Request {
	return command.Request{Vehicle: "TRK-1", Carrier: "acme-freight", RequestedBy: requester, Type: command.TypeDispatch,
		TenderID: "T-1", Payload: []byte(`{"route":[]}`), HazmatLines: 1, GrossKg: 20000}
}

// plain is a dispatch that needs no approval.
func plain() command.Request {
	r := hazmat()
	r.HazmatLines = 0
	return r
}

func (e *env) create(t *testing.T, r command.Request) store.Command {
	t.Helper()
	d, err := e.svc.Create(ctx, r)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return d.Command
}

func (e *env) get(t *testing.T, id string) store.Command {
	t.Helper()
	c, err := e.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codesOf(evs []event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Code)
	}
	return out
}

// wantRefusal checks that err is the refusal code and that d carries its
// one rejecting event.
func wantRefusal(t *testing.T, d command.Decision, err error, code string) {
	t.Helper()
	var ce *command.Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("err = %v, want refusal %s", err, code)
	}
	n := 0
	for _, e := range d.Events {
		if e.Code == code {
			n++
			if e.Verdict != event.Reject {
				t.Errorf("event %s has verdict %s", code, e.Verdict)
			}
			if entry, _ := codes.Lookup(code); e.Severity < entry.Severity {
				t.Errorf("event %s has severity %v below the catalogue's %v", code, e.Severity, entry.Severity)
			}
		}
	}
	if n != 1 {
		t.Fatalf("events %v: want exactly one %s", codesOf(d.Events), code)
	}
}

// stillPending checks that command id waits for approvals and never got a
// cmd_seq.
func (e *env) stillPending(t *testing.T, id string) {
	t.Helper()
	c := e.get(t, id)
	if c.State != command.PendingApproval || c.CmdSeq != 0 || c.Nonce != nil {
		t.Fatalf("command is %s with cmd_seq %d; want pending_approval, never queued", c.State, c.CmdSeq)
	}
	if n, _ := e.st.LastCmdSeq(ctx, c.Vehicle); n != 0 {
		t.Fatalf("the vehicle's counter moved to %d", n)
	}
}

func TestCreate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		d, err := e.svc.Create(ctx, plain())
		if err != nil {
			t.Fatal(err)
		}
		c := d.Command
		if c.State != command.Queued || c.CmdSeq != 1 || len(c.Nonce) != command.NonceBytes || c.RiskClass != "standard" ||
			!c.ExpiresAt.Equal(e.clk.now().Add(approval.DefaultCommandTTL)) || c.RequestedBy != requester.String() {
			t.Fatalf("a command that needs no approval: %+v", c)
		}
		if got := codesOf(d.Events); !slices.Equal(got, []string{codes.CommandCreated, codes.CommandQueued}) {
			t.Fatalf("events %v", got)
		}
		trs, _ := e.st.CommandTransitions(ctx, c.ID)
		if len(trs) != 2 || trs[0].To != command.Approved || trs[1].To != command.Queued || trs[1].Reason != "vehicle_offline" {
			t.Fatalf("transitions %+v", trs)
		}
		e.clk.advance(time.Millisecond)
		h := e.create(t, hazmat())
		if h.State != command.PendingApproval || h.ApprovalsRequired != 2 || h.RiskClass != "high" || h.ID <= c.ID {
			t.Fatalf("hazmat command: %+v (ids must sort by creation)", h)
		}
		for _, bad := range []struct {
			name string
			mod  func(*command.Request)
		}{
			{"unknown type", func(r *command.Request) { r.Type = "self_destruct" }},
			{"bad vehicle id", func(r *command.Request) { r.Vehicle = "../TRK" }},
			{"no requester", func(r *command.Request) { r.RequestedBy = principal.Principal{} }},
			{"payload not an object", func(r *command.Request) { r.Payload = []byte(`[1]`) }},
			{"payload not JSON", func(r *command.Request) { r.Payload = []byte(`{"a":`) }},
			{"payload too large", func(r *command.Request) {
				r.Payload = append([]byte(`{"a":"`), make([]byte, command.MaxPayloadBytes)...)
			}},
			{"expiry too far", func(r *command.Request) { r.TTL = approval.MaxCommandTTL + time.Second }},
			{"expiry in the past", func(r *command.Request) { r.TTL = -time.Second }},
		} {
			r := plain()
			bad.mod(&r)
			d, err := e.svc.Create(ctx, r)
			wantRefusal(t, d, err, codes.CommandInvalid)
		}
		all, _ := e.st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers()})
		if len(all) != 2 {
			t.Fatalf("refused requests stored commands: %d", len(all))
		}
	})
}

// TestAttackCommandWithoutRequiredApprovals: a hazmat command with fewer
// approvals than its risk class requires stays pending_approval, is never
// queued (no cmd_seq, the counter untouched) and cannot be delivered or
// swept into the queue; the second distinct approval queues it.
func TestAttackCommandWithoutRequiredApprovals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		c := e.create(t, hazmat())
		e.stillPending(t, c.ID)
		d, err := e.svc.Approve(ctx, c.ID, ann)
		if err != nil || !slices.Equal(codesOf(d.Events), []string{codes.CommandApprovalRecorded}) {
			t.Fatalf("first approval: %v, %v", codesOf(d.Events), err)
		}
		e.stillPending(t, c.ID)
		d, err = e.svc.Deliver(ctx, c.ID, "gw-1")
		wantRefusal(t, d, err, codes.CommandDeliveryRefused)
		if _, err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.stillPending(t, c.ID)
		d, err = e.svc.Approve(ctx, c.ID, bob)
		if err != nil || d.Command.State != command.Queued || d.Command.CmdSeq != 1 {
			t.Fatalf("second approval: %+v, %v", d.Command, err)
		}
		if got := codesOf(d.Events); !slices.Equal(got, []string{codes.CommandApprovalRecorded, codes.CommandApproved, codes.CommandQueued}) {
			t.Fatalf("events of the second approval: %v", got)
		}
	})
}

// TestAttackOnePrincipalApprovingTwice: the second approval of the same
// principal is refused (command_approval_refused_duplicate) and does not
// count: the hazmat command still waits for a second principal.
func TestAttackOnePrincipalApprovingTwice(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		c := e.create(t, hazmat())
		if _, err := e.svc.Approve(ctx, c.ID, ann); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(time.Minute)
		d, err := e.svc.Approve(ctx, c.ID, ann)
		wantRefusal(t, d, err, codes.CommandApprovalRefusedDuplicate)
		e.stillPending(t, c.ID)
		if as, _ := e.st.ListApprovals(ctx, c.ID); len(as) != 1 {
			t.Fatalf("approvals stored: %+v", as)
		}
	})
}

// TestAttackRequesterApprovesOwnCommand: the requester, even holding the
// approver role, cannot approve its own command; nothing is recorded.
func TestAttackRequesterApprovesOwnCommand(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		r := hazmat()
		r.RequestedBy = ann // an approver requesting
		c := e.create(t, r)
		d, err := e.svc.Approve(ctx, c.ID, ann)
		wantRefusal(t, d, err, codes.CommandApprovalRefusedSelf)
		if as, _ := e.st.ListApprovals(ctx, c.ID); len(as) != 0 {
			t.Fatalf("the requester's approval was stored: %+v", as)
		}
		// Two others approve: the requester never counted.
		for _, p := range []principal.Principal{bob, requester} {
			if _, err := e.svc.Approve(ctx, c.ID, p); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.get(t, c.ID); got.State != command.Queued {
			t.Fatalf("after two other approvers: %s", got.State)
		}
	})
}

// TestAttackApproverWithoutRole: a principal that does not hold the
// approver role now is refused and nothing is recorded; an approval whose
// approver lost the role since does not count; a directory that cannot
// answer refuses (fail closed).
func TestAttackApproverWithoutRole(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		c := e.create(t, hazmat())
		d, err := e.svc.Approve(ctx, c.ID, eve)
		wantRefusal(t, d, err, codes.CommandApprovalRefusedRole)
		if as, _ := e.st.ListApprovals(ctx, c.ID); len(as) != 0 {
			t.Fatalf("an approval without the role was stored: %+v", as)
		}
		if _, err := e.svc.Approve(ctx, c.ID, ann); err != nil {
			t.Fatal(err)
		}
		e.roles.set(ann, false) // ann loses the role
		d, err = e.svc.Approve(ctx, c.ID, bob)
		if err != nil || !slices.Contains(codesOf(d.Events), codes.CommandApprovalExpired) {
			t.Fatalf("bob's approval: %v, %v; want ann's approval reported as not counted", codesOf(d.Events), err)
		}
		e.stillPending(t, c.ID)
		e.roles.mu.Lock()
		e.roles.err = errors.New("directory down")
		e.roles.mu.Unlock()
		e.roles.set(eve, true)
		if _, err := e.svc.Approve(ctx, c.ID, eve); err == nil {
			t.Fatal("an approval was accepted while the directory failed")
		}
		if as, _ := e.st.ListApprovals(ctx, c.ID); len(as) != 2 {
			t.Fatalf("approvals after the directory failed: %+v", as)
		}
	})
}

// TestAttackExpiredApprovalNotCounted: an approval older than the approval
// lifetime does not count with a later one; renewing it does.
func TestAttackExpiredApprovalNotCounted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		c := e.create(t, hazmat())
		if _, err := e.svc.Approve(ctx, c.ID, ann); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(approval.DefaultApprovalTTL)
		d, err := e.svc.Approve(ctx, c.ID, bob)
		if err != nil || !slices.Equal(codesOf(d.Events), []string{codes.CommandApprovalRecorded, codes.CommandApprovalExpired}) {
			t.Fatalf("bob after ann's approval expired: %v, %v", codesOf(d.Events), err)
		}
		e.stillPending(t, c.ID)
		d, err = e.svc.Approve(ctx, c.ID, ann) // renewed
		if err != nil || d.Command.State != command.Queued {
			t.Fatalf("ann renews: %+v, %v", d.Command, err)
		}
	})
}

func idem(key, body string) *command.Idempotency {
	h := sha256.Sum256([]byte(body))
	return &command.Idempotency{Key: key, RequestSHA256: h[:], Response: func(c store.Command) (int, []byte, error) {
		return 201, []byte(`{"id":"` + c.ID + `","state":"` + string(c.State) + `"}`), nil
	}}
}

// TestAttackIdempotencyKeyReusedWithAnotherBody: a key used for one body
// and offered with another is refused (idempotency_key_reused, with its
// event) at lookup and at creation; only the first command exists. The
// same key and body is answered with the stored response and creates
// nothing.
func TestAttackIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		r := plain()
		r.Idempotency = idem("k-1", `{"load":"A"}`)
		first := e.create(t, r)

		other := plain()
		other.Idempotency = idem("k-1", `{"load":"B"}`)
		rec, d, err := e.svc.Replay(ctx, requester, "k-1", other.Idempotency.RequestSHA256)
		if rec != nil {
			t.Fatal("a reused key replayed the other body's response")
		}
		wantRefusal(t, d, err, codes.IdempotencyKeyReused)
		d, err = e.svc.Create(ctx, other)
		wantRefusal(t, d, err, codes.IdempotencyKeyReused)

		rec, _, err = e.svc.Replay(ctx, requester, "k-1", r.Idempotency.RequestSHA256)
		if err != nil || rec == nil || rec.Status != 201 || string(rec.Body) != `{"id":"`+first.ID+`","state":"approved"}` {
			t.Fatalf("the retry's replay: %+v, %v", rec, err)
		}
		// A retry racing past the lookup is refused by the store.
		if _, err := e.svc.Create(ctx, r); !errors.Is(err, command.ErrDuplicateRequest) {
			t.Fatalf("a retry creating again: %v, want ErrDuplicateRequest", err)
		}
		all, _ := e.st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers()})
		if len(all) != 1 || all[0].ID != first.ID {
			t.Fatalf("commands: %+v", all)
		}
		// Another client's key of the same name is its own.
		r2 := plain()
		r2.RequestedBy = principal.Principal{Kind: principal.Client, ID: "globex"}
		r2.Idempotency = idem("k-1", `{"load":"B"}`)
		e.create(t, r2)
	})
}

// TestAttackCancelRacingDelivery: a cancel and a delivery of the same
// queued command, from two services on two store handles (two replicas),
// race: exactly one wins. The loser is refused: a late cancel with
// command_cancel_refused (possibly executed), a late delivery with
// command_delivery_refused (never sent).
func TestAttackCancelRacingDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		cfg := se.New(t)
		a := newEnvOn(t, storetest.OpenConfig(t, cfg))
		b := newEnvOn(t, storetest.OpenConfig(t, cfg))
		wins := map[string]int{}
		for round := range 12 {
			c := a.create(t, plain())
			var cancelD, deliverD command.Decision
			var cancelErr, deliverErr error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				cancelD, cancelErr = a.svc.Cancel(ctx, c.ID, requester, "customer cancelled")
			}()
			go func() { defer wg.Done(); <-start; deliverD, deliverErr = b.svc.Deliver(ctx, c.ID, "gw-2") }()
			close(start)
			wg.Wait()
			final := a.get(t, c.ID)
			switch {
			case cancelErr == nil && deliverErr == nil:
				t.Fatalf("round %d: both the cancel and the delivery won", round)
			case cancelErr == nil:
				wantRefusal(t, deliverD, deliverErr, codes.CommandDeliveryRefused)
				if final.State != command.Cancelled || command.PossiblyExecuted(final.State) {
					t.Fatalf("round %d: cancel won but the command is %s", round, final.State)
				}
				wins["cancel"]++
			case deliverErr == nil:
				wantRefusal(t, cancelD, cancelErr, codes.CommandCancelRefused)
				if final.State != command.Delivered || final.DeliveredBy != "gw-2" || !command.PossiblyExecuted(final.State) {
					t.Fatalf("round %d: delivery won but the command is %+v", round, final)
				}
				wins["deliver"]++
			default:
				t.Fatalf("round %d: neither won: %v / %v", round, cancelErr, deliverErr)
			}
		}
		t.Logf("wins: %v", wins)
	})
}

// TestAttackCmdSeqNeverReusedUnderConcurrentQueueing: commands of one
// vehicle created (and so queued) at once by two services on two store
// handles get each of 1..n exactly once.
func TestAttackCmdSeqNeverReusedUnderConcurrentQueueing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		cfg := se.New(t)
		envs := []*env{newEnvOn(t, storetest.OpenConfig(t, cfg)), newEnvOn(t, storetest.OpenConfig(t, cfg))}
		const n = 20
		seqs := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := envs[i%2].svc.Create(ctx, plain())
				seqs[i], errs[i] = d.Command.CmdSeq, err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(seqs)
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("cmd_seqs %v: want each of 1..%d once", seqs, n)
			}
		}
	})
}

// TestAttackCommandExpiredNeverDelivered: a queued command whose expiry
// passed (a truck offline through it) is refused at delivery and moves to
// expired; a pending one is expired by the sweep; neither may have
// executed, and neither can be cancelled or approved afterwards.
func TestAttackCommandExpiredNeverDelivered(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		r := plain()
		r.TTL = 10 * time.Minute
		q := e.create(t, r)
		h := e.create(t, hazmat())
		e.clk.advance(10 * time.Minute)
		d, err := e.svc.Deliver(ctx, q.ID, "gw-1")
		wantRefusal(t, d, err, codes.CommandDeliveryRefused)
		if !slices.Contains(codesOf(d.Events), codes.CommandExpired) || d.Command.State != command.Expired || command.PossiblyExecuted(d.Command.State) {
			t.Fatalf("delivery after expiry: %+v, events %v", d.Command, codesOf(d.Events))
		}
		e.clk.advance(time.Hour)
		evs, err := e.svc.Sweep(ctx)
		if err != nil || !slices.Equal(codesOf(evs), []string{codes.CommandExpired}) {
			t.Fatalf("sweep: %v, %v", codesOf(evs), err)
		}
		if got := e.get(t, h.ID); got.State != command.Expired {
			t.Fatalf("pending command after the sweep: %s", got.State)
		}
		d, err = e.svc.Approve(ctx, h.ID, ann)
		wantRefusal(t, d, err, codes.CommandApprovalRefusedState)
		d, err = e.svc.Cancel(ctx, h.ID, requester, "")
		wantRefusal(t, d, err, codes.CommandCancelRefused)
	})
}

// TestCancelAndAnswer: cancel before delivery; after delivery cancel is
// refused; the vehicle's answer, once and again, and from another vehicle.
func TestCancelAndAnswer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		h := e.create(t, hazmat())
		d, err := e.svc.Cancel(ctx, h.ID, requester, "load withdrawn")
		if err != nil || d.Command.State != command.Cancelled || !slices.Equal(codesOf(d.Events), []string{codes.CommandCancelled}) {
			t.Fatalf("cancel pending: %+v %v, %v", d.Command, codesOf(d.Events), err)
		}
		if d, err := e.svc.Cancel(ctx, h.ID, requester, "again"); err != nil || d.Command.State != command.Cancelled || len(d.Events) != 0 {
			t.Fatalf("cancel again: %+v, %v", d, err)
		}
		d, err = e.svc.Approve(ctx, h.ID, ann)
		wantRefusal(t, d, err, codes.CommandApprovalRefusedState)

		c := e.create(t, plain())
		if _, err := e.svc.Deliver(ctx, c.ID, "gw-1"); err != nil {
			t.Fatal(err)
		}
		d, err = e.svc.Deliver(ctx, c.ID, "gw-2") // another replica, late
		wantRefusal(t, d, err, codes.CommandDeliveryRefused)
		d, err = e.svc.Cancel(ctx, c.ID, requester, "")
		wantRefusal(t, d, err, codes.CommandCancelRefused)
		d, err = e.svc.Answer(ctx, c.ID, principal.Principal{Kind: principal.Vehicle, ID: "TRK-2"}, command.Accepted, "")
		wantRefusal(t, d, err, codes.VehicleMismatch)
		d, err = e.svc.Answer(ctx, c.ID, truck, command.Rejected, "route_infeasible")
		if err != nil || d.Command.State != command.Rejected || d.Command.AnswerReason != "route_infeasible" ||
			!slices.Equal(codesOf(d.Events), []string{codes.CommandRejected}) {
			t.Fatalf("answer: %+v %v, %v", d.Command, codesOf(d.Events), err)
		}
		if d, err := e.svc.Answer(ctx, c.ID, truck, command.Rejected, "route_infeasible"); err != nil || len(d.Events) != 0 {
			t.Fatalf("the same answer again: %+v, %v", d, err)
		}
		d, err = e.svc.Answer(ctx, c.ID, truck, command.Accepted, "")
		wantRefusal(t, d, err, codes.CommandStateConflict)
		trs, _ := e.st.CommandTransitions(ctx, c.ID)
		var path []string
		for _, tr := range trs {
			path = append(path, fmt.Sprintf("%s>%s by %s", tr.From, tr.To, tr.Actor))
		}
		want := []string{">approved by " + requester.String(), "approved>queued by " + command.System.String(),
			"queued>delivered by " + command.System.String(), "delivered>rejected by " + truck.String()}
		if !slices.Equal(path, want) {
			t.Fatalf("transitions %v, want %v", path, want)
		}
	})
}

// TestTwoApprovalsRacing: the two approvals a hazmat command needs,
// given at once on two replicas, approve and queue it exactly once.
func TestTwoApprovalsRacing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		cfg := se.New(t)
		envs := []*env{newEnvOn(t, storetest.OpenConfig(t, cfg)), newEnvOn(t, storetest.OpenConfig(t, cfg))}
		for round := range 8 {
			c := envs[0].create(t, hazmat())
			ds := make([]command.Decision, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, p := range []principal.Principal{ann, bob} {
				wg.Add(1)
				go func() { defer wg.Done(); ds[i], errs[i] = envs[i].svc.Approve(ctx, c.ID, p) }()
			}
			wg.Wait()
			approved, queued := 0, 0
			for i := range ds {
				if errs[i] != nil {
					t.Fatalf("round %d: %v", round, errs[i])
				}
				for _, code := range codesOf(ds[i].Events) {
					approved += btoi(code == codes.CommandApproved)
					queued += btoi(code == codes.CommandQueued)
				}
			}
			got := envs[0].get(t, c.ID)
			trs, _ := envs[0].st.CommandTransitions(ctx, c.ID)
			if approved != 1 || queued != 1 || got.State != command.Queued || got.CmdSeq != int64(round+1) || len(trs) != 3 {
				t.Fatalf("round %d: %d approved and %d queued events, command %s cmd_seq %d, %d transitions; want 1, 1, queued, %d, 3",
					round, approved, queued, got.State, got.CmdSeq, len(trs), round+1)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
