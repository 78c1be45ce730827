package sim

import (
	"context"
	"testing"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// TestCommandRule: the simulated AV stack accepts what the rule does not
// name and declines the rest as infeasible, counting both for the report.
func TestCommandRule(t *testing.T) {
	v := &vehicle{id: "sim-00000"}
	s := commandStack{v: v, rule: CommandRule{Reject: []frame.CommandType{frame.CommandRouteUpdate}}}
	if a := s.HandleCommand(context.Background(), agent.Command{ID: "c1", Type: frame.CommandDispatch}); a.Verdict != frame.VerdictAccepted {
		t.Fatalf("dispatch: %+v", a)
	}
	a := s.HandleCommand(context.Background(), agent.Command{ID: "c2", Type: frame.CommandRouteUpdate})
	if a.Verdict != frame.VerdictRejected || a.Reason != codes.CommandInfeasible {
		t.Fatalf("route update: %+v", a)
	}
	if r := v.result(); r.CmdAccepted != 1 || r.CmdRejected != 1 {
		t.Fatalf("counts %d/%d", r.CmdAccepted, r.CmdRejected)
	}
	if a := (commandStack{v: v}).HandleCommand(context.Background(), agent.Command{ID: "c3", Type: frame.CommandRouteUpdate}); a.Verdict != frame.VerdictAccepted {
		t.Fatalf("the default rule declined %+v", a)
	}
}
