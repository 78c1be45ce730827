package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The lifecycle: open → acknowledged → contained → resolved. Allowed
// skips: a containment action on an open incident contains it (acting on
// it acknowledges it); an open or acknowledged incident may be resolved
// directly (a false positive, or nothing to contain), with a reason. A
// resolved incident is final: a later finding of its subject opens a new
// one.
var allowed = map[store.IncidentState][]store.IncidentState{
	store.IncidentOpen:         {store.IncidentAcknowledged, store.IncidentContained, store.IncidentResolved},
	store.IncidentAcknowledged: {store.IncidentContained, store.IncidentResolved},
	store.IncidentContained:    {store.IncidentResolved},
}

func canMove(from, to store.IncidentState) bool {
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

var transitionCodes = map[store.IncidentState]string{
	store.IncidentAcknowledged: codes.IncidentAcknowledged,
	store.IncidentContained:    codes.IncidentContained,
	store.IncidentResolved:     codes.IncidentResolved,
}

// get reads an incident; ErrNotFound if absent.
func (m *Manager) get(ctx context.Context, id string) (store.Incident, error) {
	inc, err := m.d.Store.GetIncident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return inc, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return inc, err
}

// text checks an operator's free text: required or not, at most
// MaxTextBytes, valid UTF-8 (the store and every sink keep it).
func text(name, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return refuse(codes.IncidentInvalid, name+" is required")
	case len(s) > MaxTextBytes:
		return refuse(codes.IncidentInvalid, fmt.Sprintf("%s is over %d bytes", name, MaxTextBytes))
	case !validText(s):
		return refuse(codes.IncidentInvalid, name+" is not valid UTF-8 text")
	}
	return nil
}

// move makes the transition to `to` from the incident's current state,
// with its event. A concurrent change wins over it: incident_state_conflict.
func (m *Manager) move(ctx context.Context, inc store.Incident, to store.IncidentState, actor principal.Principal, reason string) (store.Incident, error) {
	if !canMove(inc.State, to) {
		return inc, refuse(codes.IncidentStateConflict, fmt.Sprintf("the incident is %s: it cannot become %s", inc.State, to))
	}
	var done store.IncidentClockKind
	if inc.State == store.IncidentOpen && to != store.IncidentResolved {
		// A person acting on it has been told: the internal clock is done.
		done = store.ClockInternal
	}
	got, err := m.d.Store.TransitionIncident(ctx, store.IncidentTransition{Incident: inc.ID, From: inc.State, To: to, At: m.now(),
		Actor: actor.String(), Reason: reason}, done)
	switch {
	case errors.Is(err, store.ErrConflict):
		return inc, refuse(codes.IncidentStateConflict, "the incident changed meanwhile: read it again")
	case errors.Is(err, store.ErrNotFound):
		return inc, fmt.Errorf("%w: %s", ErrNotFound, inc.ID)
	case err != nil:
		return inc, err
	}
	attrs := map[string]any{"from": string(inc.State), "to": string(to), "subject": inc.Subject}
	if reason != "" {
		attrs["reason"] = reason
	}
	return got, m.emit(ctx, event.Event{Code: transitionCodes[to], Activity: "incident_" + string(to), Actor: actor,
		Resource: "incident:" + inc.ID, Verdict: event.Info, Attrs: attrs})
}

// Acknowledge moves an open incident to acknowledged; its internal clock
// is done. note, if not empty, is recorded as the transition's reason.
func (m *Manager) Acknowledge(ctx context.Context, id string, actor principal.Principal, note string) (_ store.Incident, err error) {
	defer m.refused(ctx, actor, id, "incident_ack", &err)
	if err := text("note", note, false); err != nil {
		return store.Incident{}, err
	}
	inc, err := m.get(ctx, id)
	if err != nil {
		return inc, err
	}
	return m.move(ctx, inc, store.IncidentAcknowledged, actor, note)
}

// Resolve resolves an incident with a reason (required: "false positive,
// the vehicle's clock was wrong", "contained and re-enrolled"). A hold
// this incident placed on a vehicle's commands is released.
func (m *Manager) Resolve(ctx context.Context, id string, actor principal.Principal, reason string) (_ store.Incident, err error) {
	defer m.refused(ctx, actor, id, "incident_resolve", &err)
	if err := text("reason", reason, true); err != nil {
		return store.Incident{}, err
	}
	inc, err := m.get(ctx, id)
	if err != nil {
		return inc, err
	}
	got, err := m.move(ctx, inc, store.IncidentResolved, actor, reason)
	if err != nil {
		return got, err
	}
	if inc.SubjectKind == "vehicle" {
		if err := m.releaseOwnHold(ctx, inc, inc.Subject, actor); err != nil {
			return got, err
		}
	}
	// Holds on other targets placed from this incident.
	rec, err := m.d.Store.IncidentRecord(ctx, id)
	if err != nil {
		return got, err
	}
	for _, c := range rec.Containment {
		if c.Action == ActionHoldCommands && c.Result == resultDone && !(inc.SubjectKind == "vehicle" && c.Target == inc.Subject) {
			if err := m.releaseOwnHold(ctx, inc, c.Target, actor); err != nil {
				return got, err
			}
		}
	}
	return got, nil
}

// releaseOwnHold releases vehicle's hold if this incident placed it.
func (m *Manager) releaseOwnHold(ctx context.Context, inc store.Incident, vehicle string, actor principal.Principal) error {
	h, err := m.d.Store.GetVehicleHold(ctx, vehicle)
	if errors.Is(err, store.ErrNotFound) || (err == nil && h.Incident != inc.ID) {
		return nil
	}
	if err != nil {
		return err
	}
	return m.contain(ctx, inc, actor, Action{Kind: ActionReleaseHold, Target: vehicle, Reason: "incident resolved"}, false)
}

// AddNote records an operator's note on an incident (resolved ones too:
// the post-mortem goes on).
func (m *Manager) AddNote(ctx context.Context, id string, actor principal.Principal, note string) (err error) {
	defer m.refused(ctx, actor, id, "incident_note", &err)
	if err := text("note", note, true); err != nil {
		return err
	}
	inc, err := m.get(ctx, id)
	if err != nil {
		return err
	}
	err = m.d.Store.AddIncidentNote(ctx, store.IncidentNote{Incident: inc.ID, Actor: actor.String(), At: m.now(), Text: note})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	return m.emit(ctx, event.Event{Code: codes.IncidentNoteAdded, Activity: "incident_note", Actor: actor, Resource: "incident:" + inc.ID,
		Verdict: event.Info, Attrs: map[string]any{"bytes": len(note)}})
}

// Notification is a notification an operator sent for an incident.
type Notification struct {
	Clock     store.IncidentClockKind
	Channel   string
	Recipient string
	Reference string
}

// Notify records a notification sent for the incident's clock n.Clock,
// which is then done.
func (m *Manager) Notify(ctx context.Context, id string, actor principal.Principal, n Notification) (err error) {
	defer m.refused(ctx, actor, id, "incident_notify", &err)
	switch n.Clock {
	case store.ClockInternal, store.ClockCustomer, store.ClockRegulatorEarlyWarning, store.ClockRegulator:
	default:
		return refuse(codes.IncidentInvalid, "unknown clock (internal, customer, regulator_early_warning, regulator)")
	}
	if err := errors.Join(short("channel", n.Channel, true), text("recipient", n.Recipient, true), text("reference", n.Reference, false)); err != nil {
		return firstRefusal(err)
	}
	inc, err := m.get(ctx, id)
	if err != nil {
		return err
	}
	err = m.d.Store.RecordIncidentNotification(ctx, store.IncidentNotification{Incident: inc.ID, Clock: n.Clock, Channel: n.Channel,
		Recipient: n.Recipient, At: m.now(), Actor: actor.String(), Reference: n.Reference})
	if errors.Is(err, store.ErrNotFound) {
		return refuse(codes.IncidentInvalid, "the incident has no "+string(n.Clock)+" clock")
	}
	if err != nil {
		return err
	}
	return m.emit(ctx, event.Event{Code: codes.IncidentNotificationSent, Activity: "incident_notify", Actor: actor, Resource: "incident:" + inc.ID,
		Verdict: event.Info, Attrs: map[string]any{"clock": string(n.Clock), "channel": n.Channel, "recipient": n.Recipient, "reference": n.Reference}})
}

// short checks a short identifier-like field.
func short(name, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return refuse(codes.IncidentInvalid, name+" is required")
	case len(s) > MaxShortBytes:
		return refuse(codes.IncidentInvalid, fmt.Sprintf("%s is over %d bytes", name, MaxShortBytes))
	case !validText(s) || strings.ContainsAny(s, "\r\n"):
		return refuse(codes.IncidentInvalid, name+" is not one line of UTF-8 text")
	}
	return nil
}

// firstRefusal returns the first *Error joined in err.
func firstRefusal(err error) error {
	var r *Error
	if errors.As(err, &r) {
		return r
	}
	return err
}
