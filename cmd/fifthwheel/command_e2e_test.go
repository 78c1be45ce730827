package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// These tests create, approve and queue commands through command.Service
// on the gateway's store, as the TMS API does, and watch the gateway
// deliver them on the vehicle session to trucks running the agent SDK.
// On SQLite the gateway hears of a command queued by another process at
// its poll (commandPoll); on PostgreSQL by NOTIFY, on the replica holding
// the truck's session.

var (
	cmdRequester = principal.Principal{Kind: principal.Client, ID: "tms-1"}
	cmdApprovers = []principal.Principal{{Kind: principal.Operator, ID: "approver-1"}, {Kind: principal.Operator, ID: "approver-2"}}
)

// everyoneApproves: every principal holds the approver role.
type everyoneApproves struct{}

func (everyoneApproves) HoldsApprover(context.Context, principal.Principal) (bool, error) {
	return true, nil
}

// commandDesk is the TMS side of a test: a command service on the
// gateway's store.
type commandDesk struct {
	t   *testing.T
	st  store.Store
	svc *command.Service
}

func newCommandDesk(t *testing.T, g *gateway, online func(string) bool) *commandDesk {
	t.Helper()
	st, err := store.Open(context.Background(), g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := command.New(command.Config{}, command.Deps{Store: st, Approvers: everyoneApproves{}, Online: online})
	if err != nil {
		t.Fatal(err)
	}
	return &commandDesk{t: t, st: st, svc: svc}
}

// dispatchPayload is a dispatch's payload (one stop, one waypoint).
func dispatchPayload(tender string) []byte {
	w := time.Now().UTC().Truncate(time.Hour)
	return fmt.Appendf(nil, `{"tender_id":%q,"stops":[{"seq":1,"type":"pickup","facility":"Dock 4","lat":41.85,"lon":-87.65,`+
		`"tz":"America/Chicago","window_start":%q,"window_end":%q}],"waypoints":[{"seq":1,"lat":41.9,"lon":-87.7,"handoff":false}]}`,
		tender, w.Format("2006-01-02T15:04:05.000Z"), w.Add(2*time.Hour).Format("2006-01-02T15:04:05.000Z"))
}

// create asks for a dispatch to vehicle (hazmat: two approvals, given at
// once unless approve is false) and returns the command as it then is.
func (d *commandDesk) create(vehicle string, hazmat, approve bool, ttl time.Duration) store.Command {
	d.t.Helper()
	ctx := context.Background()
	r := command.Request{Vehicle: vehicle, Carrier: "acme", RequestedBy: cmdRequester, Type: command.TypeDispatch,
		TenderID: "T-" + vehicle, Payload: dispatchPayload("T-" + vehicle), TTL: ttl}
	if hazmat {
		r.HazmatLines = 1
	}
	dec, err := d.svc.Create(ctx, r)
	if err != nil {
		d.t.Fatal(err)
	}
	c := dec.Command
	if hazmat && approve {
		for _, a := range cmdApprovers {
			dec, err := d.svc.Approve(ctx, c.ID, a)
			if err != nil {
				d.t.Fatal(err)
			}
			c = dec.Command
		}
	}
	return c
}

func (d *commandDesk) get(id string) store.Command {
	d.t.Helper()
	c, err := d.st.GetCommand(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// waitState waits until command id is in state want.
func (d *commandDesk) waitState(id string, want store.CommandState) store.Command {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := d.get(id)
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("command %s is %s, never %s", id, c.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// transitions returns command id's transitions as "from>to:reason".
func (d *commandDesk) transitions(id string) []string {
	d.t.Helper()
	trs, err := d.st.CommandTransitions(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, tr := range trs {
		out = append(out, fmt.Sprintf("%s>%s:%s", tr.From, tr.To, tr.Reason))
	}
	return out
}

// avStack is a truck's command handler: it records every command it is
// given, accepts dispatches and rejects route updates as infeasible, and
// runs onCommand (if set) before it answers.
type avStack struct {
	mu        sync.Mutex
	got       []agent.Command
	onCommand func(agent.Command)
}

func (s *avStack) HandleCommand(_ context.Context, c agent.Command) agent.Answer {
	s.mu.Lock()
	s.got = append(s.got, c)
	on := s.onCommand
	s.mu.Unlock()
	if on != nil {
		on(c)
	}
	if c.Type == "route_update" {
		return agent.Reject(codes.CommandInfeasible, "no route")
	}
	return agent.Accept()
}

// runs returns how many times the handler ran command id.
func (s *avStack) runs(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.got {
		if c.ID == id {
			n++
		}
	}
	return n
}

func (s *avStack) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// commandEngines runs fn on SQLite (one gateway) and on PostgreSQL (two
// replicas sharing the store and CA: the truck is on b, and a is the
// other replica).
func commandEngines(t *testing.T, fn func(t *testing.T, a, b *gateway)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		g := devGateway(t)
		fn(t, g, g)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		a, b := pgReplicas(t)
		fn(t, a, b)
	})
}

// TestCommandDeliveredAndAccepted: a hazmat dispatch, queued once two
// approvals are given, reaches the truck connected (on PostgreSQL to the
// other replica), runs once, and the gateway records delivered, then
// accepted; a route update the truck rejects is recorded rejected with the
// truck's reason.
func TestCommandDeliveredAndAccepted(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		av := &avStack{}
		tr := startTruck(t, b, "truck-1", truckOptions{issuer: a, commands: av})
		desk := newCommandDesk(t, a, nil)

		pending := desk.create("truck-1", true, false, 0)
		if pending.State != command.PendingApproval {
			t.Fatalf("a hazmat dispatch is %s", pending.State)
		}
		time.Sleep(2 * commandPoll)
		if av.total() != 0 || desk.get(pending.ID).State != command.PendingApproval {
			t.Fatal("a command waiting for approvals reached the truck")
		}

		c := desk.create("truck-1", true, true, 0)
		if c.State != command.Queued || c.CmdSeq == 0 {
			t.Fatalf("approved twice: %s, cmd_seq %d", c.State, c.CmdSeq)
		}
		got := desk.waitState(c.ID, command.Accepted)
		if got.DeliveredBy == "" || got.Verdict != "accepted" {
			t.Fatalf("accepted command: %+v", got)
		}
		if n := av.runs(c.ID); n != 1 {
			t.Fatalf("the truck ran the command %d times", n)
		}
		av.mu.Lock()
		first := av.got[0]
		av.mu.Unlock()
		if first.Seq != uint64(c.CmdSeq) || first.Risk != "high" || first.Payload.TenderID != "T-truck-1" || len(first.Payload.Stops) != 1 {
			t.Fatalf("the truck got %+v", first)
		}
		want := []string{">pending_approval:requested", "pending_approval>approved:", "approved>queued:", "queued>delivered:sent", "delivered>accepted:"}
		trs := desk.transitions(c.ID)
		if len(trs) != len(want) {
			t.Fatalf("transitions %v", trs)
		}
		for i := range want {
			if !strings.HasPrefix(trs[i], want[i]) {
				t.Fatalf("transitions %v, want prefixes %v", trs, want)
			}
		}

		// A route update the truck turns down: rejected, with its reason.
		dec, err := desk.svc.Create(context.Background(), command.Request{Vehicle: "truck-1", Carrier: "acme", RequestedBy: cmdRequester,
			Type: command.TypeRouteUpdate, TenderID: "T-truck-1", Payload: fmt.Appendf(nil, `{"revision":2,%s`,
				strings.TrimPrefix(string(dispatchPayload("T-truck-1")), "{"))})
		if err != nil {
			t.Fatal(err)
		}
		for _, ap := range cmdApprovers[:dec.Command.ApprovalsRequired] {
			if _, err := desk.svc.Approve(context.Background(), dec.Command.ID, ap); err != nil {
				t.Fatal(err)
			}
		}
		rej := desk.waitState(dec.Command.ID, command.Rejected)
		if rej.AnswerReason != codes.CommandInfeasible {
			t.Fatalf("rejected with %q", rej.AnswerReason)
		}
		if len(tr.events.find(agent.EventCommandRefused)) != 0 {
			t.Fatal("the truck refused a command as an attack")
		}
	})
}

// TestCommandWaitsForOfflineVehicle: a command for a truck that is not
// connected stays queued (vehicle_offline) and is delivered when it
// connects.
func TestCommandWaitsForOfflineVehicle(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		desk := newCommandDesk(t, a, func(string) bool { return false })
		c := desk.create("truck-2", false, false, 0)
		if c.State != command.Queued {
			t.Fatalf("state %s", c.State)
		}
		time.Sleep(2 * commandPoll)
		if got := desk.get(c.ID); got.State != command.Queued {
			t.Fatalf("with no session the command is %s", got.State)
		}
		if trs := desk.transitions(c.ID); !strings.HasSuffix(trs[len(trs)-1], ":"+codes.VehicleOffline) {
			t.Fatalf("transitions %v", trs)
		}
		av := &avStack{}
		startTruck(t, b, "truck-2", truckOptions{issuer: a, commands: av})
		desk.waitState(c.ID, command.Accepted)
		if av.runs(c.ID) != 1 {
			t.Fatalf("ran %d times", av.runs(c.ID))
		}
	})
}

// TestAttackCommandExpiredDuringBlackout: a command queued while the truck
// is out of reach, whose expiry passes before it is back, is never
// delivered: the gateway expires it, and the truck never sees it.
func TestAttackCommandExpiredDuringBlackout(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		av := &avStack{}
		tr := startTruck(t, b, "truck-3", truckOptions{issuer: a, commands: av})
		tr.stop() // the blackout
		desk := newCommandDesk(t, a, nil)
		c := desk.create("truck-3", false, false, 2*time.Second)
		time.Sleep(time.Until(c.ExpiresAt) + 100*time.Millisecond)
		tr.restart()
		time.Sleep(2 * commandPoll)
		got := desk.waitState(c.ID, command.Expired)
		if got.DeliveredBy != "" || av.total() != 0 {
			t.Fatalf("an expired command was delivered: %+v; the truck ran %d", got, av.total())
		}
		for _, e := range a.events(codes.CommandDelivered) {
			if strings.Contains(string(e.Body), c.ID) {
				t.Fatalf("delivered: %s", e.Body)
			}
		}
	})
}

// TestAttackCommandForAnotherVehicle: a command for truck A is sent on A's
// session only: truck B, connected to the same gateway, never receives
// it (so never has it to refuse), and A's answered command is not sent
// again (no replayed envelope) when A reconnects.
func TestAttackCommandForAnotherVehicle(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		avA, avB := &avStack{}, &avStack{}
		trA := startTruck(t, b, "truck-a", truckOptions{issuer: a, commands: avA})
		trB := startTruck(t, b, "truck-b", truckOptions{issuer: a, commands: avB})
		desk := newCommandDesk(t, a, nil)
		c := desk.create("truck-a", false, false, 0)
		desk.waitState(c.ID, command.Accepted)
		trA.stop()
		trA.restart()
		time.Sleep(2 * commandPoll)
		if avB.total() != 0 || len(trB.events.find(agent.EventCommandRefused)) != 0 {
			t.Fatalf("truck B got %d commands, refused %d", avB.total(), len(trB.events.find(agent.EventCommandRefused)))
		}
		if avA.runs(c.ID) != 1 || len(trA.events.find(agent.EventCommandRedelivered)) != 0 ||
			len(trA.events.find(agent.EventCommandRefused)) != 0 {
			t.Fatalf("truck A ran it %d times; redelivered %d, refused %d", avA.runs(c.ID),
				len(trA.events.find(agent.EventCommandRedelivered)), len(trA.events.find(agent.EventCommandRefused)))
		}
	})
}

// TestAttackCommandAgentRestartedBetweenExecutionAndAnswer: the truck stops after
// its handler ran the command and before the answer reached the gateway;
// the gateway redelivers the delivered, unanswered command on the next
// session; the truck answers it from its executed-command log without
// running it again, and the gateway records the answer once.
func TestAttackCommandAgentRestartedBetweenExecutionAndAnswer(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		av := &avStack{}
		var trp atomic.Pointer[truck]
		cut := make(chan struct{})
		av.onCommand = func(agent.Command) {
			// The link drops while the AV stack decides: the answer is
			// recorded in the log but finds no session to go out on.
			tr := trp.Load()
			go tr.stop()
			deadline := time.Now().Add(10 * time.Second)
			for tr.a.Status().Connected && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			close(cut)
		}
		tr := startTruck(t, b, "truck-4", truckOptions{issuer: a, commands: av})
		trp.Store(tr)
		desk := newCommandDesk(t, a, nil)
		c := desk.create("truck-4", false, false, 0)
		select {
		case <-cut:
		case <-time.After(20 * time.Second):
			t.Fatal("the command never reached the truck")
		}
		tr.stop()
		if got := desk.get(c.ID); got.State != command.Delivered {
			t.Fatalf("before the restart the command is %s; want delivered (unanswered)", got.State)
		}
		av.mu.Lock()
		av.onCommand = nil
		av.mu.Unlock()
		tr.restart()
		desk.waitState(c.ID, command.Accepted)
		if n := av.runs(c.ID); n != 1 {
			t.Fatalf("the truck ran the command %d times", n)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(tr.events.find(agent.EventCommandRedelivered)) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the truck never answered the redelivery from its log")
			}
			time.Sleep(20 * time.Millisecond)
		}
		n := 0
		for _, s := range desk.transitions(c.ID) {
			if strings.HasPrefix(s, "delivered>") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the answer was recorded %d times: %v", n, desk.transitions(c.ID))
		}
	})
}

// TestSimFleetAnswersCommands: the trucks of `sim fleet` pin the gateway's
// command keys and answer its commands by their rule: a dispatch is
// accepted, a route update declined (--reject-commands route_update); the
// report counts both.
func TestSimFleetAnswersCommands(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, fleetEnv)
	desk := newCommandDesk(t, g, nil)
	ctx := context.Background()
	var ids []string
	for _, typ := range []command.Type{command.TypeDispatch, command.TypeRouteUpdate} {
		payload := dispatchPayload("T-sim")
		if typ == command.TypeRouteUpdate {
			payload = fmt.Appendf(nil, `{"revision":2,%s`, strings.TrimPrefix(string(payload), "{"))
		}
		d, err := desk.svc.Create(ctx, command.Request{Vehicle: "sim-00000", Carrier: "acme", RequestedBy: cmdRequester, Type: typ,
			TenderID: "T-sim", Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		for _, ap := range cmdApprovers[:d.Command.ApprovalsRequired] {
			if _, err := desk.svc.Approve(ctx, d.Command.ID, ap); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, d.Command.ID)
	}
	r, rep := simFleet(t, g, "--vehicles", "2", "--duration", "6s", "--blackout-fraction", "0", "--reject-commands", "route_update")
	if r.code != 0 || rep == nil {
		t.Fatalf("sim fleet exit %d", r.code)
	}
	if got := desk.waitState(ids[0], command.Accepted); got.Verdict != "accepted" {
		t.Fatalf("dispatch %+v", got)
	}
	if got := desk.waitState(ids[1], command.Rejected); got.AnswerReason != codes.CommandInfeasible {
		t.Fatalf("route update %+v", got)
	}
	if rep.Vehicle.CommandsAccepted != 1 || rep.Vehicle.CommandsRejected != 1 {
		t.Fatalf("report: accepted %d, rejected %d", rep.Vehicle.CommandsAccepted, rep.Vehicle.CommandsRejected)
	}
}
