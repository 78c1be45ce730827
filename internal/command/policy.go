package command

import (
	"errors"
	"fmt"
	"time"
)

// Type is a command's type.
type Type string

// The command types.
const (
	TypeTender      Type = "tender"
	TypeDispatch    Type = "dispatch"     // an accepted tender assigned to a vehicle with a planned route
	TypeRouteUpdate Type = "route_update" // a new route (revision) for a vehicle
	TypeHandover    Type = "handover"     // reserved: the API creates none; a route's handoff points are weighed by Risk.Handoffs
	TypeCancel      Type = "cancel"       // the vehicle is told to drop an earlier command
)

// Types lists every type.
var Types = []Type{TypeTender, TypeDispatch, TypeRouteUpdate, TypeHandover, TypeCancel}

// Valid reports whether t is a type this version knows.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// RiskClass names how many approvals a command needs.
type RiskClass string

// The risk classes.
const (
	RiskStandard RiskClass = "standard" // no approval
	RiskElevated RiskClass = "elevated" // one approval
	RiskHigh     RiskClass = "high"     // two or more; delivered only after a fresh challenge-response (RequiresFreshSession)
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
			errs = append(errs, fmt.Errorf("command: %s must be %d to %d (got %d)", name, min, MaxApprovalsRequired, v))
		}
	}
	count("hazmat approvals", p.HazmatApprovals, 1)
	count("heavy load approvals", p.HeavyApprovals, 1)
	count("route update approvals", p.RouteUpdateApprovals, 0)
	count("handover approvals", p.HandoverApprovals, 0)
	count("risk extra approvals", p.RiskExtraApprovals, 0)
	if !(p.HeavyGrossKg > 0 && p.HeavyGrossKg <= MaxHeavyGrossKg) {
		errs = append(errs, fmt.Errorf("command: heavy gross weight must be more than 0 and at most %d (got %v)", MaxHeavyGrossKg, p.HeavyGrossKg))
	}
	if p.RiskThreshold < 0 || p.RiskThreshold > MaxRiskScore {
		errs = append(errs, fmt.Errorf("command: risk threshold must be 0 to %d (got %d)", MaxRiskScore, p.RiskThreshold))
	}
	if p.ApprovalTTL < MinApprovalTTL || p.ApprovalTTL > MaxApprovalTTL {
		errs = append(errs, fmt.Errorf("command: approval lifetime must be %v to %v (got %v)", MinApprovalTTL, MaxApprovalTTL, p.ApprovalTTL))
	}
	if p.MaxCommandTTL < MinCommandTTL || p.MaxCommandTTL > MaxCommandTTL {
		errs = append(errs, fmt.Errorf("command: maximum command lifetime must be %v to %v (got %v)", MinCommandTTL, MaxCommandTTL, p.MaxCommandTTL))
	}
	if p.CommandTTL < MinCommandTTL || p.CommandTTL > p.MaxCommandTTL {
		errs = append(errs, fmt.Errorf("command: command lifetime must be %v to %v (got %v)", MinCommandTTL, p.MaxCommandTTL, p.CommandTTL))
	}
	return errors.Join(errs...)
}

// Risk is what the policy weighs of a request.
type Risk struct {
	Type        Type
	HazmatLines int     // hazardous material lines of the load
	GrossKg     float64 // the load's gross weight
	Handoffs    int     // handoff points of the command's route (the load changes hands there)
	Score       int     // the request's risk score (authz.Caller.Risk)
}

// Assessment is the policy's verdict on a request.
type Assessment struct {
	Class    RiskClass
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
	if r.Type == TypeRouteUpdate {
		need(p.RouteUpdateApprovals, "route_update")
	}
	// A handoff point hands the load (and, for a hazmat load, its
	// danger) to someone else: whichever command plans it, a dispatch
	// or a route update, needs the handover approvals.
	if r.Type == TypeHandover || r.Handoffs != 0 {
		need(p.HandoverApprovals, "handover")
	}
	if r.Score > p.RiskThreshold {
		a.Reasons = append(a.Reasons, "risk_score")
		a.Required += p.RiskExtraApprovals
	}
	a.Required = min(a.Required, MaxApprovalsRequired)
	switch {
	case a.Required >= 2:
		a.Class = RiskHigh
	case a.Required == 1:
		a.Class = RiskElevated
	default:
		a.Class = RiskStandard
	}
	return a
}

// RequiresFreshSession reports whether a command of class c may go out
// only on a session whose challenge-response happened after the last
// comm loss (issue 20): the high-risk ones.
func RequiresFreshSession(c RiskClass) bool { return c != RiskStandard && c != RiskElevated }
