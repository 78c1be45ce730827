package approval

import (
	"errors"
	"fmt"
	"time"
)

// Class names how many approvals a command needs: its risk class.
type Class string

// The risk classes.
const (
	Standard Class = "standard" // no approval
	Elevated Class = "elevated" // one approval
	High     Class = "high"     // two or more; delivered only after a fresh challenge-response (package command, RequiresFreshSession)
)

// None, as a Policy count, requires no approval for that rule (0 takes the
// default).
const None = -1

// Policy is the risk policy, from configuration: how many approvals a
// command needs. It is data only. A zero field takes its default (limits.go)
// in one place, WithDefaults; a count set to None requires none.
type Policy struct {
	// HazmatApprovals: for a load with hazmat lines; never none.
	HazmatApprovals int
	// HeavyGrossKg and HeavyApprovals: a load heavier than HeavyGrossKg
	// (gross kg) needs HeavyApprovals; never none.
	HeavyGrossKg   float64
	HeavyApprovals int
	// RouteUpdateApprovals: for a route update. HandoverApprovals: for a
	// command whose route has a handoff point (the load changes hands
	// there), and for the handover type.
	RouteUpdateApprovals int
	HandoverApprovals    int
	// RiskThreshold: a request risk score above it adds
	// RiskExtraApprovals. 100 (MaxRiskScore): never.
	RiskThreshold      int
	RiskExtraApprovals int
	// ApprovalTTL: how long an approval counts.
	ApprovalTTL time.Duration
	// CommandTTL: the expiry of a command whose request names none;
	// MaxCommandTTL bounds what a request may name.
	CommandTTL    time.Duration
	MaxCommandTTL time.Duration
}

// WithDefaults returns p with every zero field set to its default and
// None counts set to 0.
func (p Policy) WithDefaults() Policy {
	def := func(v *int, d int) {
		switch *v {
		case 0:
			*v = d
		case None:
			*v = 0
		}
	}
	if p.HeavyGrossKg == 0 {
		p.HeavyGrossKg = DefaultHeavyGrossKg
	}
	if p.HazmatApprovals == 0 {
		p.HazmatApprovals = DefaultHazmatApprovals
	}
	if p.HeavyApprovals == 0 {
		p.HeavyApprovals = DefaultHeavyApprovals
	}
	def(&p.RouteUpdateApprovals, DefaultRouteUpdateApprovals)
	def(&p.HandoverApprovals, DefaultHandoverApprovals)
	def(&p.RiskExtraApprovals, DefaultRiskExtraApprovals)
	if p.RiskThreshold == 0 {
		p.RiskThreshold = DefaultRiskThreshold
	}
	if p.ApprovalTTL == 0 {
		p.ApprovalTTL = DefaultApprovalTTL
	}
	if p.CommandTTL == 0 {
		p.CommandTTL = DefaultCommandTTL
	}
	if p.MaxCommandTTL == 0 {
		p.MaxCommandTTL = MaxCommandTTL
	}
	return p
}

// Validate checks a policy after WithDefaults.
func (p Policy) Validate() error {
	var errs []error
	count := func(name string, v, min int) {
		if v < min || v > MaxApprovalsRequired {
			errs = append(errs, fmt.Errorf("approval: %s must be %d to %d (got %d)", name, min, MaxApprovalsRequired, v))
		}
	}
	count("hazmat approvals", p.HazmatApprovals, 1)
	count("heavy load approvals", p.HeavyApprovals, 1)
	count("route update approvals", p.RouteUpdateApprovals, 0)
	count("handover approvals", p.HandoverApprovals, 0)
	count("risk extra approvals", p.RiskExtraApprovals, 0)
	if !(p.HeavyGrossKg > 0 && p.HeavyGrossKg <= MaxHeavyGrossKg) {
		errs = append(errs, fmt.Errorf("approval: heavy gross weight must be more than 0 and at most %d (got %v)", MaxHeavyGrossKg, p.HeavyGrossKg))
	}
	if p.RiskThreshold < 0 || p.RiskThreshold > MaxRiskScore {
		errs = append(errs, fmt.Errorf("approval: risk threshold must be 0 to %d (got %d)", MaxRiskScore, p.RiskThreshold))
	}
	if p.ApprovalTTL < MinApprovalTTL || p.ApprovalTTL > MaxApprovalTTL {
		errs = append(errs, fmt.Errorf("approval: approval lifetime must be %v to %v (got %v)", MinApprovalTTL, MaxApprovalTTL, p.ApprovalTTL))
	}
	if p.MaxCommandTTL < MinCommandTTL || p.MaxCommandTTL > MaxCommandTTL {
		errs = append(errs, fmt.Errorf("approval: maximum command lifetime must be %v to %v (got %v)", MinCommandTTL, MaxCommandTTL, p.MaxCommandTTL))
	}
	if p.CommandTTL < MinCommandTTL || p.CommandTTL > p.MaxCommandTTL {
		errs = append(errs, fmt.Errorf("approval: command lifetime must be %v to %v (got %v)", MinCommandTTL, p.MaxCommandTTL, p.CommandTTL))
	}
	return errors.Join(errs...)
}

// Risk is what the policy weighs of a request.
type Risk struct {
	RouteUpdate bool    // the command is a route update
	Handover    bool    // the command is of the (reserved) handover type
	HazmatLines int     // hazardous material lines of the load
	GrossKg     float64 // the load's gross weight
	Handoffs    int     // handoff points of the command's route (the load changes hands there)
	Score       int     // the request's risk score (authz.Caller.Risk)
}

// Assessment is the policy's verdict on a request.
type Assessment struct {
	Class    Class
	Required int      // distinct approvals needed, other than the requester
	Reasons  []string // why: hazmat, gross_weight, route_update, handover, risk_score
}

// Assess applies p (after WithDefaults) to r: the largest count of the
// rules that apply (hazmat; heavy load; route update; a handoff point on
// the route or the handover type), plus
// RiskExtraApprovals when the score is above the threshold, at most
// MaxApprovalsRequired. A weight that is not a finite non-negative number
// counts as heavy (fail closed).
func (p Policy) Assess(r Risk) Assessment {
	var a Assessment
	need := func(n int, why string) {
		a.Reasons = append(a.Reasons, why)
		a.Required = max(a.Required, n)
	}
	if r.HazmatLines > 0 {
		need(p.HazmatApprovals, "hazmat")
	}
	if !(r.GrossKg >= 0 && r.GrossKg <= p.HeavyGrossKg) { // NaN and ±Inf included
		need(p.HeavyApprovals, "gross_weight")
	}
	if r.RouteUpdate {
		need(p.RouteUpdateApprovals, "route_update")
	}
	// A handoff point hands the load (and, for a hazmat load, its
	// danger) to someone else: whichever command plans it, a dispatch
	// or a route update, needs the handover approvals.
	if r.Handover || r.Handoffs != 0 {
		need(p.HandoverApprovals, "handover")
	}
	if r.Score > p.RiskThreshold {
		a.Reasons = append(a.Reasons, "risk_score")
		a.Required += p.RiskExtraApprovals
	}
	a.Required = min(a.Required, MaxApprovalsRequired)
	switch {
	case a.Required >= 2:
		a.Class = High
	case a.Required == 1:
		a.Class = Elevated
	default:
		a.Class = Standard
	}
	return a
}
