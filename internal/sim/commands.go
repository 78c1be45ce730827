package sim

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// CommandRule is how the simulated trucks' AV stack answers the gateway's
// commands: it accepts every command but those of the types in Reject,
// which it declines as infeasible (codes.CommandInfeasible), a business
// answer that leaves the truck driving.
type CommandRule struct {
	// Reject lists the command types the trucks decline (for example
	// route_update: "the route is infeasible").
	Reject []frame.CommandType
}

// commandStack is one truck's command handler: the rule, and the counts
// the report reads.
type commandStack struct {
	v    *vehicle
	rule CommandRule
}

// HandleCommand decides by the rule. The agent has verified the command
// (pinned command key, addressee, cmd_seq, expiry) and promises to call
// this at most once per command, ever (its executed-command log); the
// truck counts its runs per command id, so a run that breaks the promise
// shows in the report (Vehicle.DuplicateExecutions) and fails --check.
func (s commandStack) HandleCommand(_ context.Context, c agent.Command) agent.Answer {
	s.v.executed(c.ID)
	if slices.Contains(s.rule.Reject, c.Type) {
		s.v.cmdRejected.Add(1)
		return agent.Reject(codes.CommandInfeasible, "the simulated truck declines "+string(c.Type)+" commands")
	}
	s.v.cmdAccepted.Add(1)
	if c.Type == frame.CommandDispatch {
		s.v.startLoad(c.Payload)
	}
	return agent.Accept()
}

// loadEvents is what a truck reports at a stop of each type, in order.
var loadEvents = map[frame.StopType][]frame.StopStatus{
	frame.StopPickup:   {frame.StopArrived, frame.StopLoaded, frame.StopDeparted},
	frame.StopDelivery: {frame.StopArrived, frame.StopDelivered},
}

// startLoad runs a dispatched load at a compressed pace, on a goroutine of
// its own that ends with the truck's agent: before each stop the ETA in
// telemetry names it; at each stop the truck reports its events
// (ReportStop), one every StopEventInterval; after the last the ETA is
// cleared. A new dispatch replaces the load in progress. The first event
// waits one interval, after the command's answer has gone out, so the
// gateway has recorded the dispatch as accepted.
func (v *vehicle) startLoad(p frame.CommandPayload) {
	v.mu.Lock()
	ctx := v.ctx
	if v.loadCancel != nil {
		v.loadCancel()
	}
	if ctx == nil {
		v.mu.Unlock()
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	v.loadCancel = cancel
	v.mu.Unlock()
	stops := slices.Clone(p.Stops)
	go func() {
		defer cancel()
		var n int
		for _, st := range stops {
			n += len(loadEvents[st.Type])
		}
		t := time.NewTicker(StopEventInterval)
		defer t.Stop()
		for _, st := range stops {
			for _, status := range loadEvents[st.Type] {
				_ = v.a.SetETA(p.TenderID, st.Seq, time.Now().Add(time.Duration(n)*StopEventInterval))
				select {
				case <-lctx.Done():
					return
				case <-t.C:
				}
				n--
				v.reportStop(lctx, p.TenderID, st, status)
			}
		}
		v.a.ClearETA()
	}()
}

// reportStop reports one stop event and counts its answer.
func (v *vehicle) reportStop(ctx context.Context, tender string, st frame.Stop, status frame.StopStatus) {
	rctx, cancel := context.WithTimeout(ctx, stopReportTimeout)
	defer cancel()
	err := v.a.ReportStop(rctx, agent.StopEvent{TenderID: tender, StopSeq: st.Seq, Status: status, At: v.now(), Lat: st.Lat, Lon: st.Lon})
	var refused *agent.StopRefusedError
	switch {
	case err == nil:
		v.stopsReported.Add(1)
	case errors.As(err, &refused):
		v.stopsRefused.Add(1)
	default:
		v.stopsUnanswered.Add(1)
	}
}

// executed counts one run of the AV stack's handler for command id; a
// second run of the same command is a duplicate execution.
func (v *vehicle) executed(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.runs == nil {
		v.runs = map[string]int{}
	}
	v.runs[id]++
	if v.runs[id] == 1 {
		return
	}
	v.cmdDuplicates.Add(1)
	if v.runs[id] == 2 && len(v.dupIDs) < maxDuplicateIDsKept {
		v.dupIDs = append(v.dupIDs, id)
	}
}
