package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestDuplicateExecutionFailsCheck: the simulated AV stack counts its runs
// per command id. A healthy run (each command once, even with the same
// type again) reports no duplicate and passes --check; a handler made to
// run one command twice (what a redelivery does to a truck whose agent
// lost its executed-command log) shows in the report, by truck and
// command, and fails --check.
func TestDuplicateExecutionFailsCheck(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	report := func(vs ...*vehicle) *Report {
		var trucks []truckResult
		for _, v := range vs {
			trucks = append(trucks, v.result())
		}
		return buildReport(reportInput{cfg: cfg, started: start, t0: t0, end: t0.Add(30 * time.Second), ready: len(vs), eligible: len(vs),
			trucks: trucks, gw: newGatewayLog(nil), gwSource: "test"})
	}
	ctx := context.Background()
	a, b := &vehicle{id: "sim-00000"}, &vehicle{id: "sim-00001"}
	sa, sb := commandStack{v: a}, commandStack{v: b}
	sa.HandleCommand(ctx, agent.Command{ID: "cmd-1", Type: frame.CommandDispatch})
	sa.HandleCommand(ctx, agent.Command{ID: "cmd-2", Type: frame.CommandDispatch})
	sb.HandleCommand(ctx, agent.Command{ID: "cmd-3", Type: frame.CommandDispatch})
	r := report(a, b)
	if r.Vehicle.DuplicateExecutions != 0 || len(r.Vehicle.DuplicateCommands) != 0 || r.Vehicle.CommandsAccepted != 3 {
		t.Fatalf("each command once: duplicates %d %v, accepted %d", r.Vehicle.DuplicateExecutions, r.Vehicle.DuplicateCommands, r.Vehicle.CommandsAccepted)
	}
	if f := r.CheckFailures(); len(f) != 0 {
		t.Fatalf("check failures %q when every command ran once", f)
	}

	// The sabotage: truck b's handler runs cmd-3 again, twice.
	sb.HandleCommand(ctx, agent.Command{ID: "cmd-3", Type: frame.CommandDispatch})
	sb.HandleCommand(ctx, agent.Command{ID: "cmd-3", Type: frame.CommandDispatch})
	r = report(a, b)
	if r.Vehicle.DuplicateExecutions != 2 || !slices.Equal(r.Vehicle.DuplicateCommands, []string{"sim-00001/cmd-3"}) {
		t.Fatalf("duplicates %d %v, want 2 runs of sim-00001/cmd-3", r.Vehicle.DuplicateExecutions, r.Vehicle.DuplicateCommands)
	}
	f := r.CheckFailures()
	if len(f) != 1 || !strings.Contains(f[0], "ran 2 command(s) again") || !strings.Contains(f[0], "sim-00001/cmd-3") {
		t.Fatalf("check failures %q, want the duplicate execution", f)
	}
	var tb strings.Builder
	if err := r.WriteTable(&tb); err != nil || !strings.Contains(tb.String(), "WARNING: 2 duplicate command execution(s): sim-00001/cmd-3") {
		t.Fatalf("the table does not show the duplicates: %v\n%s", err, tb.String())
	}
}
