package approval

import "time"

// The risk policy's defaults and bounds, in one place: the seed's (the
// design's "Defaults" table: approvals). Package config reads them for
// the commands section's defaults and bounds; package command applies the
// policy.
const (
	// DefaultHeavyGrossKg: a load heavier than this (gross, kg) needs
	// DefaultHeavyApprovals, as hazardous material does. 36,000 kg is
	// near the US federal 80,000 lb gross vehicle limit less the tractor
	// and trailer: a load above it is at the edge of what the truck may
	// legally and safely carry.
	DefaultHeavyGrossKg = 36000
	// DefaultHazmatApprovals and DefaultHeavyApprovals: hazmat lines or a
	// heavy load need two approvers (the two-person rule of the seed).
	DefaultHazmatApprovals = 2
	DefaultHeavyApprovals  = 2
	// DefaultRouteUpdateApprovals and DefaultHandoverApprovals: changing
	// where a loaded truck goes, or planning a handoff point where someone
	// else takes the load over, needs one approver.
	DefaultRouteUpdateApprovals = 1
	DefaultHandoverApprovals    = 1
	// DefaultRiskThreshold: a request whose risk score (package authz,
	// 0-100) is above it needs DefaultRiskExtraApprovals more. It sits
	// below the TMS-access threshold (access.risk_threshold, 50), above
	// which the guard refuses control requests outright: so the scale has
	// three bands, up to 25 normal, 26 to 50 one more approver (two risk
	// factors, or a factor and a refused request), above 50 refused. One
	// factor alone (a new source, say, at 25) adds nothing.
	DefaultRiskThreshold      = 25
	DefaultRiskExtraApprovals = 1
	// MaxApprovalsRequired bounds what any policy may require: more
	// distinct approvers than an operations shift has would make a command
	// impossible to approve, which is an outage, not a control.
	MaxApprovalsRequired = 5
	// MaxRiskScore is the top of the risk score's scale.
	MaxRiskScore = 100

	// DefaultApprovalTTL: an approval counts for this long. An approval is
	// a judgement about the situation when it was given; a stale one must
	// be given again. Bounded by Min/MaxApprovalTTL.
	DefaultApprovalTTL = 15 * time.Minute
	MinApprovalTTL     = time.Minute
	MaxApprovalTTL     = 24 * time.Hour

	// DefaultCommandTTL: a command is never delivered after its expiry;
	// this is the expiry a request that names none gets. An hour covers a
	// truck out of coverage for a while; a longer wait should be a new,
	// re-approved command. MaxCommandTTL bounds what a request may ask.
	DefaultCommandTTL = time.Hour
	MaxCommandTTL     = 72 * time.Hour
	// MinCommandTTL bounds the policy's lifetimes from below: a command
	// must live long enough to be approved and sent at all.
	MinCommandTTL = time.Second
	// MaxHeavyGrossKg bounds the heavy-load threshold: the TMS API accepts
	// no tender above 200,000 kg (package tmsapi, MaxGrossKg), so a higher
	// threshold would switch the rule off without saying so.
	MaxHeavyGrossKg = 200000
)
