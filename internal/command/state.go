package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// State is a command's state. The names are the store's (one home); this
// package gives them their meaning.
type State = store.CommandState

// The states:
//
//	pending_approval → approved → queued → delivered → accepted | rejected
//	        ↘ cancelled | expired (any of the first three)
//
// A command is created pending_approval when its risk class requires
// approvals, approved otherwise, and queued as soon as it is approved. A
// delivered command is never expired or cancelled: it may have executed,
// so it waits for the vehicle's signed answer (redelivered on the next
// session, answered from the vehicle's executed-command log).
const (
	PendingApproval = store.CommandPendingApproval
	Approved        = store.CommandApproved
	Queued          = store.CommandQueued
	Delivered       = store.CommandDelivered
	Accepted        = store.CommandAccepted
	Rejected        = store.CommandRejected
	Expired         = store.CommandExpired
	Cancelled       = store.CommandCancelled
)

// States lists every state in lifecycle order.
var States = []State{PendingApproval, Approved, Queued, Delivered, Accepted, Rejected, Expired, Cancelled}

// transitions is the state machine: the states each state may move to.
// Creation is the move from "".
var transitions = map[State][]State{
	"":              {PendingApproval, Approved},
	PendingApproval: {Approved, Cancelled, Expired},
	Approved:        {Queued, Cancelled, Expired},
	Queued:          {Delivered, Cancelled, Expired},
	Delivered:       {Accepted, Rejected},
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Final reports whether s is a final state (no transition leaves it).
// A state this version does not know is not final.
func Final(s State) bool {
	switch s {
	case Accepted, Rejected, Expired, Cancelled:
		return true
	}
	return false
}

// PossiblyExecuted reports whether a command in state s may have executed
// on the vehicle, which is what a TMS must know before it retries or
// sends a compensating command:
//
//   - pending_approval, approved, queued: false. The command has not left
//     the gateway; a cancel is still possible.
//   - delivered: true. It was sent; until the vehicle's signed answer
//     arrives nobody can say it did not execute.
//   - accepted: true (the vehicle executes it); rejected: false (the
//     vehicle refused it before executing); expired and cancelled: false
//     (both happen only before delivery, and the vehicle never executes a
//     command after its expiry).
//
// The final states say it definitively. A state this version does not
// know answers true: failing closed here means "do not assume it is safe
// to send again".
func PossiblyExecuted(s State) bool {
	switch s {
	case PendingApproval, Approved, Queued, Rejected, Expired, Cancelled:
		return false
	}
	return true
}

// Cancellable reports whether a command in state s may still be
// cancelled: only before delivery.
func Cancellable(s State) bool { return CanTransition(s, Cancelled) }

// errTransition reports a transition the state machine does not allow: a
// defect of this package, refused rather than written.
var errTransition = errors.New("command: transition not allowed by the state machine")

// move makes transition tr in the store after checking it against the
// state machine: every state change of the service goes through it.
func (s *Service) move(ctx context.Context, tr store.CommandTransition) (store.Command, error) {
	if !CanTransition(tr.From, tr.To) {
		return store.Command{}, fmt.Errorf("%w: %q → %q", errTransition, tr.From, tr.To)
	}
	return s.st.TransitionCommand(ctx, tr)
}
