package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The demo's hazmat load (issue 20): while the fleet drives, a simulated
// TMS (sim tms's, one load) tenders a hazmat load and dispatches it to a
// demo truck; the command waits in pending_approval until two simulated
// approvers approve it; then the truck, a fleet truck on the agent SDK,
// executes and answers it. The demo prints the gateway's record of it:
// every transition, with its time and actor.
const (
	// demoHazmatPrefix names the simulated TMS's clients and tender.
	demoHazmatPrefix = "demo-tms"
	// demoHazmatWait bounds the wait for the fleet to be in session
	// before the load is tendered.
	demoHazmatWait = 2 * time.Minute
)

// demoHazmat starts the hazmat load when every truck of the fleet is in
// session with the gateway: before the scenario's blackout (2 s after
// every truck drives), so that the load shows the approvals, not a
// blackout. (Were its truck dark, the command would wait queued and go
// out after the reconnect's fresh challenge-response.)
type demoHazmat struct {
	vehicles int
	ready    chan struct{}
	once     sync.Once
}

func newDemoHazmat(vehicles int) *demoHazmat {
	return &demoHazmat{vehicles: vehicles, ready: make(chan struct{})}
}

// summary takes the fleet's live summary.
func (h *demoHazmat) summary(s sim.Summary) {
	if s.Connected == h.vehicles {
		h.once.Do(func() { close(h.ready) })
	}
}

// demoHazmatResult is the hazmat load's outcome, for the summary.
type demoHazmatResult struct {
	ok     bool
	detail string
}

// run waits for the fleet, runs the load against the TMS listener at url
// to vehicle, and prints what the gateway recorded. fleetDone ends the
// wait if the fleet ends first.
func (h *demoHazmat) run(ctx context.Context, e *stateEnv, prov sim.TMSProvisioner, target sim.Target, vehicle string,
	fleetDone <-chan struct{}, out *demoView) demoHazmatResult {
	fail := func(format string, args ...any) demoHazmatResult {
		r := demoHazmatResult{detail: fmt.Sprintf(format, args...)}
		out.printf("hazmat load      FAIL: %s\n", r.detail)
		return r
	}
	select {
	case <-h.ready:
	case <-fleetDone:
		return fail("the fleet ended before every truck was in session")
	case <-time.After(demoHazmatWait):
		return fail("the fleet was not in session within %s", demoHazmatWait)
	case <-ctx.Done():
		return fail("%v", ctx.Err())
	}
	out.printf("hazmat load      a simulated dispatcher tenders a hazmat load (UN1203) and dispatches it to %s; two simulated approvers approve it\n", vehicle)
	// One load: the first starts at once, the next would wait a second.
	run, err := sim.NewTMS(sim.TMSConfig{Gateway: target, Vehicles: []string{vehicle}, IDPrefix: demoHazmatPrefix,
		Rate: 1, Duration: 500 * time.Millisecond, HazmatFraction: 1}, prov)
	if err != nil {
		return fail("%v", err)
	}
	rep, err := run.Run(ctx)
	if err != nil {
		return fail("%v", err)
	}
	if len(rep.Failures) > 0 || rep.Hazmat != 1 || rep.Accepted != 1 || len(rep.HazmatCommands) != 1 {
		return fail("%d hazmat load(s), %d accepted: %v", rep.Hazmat, rep.Accepted, rep.Failures)
	}
	id := rep.HazmatCommands[0]
	trs, err := e.st.CommandTransitions(ctx, id)
	if err != nil {
		return fail("the command's transitions: %v", err)
	}
	aps, err := e.st.ListApprovals(ctx, id)
	if err != nil {
		return fail("the command's approvals: %v", err)
	}
	if err := printHazmatTimeline(out, id, trs, aps); err != nil {
		return fail("%v", err)
	}
	r := demoHazmatResult{ok: true, detail: fmt.Sprintf("accepted by %s after two approvals; second approval → accepted %.0f ms",
		vehicle, rep.ApprovalToAccepted.P50)}
	out.printf("hazmat load      PASS: %s\n", r.detail)
	return r
}

// printHazmatTimeline prints the command's transitions and approvals in
// time order from its creation, and checks what the demo shows: created
// pending_approval, two approvals by distinct approvers, approved before
// its delivery, accepted by the truck last.
func printHazmatTimeline(out *demoView, id string, trs []store.CommandTransition, aps []store.Approval) error {
	if len(trs) == 0 {
		return errors.New("the command has no transitions")
	}
	type step struct {
		at        time.Time
		what, who string
	}
	var steps []step
	for _, x := range trs {
		what := string(x.To)
		if x.Reason != "" {
			what += " (" + x.Reason + ")"
		}
		steps = append(steps, step{x.At, what, x.Actor})
	}
	for _, ap := range aps {
		steps = append(steps, step{ap.At, "approval", ap.Approver})
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	t0 := trs[0].At
	out.printf("hazmat load      command %s, as the gateway recorded it:\n", id)
	for _, x := range steps {
		out.printf("  %+9.1f ms  %-30s by %s\n", float64(x.at.Sub(t0).Microseconds())/1000, x.what, x.who)
	}
	first, last := trs[0].To, trs[len(trs)-1].To
	at := map[store.CommandState]time.Time{}
	for _, x := range trs {
		at[x.To] = x.At
	}
	switch {
	case first != store.CommandPendingApproval:
		return fmt.Errorf("the command began %s, not %s", first, store.CommandPendingApproval)
	case last != store.CommandAccepted:
		return fmt.Errorf("the command ended %s, not %s", last, store.CommandAccepted)
	case len(aps) != 2 || aps[0].Approver == aps[1].Approver:
		return fmt.Errorf("the command has %d approvals, want 2 by distinct approvers", len(aps))
	case at[store.CommandApproved].IsZero() || at[store.CommandDelivered].Before(at[store.CommandApproved]):
		return errors.New("the command was not approved before its delivery")
	}
	return nil
}
