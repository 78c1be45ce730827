package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The containment actions.
const (
	// ActionRevokeCertificate revokes a vehicle as a whole (every
	// certificate, every renewal, its unused join tokens) through the CA,
	// as `fifthwheel pki revoke --vehicle` does: its sessions are closed
	// and its handshakes refused within a second on every replica. Final.
	ActionRevokeCertificate = "revoke_certificate"
	// ActionSuspendClient suspends a TMS client, as `fifthwheel client
	// suspend` does: its tokens stop working within a second. Reversible
	// with `client resume`.
	ActionSuspendClient = "suspend_client"
	// ActionHoldCommands holds a vehicle's commands: none is created for
	// it (vehicle_commands_held) and queued ones stay undelivered.
	// Released by ActionReleaseHold or when the incident is resolved.
	ActionHoldCommands = "hold_commands"
	// ActionReleaseHold releases a vehicle's hold.
	ActionReleaseHold = "release_hold"
)

// Actions lists the containment actions.
var Actions = []string{ActionRevokeCertificate, ActionSuspendClient, ActionHoldCommands, ActionReleaseHold}

const resultDone = "done"

// Action is one containment action. Target is a vehicle id (revoke,
// hold, release) or a client id (suspend); "" takes the incident's
// subject when it is of that kind. Reason is recorded with it; for a
// revocation it may name the RFC 5280 reason (default key_compromise).
type Action struct {
	Kind   string
	Target string
	Reason string
}

// Contain takes a containment action from an incident, records it on the
// incident and as a security event (incident_containment, with the
// actor), and moves an open or acknowledged incident to contained. A
// resolved incident takes no action (incident_state_conflict). A failed
// action is recorded too (result "failed"), and returned.
func (m *Manager) Contain(ctx context.Context, id string, actor principal.Principal, a Action) (_ store.Incident, err error) {
	defer m.refused(ctx, actor, id, "incident_contain", &err)
	if err := text("reason", a.Reason, false); err != nil {
		return store.Incident{}, err
	}
	inc, err := m.get(ctx, id)
	if err != nil {
		return inc, err
	}
	if inc.State == store.IncidentResolved {
		return inc, refuse(codes.IncidentStateConflict, "the incident is resolved")
	}
	if err = m.contain(ctx, inc, actor, a, true); err != nil {
		return inc, err
	}
	if a.Kind == ActionReleaseHold || inc.State == store.IncidentContained {
		return m.get(ctx, id)
	}
	got, err := m.move(ctx, inc, store.IncidentContained, actor, strings.TrimSpace(a.Kind+" "+a.Target))
	var r *Error
	if errors.As(err, &r) && r.Code == codes.IncidentStateConflict {
		// Contained (or resolved) meanwhile by someone else: the action
		// stands, recorded; the incident is as they left it.
		return m.get(ctx, id)
	}
	return got, err
}

// target resolves a's target: the given id, or the incident's subject when
// it is of kind.
func target(inc store.Incident, a Action, kind principal.Kind) (principal.Principal, error) {
	id := a.Target
	if id == "" && inc.SubjectKind == string(kind) {
		id = inc.Subject
	}
	if id == "" {
		return principal.Principal{}, refuse(codes.IncidentInvalid, fmt.Sprintf("%s needs a %s target (the incident's subject is a %s)", a.Kind, kind, inc.SubjectKind))
	}
	p, err := principal.New(kind, id)
	if err != nil {
		return principal.Principal{}, refuse(codes.IncidentInvalid, fmt.Sprintf("invalid %s id", kind))
	}
	return p, nil
}

// contain runs one action and records it. check: refuse an unknown action
// and validate the target before acting (false only for the release that
// Resolve makes itself).
func (m *Manager) contain(ctx context.Context, inc store.Incident, actor principal.Principal, a Action, check bool) error {
	kind := principal.Vehicle
	switch a.Kind {
	case ActionRevokeCertificate, ActionHoldCommands, ActionReleaseHold:
	case ActionSuspendClient:
		kind = principal.Client
	default:
		return refuse(codes.IncidentInvalid, "unknown containment action (revoke_certificate, suspend_client, hold_commands, release_hold)")
	}
	p, err := target(inc, a, kind)
	if err != nil && check {
		return err
	}
	if err != nil {
		return nil
	}
	now := m.now()
	result, detail, actErr := resultDone, "", error(nil)
	switch a.Kind {
	case ActionRevokeCertificate:
		detail, actErr = m.revoke(ctx, p, actor, a.Reason)
	case ActionSuspendClient:
		detail, actErr = m.suspend(ctx, p, actor)
	case ActionHoldCommands:
		actErr = m.d.Store.SetVehicleHold(ctx, store.VehicleHold{Vehicle: p.ID, Incident: inc.ID, Actor: actor.String(), At: now, Reason: cut(a.Reason, MaxTextBytes)})
		if errors.Is(actErr, store.ErrNotFound) {
			actErr = refuse(codes.IncidentInvalid, "no such vehicle")
		}
	case ActionReleaseHold:
		actErr = m.d.Store.ReleaseVehicleHold(ctx, p.ID)
		switch {
		case errors.Is(actErr, store.ErrNotFound):
			actErr, detail = nil, "no hold"
		case actErr == nil && m.d.Released != nil:
			m.d.Released(p.ID)
		}
	}
	verdict := event.Accept
	if actErr != nil {
		result, verdict = "failed", event.Reject
		var r *Error
		if errors.As(actErr, &r) {
			detail = r.Detail
			r.recorded = true // the incident_containment event below records it
		} else {
			detail = "the action could not complete"
		}
	}
	if detail != "" {
		result += ": " + detail
	}
	rec := store.IncidentContainment{Incident: inc.ID, Action: a.Kind, Target: p.String(), Actor: actor.String(), At: now, Result: cut(result, MaxShortBytes)}
	if err := m.d.Store.RecordIncidentContainment(ctx, rec); err != nil {
		return errors.Join(actErr, err)
	}
	attrs := map[string]any{"action": a.Kind, "target": p.String(), "result": rec.Result, "subject": inc.Subject}
	if a.Reason != "" {
		attrs["reason"] = a.Reason
	}
	if err := m.emit(ctx, event.Event{Code: codes.IncidentContainment, Activity: "incident_contain", Actor: actor, Resource: "incident:" + inc.ID,
		Verdict: verdict, Attrs: attrs}); err != nil {
		return errors.Join(actErr, err)
	}
	return actErr
}

// revoke revokes vehicle p through the CA.
func (m *Manager) revoke(ctx context.Context, p principal.Principal, actor principal.Principal, reason string) (string, error) {
	if m.d.Revoker == nil {
		return "", refuse(codes.IncidentInvalid, "this gateway cannot revoke: its fleet CA is not loaded")
	}
	r := pki.ReasonKeyCompromise
	if reason != "" {
		if parsed, err := pki.ParseReason(reason); err == nil {
			r = parsed
		}
	}
	res, err := m.d.Revoker.RevokePrincipal(ctx, p, r, actor)
	if err != nil {
		return "", err
	}
	if len(res.Revoked) == 0 {
		return "no current certificate; renewals refused from now on", nil
	}
	return fmt.Sprintf("%d certificate(s) revoked (%s)", len(res.Revoked), r), nil
}

// suspend suspends client p, as `fifthwheel client suspend` does, with the
// same event (client_status_changed).
func (m *Manager) suspend(ctx context.Context, p principal.Principal, actor principal.Principal) (string, error) {
	c, err := m.d.Store.GetClient(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", refuse(codes.IncidentInvalid, "no such client")
	}
	if err != nil {
		return "", err
	}
	if c.Status == store.ClientSuspended {
		return "already suspended", nil
	}
	if err := m.d.Store.SetClientStatus(ctx, p.ID, store.ClientSuspended); err != nil {
		return "", err
	}
	return "", m.d.Events.Emit(ctx, event.Event{Class: event.ClassAuthorization, Activity: "client_suspend", Verdict: event.Info,
		Severity: event.SeverityMedium, Code: codes.ClientStatusChanged, Actor: actor, Resource: p.String(),
		Attrs: map[string]any{"from": string(c.Status), "to": string(store.ClientSuspended)}})
}

// validText: valid UTF-8 without NUL or other control characters but
// tab and newline.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return false
		}
	}
	return true
}
