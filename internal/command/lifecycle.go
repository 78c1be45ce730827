package command

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// expire moves c (not delivered) to expired; ok is false if its state
// moved meanwhile or the store failed.
func (s *Service) expire(ctx context.Context, c store.Command, now time.Time) (Decision, bool) {
	got, err := s.move(ctx, store.CommandTransition{ID: c.ID, From: c.State, To: Expired, At: now,
		Actor: System.String(), Reason: "expired_before_delivery"})
	if err != nil {
		return Decision{}, false
	}
	return Decision{Command: got, Events: []event.Event{ev(codes.CommandExpired, event.Info, System, got,
		map[string]any{"from": string(c.State), "expires_at": c.ExpiresAt.Format(time.RFC3339)})}}, true
}

// Cancel cancels command id for actor, if it has not been delivered.
// A command already cancelled is returned as it is (a retried cancel).
// Refusals: command_cancel_refused once it was delivered (it may have
// executed) or is otherwise final; command_state_conflict if its state
// kept moving under the cancel (MaxCancelAttempts).
//
// The cancel and a delivery race in the store: both are conditional
// transitions from queued, so exactly one wins, on any replica.
func (s *Service) Cancel(ctx context.Context, id string, actor principal.Principal, reason string) (Decision, error) {
	if len(reason) > MaxReasonBytes {
		reason = reason[:MaxReasonBytes]
	}
	for range MaxCancelAttempts {
		c, err := s.Get(ctx, id)
		if err != nil {
			return Decision{}, err
		}
		switch {
		case c.State == Cancelled:
			return Decision{Command: c}, nil
		case !Cancellable(c.State):
			return refuse(codes.CommandCancelRefused, fmt.Sprintf("the command is %s (possibly executed: %v)", c.State, PossiblyExecuted(c.State)),
				actor, c, map[string]any{"possibly_executed": PossiblyExecuted(c.State)})
		}
		got, err := s.move(ctx, store.CommandTransition{ID: c.ID, From: c.State, To: Cancelled, At: s.now().UTC(),
			Actor: actor.String(), Reason: reason})
		if errors.Is(err, store.ErrConflict) {
			continue // it moved: decide again on its new state
		}
		if err != nil {
			return Decision{}, err
		}
		return Decision{Command: got, Events: []event.Event{ev(codes.CommandCancelled, event.Accept, actor, got,
			map[string]any{"from": string(c.State), "reason": reason})}}, nil
	}
	c, _ := s.st.GetCommand(ctx, id)
	return refuse(codes.CommandStateConflict, "the command kept changing state; read it again", actor, c, nil)
}

// Deliver claims command id for delivery by replica: it moves it from
// queued to delivered, which the caller does BEFORE it writes the signed
// command to the vehicle's session, so that a cancel cannot win after the
// bytes left. If the write then fails the command stays delivered
// (possibly executed) and is sent again on the next session, where the
// vehicle's executed-command log answers without executing twice.
//
// Refusals (command_delivery_refused; do not send): the command is not
// queued (cancelled, or delivered by another replica), or it has expired,
// in which case it moves to expired: a command is never delivered after
// its expiry.
func (s *Service) Deliver(ctx context.Context, id, replica string) (Decision, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	now := s.now().UTC()
	if c.State != Queued {
		return refuse(codes.CommandDeliveryRefused, "the command is "+string(c.State)+", not queued", System, c, map[string]any{"replica": replica})
	}
	if !now.Before(c.ExpiresAt) {
		d, err := refuse(codes.CommandDeliveryRefused, "the command has expired", System, c, map[string]any{"replica": replica})
		if x, ok := s.expire(ctx, c, now); ok {
			d.Command = x.Command
			d.Events = append(d.Events, x.Events...)
		}
		return d, err
	}
	got, err := s.move(ctx, store.CommandTransition{ID: c.ID, From: Queued, To: Delivered, At: now,
		Actor: System.String(), Reason: "sent", DeliveredBy: replica})
	if errors.Is(err, store.ErrConflict) {
		cur, _ := s.st.GetCommand(ctx, id)
		return refuse(codes.CommandDeliveryRefused, "the command is no longer queued", System, cur, map[string]any{"replica": replica})
	}
	if errors.Is(err, store.ErrVehicleHeld) {
		// Held by an incident's containment: it stays queued, delivered
		// once the hold is released. No event per attempt (the delivery
		// poll would repeat it); the hold itself is an event.
		return Decision{Command: c}, &Error{Code: codes.VehicleCommandsHeld, Detail: "the vehicle's commands are held"}
	}
	if err != nil {
		return Decision{}, err
	}
	return Decision{Command: got, Events: []event.Event{ev(codes.CommandDelivered, event.Info, System, got,
		map[string]any{"replica": replica, "cmd_seq": got.CmdSeq})}}, nil
}

// Answer records the vehicle's verified, signed answer to a delivered
// command: verdict is Accepted or Rejected. The same answer again (a
// redelivered command answered from the vehicle's log) changes nothing.
// Refusals: vehicle_mismatch (the answer comes from another vehicle than
// the addressee), command_state_conflict (not delivered, or answered
// otherwise before).
func (s *Service) Answer(ctx context.Context, id string, vehicle principal.Principal, verdict State, reason string) (Decision, error) {
	if verdict != Accepted && verdict != Rejected {
		return Decision{}, fmt.Errorf("command: an answer is accepted or rejected, not %q", verdict)
	}
	if len(reason) > MaxReasonBytes {
		reason = reason[:MaxReasonBytes]
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	if vehicle.Kind != principal.Vehicle || vehicle.ID != c.Vehicle {
		return refuse(codes.VehicleMismatch, "the answer is not from the command's vehicle", vehicle, c, nil)
	}
	switch c.State {
	case verdict:
		return Decision{Command: c}, nil
	case Delivered:
	default:
		return refuse(codes.CommandStateConflict, "the command is "+string(c.State)+", not delivered", vehicle, c, map[string]any{"verdict": string(verdict)})
	}
	got, err := s.move(ctx, store.CommandTransition{ID: c.ID, From: Delivered, To: verdict, At: s.now().UTC(),
		Actor: vehicle.String(), Reason: reason, Verdict: string(verdict), AnswerReason: reason})
	if errors.Is(err, store.ErrConflict) {
		return s.Answer(ctx, id, vehicle, verdict, reason) // answered meanwhile: the same answer is a no-op
	}
	if err != nil {
		return Decision{}, err
	}
	code := codes.CommandAccepted
	if verdict == Rejected {
		code = codes.CommandRejected
	}
	return Decision{Command: got, Events: []event.Event{ev(code, event.Info, vehicle, got, map[string]any{"reason": reason})}}, nil
}

// Sweep is the periodic pass every replica runs: it expires the commands
// not delivered by their expiry and queues the approved commands a
// failure left unqueued, at most DefaultExpireBatch of each. It returns
// the events of what it did; a command whose state moved under it is left
// for the next pass.
func (s *Service) Sweep(ctx context.Context) ([]event.Event, error) {
	now := s.now().UTC()
	var evs []event.Event
	due, err := s.st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), ExpiresBy: now, Limit: DefaultExpireBatch})
	if err != nil {
		return nil, err
	}
	for _, c := range due {
		if d, ok := s.expire(ctx, c, now); ok {
			evs = append(evs, d.Events...)
		}
	}
	approved, err := s.st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), State: Approved, Limit: DefaultExpireBatch})
	if err != nil {
		return evs, err
	}
	for _, c := range approved {
		if !now.Before(c.ExpiresAt) {
			continue // the next pass expires it
		}
		d := Decision{Command: c}
		s.queue(ctx, &d, now)
		evs = append(evs, d.Events...)
	}
	return evs, nil
}
