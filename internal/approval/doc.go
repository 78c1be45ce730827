// Package approval is the risk policy of the commands the TMS sends
// trucks: how many approvals a command needs before it may be queued for
// its vehicle, and how long approvals and commands live. It decides a
// number; package command records approvals, counts them and moves the
// command on, and package config reads the policy's defaults and bounds
// (the commands section) from here, their one home.
//
// # Security model
//
// Invariant 5 (docs/ARCHITECTURE.md): a command reaches a vehicle only if
// approved as its risk class requires by distinct principals other than
// the requester. This package owns the "as its risk class requires":
//
//   - Assess takes the largest count of the rules that apply, hazmat lines
//     (HazmatApprovals), a gross weight over HeavyGrossKg (HeavyApprovals),
//     a route update (RouteUpdateApprovals), a handoff point on the route
//     or the handover type (HandoverApprovals), and adds
//     RiskExtraApprovals when the request's risk score is above
//     RiskThreshold; never more than MaxApprovalsRequired.
//   - It fails closed: a weight that is not a finite non-negative number
//     counts as heavy, a handoff count that is not zero as a handover.
//   - The hazmat and heavy-load counts are never none (Validate): the
//     two-person rule can be lowered to one person, not switched off.
//   - Bounds (limits.go) keep a policy possible to satisfy (at most five
//     approvers) and lifetimes within what the delivery side promises
//     (an approval at most a day, a command at most 72 h).
//
// A Policy is data only. Its zero fields take their defaults in one place
// (WithDefaults); a count set to None requires no approval for its rule.
//
// # Compatibility
//
// The class names (standard, elevated, high) and the reasons (hazmat,
// gross_weight, route_update, handover, risk_score) are stored with
// commands and events and appear in the TMS API: they are never renamed
// or reused; new ones may be added.
package approval
