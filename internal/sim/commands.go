package sim

import (
	"context"
	"slices"

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
// (pinned command key, addressee, cmd_seq, expiry) and calls this at most
// once per command, ever.
func (s commandStack) HandleCommand(_ context.Context, c agent.Command) agent.Answer {
	if slices.Contains(s.rule.Reject, c.Type) {
		s.v.cmdRejected.Add(1)
		return agent.Reject(codes.CommandInfeasible, "the simulated truck declines "+string(c.Type)+" commands")
	}
	s.v.cmdAccepted.Add(1)
	return agent.Accept()
}
