// Package command decides what happens to the commands the TMS sends
// trucks (tenders, dispatches, route updates, handovers, cancels): the risk
// policy that says how many approvals a command needs, the approvals, and
// the state machine from request to the vehicle's signed answer. It makes
// decisions and records them through the store; it does not speak HTTP
// (the TMS API handlers call it) nor sign or send commands (the delivery
// side calls Deliver before it sends).
//
// # States
//
//	pending_approval → approved → queued → delivered → accepted | rejected
//	(pending_approval | approved | queued) → cancelled | expired
//
// Every transition is one conditional update in the store ("to, where the
// state is still from") with its time, actor and reason, so a race (a
// cancel against a delivery, two approvals completing at once, two
// replicas delivering) is decided once, by the store, whichever replica
// asks. PossiblyExecuted says for every state whether the command may
// already have executed on the vehicle, so that no TMS retries blindly.
//
// # Security model
//
// Invariant 5: a command reaches a vehicle only if authorized by role,
// approved as its risk class requires by distinct principals other than
// the requester, signed with a fresh cmd_seq and nonce, and not expired; a
// retry never executes it twice. This package owns the middle of that:
//
//   - Authorization by role and carrier is the caller's (package authz's
//     guard and Caller.MaySee) before any method here runs.
//   - The risk policy is package approval's (approval.Policy.Assess):
//     configuration (package config, commands.*) with safe defaults,
//     hazmat lines or a gross weight over 36,000 kg need two approvals,
//     route updates one, a command whose route has a handoff point (the
//     load changes hands there) one, a request risk score over the
//     threshold one more. Create weighs each request with it (the type,
//     the load, the route's handoff points, the caller's score). A
//     command that needs approvals is created pending_approval and is
//     queued only by the transition that finds enough approvals: there is
//     no other path to queued.
//   - Approvals count when they come from a principal who is not the
//     requester, holds the approver role when asked (Approvers, read live:
//     a role removed since voids the approval), and whose approval has
//     not expired (approval.Policy.ApprovalTTL); each principal counts once (the
//     store's key on (command, approver) refuses a second approval while
//     the first counts; an expired one may be renewed).
//   - cmd_seq is the vehicle's counter, owned by the gateway and persisted
//     in the store; it is taken in the transaction that queues the command,
//     so it is strictly increasing per vehicle and never reused, across
//     replicas. The nonce (NonceBytes, crypto/rand) and issued_at are set
//     in the same transaction and never change, so a redelivery sends the
//     same signed bytes and the vehicle's executed-command log answers it
//     without executing it again.
//   - Expiry: a command is never delivered at or after its expires_at
//     (Deliver checks, then Sweep); a delivered command is never expired
//     or cancelled, since it may have executed.
//   - Cancel is possible until delivery, and refused after it.
//   - Idempotency: a request's Idempotency-Key is stored with the command
//     it created, in one transaction, so a TMS retry (even racing the
//     original on another replica) creates nothing twice; the same key
//     with another body is refused (idempotency_key_reused).
//
// Fail closed: a store or directory error refuses the decision and changes
// nothing (an approval is not recorded if the approver's role cannot be
// read). Every decision returns its security events (Decision.Events:
// code from the catalogue's command area, severity at least the
// catalogue's) for the caller to emit, refusals included.
//
// # Compatibility
//
// State names, command types and risk classes are stored and appear in the
// TMS API: they are never renamed or reused; new ones may be added, and a
// state this version does not know is treated as possibly executed.
package command
