package command

import (
	"context"
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Approve records approver's approval of command id and, when the command
// then has the approvals its risk class requires, approves and queues it.
//
// Refusals, each with its event and nothing recorded:
// command_approval_refused_self (the requester), command_approval_refused_state
// (not pending approval, or expired: an expired command moves to expired),
// command_approval_refused_role (approver does not hold the approver role
// now), command_approval_refused_duplicate (approver approved it already).
// A failure to ask Approvers fails closed (an error, no approval).
func (s *Service) Approve(ctx context.Context, id string, approver principal.Principal) (Decision, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	now := s.now().UTC()
	switch {
	case approver.IsZero():
		return refuse(codes.CommandApprovalRefusedRole, "no approver", approver, c, nil)
	case approver.String() == c.RequestedBy:
		return refuse(codes.CommandApprovalRefusedSelf, "the requester cannot approve its own command", approver, c, nil)
	case c.State != PendingApproval:
		return refuse(codes.CommandApprovalRefusedState, "the command is "+string(c.State)+", not pending approval", approver, c, nil)
	case !now.Before(c.ExpiresAt):
		d, err := refuse(codes.CommandApprovalRefusedState, "the command has expired", approver, c, nil)
		if x, ok := s.expire(ctx, c, now); ok {
			d.Command = x.Command
			d.Events = append(d.Events, x.Events...)
		}
		return d, err
	}
	holds, err := s.appr.HoldsApprover(ctx, approver)
	if err != nil {
		return Decision{}, err
	}
	if !holds {
		return refuse(codes.CommandApprovalRefusedRole, "the principal does not hold the approver role", approver, c, nil)
	}
	a := store.Approval{Command: c.ID, Approver: approver.String(), At: now, ExpiresAt: now.Add(s.policy.ApprovalTTL)}
	switch err := s.st.AddApproval(ctx, a); {
	case errors.Is(err, store.ErrConflict):
		return refuse(codes.CommandApprovalRefusedDuplicate, "this principal already approved the command", approver, c, nil)
	case errors.Is(err, store.ErrNotFound):
		return Decision{}, ErrNotFound
	case err != nil:
		return Decision{}, err
	}
	valid, stale, err := s.count(ctx, c, now)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Command: c, Events: []event.Event{ev(codes.CommandApprovalRecorded, event.Accept, approver, c, map[string]any{
		"approvals_valid": len(valid), "approvals_required": c.ApprovalsRequired, "approval_expires_at": a.ExpiresAt.Format(time.RFC3339)})}}
	for _, x := range stale {
		d.Events = append(d.Events, ev(codes.CommandApprovalExpired, event.Info, System, c, map[string]any{"approver": x.Approver, "why": x.why}))
	}
	if len(valid) < c.ApprovalsRequired {
		return d, nil
	}
	got, err := s.move(ctx, store.CommandTransition{ID: c.ID, From: PendingApproval, To: Approved, At: now,
		Actor: approver.String(), Reason: "approvals_complete"})
	if errors.Is(err, store.ErrConflict) { // another approval, a cancel or the expiry was first
		if cur, gerr := s.st.GetCommand(ctx, c.ID); gerr == nil {
			d.Command = cur
		}
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.Command = got
	d.Events = append(d.Events, ev(codes.CommandApproved, event.Accept, approver, got, map[string]any{"approvers": valid}))
	s.queue(ctx, &d, now)
	return d, nil
}

// staleApproval is an approval that does not count, and why.
type staleApproval struct {
	store.Approval
	why string // "expired" or "role"
}

// count returns the approvers whose approvals of c count at now, and the
// approvals that do not because they expired or their approver no longer
// holds the approver role. An approval counts when it is unexpired, its
// approver is not the requester, holds the approver role now, and has not
// been counted already (the store's key makes approvers distinct; count
// does not rely on it alone).
func (s *Service) count(ctx context.Context, c store.Command, now time.Time) (valid []string, stale []staleApproval, err error) {
	as, err := s.st.ListApprovals(ctx, c.ID)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, a := range as {
		if a.Approver == c.RequestedBy || seen[a.Approver] {
			continue
		}
		if !now.Before(a.ExpiresAt) {
			stale = append(stale, staleApproval{a, "expired"})
			continue
		}
		p, err := principal.ParseURI(a.Approver)
		if err != nil {
			continue
		}
		holds, err := s.appr.HoldsApprover(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		if !holds {
			stale = append(stale, staleApproval{a, "role"})
			continue
		}
		seen[a.Approver] = true
		valid = append(valid, a.Approver)
	}
	return valid, stale, nil
}
